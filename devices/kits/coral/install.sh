#!/usr/bin/env bash
# Install edgeinfer as a service with a Coral Edge TPU: the USB Accelerator on a Debian or
# Ubuntu host (Raspberry Pi OS 64-bit included), an M.2/Mini PCIe card, or the Dev Board.
#
#   sudo devices/kits/coral/install.sh                   # from a checkout of edgeinfer
#   devices/kits/coral/install.sh --dry-run              # show what it would do
#
# Adds Coral's apt repository and installs the Edge TPU runtime (libedgetpu1-std, or
# libedgetpu1-max with EDGETPU_RUNTIME=max: full clock, faster, runs hot), gasket-dkms for
# PCIe cards (EDGETPU_PCIE=1, or found by lspci), a venv in /opt/edgeinfer/venv with
# edgeinfer[tflite,camera,mqtt], the user edgeinfer (groups video, plugdev, apex), the
# systemd unit and /etc/edgeinfer/config.yaml. On the Dev Board (Mendel Linux) the
# runtime is already installed; Mendel's Python 3.7 is too old: set PYTHON to a 3.10+.

set -euo pipefail

KIT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR/.. source=common.sh
source "${KIT_DIR}/../common.sh"

EXTRAS=tflite,camera,mqtt
DEV_BOARD=0
PCIE=${EDGETPU_PCIE:-0}

check_board() {
    local machine
    machine=$(uname -m)
    if [[ -f /etc/mendel_version ]] || [[ $(board_model) == *Phanbell* ]]; then
        DEV_BOARD=1
        log "Coral Dev Board (Mendel $(cat /etc/mendel_version 2>/dev/null || echo '?'))"
    fi
    case "${machine}" in
    aarch64 | x86_64) ;;
    armv7l)
        warn "32-bit ARM: LiteRT has no wheels for it; using tflite-runtime 2.14 (edgeinfer[tflite-legacy])"
        EXTRAS=tflite-legacy,camera,mqtt
        ;;
    *) platform_problem "the Edge TPU runtime is built for aarch64, armv7l and x86_64; this is ${machine}" ;;
    esac
    [[ -n $(os_release ID) ]] || platform_problem "no /etc/os-release: this kit needs Debian, Ubuntu or Mendel"
    if [[ ${PCIE} == 0 ]] && command -v lspci >/dev/null 2>&1 && lspci -n | grep -q '1ac1:089a'; then
        log "PCIe Edge TPU found"
        PCIE=1
    fi
}

install_runtime() {
    if [[ ${DEV_BOARD} -eq 1 ]]; then
        log "Mendel ships the Edge TPU runtime; keep it current with apt-get dist-upgrade"
        return 0
    fi
    install_edgetpu_runtime
    if [[ ${PCIE} == 1 ]]; then
        # The apex driver; its udev rule gives /dev/apex_0 to the group apex.
        apt_install gasket-dkms
        write_file /etc/udev/rules.d/65-apex.rules <<'RULE'
SUBSYSTEM=="apex", MODE="0660", GROUP="apex"
RULE
    fi
}

main() {
    begin_install "$@"
    apt_install python3-venv python3-pip
    install_runtime
    create_service_user video plugdev apex
    create_venv isolated
    pip_install_edgeinfer "${EXTRAS}"
    install_service
    if [[ ${PCIE} == 1 ]]; then
        warn "reboot once so the gasket/apex driver and its udev rule take effect"
    fi
    finish
}

main "$@"
