"""Full vs factorised attention on a video feature map: time and peak memory per training step.

    python benchmarks/attention.py [--frames 8] [--size 16] [--channels 64] [--repeats 5]

One attention layer of polydiff.nn (``attention_block``) on ``(2, C, F, S, S)``: full attention
over all ``F*S*S`` positions (what a 2D U-Net's attention does when given a video) against the
factorised layout a video U-Net uses (``attention_axes=[[1, 2], [0]]``: spatial per frame, then
temporal per pixel with a relative-position bias). Each configuration runs forward + backward
in a fresh subprocess (peak RSS = VmHWM, "+MB" its growth over the process after building the
layer); the two alternate, ``--repeats`` runs each, best time reported with the ratio.
Prints a table and writes JSON to ``benchmarks/results/attention.json``; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import torch
from polydiff.nn.factorised import attention_block

torch.set_num_threads(int(sys.argv[6]))
kind = sys.argv[1]
f, s, c, steps = (int(v) for v in sys.argv[2:6])
axes = None if kind == "full" else [[1, 2], [0]]
layer = attention_block(c, 4, axes, (0,) if axes else (), 8)
for p in layer.parameters():  # leave the zero-initialised output projection's identity
    torch.nn.init.normal_(p, std=0.02)
x = torch.randn(2, c, f, s, s, requires_grad=True)
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
base = rss()
layer(x).square().mean().backward()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    layer(x).square().mean().backward()
dt = (time.perf_counter() - t0) / steps
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "peak_mb": peak, "grow_mb": peak - base}))
"""


def run(kind: str, a: argparse.Namespace) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(a.frames), str(a.size),
                          str(a.channels), str(a.steps), str(a.threads)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "attention.json"))
    a = p.parse_args()
    runs: dict[str, list[dict]] = {"full": [], "factorised": []}
    for _ in range(a.repeats):
        for kind in runs:  # alternate: this machine is noisy
            runs[kind].append(run(kind, a))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    n = a.frames * a.size * a.size
    hw = a.size ** 2
    scores = {"full": n * n, "factorised": a.frames * hw ** 2 + hw * a.frames ** 2}
    print(f"attention on (2, {a.channels}, {a.frames}, {a.size}, {a.size}), forward+backward, "
          f"{a.threads} threads, best of {a.repeats}")
    print(f"{'layout':12s} {'s/step':>8s} {'peak MB':>8s} {'+MB':>8s} {'scores/head':>12s}")
    for k, r in best.items():
        print(f"{k:12s} {r['seconds']:8.3f} {r['peak_mb']:8.0f} {r['grow_mb']:8.0f} "
              f"{scores[k]:12,d}")
    ratio = best["full"]["seconds"] / best["factorised"]["seconds"]
    mem = best["full"]["grow_mb"] / max(best["factorised"]["grow_mb"], 1e-9)
    print(f"factorised is {ratio:.1f}x faster and grows memory {mem:.1f}x less than full")
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "args": vars(a), "best": best, "runs": runs, "score_elements": scores,
              "speedup": ratio, "memory_ratio": mem}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
