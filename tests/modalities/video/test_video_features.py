"""The shipped moving-digits feature network: it recognises held-out digits and real frame
order, and its Fréchet distance separates real clips from damaged ones."""

from __future__ import annotations

import pytest
import torch

from polydiff.modalities.video.demo import demo_data
from polydiff.modalities.video.features import (
    _shuffled,
    feature_frechet_distance,
    load_features,
)


@pytest.fixture(scope="module")
def held_out():
    data = demo_data()
    data.setup()
    x = torch.stack([data.test_set[i]["x"] for i in range(64)])
    y = torch.stack([data.test_set[i]["class_labels"] for i in range(64)])
    v = torch.stack([data.val_set[i]["x"] for i in range(32)])
    return x, y, v


def test_shipped_features_know_digits_and_motion(held_out):
    x, y, _ = held_out
    net = load_features()
    with torch.no_grad():
        digit, order = net(x)
        _, shuffled = net(_shuffled(x, torch.Generator().manual_seed(0)))
    assert (digit.argmax(1) == y).float().mean() > 0.6  # chance: 0.1
    assert (order.argmax(1) == 1).float().mean() > 0.9
    assert (shuffled.argmax(1) == 0).float().mean() > 0.9
    assert net.features(x).shape == (64, 64)


def test_frechet_distance_separates_damaged_clips(held_out):
    x, _, v = held_out
    net = load_features()
    real = feature_frechet_distance(x, v, net)
    shuffled = feature_frechet_distance(x, _shuffled(v, torch.Generator().manual_seed(1)), net)
    still = feature_frechet_distance(x, v[:, :, :1].expand_as(v), net)
    assert real < shuffled and real < still
    assert feature_frechet_distance(x, x, net) == pytest.approx(0.0, abs=1e-6)


def test_missing_weights_are_named(tmp_path):
    with pytest.raises(ValueError, match="nope.pt not found; rebuild them with python -m"):
        load_features(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match=r"grey videos \(B, 1, F, H, W\)"):
        load_features().features(torch.zeros(1, 3, 4, 16, 16))
