#!/usr/bin/env bash
# Set up polydiff for development on a fresh machine: a virtual environment in .venv with the
# package (editable) and everything the tests and demos need.
#   bash scripts/setup.sh            # core + all extras the tests and demos use
#   bash scripts/setup.sh --bench    # also the comparison libraries for benchmarks/
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# torch 2.14.1 and torchaudio 2.11.0 load together (the CPU build 2.13.0 cannot load
# torchaudio 2.11); pin them first so nothing later pulls another torch.
"${PIP[@]}" "torch==2.14.1" "torchaudio==2.11.0"
"${PIP[@]}" -e ".[dev]"

if [ "${1:-}" = "--bench" ]; then
    "${PIP[@]}" -e ".[bench]"
    # k-diffusion's own requirements pull in CLIP, wandb and more; only its sampling module
    # is used, which needs torchsde and torchdiffeq (in the bench extra).
    "${PIP[@]}" --no-deps k-diffusion
    # the audio and video anchors (benchmarks/audio.py, benchmarks/video.py): their own
    # requirements would pull another torch and unused extras; only their networks are used
    "${PIP[@]}" --no-deps audio-diffusion-pytorch a-unet video-diffusion-pytorch einops-exts \
        rotary-embedding-torch "torchvision==0.29.1"   # 0.29.1 matches torch 2.14.1
    # the Debian data packages the benchmarks read (held-out voices for benchmarks/audio.py,
    # the full NOAA fields for benchmarks/impute.py); not needed by the tests or demos
    DATA=(klettres-data ferret-datasets)
    if ! dpkg -s "${DATA[@]}" >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${DATA[@]}"
        else
            echo "benchmarks need the Debian packages ${DATA[*]}: install them as root with" \
                 "apt-get install --no-install-recommends ${DATA[*]}" >&2
        fi
    fi
fi

.venv/bin/python -c "import torch, torchaudio, lightning, polydiff; \
print(f'polydiff {polydiff.__version__}: torch {torch.__version__}, torchaudio \
{torchaudio.__version__}, lightning {lightning.__version__}')"
