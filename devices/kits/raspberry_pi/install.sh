#!/usr/bin/env bash
# Install edgeinfer as a service on a Raspberry Pi 4 or 5 (64-bit Raspberry Pi OS).
#
#   sudo devices/kits/raspberry_pi/install.sh            # from a checkout of edgeinfer
#   devices/kits/raspberry_pi/install.sh --dry-run       # show what it would do
#
# Installs python3-picamera2 from apt, a venv in /opt/edgeinfer/venv that sees it
# (--system-site-packages) with edgeinfer[tflite,camera,mqtt] (LiteRT), the user
# edgeinfer (group video), the systemd unit and /etc/edgeinfer/config.yaml.
# EDGETPU_RUNTIME=std|max also installs the Coral Edge TPU runtime for a USB Accelerator.
# On a 32-bit OS (armv7l) it falls back to tflite-runtime 2.14 (edgeinfer[tflite-legacy]).

set -euo pipefail

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=common.sh
source "${KIT_DIR}/../common.sh"

check_board() {
    local model machine codename
    model=$(board_model)
    machine=$(uname -m)
    codename=$(os_release VERSION_CODENAME)
    case "${model}" in
    "Raspberry Pi 4"* | "Raspberry Pi 5"* | "Raspberry Pi Compute Module 4"* | "Raspberry Pi Compute Module 5"*)
        log "board: ${model}" ;;
    *) platform_problem "this is not a Raspberry Pi 4 or 5 (device tree model: '${model:-none}')" ;;
    esac
    case "${machine}" in
    aarch64) EXTRAS=tflite,camera,mqtt ;;
    armv7l | armv6l)
        warn "32-bit OS (${machine}): LiteRT has no 32-bit ARM wheels; using tflite-runtime 2.14" \
            "(edgeinfer[tflite-legacy]: Python <= 3.11, numpy < 2, no newer ops). Prefer 64-bit Raspberry Pi OS."
        EXTRAS=tflite-legacy,camera,mqtt
        ;;
    *)
        platform_problem "a Raspberry Pi OS is aarch64 (64-bit) or armv7l; this machine is ${machine}"
        EXTRAS=tflite,camera,mqtt
        ;;
    esac
    case "${codename}" in
    bookworm | trixie) log "OS: $(os_release PRETTY_NAME)" ;;
    *) warn "tested on Raspberry Pi OS Bookworm and Trixie; this is '${codename:-unknown}'" ;;
    esac
}

main() {
    begin_install "$@"
    # picamera2 comes from apt (it needs libcamera's Python bindings); the venv sees it.
    apt_install python3-venv python3-pip python3-picamera2
    if [[ -n ${EDGETPU_RUNTIME:-} ]]; then
        install_edgetpu_runtime
    fi
    create_service_user video plugdev
    create_venv system-site
    # numpy < 2: the apt picamera2 stack (simplejpeg, python3-numpy) is built against numpy 1.x.
    pip_install_edgeinfer "${EXTRAS}" "numpy<2"
    install_service
    finish
}

main "$@"
