"""Video features for a Fréchet distance on moving digits (FVD's I3D cannot be downloaded).

:class:`DigitVideoFeatures` is a small 3-D CNN trained here, on the training split of
:class:`~.data.MovingDigitsDataModule` (1 channel, values in [0, 1]), for two tasks at once:
the digit's class, and whether the frames are in their real order or shuffled. Its pooled
64-d features therefore respond to both what the digit looks like and how it moves. The
weights ship as ``assets/digit_features.pt`` (float16, about 0.15 MB) and are rebuilt by::

    python -m polydiff.modalities.video.features --out modalities/video/assets/digit_features.pt

The shipped weights are trained on the demo's setting (8x8 digits on a 16x16 canvas, 8
frames, 0.5-1.5 px/frame); the features mean something only for such videos, and distances
are comparable only between runs with the same weights and the same frame count.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .metrics import frechet_distance

__all__ = ["DigitVideoFeatures", "WEIGHTS", "load_features", "train_features",
           "feature_frechet_distance"]

WEIGHTS = Path(__file__).resolve().parent / "assets" / "digit_features.pt"


class DigitVideoFeatures(nn.Module):
    """``(B, 1, F, H, W)`` in [0, 1] -> features ``(B, 64)`` (``features``) or the logits of
    the digit class ``(B, 10)`` and of real-vs-shuffled order ``(B, 2)`` (``forward``).
    Any ``F >= 2`` and ``H, W >= 8``: the features are averaged over the remaining positions."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(1, width, 3, stride=(1, 2, 2), padding=1), nn.SiLU(),
            nn.Conv3d(width, 2 * width, 3, stride=(1, 2, 2), padding=1), nn.SiLU(),
            nn.Conv3d(2 * width, 4 * width, 3, stride=(2, 2, 2), padding=1), nn.SiLU(),
        )
        self.digit = nn.Linear(4 * width, 10)
        self.order = nn.Linear(4 * width, 2)

    def features(self, x: Tensor) -> Tensor:
        """``(B, 1, F, H, W) -> (B, 64)``: pooled activations of the last conv layer."""
        if x.ndim != 5 or x.shape[1] != 1:
            raise ValueError(f"DigitVideoFeatures: x must be grey videos (B, 1, F, H, W) in "
                             f"[0, 1], got {tuple(x.shape)}")
        return self.body(x * 2 - 1).mean(dim=(2, 3, 4))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.digit(h), self.order(h)


def _shuffled(x: Tensor, g: torch.Generator) -> Tensor:
    """Each video with its frames in a random order other than the real one."""
    out = x.clone()
    f = x.shape[2]
    for i in range(x.shape[0]):
        perm = torch.randperm(f, generator=g)
        while torch.equal(perm, torch.arange(f)):
            perm = torch.randperm(f, generator=g)
        out[i] = x[i][:, perm]
    return out


def train_features(steps: int = 3000, batch_size: int = 32, frames: int = 8, size: int = 16,
                   digit_size: int = 8, speed: tuple[float, float] = (0.5, 1.5), seed: int = 0,
                   log_every: int = 0) -> DigitVideoFeatures:
    """Train :class:`DigitVideoFeatures` on moving digits (Adam, lr 2e-3, cosine decay), half
    of each batch in real order, half shuffled; the defaults are the demo's and benchmark's
    setting (8x8 digits on 16x16, 0.5-1.5 px/frame). Deterministic for a seed on one
    machine."""
    from .data import MovingDigitsDataModule

    torch.manual_seed(seed)
    data = MovingDigitsDataModule(frames=frames, size=size, digit_size=digit_size, speed=speed,
                                  train_videos=steps * batch_size, batch_size=batch_size,
                                  seed=seed)
    data.setup()
    net = DigitVideoFeatures()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed + 1)
    t0 = time.perf_counter()
    for step in range(steps):
        items = [data.train_set[step * batch_size + i] for i in range(batch_size)]
        x = torch.stack([it["x"] for it in items])
        y = torch.stack([it["class_labels"] for it in items])
        half = batch_size // 2
        x = torch.cat([x[:half], _shuffled(x[half:], g)])
        order = torch.cat([torch.ones(half), torch.zeros(batch_size - half)]).long()
        digit_logits, order_logits = net(x)
        loss = F.cross_entropy(digit_logits, y) + F.cross_entropy(order_logits, order)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log_every and step % log_every == 0:
            print(f"step {step}: loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
    return net.eval()


def load_features(path: str | Path = WEIGHTS) -> DigitVideoFeatures:
    """The shipped (or another) trained :class:`DigitVideoFeatures`, read weights-only."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"feature weights {path} not found; rebuild them with python -m "
                         f"polydiff.modalities.video.features --out {path}")
    net = DigitVideoFeatures()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


@torch.no_grad()
def feature_frechet_distance(x: Tensor, y: Tensor, net: DigitVideoFeatures | None = None,
                             batch_size: int = 64) -> float:
    """Fréchet distance between the :class:`DigitVideoFeatures` of two sets of grey videos
    ``(N, 1, F, H, W)`` and ``(M, 1, F, H, W)`` in [0, 1] (the moving-digits analogue of
    FVD; lower is closer)."""
    net = net or load_features()

    def feats(v: Tensor) -> Tensor:
        return torch.cat([net.features(v[i:i + batch_size].float().clamp(0, 1))
                          for i in range(0, len(v), batch_size)])

    return frechet_distance(feats(x), feats(y))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="train the moving-digits feature network")
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    net = train_features(steps=a.steps, seed=a.seed, log_every=100)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in net.state_dict().items()}, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
