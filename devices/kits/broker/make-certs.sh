#!/usr/bin/env bash
# Certificates for a fleet broker with per-device client certificates (openssl, EC P-256).
#
#   make-certs.sh DIR ca                   DIR/ca.crt, DIR/ca.key (keep ca.key offline)
#   make-certs.sh DIR server HOST [HOST..] DIR/server.crt, .key for the broker (DNS names or IPs)
#   make-certs.sh DIR client NAME          DIR/NAME.crt, .key with CN=NAME: a device (NAME = its
#                                          device_id) or an operator (ops) or a bridge (site-a-bridge)
#
# With use_identity_as_username (certs.conf) the CN is the MQTT username, so the ACL's %u
# patterns apply to it. DAYS (default 825) sets the validity.
set -euo pipefail

usage() { echo "usage: $0 DIR ca | DIR server HOST [HOST...] | DIR client NAME" >&2; exit 2; }
[ $# -ge 2 ] || usage
dir=$1 kind=$2
shift 2
days=${DAYS:-825}
mkdir -p "$dir"
cd "$dir"

leaf() {  # leaf NAME EXTENSIONS
    local name=$1 ext=$2
    if [ ! -f ca.crt ] || [ ! -f ca.key ]; then
        echo "$dir/ca.crt and ca.key are missing: run $0 $dir ca first" >&2
        exit 1
    fi
    printf '%b' "$ext\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" > "$name.ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$name.crt" -days "$days" \
        -extfile "$name.ext" 2>/dev/null
    chmod 600 "$name.key"
    rm -f "$name.csr" "$name.ext"
    echo "$dir/$name.crt $dir/$name.key (CN=$name)"
}

case $kind in
    ca)
        [ ! -f ca.key ] || { echo "$dir/ca.key already exists; it is never overwritten" >&2; exit 1; }
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
            -days "$days" -subj "/CN=edgeinfer-fleet-ca" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        chmod 600 ca.key
        echo "$dir/ca.crt $dir/ca.key"
        ;;
    server)
        [ $# -ge 1 ] || usage
        names=()
        for host in "$@"; do
            if [[ $host =~ ^[0-9.]+$|: ]]; then names+=("IP:$host"); else names+=("DNS:$host"); fi
        done
        san=$(IFS=,; echo "${names[*]}")
        leaf server "subjectAltName=$san\nextendedKeyUsage=serverAuth"
        ;;
    client)
        [ $# -eq 1 ] || usage
        [[ $1 =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "client name $1: letters, digits, _ . - only" >&2; exit 1; }
        leaf "$1" "extendedKeyUsage=clientAuth"
        ;;
    *) usage ;;
esac
