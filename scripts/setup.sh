#!/usr/bin/env bash
# Set up everything edgeinfer's demo and tests need on a fresh Linux machine with Python 3.10+:
# Debian packages (mosquitto for the MQTT tests and demo, mosquitto-clients for mosquitto_sub,
# qemu-user to run int8 models on an emulated AVX2-only CPU, wrk for the serving benchmark,
# ffmpeg for ffprobe, which checks that event clips play, espeak-ng to synthesise speech for the VAD tests,
# libportaudio2 for sounddevice's microphones),
# a virtual environment in .venv,
# the CPU build of torch first (pinned, so nothing pulls a CUDA build), then edgeinfer with
# all extras under the constraints file. Safe to re-run: what is there is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(mosquitto mosquitto-clients openssl shellcheck chromium qemu-user wrk ffmpeg espeak-ng libportaudio2)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # The package's own service is not wanted; tests start their own brokers.
        if command -v service >/dev/null; then service mosquitto stop >/dev/null 2>&1 || true; fi
    else
        echo "setup: please install these Debian packages (sudo apt-get install ${missing[*]})" >&2
    fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
    echo "setup: installing torch 2.13.0 (CPU)"
    pip install -q torch==2.13.0
fi
if ! python -c "import edgeinfer, converters" 2>/dev/null || [ pyproject.toml -nt .venv/.edgeinfer-installed ]; then
    echo "setup: installing edgeinfer[all] (a few minutes the first time)"
    pip install -q -c .ci/constraints.txt -e ".[all]"
    touch .venv/.edgeinfer-installed
fi
# silero-vad ships the ONNX VAD model the streaming tests run (edgeinfer/cards/silero_vad.yaml).
# --no-deps: its only runtime needs (torch, packaging) are installed above; its extras would
# pull a torchaudio that does not fit this torch.
if ! python -c "import silero_vad" 2>/dev/null; then
    echo "setup: installing silero-vad (no deps)"
    pip install -q --no-deps -c .ci/constraints.txt silero-vad
fi
# RapidOCR's wheel carries the PP-OCR models the OCR tests and bench use, and its pipeline is their
# reference. It requires opencv-python, which would shadow opencv-python-headless: install it without
# dependencies, and its other dependencies (pinned) explicitly.
if ! python -c "import rapidocr_onnxruntime" 2>/dev/null; then
    echo "setup: installing rapidocr-onnxruntime (without opencv-python)"
    pip install -q -c .ci/constraints.txt pyclipper shapely six pillow pyyaml onnxruntime tqdm
    pip install -q --no-deps rapidocr-onnxruntime==1.4.4
fi
