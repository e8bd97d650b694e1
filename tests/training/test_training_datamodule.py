"""DiffusionDataModule: seeded splits, the fitted normaliser applied to batches, NaN as missing,
sample shape / classes / data_info, and clear errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from toy_modalities import Toy1DData, Toy3DData, _Items

from polydiff.normalize import Normalizer
from polydiff.training import BatchCollate, DiffusionDataModule


def test_batches_are_normalised_with_training_statistics():
    dm = Toy1DData(n=48, batch_size=8)
    dm.setup()
    train = torch.stack([dm.train_set[i]["x"] for i in range(len(dm.train_set))])
    mean = train.double().transpose(0, 1).reshape(2, -1).mean(1)
    assert dm.normalizer.shift == pytest.approx(mean.tolist(), rel=1e-6)
    batches = list(dm.train_dataloader())
    x = torch.cat([b["x"] for b in batches])
    assert x.shape == (36, 2, 32) and abs(x.mean().item()) < 0.05
    assert x.std().item() == pytest.approx(1.0, abs=0.05)
    assert set(batches[0]) == {"x", "class_labels"}
    assert dm.sample_shape == (2, 32) and dm.num_classes == 3
    info = dm.data_info()
    assert info["modality"] == "toy1d" and info["writer"] == "csv"
    assert info["meta"] == {"step_seconds": 0.5} and info["normalizer"] == dm.normalizer.to_dict()


def test_split_is_seeded_and_disjoint():
    a, b, c = Toy1DData(seed=0), Toy1DData(seed=0), Toy1DData(seed=1)
    for dm in (a, b, c):
        dm.setup()

    def ids(ds):
        return sorted(float(ds[i]["x"][0, 0]) for i in range(len(ds)))

    assert ids(a.val_set) == ids(b.val_set) != ids(c.val_set)
    assert not set(ids(a.val_set)) & set(ids(a.train_set))


@given(st.integers(0, 2**31), st.floats(0.0, 0.9))
def test_nan_never_reaches_the_model(seed, missing):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, 5, generator=g) * 4 + 10
    x[torch.rand(x.shape, generator=g) < missing] = float("nan")
    given_mask = torch.rand(3, 1, 5, generator=g) > 0.2
    items = [{"x": x[i], "observed": given_mask[i]} for i in range(3)]
    batch = BatchCollate(Normalizer([10.0, 10.0], [4.0, 4.0]))(items)
    assert torch.isfinite(batch["x"]).all()
    expected = ~torch.isnan(x) & given_mask
    if torch.isnan(x).any():
        assert torch.equal(batch["observed"], expected)
    keep = batch["observed"].expand_as(x)
    torch.testing.assert_close(batch["x"][keep], ((x - 10) / 4)[keep])
    assert torch.all(batch["x"][~keep] == 0)


def test_weights_pass_through_to_batches():
    dm = Toy3DData()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "weight"} and batch["weight"].shape == (4, 1, 4, 8, 8)
    assert dm.num_classes is None and dm.sample_shape == (1, 4, 8, 8)


class _Broken(DiffusionDataModule):
    def __init__(self, sets, **kw):
        super().__init__(**kw)
        self.sets = sets

    def build(self):
        return self.sets


def test_bad_data_modules_say_what_is_wrong():
    item = {"x": torch.zeros(1, 4)}
    with pytest.raises(ValueError, match=r"must return 'train'.*got \['valid'\]"):
        _Broken({"valid": _Items([item])}).setup()
    with pytest.raises(ValueError, match="training split is empty"):
        _Broken({"train": _Items([])}).setup()
    with pytest.raises(ValueError, match="no fixed normaliser"):
        _Broken({"train": _Items([item])}, normalization="fixed").setup()
    with pytest.raises(ValueError, match=r"unknown normalization 'zscore'"):
        _Broken({}, normalization="zscore")
    with pytest.raises(ValueError, match="val_fraction must lie in"):
        _Broken({}, val_fraction=1.0)
    dm = _Broken({"train": _Items([item])}, normalization="none")
    assert dm.val_dataloader() == []  # no validation split: Lightning skips validation
    with pytest.raises(ValueError, match="has no test split"):
        dm.test_dataloader()
    assert dm.normalizer == Normalizer.identity(1)
