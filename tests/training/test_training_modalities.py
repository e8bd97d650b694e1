"""Any modality: Lightning end-to-end, exact resume and export on a toy 1-D and a toy 3-D
modality registered here (tests/training/toy_modalities.py), through the registry, the base
data module, the normaliser and the modality's own writer."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from toy_modalities import NET1D, NET3D, TOY1D, TOY3D, Toy1DData, Toy3DData

from polydiff.cli import main
from polydiff.modality import register_modality, unregister_modality
from polydiff.training import (
    DiffusionModule,
    SampleCallback,
    export,
    load_checkpoint,
    load_exported,
)

CASES = {
    "toy1d": dict(data=Toy1DData, net=NET1D, shape=(2, 32), suffix=".csv", offset=5.0),
    "toy3d": dict(data=Toy3DData, net=NET3D, shape=(1, 4, 8, 8), suffix=".npy", offset=100.0),
}


@pytest.fixture(scope="module", autouse=True)
def toys():
    register_modality(TOY1D)
    register_modality(TOY3D)
    yield
    unregister_modality("toy1d")
    unregister_modality("toy3d")


def _module(case: dict) -> DiffusionModule:
    labelled = "num_classes" in case["net"]["init_args"]
    return DiffusionModule(case["net"], lr=2e-3, ema_decay=0.9, seed=3,
                           cond_dropout=0.2 if labelled else 0.0, val_noise_levels=[0.3, 0.7])


def _fit(root, case, steps, ckpt_path=None, callbacks=()):
    pl.seed_everything(0)
    module = _module(case)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, default_root_dir=root,
                         callbacks=[ModelCheckpoint(dirpath=root, save_last=True,
                                                    every_n_train_steps=1, save_top_k=-1),
                                    *callbacks])
    trainer.fit(module, case["data"](), ckpt_path=ckpt_path)
    return module


def _read_written(path, case):
    if case["suffix"] == ".csv":
        return torch.from_numpy(np.loadtxt(path, delimiter=",")).float()
    return torch.from_numpy(np.load(path))


@pytest.mark.parametrize("name", list(CASES))
def test_fit_sample_write_through_the_modality(tmp_path, name):
    case = CASES[name]
    cb = SampleCallback(every_n_epochs=1, num_samples=3, steps=2, out_dir=str(tmp_path / "cb"))
    module = _fit(tmp_path / "run", case, steps=3, callbacks=[cb])
    # shape, classes and data description came from the data module, not from a batch
    assert module.sample_shape == list(case["shape"])
    info = module.data_info
    assert info["modality"] == name and info["sample_shape"] == list(case["shape"])
    assert abs(info["normalizer"]["shift"][0] - case["offset"]) < 0.1 * case["offset"]
    assert cb.written and all(p.suffix == case["suffix"] for p in cb.written)

    ckpt = tmp_path / "run" / "last.ckpt"
    raw = torch.load(ckpt, weights_only=True)
    assert raw["polydiff"]["data"] == info
    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "3", "--out", str(out),
                 "--steps", "2"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    assert x.shape == (3, *case["shape"])
    written = _read_written(out / f"samples{case['suffix']}", case)
    torch.testing.assert_close(written.reshape(x.shape), x, rtol=1e-5, atol=1e-4)
    # the files are in data units: the normaliser inverted on the module's own samples
    loaded = load_checkpoint(ckpt)
    labels = None if loaded.num_classes is None else torch.arange(3) % loaded.num_classes
    ref = loaded.to_data_units(loaded.sample(3, steps=2, class_labels=labels, seed=0))
    torch.testing.assert_close(x, ref)
    assert abs(x.mean().item() - case["offset"]) < abs(case["offset"])  # not model units ~0


def test_known_values_are_kept_through_the_cli(tmp_path):
    case = CASES["toy1d"]
    _fit(tmp_path / "run", case, steps=2)
    data = Toy1DData()
    data.setup()
    known = data.train_set[0]["x"].clone()
    known[:, 8:20] = float("nan")  # the gap to fill
    torch.save(known, tmp_path / "known.pt")
    out = tmp_path / "filled"
    assert main(["sample", "--checkpoint", str(tmp_path / "run" / "last.ckpt"), "--num", "2",
                 "--out", str(out), "--steps", "3", "--known", str(tmp_path / "known.pt"),
                 "--resample", "2", "2"]) == 0
    x = torch.load(out / "samples.pt", weights_only=True)
    keep = ~torch.isnan(known)
    torch.testing.assert_close(x[:, keep], known[keep].expand(2, -1), rtol=0, atol=1e-5)
    assert not torch.allclose(x[0][~keep], x[1][~keep])  # the gap is sampled, per sample


@pytest.mark.parametrize("name", list(CASES))
def test_mid_epoch_resume_is_exact(tmp_path, name):
    case = CASES[name]
    straight = _fit(tmp_path / "a", case, steps=4)
    _fit(tmp_path / "b", case, steps=2)
    resumed = _fit(tmp_path / "c", case, steps=4,
                   ckpt_path=str(tmp_path / "b" / "last.ckpt"))
    for (k, v), (_, w) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                              strict=True):
        assert torch.equal(v, w), k
    assert resumed.data_info == straight.data_info


@pytest.mark.parametrize("name", list(CASES))
def test_export_records_the_data_and_samples_alike(tmp_path, name):
    case = CASES[name]
    _fit(tmp_path / "run", case, steps=2)
    ckpt = tmp_path / "run" / "last.ckpt"
    module = load_checkpoint(ckpt)
    exp = export(module, tmp_path / "export")
    den = load_exported(exp)
    assert den.export_config["data"] == module.data_info
    outs = []
    for src, out in ((ckpt, "s1"), (exp, "s2")):
        assert main(["sample", "--checkpoint", str(src), "--num", "2", "--steps", "2",
                     "--out", str(tmp_path / out)]) == 0
        outs.append(torch.load(tmp_path / out / "samples.pt", weights_only=True))
        assert (tmp_path / out / f"samples{case['suffix']}").is_file()
    torch.testing.assert_close(outs[0], outs[1])


def test_data_module_and_network_must_agree(tmp_path):
    wrong = {**NET1D, "init_args": {**NET1D["init_args"], "num_classes": 5}}
    module = DiffusionModule(wrong, ema_decay=None)
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="built for 5 classes.*Toy1DData has 3"):
        trainer.fit(module, Toy1DData())
    module = DiffusionModule(NET1D, ema_decay=None, sample_shape=[2, 64])
    with pytest.raises(ValueError, match=r"sample_shape=\[2, 64\].*\[2, 32\]"):
        trainer.fit(module, Toy1DData())


def test_writer_choice_is_checked_against_the_modality(tmp_path, cli_error):
    _fit(tmp_path / "run", CASES["toy3d"], steps=1)
    ckpt = str(tmp_path / "run" / "last.ckpt")
    cli_error(["sample", "--checkpoint", ckpt, "--num", "1", "--out", tmp_path / "o", "--writer",
               "png"], r"toy3d writer.*'png'.*\['npy'\]")
    assert main(["sample", "--checkpoint", ckpt, "--num", "1", "--steps", "1", "--out",
                 str(tmp_path / "t"), "--writer", "tensor"]) == 0
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["samples.pt"]


def test_sample_callback_guidance_needs_classes(tmp_path):
    cb = SampleCallback(num_samples=2, steps=1, guidance_scale=3.0, out_dir=str(tmp_path / "s"))
    with pytest.raises(ValueError, match="guidance_scale=3.0 needs a class-conditional"):
        _fit(tmp_path / "run", CASES["toy3d"], steps=1, callbacks=[cb])
    assert not (tmp_path / "s").exists()


class _Toy1DTimed(Toy1DData):
    """Toy signals plus a vector (start offset, total duration) per item."""

    def build(self):
        sets = super().build()
        for ds in sets.values():
            for i, item in enumerate(ds.items):
                item["vector"] = torch.tensor([0.1 * (i % 5), 1.0 + i % 3])
        return sets


def test_vector_conditioning_reaches_the_network(tmp_path):
    net = {**NET1D, "init_args": {**NET1D["init_args"], "vector_cond_dim": 2}}
    pl.seed_everything(0)
    module = DiffusionModule(net, ema_decay=None, seed=2)
    seen = []
    module.net.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs.get(
        "vector")), with_kwargs=True)
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, _Toy1DTimed())
    assert seen and all(v is not None and v.shape[1] == 2 for v in seen)
    for p in module.net.parameters():  # leave the zero init, so the output depends on all
        torch.nn.init.normal_(p, std=0.1)
    a = module.sample(2, steps=2, class_labels=[0, 1], vector=torch.tensor([0.0, 1.0]))
    b = module.sample(2, steps=2, class_labels=[0, 1], vector=torch.tensor([0.4, 3.0]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match=r"vector must have shape \(D,\) or \(2, D\)"):
        module.sample(2, steps=2, class_labels=[0, 1], vector=torch.zeros(3, 2))
