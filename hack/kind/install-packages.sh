#!/usr/bin/env bash
# Installs the Debian packages the kind test bed and the image builds need, when missing: dockerd
# (run by the test bed itself), runc (behind its wrapper), debootstrap (the images' bases), jq (the
# runc wrapper), nftables (the network rule), iproute2.
# Needs root (CI runs as root). Idempotent: a machine that has them all does nothing.
set -euo pipefail
packages=(docker.io runc iproute2 debootstrap jq nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-packages: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: docker.io recommends apparmor/git/xz tooling the node does not use.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
