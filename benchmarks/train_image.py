"""Quality at a fixed CPU budget on the digits, and training throughput against diffusers.

    python benchmarks/train_image.py [--minutes 3] [--samples 1000] [--out DIR]

1. Trains the ``polydiff demo image`` model (class-conditional ImageUNet, ~0.68M parameters)
   with Lightning for ``--minutes`` on the digits' training split (16x16, batch 64).
2. Draws ``--samples`` samples (100 per class, dpmpp_2m, 20 steps, CFG scales 1 and 2) and
   scores them with a small CNN classifier trained on the training split:
   - ``acc``: fraction classified as the class they were drawn for (conditional fidelity);
   - ``conf``: mean top-1 softmax probability (sharpness/recognisability);
   - ``balance``: entropy of the predicted-class histogram / log(10) (1 = all classes equally);
   - ``FD``: Frechet distance between Gaussians fitted to the classifier's 64-d penultimate
     features of the samples and of the held-out test split (180 real images), as in FID but in
     this classifier's feature space. Small reference sets bias FD upwards, so compare FDs
     only within this table.
   Reference rows: real training images (an upper bound on quality), the untrained model and
   pure Gaussian noise (lower bounds).
3. Throughput and peak memory of one training step (forward, backward, AdamW; eps-MSE; batch 64;
   1x16x16; class labels) for polydiff's ImageUNet and diffusers' UNet2DModel at a similar
   parameter count, each in a fresh subprocess (peak RSS = VmHWM; "train +MB" = its growth
   from after building the model to after the timed steps); the models alternate,
   ``--tp-repeats`` runs each, best run reported.

Prints a table and writes JSON (default ``benchmarks/results/train_image.json``). Timings vary
with machine load; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


# -- classifier and metrics ------------------------------------------------------------------
class DigitCNN(nn.Module):
    """conv16-pool-conv32-pool-fc64-fc10 on 1x16x16 in [-1, 1]; ``features`` = the fc64 ReLU."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        )
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 30,
                     seed: int = 0) -> DigitCNN:
    torch.manual_seed(seed)
    net = DigitCNN()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            # light augmentation: 1-pixel shifts make the features less brittle
            xb = torch.roll(x[idx], shifts=tuple(torch.randint(-1, 2, (2,), generator=g)),
                            dims=(2, 3))
            loss = nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of Gaussian fits.

    ``tr (S_a S_b)^(1/2)`` is computed as the sum of square roots of the eigenvalues of the
    symmetric PSD matrix ``S_a^(1/2) S_b S_a^(1/2)`` (same spectrum), which stays stable when
    a covariance is singular (e.g. features of pure noise)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = linalg.eigh(s_a)
    half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = linalg.eigvalsh(half @ s_b @ half)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)


@torch.no_grad()
def score(clf: DigitCNN, x: torch.Tensor, labels: torch.Tensor | None,
          ref_features: np.ndarray) -> dict:
    feats = clf.features(x.clamp(-1, 1))
    probs = clf.head(feats).softmax(-1)
    pred = probs.argmax(-1)
    hist = torch.bincount(pred, minlength=10).double() / len(pred)
    entropy = -(hist[hist > 0] * hist[hist > 0].log()).sum().item()
    return {
        "acc": None if labels is None else float((pred == labels).double().mean()),
        "conf": float(probs.max(-1).values.mean()),
        "balance": entropy / math.log(10),
        "FD": frechet_distance(feats.numpy().astype(np.float64), ref_features),
    }


# -- throughput worker (runs in a fresh process) -----------------------------------------------
def _peak_rss_mb() -> float:
    """The process's peak resident memory: VmHWM (Linux; reset by exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _throughput_worker(kind: str, steps: int, batch: int) -> dict:
    torch.manual_seed(0)
    x = torch.rand(batch, 1, 16, 16) * 2 - 1
    labels = torch.randint(0, 10, (batch,))
    if kind == "polydiff":
        from polydiff.training import instantiate_net
        from polydiff.training.demo import DEMO_NET

        net = instantiate_net(DEMO_NET)

        def forward(x_t, t):
            return net(x_t, 1000 * t, class_labels=labels)
    else:
        from diffusers import UNet2DModel

        net = UNet2DModel(sample_size=16, in_channels=1, out_channels=1,
                          block_out_channels=(24, 48, 48),
                          down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                          up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                          layers_per_block=1, norm_num_groups=8, num_class_embeds=11,
                          attention_head_dim=8)

        def forward(x_t, t):
            return net(x_t, 1000 * t, class_labels=labels).sample
    params = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    rss0 = _peak_rss_mb()

    def step():
        t = torch.rand(batch)
        eps = torch.randn_like(x)
        a = torch.cos(0.5 * math.pi * t)[:, None, None, None]
        s = torch.sin(0.5 * math.pi * t)[:, None, None, None]
        loss = ((forward(a * x + s * eps, t) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    rss1 = _peak_rss_mb()
    return {"model": kind, "params": params, "samples_per_s": steps * batch / dt,
            "ms_per_step": 1000 * dt / steps, "peak_rss_mb": rss1,
            "train_rss_increase_mb": rss1 - rss0}


def throughput(kind: str, steps: int, batch: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--throughput-worker", kind,
                           "--tp-steps", str(steps), "--tp-batch", str(batch)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_throughput(a: argparse.Namespace) -> list[dict]:
    """Both models, alternating, ``a.tp_repeats`` runs each; each one's best run (other load on
    the machine only ever slows a run down). Prints a table."""
    runs: dict[str, list[dict]] = {"polydiff": [], "diffusers": []}
    for _ in range(a.tp_repeats):
        for kind in runs:
            runs[kind].append(throughput(kind, a.tp_steps, a.tp_batch))
    tp = [max(r, key=lambda d: d["samples_per_s"]) for r in runs.values()]
    print(f"\n{'training step (batch 64)':26s} {'params':>9s} {'samples/s':>10s} "
          f"{'ms/step':>8s} {'peak RSS MB':>12s} {'train +MB':>10s}")
    for r in tp:
        print(f"{r['model']:26s} {r['params']:9,d} {r['samples_per_s']:10.0f} "
              f"{r['ms_per_step']:8.1f} {r['peak_rss_mb']:12.0f} "
              f"{r['train_rss_increase_mb']:10.0f}")
    return tp


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20, help="sampler steps")
    ap.add_argument("--tp-steps", type=int, default=30, help="throughput: timed steps")
    ap.add_argument("--tp-batch", type=int, default=64)
    ap.add_argument("--tp-repeats", type=int, default=3, help="throughput: runs per model")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_image.json"))
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the throughput comparison; updates its entry in --out")
    ap.add_argument("--throughput-worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.throughput_worker:
        print(json.dumps(_throughput_worker(a.throughput_worker, a.tp_steps, a.tp_batch)))
        return
    if a.throughput_only:
        tp = compare_throughput(a)
        out = Path(a.out)
        result = json.loads(out.read_text()) if out.is_file() else {}
        result["throughput"] = tp
        result["throughput_command"] = "python " + " ".join(
            [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
        result["throughput_date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        return

    import lightning.pytorch as pl

    from polydiff.modalities.image import DigitsDataModule
    from polydiff.training.demo import image_module

    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = DigitsDataModule(batch_size=64, size=16, seed=0)
    data.setup()
    x_train, y_train = data.train_set.x, data.train_set.y
    x_test, y_test = data.test_set.x, data.test_set.y

    t0 = time.perf_counter()
    clf = train_classifier(x_train, y_train)
    clf_s = time.perf_counter() - t0
    with torch.no_grad():
        test_acc = float((clf(x_test).argmax(-1) == y_test).double().mean())
        ref = clf.features(x_test).numpy().astype(np.float64)
    print(f"classifier: test accuracy {test_acc:.3f} ({clf_s:.0f} s)")

    n = a.samples
    labels = torch.arange(n) % 10
    rows: dict[str, dict] = {}
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(x_train), generator=g)[:n]
    rows["real train images (reference)"] = score(clf, x_train[idx], y_train[idx], ref)
    rows["Gaussian noise (reference)"] = score(
        clf, torch.randn(n, 1, 16, 16, generator=g).clamp(-1, 1), labels, ref)

    pl.seed_everything(0, verbose=False)
    module = image_module(seed=0)
    untrained = module.sample(n, steps=a.steps, class_labels=labels, guidance_scale=1.0)
    rows["untrained model"] = score(clf, untrained, labels, ref)

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_time={"minutes": a.minutes},
                         max_epochs=-1, gradient_clip_val=1.0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    t0 = time.perf_counter()
    trainer.fit(module, data)
    train_s = time.perf_counter() - t0
    steps = trainer.global_step
    sample_times = {}
    for scale in (1.0, 2.0):
        t0 = time.perf_counter()
        x = module.sample(n, steps=a.steps, class_labels=labels, guidance_scale=scale)
        sample_times[scale] = time.perf_counter() - t0
        rows[f"polydiff {a.minutes:g} min, CFG {scale:g}"] = score(clf, x, labels, ref)

    tp = compare_throughput(a)

    print(f"\ntraining: {steps} steps in {train_s:.0f} s = {steps * 64 / train_s:.0f} samples/s "
          f"through Lightning (incl. validation each epoch); val/loss "
          f"{float(trainer.callback_metrics.get('val/loss', float('nan'))):.4f}")
    print(f"sampling {n}: dpmpp_2m {a.steps} steps: "
          + ", ".join(f"CFG {k:g}: {v:.1f} s" for k, v in sample_times.items()))
    print(f"\n{'samples':34s} {'acc':>6s} {'conf':>6s} {'balance':>8s} {'FD':>8s}")
    for name, r in rows.items():
        acc = "" if r["acc"] is None else f"{r['acc']:.3f}"
        print(f"{name:34s} {acc:>6s} {r['conf']:6.3f} {r['balance']:8.3f} {r['FD']:8.2f}")

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "cpu": platform.processor()},
        "classifier_test_accuracy": test_acc,
        "train": {"minutes": a.minutes, "steps": steps, "seconds": train_s,
                  "samples_per_s": steps * 64 / train_s,
                  "val_loss": float(trainer.callback_metrics.get("val/loss", float("nan")))},
        "sampling_seconds": {str(k): v for k, v in sample_times.items()},
        "quality": rows,
        "throughput": tp,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
