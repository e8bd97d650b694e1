"""Image data modules: scikit-learn digits and image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polydiff.modalities.image import DigitsDataModule, ImageFolderDataModule
from polydiff.modalities.image.data import load_digits_tensor, scan_image_folder
from polydiff.training.datamodule import split_indices


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    dm = DigitsDataModule(batch_size=32, seed=0)
    dm.setup("fit")
    return dm


def test_digits_split_sizes_disjoint_and_deterministic(digits):
    assert (len(digits.train_set), len(digits.val_set), len(digits.test_set)) == (1437, 180, 180)
    again = DigitsDataModule(seed=0)
    again.setup()
    assert torch.equal(again.val_set.x, digits.val_set.x)
    assert torch.equal(again.test_set.y, digits.test_set.y)
    other = DigitsDataModule(seed=1)
    other.setup()
    assert not torch.equal(other.val_set.x, digits.val_set.x)
    parts = split_indices(1797, (0.1, 0.1), 0)
    allidx = torch.cat(parts)
    assert torch.equal(allidx.sort().values, torch.arange(1797))  # disjoint and complete


def test_digits_batches_shapes_range_labels(digits):
    batch = next(iter(digits.train_dataloader()))
    assert set(batch) == {"x", "class_labels"}
    x, y = batch["x"], batch["class_labels"]
    assert x.shape == (32, 1, 16, 16) and x.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.long
    assert x.min() >= -1 and x.max() <= 1
    assert 0 <= y.min() and y.max() <= 9
    assert digits.sample_shape == (1, 16, 16) and digits.num_classes == 10
    # padding: the 4-pixel border is background (-1), the digit sits in the centre
    border = torch.ones(16, 16, dtype=torch.bool)
    border[4:12, 4:12] = False
    assert torch.all(x[:, 0][:, border] == -1)
    val = torch.cat([b["x"] for b in digits.val_dataloader()])
    assert torch.equal(val, digits.val_set.x * 2 - 1)  # fixed order; [0, 1] data -> [-1, 1]
    assert torch.equal(digits.normalizer.denormalize(val), digits.val_set.x)
    assert val.max() == 1.0 and val.min() == -1.0


def test_digits_values_match_sklearn():
    from sklearn.datasets import load_digits

    x, y = load_digits_tensor(size=8)
    raw = load_digits()
    np.testing.assert_allclose(x[:, 0].numpy(), raw.images / 16.0, atol=1e-6)
    assert torch.equal(y, torch.from_numpy(raw.target).long())
    xb, _ = load_digits_tensor(size=16, resize="bilinear")
    assert xb.shape == (1797, 1, 16, 16) and xb.min() >= 0 and xb.max() <= 1
    with pytest.raises(ValueError, match="resize"):
        load_digits_tensor(resize="nearest")


def test_digits_hflip_is_off_by_default_and_flips_when_on(digits):
    item = digits.train_set[0]["x"]
    assert torch.equal(item, digits.train_set.x[0])
    dm = DigitsDataModule(hflip=True)
    dm.setup()
    torch.manual_seed(0)
    draws = [dm.train_set[0]["x"] for _ in range(20)]
    flipped = [torch.equal(d, dm.train_set.x[0].flip(-1)) for d in draws]
    assert any(flipped) and not all(flipped)


def write_png(path: Path, h: int, w: int, value: int, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    # class "cat" images are black, class "dog" images are white; mixed sizes
    for i, (h, w) in enumerate([(8, 8), (10, 12), (8, 8)]):
        write_png(tmp_path / "cat" / f"c{i}.png", h, w, 0)
    for i, (h, w) in enumerate([(8, 8), (12, 10), (9, 9)]):
        write_png(tmp_path / "dog" / "nested" / f"d{i}.png", h, w, 255)
    return tmp_path


def test_image_folder_mixed_sizes_need_resize(folder):
    dm = ImageFolderDataModule(folder, size=None, val_fraction=0.0)
    with pytest.raises(ValueError, match=r"differ in size.*c1\.png.*10x12"):
        dm.setup()
    dm = ImageFolderDataModule(folder, size=8, resize=False, val_fraction=0.0)
    with pytest.raises(ValueError, match=r"c1\.png is 10x12"):
        dm.setup()


def test_image_folder_resize_labels_and_range(folder):
    dm = ImageFolderDataModule(folder, size=8, resize=True, batch_size=16, val_fraction=0.0)
    dm.setup()
    assert dm.classes == ["cat", "dog"] and dm.num_classes == 2
    assert dm.sample_shape == (3, 8, 8)
    batch = next(iter(dm.train_dataloader()))
    x, y = batch["x"], batch["class_labels"]
    assert x.shape == (6, 3, 8, 8) and x.dtype == torch.float32
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    # black cats map to -1, white dogs to +1
    means = x.mean(dim=(1, 2, 3))
    assert torch.allclose(means[y == 0], torch.tensor(-1.0))
    assert torch.allclose(means[y == 1], torch.tensor(1.0))


def test_image_folder_crops_grey_and_split(folder):
    dm = ImageFolderDataModule(folder, size=(6, 4), crop="random", resize=False, channels=1,
                               batch_size=8, val_fraction=0.34, seed=3)
    dm.setup()
    assert len(dm.train_set) == 4 and len(dm.val_set) == 2
    assert dm.val_set.crop == "center"
    x = next(iter(dm.val_dataloader()))["x"]
    assert x.shape == (2, 1, 6, 4)
    dm2 = ImageFolderDataModule(folder, size=(6, 4), crop="random", resize=False, channels=1,
                                val_fraction=0.34, seed=3)
    dm2.setup()
    assert dm2.val_set.paths == dm.val_set.paths  # seeded split
    resized = ImageFolderDataModule(folder, size=10, crop="center", resize=True)
    resized.setup()
    assert resized.train_set[0]["x"].shape == (3, 10, 10)
    too_big = ImageFolderDataModule(folder, size=9, crop="center", resize=False)
    with pytest.raises(ValueError, match=r"smaller than the crop"):
        too_big.setup()


def test_image_folder_unlabelled_and_corrupt(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"img{i}.png", 4, 4, 10 * i, mode="L")
    dm = ImageFolderDataModule(tmp_path, val_fraction=0.0, batch_size=4)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x"} and batch["x"].shape == (3, 3, 4, 4)
    assert dm.num_classes is None
    (tmp_path / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(ValueError, match=r"cannot read image file .*broken\.png"):
        ImageFolderDataModule(tmp_path).setup()


def test_image_folder_bad_layouts(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        ImageFolderDataModule(tmp_path / "missing").setup()
    with pytest.raises(ValueError, match="holds no image files"):
        ImageFolderDataModule(tmp_path).setup()
    write_png(tmp_path / "a" / "x.png", 4, 4, 0)
    write_png(tmp_path / "loose.png", 4, 4, 0)
    with pytest.raises(ValueError, match="loose.png"):
        ImageFolderDataModule(tmp_path).setup()
    with pytest.raises(ValueError, match="crop"):
        ImageFolderDataModule(tmp_path, crop="center")


def test_other_files_and_empty_folders_are_reported_not_dropped(folder):
    (folder / "labels.txt").write_text("cat dog")
    (folder / "cat" / "c9.webp").write_bytes(b"")
    (folder / "empty").mkdir()
    dm = ImageFolderDataModule(folder, size=8, val_fraction=0.0)
    with pytest.warns(UserWarning, match=r"skipped 3 file\(s\) or folder\(s\): c9\.webp: "
                                         r"extension '\.webp', not one of the image extensions"):
        dm.setup()
    assert dm.classes == ["cat", "dog"] and len(dm.train_set) == 6
    assert sorted(p.name for p, _ in dm.skipped) == ["c9.webp", "empty", "labels.txt"]
    assert scan_image_folder(folder)[2] == ["cat", "dog"]


def test_truncated_file_fails_on_load_naming_the_file(tmp_path):
    good = write_png(tmp_path / "good.png", 16, 16, 0)
    data = good.read_bytes()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
        tmp_path / "trunc.png")
    (tmp_path / "trunc.png").write_bytes((tmp_path / "trunc.png").read_bytes()[:200])
    good.write_bytes(data)
    dm = ImageFolderDataModule(tmp_path, size=16, val_fraction=0.0)
    dm.setup()  # the header is fine
    with pytest.raises(ValueError, match=r"cannot read image file .*trunc\.png"):
        [dm.train_set[i] for i in range(len(dm.train_set))]


def test_training_order_is_a_function_of_seed_and_epoch(digits, folder):
    def labels(dm, epoch):
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return torch.cat([b["class_labels"] for b in loader]).tolist()

    torch.manual_seed(0)
    e0 = labels(digits, 0)
    torch.manual_seed(1)  # torch's global RNG plays no part
    assert labels(digits, 0) == e0
    assert labels(digits, 1) != e0
    assert sorted(labels(digits, 1)) == sorted(e0) == sorted(digits.train_set.y.tolist())
    other = DigitsDataModule(batch_size=32, seed=1)
    assert labels(other, 0) != labels(DigitsDataModule(batch_size=32, seed=0), 0)
    images = ImageFolderDataModule(folder, size=8, val_fraction=0.0, batch_size=2)
    assert labels(images, 4) == labels(images, 4)
    assert sorted(labels(images, 4)) == [0, 0, 0, 1, 1, 1]
