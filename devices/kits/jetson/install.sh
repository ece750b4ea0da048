#!/usr/bin/env bash
# Install edgeinfer as a service on an NVIDIA Jetson (JetPack 6; JetPack 5 with a newer Python).
#
#   sudo devices/kits/jetson/install.sh                  # from a checkout of edgeinfer
#   devices/kits/jetson/install.sh --dry-run             # show what it would do
#
# Installs a venv in /opt/edgeinfer/venv that sees JetPack's OpenCV (built with GStreamer,
# for CSI cameras through nvarguscamerasrc) with edgeinfer[tflite,mqtt] and onnxruntime-gpu
# from NVIDIA's Jetson wheel index (TensorRT and CUDA providers), the user edgeinfer
# (group video), the systemd unit and /etc/edgeinfer/config.yaml.
#   ORT_INDEX_URL  the Jetson wheel index for your JetPack (default: JetPack 6, CUDA 12.6)
#   ORT_WHEEL      a path or URL of an onnxruntime-gpu wheel to use instead (JetPack 5)

set -euo pipefail

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=common.sh
source "${KIT_DIR}/../common.sh"

ORT_INDEX_URL=${ORT_INDEX_URL:-https://pypi.jetson-ai-lab.io/jp6/cu126}
L4T_MAJOR=""

check_board() {
    local release
    [[ $(uname -m) == aarch64 ]] || platform_problem "a Jetson is aarch64; this machine is $(uname -m)"
    if [[ ! -r /etc/nv_tegra_release ]]; then
        platform_problem "no /etc/nv_tegra_release: this is not a Jetson running JetPack (L4T)"
        return 0
    fi
    release=$(head -n 1 /etc/nv_tegra_release)
    L4T_MAJOR=$(sed -n 's/^# R\([0-9]*\).*/\1/p' <<<"${release}")
    case "${L4T_MAJOR}" in
    36) log "L4T R36 (JetPack 6): $(board_model)" ;;
    35) log "L4T R35 (JetPack 5): $(board_model); it ships Python 3.8, so set PYTHON to a Python 3.10+" ;;
    *) platform_problem "L4T '${release}' is not JetPack 5 (R35) or 6 (R36); JetPack 4 (R32) has Python 3.6" ;;
    esac
}

install_onnxruntime_gpu() {
    local pip=("${VENV}/bin/python" -m pip)
    # onnxruntime (CPU) and onnxruntime-gpu install the same module: keep only the GPU one.
    run "${pip[@]}" uninstall -y onnxruntime
    if [[ -n ${ORT_WHEEL:-} ]]; then
        run "${pip[@]}" install --upgrade "${ORT_WHEEL}"
    elif [[ ${L4T_MAJOR} == 36 || ${EDGEINFER_SKIP_PLATFORM_CHECK:-0} == 1 ]]; then
        run "${pip[@]}" install --upgrade --extra-index-url "${ORT_INDEX_URL}" onnxruntime-gpu
    else
        warn "no onnxruntime-gpu wheel for this JetPack: set ORT_WHEEL (see devices/kits/jetson/README.md);" \
            "installing the CPU onnxruntime meanwhile"
        run "${pip[@]}" install --upgrade onnxruntime
    fi
}

main() {
    begin_install "$@"
    apt_install python3-venv python3-pip
    # JetPack's OpenCV has GStreamer (CSI cameras); the pip wheels do not.
    if ! "${PYTHON}" -c 'import cv2' >/dev/null 2>&1; then
        apt_install python3-opencv
    fi
    create_service_user video
    create_venv system-site
    # numpy < 2: JetPack's python3-opencv is built against numpy 1.x.
    pip_install_edgeinfer tflite,mqtt "numpy<2"
    run "${VENV}/bin/python" -m pip uninstall -y opencv-python-headless opencv-python
    install_onnxruntime_gpu
    install_service
    finish
}

main "$@"
