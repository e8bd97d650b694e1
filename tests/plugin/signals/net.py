"""``SignalNet``: the core's 1-D U-Net, conditioned on the known values for imputation."""

from __future__ import annotations

from torch import nn

from polydiff.plugin import UNet


class SignalNet(nn.Module):
    """``forward(x (B, 1, T), c_noise (B,), cond=None)``; ``T`` a multiple of 4."""

    def __init__(self, base_channels: int = 8, conditional: bool = True):
        super().__init__()
        self.unet = UNet(dims=1, in_channels=1, base_channels=base_channels,
                         channel_mult=(1, 2, 2), num_res_blocks=1, attention_heads=2,
                         cond_channels=2 if conditional else 0)
        self.cond_channels = self.unet.cond_channels

    @property
    def null_class(self):
        return None

    def forward(self, x, c_noise, cond=None):
        return self.unet(x, c_noise, cond=cond)
