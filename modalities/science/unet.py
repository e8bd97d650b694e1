"""The grid backbone: a preset of :class:`polydiff.nn.UNet` for fields
``(B, variables, [time,] lat, lon)``.

- longitude is periodic (circular padding in every convolution, down- and upsampling), so a
  global grid has no seam at the date line and the network commutes with a longitude roll by
  a multiple of :attr:`~polydiff.nn.UNet.size_multiple` (tested);
- several variables are the channels (each normalised on its own by the data module; the
  normaliser is stored with the model);
- ``time_axis=True`` adds the time axis (3-D): time is not downsampled, attention is
  factorised (over lat x lon per step, then over time per cell, with a relative-position bias
  in time);
- ``conditional=True`` takes the known values and their mask, ``cond = [known, mask]``
  (``2 * variables`` channels, :func:`polydiff.training.imputation.imputation_cond`), for
  imputation models trained on gappy data;
- ``geometry=True`` takes the static grid channels (sin/cos latitude, sin/cos longitude,
  validity: :func:`~polydiff.modalities.science.grid.geometry`) after those.
"""

from __future__ import annotations

from collections.abc import Sequence

from polydiff.nn import UNet

__all__ = ["FieldUNet", "GEOMETRY_CHANNELS"]

#: sin/cos latitude, sin/cos longitude, validity
GEOMETRY_CHANNELS = 5


class FieldUNet(UNet):
    """U-Net for gridded fields; ~0.5M parameters with the defaults (CPU-sized).

    Args:
        variables: number of variables (channels in and out).
        time_axis: samples are ``(B, variables, time, lat, lon)`` instead of
            ``(B, variables, lat, lon)``.
        conditional: imputation model: ``cond`` starts with ``[known values, mask]``.
        geometry: ``cond`` ends with the 5 static grid channels.
        periodic_lon: circular padding along longitude (global grids); ``False`` for regional
            grids.
        base_channels, channel_mult, num_res_blocks, attention_levels, dropout,
        attention_heads, emb_dim, emb_kind, mid_attention: as in :class:`polydiff.nn.UNet`.
        max_time_distance: clip distance of the time relative-position bias (``time_axis``).

    ``forward(x, c_noise, cond=None)``: ``cond (B, cond_channels, [time,] lat, lon)`` with
    ``cond_channels = 2 * variables * conditional + 5 * geometry``. Latitude and longitude
    sizes must be multiples of ``size_multiple`` (``2 ** (len(channel_mult) - 1)``).
    """

    def __init__(self, variables: int = 1, time_axis: bool = False, conditional: bool = False,
                 geometry: bool = False, periodic_lon: bool = True, base_channels: int = 32,
                 channel_mult: Sequence[int] = (1, 2, 2), num_res_blocks: int = 1,
                 attention_levels: Sequence[int] = (-1,), dropout: float = 0.0,
                 attention_heads: int = 4, emb_dim: int | None = None,
                 emb_kind: str = "sinusoidal", mid_attention: bool = True,
                 max_time_distance: int = 8):
        if variables < 1:
            raise ValueError(f"FieldUNet: variables must be >= 1, got {variables}")
        dims = 3 if time_axis else 2
        space = (1, 2) if time_axis else (0, 1)
        super().__init__(
            dims=dims, in_channels=variables,
            cond_channels=2 * variables * bool(conditional) + GEOMETRY_CHANNELS * bool(geometry),
            base_channels=base_channels, channel_mult=channel_mult,
            num_res_blocks=num_res_blocks, attention_levels=attention_levels, dropout=dropout,
            attention_heads=attention_heads, emb_dim=emb_dim, emb_kind=emb_kind,
            mid_attention=mid_attention,
            periodic=(False,) * (dims - 1) + (bool(periodic_lon),),
            down_factors=(1, 2, 2) if time_axis else 2,
            attention_axes=[list(space), [0]] if time_axis else None,
            relative_position_axes=[0] if time_axis else (),
            max_relative_distance=max_time_distance,
        )
        self.variables, self.time_axis = variables, bool(time_axis)
        self.conditional, self.geometry = bool(conditional), bool(geometry)
