#!/usr/bin/env bash
# Install the Debian packages sgemu needs, only those that are missing.
#   scripts/system-packages.sh [python|core|vm|web|all]
# python: the venv module (Debian leaves ensurepip out of python3: python3-venv)
# core: what emulation needs (mnexec from mininet, iproute2, ping, iperf3, traceroute, FRR)
# vm:   the kernel-test lane (a stock Debian kernel with sch_netem, QEMU, busybox, file and strings for virtme-ng)
# web:  chromium for the browser tests, nodejs + npm to install the viewer's CesiumJS
# Without root it only reports what is missing.
set -euo pipefail
what=${1:-all}
python=(python3-venv)
core=(mininet iproute2 iputils-ping iperf3 traceroute frr)
vm=(qemu-system-x86 linux-image-amd64 busybox-static file binutils)  # virtme-ng reads the kernel with file, strings
web=(chromium ffmpeg)  # ffmpeg: the MP4 of `sgemu snapshot --animate`
# Debian's nodejs + npm for the viewer's CesiumJS (npm ci), unless an npm is already there (e.g. NodeSource's nodejs)
command -v npm >/dev/null 2>&1 || web+=(nodejs npm)
case "$what" in
  python) want=("${python[@]}") ;;
  core) want=("${core[@]}") ;;
  vm) want=("${vm[@]}") ;;
  web) want=("${web[@]}") ;;
  all) want=("${python[@]}" "${core[@]}" "${vm[@]}" "${web[@]}") ;;
  *) echo "usage: $0 [python|core|vm|web|all]" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (run as root to install): ${missing[*]}" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
