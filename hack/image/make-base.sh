#!/usr/bin/env bash
# Makes a Debian bookworm base image without a registry: debootstrap (minbase + python3), then
# `docker import`. The result stands in for python:3.11-slim (same Debian release, Python 3.11):
#   docker build --build-arg BASE_IMAGE=<name> .
# Usage: make-base.sh NAME:TAG [MIRROR]   (MIRROR defaults to the one apt already uses)
set -euo pipefail
name=${1:?usage: make-base.sh NAME:TAG [MIRROR]}
mirror=${2:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | awk '{print $2}' | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/ccupgrade-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
# python3-venv: the Dockerfile installs the operator into a virtualenv (pip comes from its wheel).
debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# Trim what an image never uses: apt lists, docs, man pages, locales other than C.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
echo "$name"
