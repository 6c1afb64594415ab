#!/bin/sh
# Install the Debian 12 packages the build, the demo and the tests need.
# Usage: scripts/install-deps.sh [build|test|all]   (default: all)
# Runs apt-get only for what is missing; needs root for that.
set -eu

build_pkgs="meson ninja-build pkg-config gcc libc6-dev libpcap-dev
libjansson-dev libyaml-dev libmicrohttpd-dev libpsl-dev publicsuffix
liburcu-dev libcurl4-openssl-dev libfstrm-dev libprotobuf-c-dev
protobuf-c-compiler libgrpc-dev python3"

test_pkgs="libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest
python3-dnspython python3-scapy python3-protobuf python3-yaml openssl unbound
bind9 bind9-utils
bind9-dnsutils dnsdist dnsperf tcpdump tshark fstrm-bin dns2tcp iodine
golang-github-dnstap-golang-dnstap-cli
golang-github-dnstap-golang-dnstap-dev wamerican wbritish curl procps iproute2 bc time etcd-server"

case "${1:-all}" in
    build) want="$build_pkgs" ;;
    test|all) want="$build_pkgs $test_pkgs" ;;
    *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
