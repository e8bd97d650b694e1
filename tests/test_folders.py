"""polydiff.folders.scan_class_folders: the layouts the image, video and audio folders read,
what is left out (and why), and one set of errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.folders import FolderScan, MissingFolderError, scan_class_folders

EXTS = (".png", ".jpg")


def _old_scan(root: Path, extensions=EXTS):
    """What the modalities' own scanners (image, video, audio) returned before the core one:
    ``(paths, labels, classes)``, or ``None`` where they raised."""
    exts = {e.lower() for e in extensions}

    def found(folder: Path, recursive: bool) -> list[Path]:
        it = folder.rglob("*") if recursive else folder.iterdir()
        return sorted(p for p in it if p.is_file() and p.suffix.lower() in exts)

    top = found(root, False)
    classes = [d.name for d in sorted(root.iterdir()) if d.is_dir() and found(d, True)]
    if classes and top:
        return None
    if classes:
        paths, labels = [], []
        for k, name in enumerate(classes):
            files = found(root / name, True)
            paths += files
            labels += [k] * len(files)
        return paths, labels, classes
    return (top, None, []) if top else None


#: relative file paths: top-level files, files in class folders (a, b, .c), nested ones
NAMES = st.sampled_from(["x.png", "y.JPG", "notes.txt", "README", "a/1.png", "a/2.txt",
                         "a/deep/3.jpg", "b/4.png", "b/5.md", ".c/6.png", "d/7.txt", "e/f/g"])


def _write(root: Path, names) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


@given(names=st.sets(NAMES, max_size=8))
@settings(max_examples=40, deadline=None)
def test_same_files_as_before_and_every_other_file_is_reported(names):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, names)
        old = _old_scan(root)
        if old is None:
            with pytest.raises(ValueError):
                scan_class_folders(root, EXTS, "image")
            return
        scan = scan_class_folders(root, EXTS, "image")
        assert (scan.files, scan.labels, scan.classes) == old
        if scan.labels is not None:
            assert all(scan.classes[k] == p.relative_to(root).parts[0]
                       for p, k in zip(scan.files, scan.labels, strict=True))
        skipped = [p for p, _ in scan.skipped]
        assert skipped == sorted(skipped) and not set(skipped) & set(scan.files)
        every = [p for p in root.rglob("*") if p.is_file()]
        for p in every:  # used, skipped, or inside a skipped sub-folder
            assert p in scan.files or any(p == s or s in p.parents for s in skipped), p


def test_class_folders_flat_files_and_the_skip_report(tmp_path):
    _write(tmp_path, ["a/1.png", "a/sub/2.PNG", "a/notes.txt", "b/3.jpg", "empty/x.md",
                      "labels.csv"])
    scan = scan_class_folders(tmp_path, EXTS, "image")
    assert isinstance(scan, FolderScan) and scan.root == tmp_path
    assert scan.classes == ["a", "b"] and scan.labels == [0, 0, 1]
    assert [p.relative_to(tmp_path).as_posix() for p in scan.files] == [
        "a/1.png", "a/sub/2.PNG", "b/3.jpg"]
    why = {p.relative_to(tmp_path).as_posix(): r for p, r in scan.skipped}
    assert sorted(why) == ["a/notes.txt", "empty", "labels.csv"]
    assert why["a/notes.txt"] == ("extension '.txt', not one of the image extensions "
                                  "['.jpg', '.png']")
    assert why["empty"].startswith("sub-folder without image files") and "as a class" in why[
        "empty"]
    flat = tmp_path / "flat"
    _write(flat, ["z.png", "y.jpg", "README"])
    scan = scan_class_folders(flat, EXTS, "image")
    assert [p.name for p in scan.files] == ["y.jpg", "z.png"] and scan.labels is None
    assert scan.classes == [] and [(p.name, r.split(",")[0]) for p, r in scan.skipped] == [
        ("README", "no extension")]


def test_recursive_unlabelled_scan(tmp_path):
    _write(tmp_path, ["x.wav", "a/y.OGA", "a/b/z.flac", "a/readme.txt"])
    scan = scan_class_folders(tmp_path, (".wav", ".flac", ".oga"), "audio", by_class=False)
    assert [p.name for p in scan.files] == ["z.flac", "y.OGA", "x.wav"]  # sorted by path
    assert scan.labels is None and scan.classes == []
    assert [p.name for p, _ in scan.skipped] == ["readme.txt"]


def test_one_set_of_errors(tmp_path):
    with pytest.raises(MissingFolderError, match=r"root .*nowhere does not exist; expected a "
                                                 r"folder of video files or of class "
                                                 r"sub-folders holding them") as err:
        scan_class_folders(tmp_path / "nowhere", EXTS, "video")
    assert isinstance(err.value, ValueError) and isinstance(err.value, FileNotFoundError)
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"root .*f\.png is a file; expected a folder"):
        scan_class_folders(tmp_path / "f.png", EXTS, "image")
    (tmp_path / "f.png").unlink()
    with pytest.raises(ValueError, match=r"holds no image files with extensions \['\.jpg', "
                                         r"'\.png'\]; found nothing \(the folder is empty\)"):
        scan_class_folders(tmp_path, EXTS, "image")
    _write(tmp_path, ["a.txt", "b.txt", "c", "sub/d.gif"])
    with pytest.raises(ValueError, match=r"found 4 file\(s\) with other extensions \('\.gif': "
                                         r"1, '\.txt': 2, no extension: 1\) and 1 sub-folder\(s\) "
                                         r"without image files \(sub\)"):
        scan_class_folders(tmp_path, EXTS, "image")
    _write(tmp_path, ["loose.png", "cls/x.png"])
    with pytest.raises(ValueError, match=r"has image files directly in it \(e\.g\. loose\.png\) "
                                         r"and class sub-folders \['cls'\]; expected every image "
                                         r"file in a class sub-folder"):
        scan_class_folders(tmp_path, EXTS, "image")
    with pytest.raises(ValueError, match=r"holds no audio files with extensions \['\.wav'\]; "
                                         r"found 6 file\(s\)"):
        scan_class_folders(tmp_path, [".wav"], "audio", by_class=False)


@pytest.mark.parametrize("extensions", [".png", (), ["png"], [".png", ""], [".png", 3]])
def test_bad_extensions_are_named(tmp_path, extensions):
    with pytest.raises(ValueError, match="extensions must be"):
        scan_class_folders(tmp_path, extensions, "image")
