#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the end-to-end demo: train a digit classifier on data
# shipped in scikit-learn, convert it to int8 TFLite and ONNX, stream a generated video
# through the live pipeline, publish to MQTT when a broker answers (JSON lines otherwise),
# and write an annotated video, a plot and a summary to ./edgeinfer-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=3
edgeinfer demo "$@"
