#!/usr/bin/env bash
# Makes a Debian bookworm image without a registry: debootstrap (minbase plus PACKAGES), trimmed,
# then `docker import` (DOCKER_HOST says which daemon). Used for the kind node image's base and for
# kube-proxy's image (it needs iptables).
# Usage: import-rootfs.sh NAME:TAG PACKAGES(comma-separated) [MIRROR]   (MIRROR: the one apt uses)
set -euo pipefail
name=${1:?usage: import-rootfs.sh NAME:TAG PACKAGES [MIRROR]}
packages=${2:?usage: import-rootfs.sh NAME:TAG PACKAGES [MIRROR]}
mirror=${3:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | awk '{print $2}' | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/ccupgrade-rootfs.XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2; exit 1; }
# Nothing an image uses: apt lists and caches, docs, man pages. And no sysctl files: a privileged
# kind node shares the host's kernel, and systemd-sysctl would write kernel.pid_max, fs.protected_*
# and kernel.sysrq on the host itself.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/usr/lib/sysctl.d/* "$root"/etc/sysctl.d/* "$root"/etc/sysctl.conf
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$name" >/dev/null
echo "$name"
