# shellcheck shell=bash
# Shared steps of the device kits' install.sh scripts. Sourced, not run: each kit's
# install.sh sets KIT_DIR, sources this file, checks its board, then calls the steps.
#
# Every step is idempotent: re-running an install.sh updates what is there and keeps the
# user's config. Options understood by every install.sh:
#   --dry-run   print the commands instead of running them (no root needed)
#   --help      this help
# Environment:
#   EDGEINFER_SPEC                  what pip installs (default: this checkout with the kit's
#                                   extras, or edgeinfer[extras] from PyPI outside a checkout)
#   EDGEINFER_PREFIX                where the venv goes (default /opt/edgeinfer)
#   PYTHON                          the interpreter that makes the venv (default python3)
#   EDGEINFER_SKIP_PLATFORM_CHECK=1 install on a machine that does not look like the board

PREFIX=${EDGEINFER_PREFIX:-/opt/edgeinfer}
VENV="${PREFIX}/venv"
PYTHON=${PYTHON:-python3}
CONFIG_DIR=/etc/edgeinfer
STATE_DIR=/var/lib/edgeinfer
SERVICE_USER=edgeinfer
UNIT_PATH=/etc/systemd/system/edgeinfer.service
CORAL_KEYRING=/usr/share/keyrings/coral-edgetpu-archive-keyring.gpg
CORAL_LIST=/etc/apt/sources.list.d/coral-edgetpu.list
DRY_RUN=0
REPO_ROOT=$(cd "${KIT_DIR}/../../.." && pwd)

log() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Run a command, or only print it with --dry-run.
run() {
    if [[ ${DRY_RUN} -eq 1 ]]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

# Write stdin to a file (mode 0644), or only show it with --dry-run.
write_file() {
    local path=$1
    if [[ ${DRY_RUN} -eq 1 ]]; then
        printf '+ write %s:\n' "${path}"
        sed 's/^/    /'
    else
        install -d -m 0755 "$(dirname "${path}")"
        cat >"${path}"
        chmod 0644 "${path}"
    fi
}

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
    sed -n '4,15s/^# \{0,1\}//p' "${KIT_DIR}/../common.sh"
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dry-run) DRY_RUN=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option '$1' (try --help)" ;;
        esac
        shift
    done
}

# The opening steps of every install.sh: its options, the board (the kit's own
# check_board), the Python version, root.
begin_install() {
    parse_args "$@"
    check_board
    check_python
    require_root
}

require_root() {
    if [[ ${DRY_RUN} -eq 0 && ${EUID} -ne 0 ]]; then
        die "run it as root: sudo $0 (or look first: $0 --dry-run)"
    fi
}

# A check that failed: stop, unless EDGEINFER_SKIP_PLATFORM_CHECK=1.
platform_problem() {
    if [[ ${EDGEINFER_SKIP_PLATFORM_CHECK:-0} == 1 ]]; then
        warn "$1 (going on: EDGEINFER_SKIP_PLATFORM_CHECK=1)"
    else
        die "$1. Set EDGEINFER_SKIP_PLATFORM_CHECK=1 to install anyway."
    fi
}

# The value of KEY in /etc/os-release (ID, VERSION_CODENAME ...), or nothing.
os_release() {
    [[ -r /etc/os-release ]] || return 0
    sed -n "s/^$1=//p" /etc/os-release | tr -d '"'
}

# The board name from the device tree (Raspberry Pi, Jetson, Coral), or nothing.
board_model() {
    if [[ -r /proc/device-tree/model ]]; then
        tr -d '\0' </proc/device-tree/model
    fi
}

check_python() {
    if ! command -v "${PYTHON}" >/dev/null 2>&1; then
        platform_problem "${PYTHON} was not found; edgeinfer needs Python 3.10 or newer (set PYTHON=...)"
        return 0
    fi
    if ! "${PYTHON}" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        platform_problem "edgeinfer needs Python 3.10 or newer; ${PYTHON} is $("${PYTHON}" -V 2>&1) (set PYTHON=/path/to/python3.11)"
    fi
}

apt_install() {
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Coral's apt repository (libedgetpu1-std/-max, gasket-dkms, edgetpu-compiler on x86_64).
add_coral_repository() {
    if [[ -f ${CORAL_LIST} ]]; then
        log "Coral apt repository already configured (${CORAL_LIST})"
        return 0
    fi
    apt_install ca-certificates curl gnupg
    run curl -fsSL -o /tmp/coral-apt-key.gpg https://packages.cloud.google.com/apt/doc/apt-key.gpg
    run gpg --batch --yes --dearmor -o "${CORAL_KEYRING}" /tmp/coral-apt-key.gpg
    write_file "${CORAL_LIST}" <<EOF
deb [signed-by=${CORAL_KEYRING}] https://packages.cloud.google.com/apt coral-edgetpu-stable main
EOF
}

# The Edge TPU runtime: std (default) or max (full clock: faster, runs hot). They conflict.
install_edgetpu_runtime() {
    local variant=${EDGETPU_RUNTIME:-std}
    [[ ${variant} == std || ${variant} == max ]] || die "EDGETPU_RUNTIME must be std or max, got '${variant}'"
    add_coral_repository
    apt_install "libedgetpu1-${variant}"
}

create_service_user() {
    if id -u "${SERVICE_USER}" >/dev/null 2>&1; then
        log "user ${SERVICE_USER} exists"
    else
        run useradd --system --home-dir "${STATE_DIR}" --shell /usr/sbin/nologin "${SERVICE_USER}"
    fi
    local group
    for group in "$@"; do
        getent group "${group}" >/dev/null 2>&1 || run groupadd --system "${group}"
        run usermod -aG "${group}" "${SERVICE_USER}"
    done
}

# create_venv isolated|system-site: the venv under PREFIX, made once. system-site lets it
# import apt's Python packages (picamera2, JetPack's OpenCV with GStreamer).
create_venv() {
    local flags=()
    [[ $1 == system-site ]] && flags=(--system-site-packages)
    if [[ -x ${VENV}/bin/python ]]; then
        log "venv ${VENV} exists"
    else
        run install -d -m 0755 "${PREFIX}"
        run "${PYTHON}" -m venv "${flags[@]}" "${VENV}"
    fi
    run "${VENV}/bin/python" -m pip install --upgrade pip
}

# pip_install_edgeinfer EXTRAS [more pip arguments]: this checkout, or PyPI, or EDGEINFER_SPEC.
pip_install_edgeinfer() {
    local extras=$1 spec
    shift
    if [[ -n ${EDGEINFER_SPEC:-} ]]; then
        spec=${EDGEINFER_SPEC}
    elif [[ -f ${REPO_ROOT}/pyproject.toml ]]; then
        spec="${REPO_ROOT}[${extras}]"
    else
        spec="edgeinfer[${extras}]"
    fi
    run "${VENV}/bin/python" -m pip install --upgrade "${spec}" "$@"
}

# The unit (this kit's copy), the example config (never overwritten) and the state folder.
install_service() {
    local example="${REPO_ROOT}/examples/iot_daemon"
    run install -d -m 0750 -o "${SERVICE_USER}" -g "${SERVICE_USER}" "${STATE_DIR}" "${STATE_DIR}/models"
    if [[ -f ${CONFIG_DIR}/config.yaml ]]; then
        log "keeping ${CONFIG_DIR}/config.yaml"
    elif [[ -f ${example}/config.yaml ]]; then
        run install -D -m 0640 -g "${SERVICE_USER}" "${example}/config.yaml" "${CONFIG_DIR}/config.yaml"
        run install -m 0644 "${example}/config.schema.json" "${CONFIG_DIR}/config.schema.json"
    else
        warn "no examples/iot_daemon/config.yaml next to this kit: write ${CONFIG_DIR}/config.yaml yourself"
    fi
    run install -m 0644 "${KIT_DIR}/edgeinfer.service" "${UNIT_PATH}"
    if command -v systemctl >/dev/null 2>&1 || [[ ${DRY_RUN} -eq 1 ]]; then
        run systemctl daemon-reload
        run systemctl enable edgeinfer.service
    else
        warn "systemctl not found: the unit is in ${UNIT_PATH} but not enabled"
    fi
}

finish() {
    run "${VENV}/bin/edgeinfer" devices
    cat <<EOF

edgeinfer is installed in ${VENV} and the service is enabled (not started).
Next:
  1. Put your model in ${STATE_DIR}/models/ and edit ${CONFIG_DIR}/config.yaml
     (source, model, mqtt host, device_id; see examples/iot_daemon/README.md).
  2. sudo -u ${SERVICE_USER} ${VENV}/bin/edgeinfer run --check ${CONFIG_DIR}/config.yaml
  3. sudo systemctl start edgeinfer && journalctl -u edgeinfer -f
EOF
}
