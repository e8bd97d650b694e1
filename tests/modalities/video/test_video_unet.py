"""The factorised space-time U-Net: shapes for any frame count, the image path for one frame,
the temporal layers, conditioning and bad input."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff.modalities.image import ImageUNet
from polydiff.modalities.video import VideoUNet
from polydiff.modalities.video.temporal import TemporalAttention, TemporalConv, fold, shift_conv
from polydiff.training import build_net

SMALL = dict(base_channels=8, channel_mult=(1, 2), num_res_blocks=1, attention_levels=(-1,),
             attention_heads=2)


def unzero_(module: torch.nn.Module, seed: int = 0, only=None) -> None:
    """Give zero-initialised parameters random values, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if (only is None or only(name)) and torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def _net(channels: int = 1, **kw) -> VideoUNet:
    torch.manual_seed(0)
    net = VideoUNet(channels, **{**SMALL, **kw}).eval()
    unzero_(net)
    return net


NET1 = _net(1, num_classes=3)
NET3 = _net(3)


@given(frames=st.integers(1, 6), h=st.sampled_from([2, 4, 6]), w=st.sampled_from([2, 4, 8]),
       batch=st.integers(1, 2), rgb=st.booleans(), labelled=st.booleans())
def test_output_shape_equals_input_shape_for_any_frame_count(frames, h, w, batch, rgb,
                                                             labelled):
    net = NET3 if rgb else NET1
    x = torch.randn(batch, net.in_channels, frames, h, w)
    labels = torch.arange(batch) % 3 if labelled and not rgb else None
    with torch.no_grad():
        y = net(x, torch.rand(batch), labels)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@given(frames=st.integers(1, 7), k=st.sampled_from([1, 3, 5]), seed=st.integers(0, 50))
def test_shift_conv_is_a_time_convolution(frames, k, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, frames, 2, 3, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 3, k, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    ref = torch.nn.functional.conv3d(x, weight[..., None, None], bias, padding=(k // 2, 0, 0))
    out = shift_conv(fold(x), weight, bias, frames)
    torch.testing.assert_close(out, fold(ref), rtol=1e-12, atol=1e-12)


@given(seed=st.integers(0, 20), labelled=st.booleans())
def test_one_frame_video_equals_the_image_path_with_shared_weights(seed, labelled):
    net = NET1
    image = ImageUNet(1, **SMALL, num_classes=3, dropout=0.0).eval()
    image.load_state_dict(net.spatial.state_dict())
    g = torch.Generator().manual_seed(seed)
    x, c = torch.randn(2, 1, 8, 4, generator=g), torch.rand(2, generator=g)
    labels = torch.tensor([0, 2]) if labelled else None
    with torch.no_grad():
        video = net(x[:, :, None], c, labels)
        img = image(x, c, labels)
    assert torch.equal(video[:, :, 0], img)


def test_fresh_temporal_layers_apply_the_image_model_per_frame():
    torch.manual_seed(1)
    net = VideoUNet(1, **SMALL).eval().double()
    unzero_(net, only=lambda name: name.startswith("spatial."))  # a "trained" image model
    x, c = torch.randn(2, 1, 5, 8, 8, dtype=torch.float64), torch.rand(2, dtype=torch.float64)
    with torch.no_grad():
        video = net(x, c)
        frames = torch.stack([net.spatial(x[:, :, f], c) for f in range(5)], dim=2)
    torch.testing.assert_close(video, frames, rtol=1e-10, atol=1e-12)
    assert torch.count_nonzero(VideoUNet(1, **SMALL).double()(x, c)) == 0  # zero at init


def test_temporal_layers_mix_frames_both_ways():
    x, c = torch.randn(1, 1, 6, 8, 8), torch.rand(1)
    x2 = x.clone()
    x2[:, :, 3] += 1.0
    with torch.no_grad():
        a, b = NET1(x, c), NET1(x2, c)
    changed = (a - b).abs().amax(dim=(0, 1, 3, 4))
    assert (changed > 1e-4).all(), changed  # every frame sees frame 3 (past and future)
    kinds = {type(m) for m in NET1.temporal.values()}
    assert kinds == {TemporalConv, TemporalAttention}


def test_image_batches_train_only_the_spatial_layers():
    """Joint image-video training: a one-frame batch leaves the temporal layers untouched."""
    net = _net(1)
    net.train()
    net(torch.randn(2, 1, 1, 8, 8), torch.rand(2)).square().mean().backward()
    for name, p in net.named_parameters():
        assert (p.grad is None) == name.startswith("temporal."), name
    net.zero_grad(set_to_none=True)
    net(torch.randn(2, 1, 4, 8, 8), torch.rand(2)).square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_longer_than_the_relative_distance_and_class_labels_matter():
    net = _net(1, num_classes=3, max_relative_distance=2)
    x, c = torch.randn(2, 1, 9, 4, 4), torch.rand(2)
    with torch.no_grad():
        a, b = net(x, c, torch.tensor([0, 0])), net(x, c, torch.tensor([1, 1]))
        null = net(x, c, torch.tensor([net.null_class] * 2))
        default = net(x, c)
    assert a.shape == x.shape and not torch.allclose(a, b)
    assert torch.equal(null, default) and net.null_class == 3


def test_load_image_weights_and_spec():
    image = ImageUNet(1, **SMALL, dropout=0.0)
    unzero_(image, seed=4)
    net = build_net("polydiff.modalities.video.VideoUNet", in_channels=1, base_channels=8,
                    channel_mult=[1, 2], attention_heads=2)
    net.load_image_weights(image.state_dict())
    x, c = torch.randn(1, 1, 3, 8, 8), torch.rand(1)
    with torch.no_grad():
        torch.testing.assert_close(net(x, c)[:, :, 1], image(x[:, :, 1], c))
    with pytest.raises(ValueError, match="image weights do not fit"):
        net.load_image_weights(ImageUNet(1, base_channels=16).state_dict())
    with pytest.raises(ValueError, match="unknown option.*'frames'"):
        build_net("polydiff.modalities.video.VideoUNet", frames=8)


def test_bad_input_is_named():
    c = torch.rand(1)
    with pytest.raises(ValueError, match="3 channels per frame.*greyscale"):
        NET1(torch.randn(1, 3, 4, 8, 8), c)
    with pytest.raises(ValueError, match="any number of frames >= 1.*multiples of 2"):
        NET1(torch.randn(1, 1, 4, 7, 8), c)
    with pytest.raises(ValueError, match=r"video \(B, C, F, H, W\)"):
        NET1(torch.randn(1, 1, 8, 8), c)
    with pytest.raises(ValueError, match=r"class_labels must be integers of shape \(1,\)"):
        NET1(torch.randn(1, 1, 2, 8, 8), c, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class_labels must lie in"):
        NET1(torch.randn(1, 1, 2, 8, 8), c, torch.tensor([7]))
    with pytest.raises(ValueError, match="temporal_kernel must be an odd"):
        VideoUNet(1, **SMALL, temporal_kernel=2)


def test_a_stored_spec_with_retired_options_still_loads():
    """Checkpoints of earlier versions named the module's prediction and schedule in the
    network's options; they are dropped with a warning (the Denoiser applies the residual)."""
    import pytest

    from polydiff.training import instantiate_net, net_spec

    spec = {"class_path": "polydiff.modalities.video.VideoUNet",
            "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                          "attention_heads": 2, "conditional": True, "residual": True,
                          "prediction": "x0", "schedule": "vp_cosine"}}
    with pytest.warns(UserWarning, match=r"\['prediction', 'schedule'\] are retired"):
        net = instantiate_net(spec)
    assert net.residual and "prediction" not in net_spec(net)["init_args"]
