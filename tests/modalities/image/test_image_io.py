"""PNG grids and image loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from polydiff.modalities.image import load_image, make_grid, save_image_grid


def test_grid_png_has_the_right_size_and_values(tmp_path):
    x = torch.linspace(-1, 1, 5 * 4 * 6).reshape(5, 1, 4, 6)
    path = save_image_grid(x, tmp_path / "sub" / "grid.png")
    assert path.exists()
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "L"
        # 5 images -> 3 per row, 2 rows, 2 px padding
        assert img.size == (3 * (6 + 2) + 2, 2 * (4 + 2) + 2)
        arr = np.asarray(img)
    tile = arr[2:6, 2 + 8:2 + 8 + 6]  # second image
    want = ((x[1, 0] + 1) / 2 * 255).round().numpy()
    np.testing.assert_array_equal(tile, want.astype(np.uint8))
    back = load_image(path)
    assert back.shape == (1, 14, 26)
    torch.testing.assert_close(back[:, 2:6, 10:16], x[1], atol=1 / 255, rtol=0)


def test_rgb_grid_nrow_and_value_range(tmp_path):
    x = torch.rand(4, 3, 3, 3)
    path = save_image_grid(x, tmp_path / "rgb.png", nrow=4, value_range=(0, 1), padding=0)
    back = load_image(path, value_range=(0, 1))
    assert back.shape == (3, 3, 12)
    torch.testing.assert_close(back[:, :, 3:6], x[1], atol=1 / 255, rtol=0)
    grey = load_image(path, channels=1)
    assert grey.shape == (1, 3, 12)


def test_make_grid_layout():
    x = torch.arange(3.0).reshape(3, 1, 1, 1)
    g = make_grid(x, nrow=2, padding=1, pad_value=-5)
    assert g.shape == (1, 5, 5)
    assert g[0, 1, 1] == 0 and g[0, 1, 3] == 1 and g[0, 3, 1] == 2
    assert g[0, 3, 3] == -5 and g[0, 0, 0] == -5


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        save_image_grid(torch.full((1, 1, 2, 2), float("nan")), tmp_path / "nan.png")
    with pytest.raises(ValueError, match="C in 1, 3, 4"):
        save_image_grid(torch.zeros(1, 2, 2, 2), tmp_path / "c2.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="bad.png"):
        load_image(bad)
