#!/usr/bin/env bash
# Debian's Docker engine (docker.io) and debootstrap, for building and running the worker image
# (scripts/build_worker_image.sh, tests/cluster). Idempotent and quiet when both are present. The engine's system
# service is not started by the package here: build_worker_image.sh starts dockerd itself when none answers.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || [[ -x /usr/sbin/dockerd ]] || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || need+=(debootstrap)
[[ ${#need[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_docker: ${need[*]} missing and apt-get not found: install Docker and debootstrap yourself" >&2
  exit 1
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "install_docker: ${need[*]} missing: run as root (sudo bash scripts/install_docker.sh) or install them" >&2
  exit 1
fi

echo "install_docker: installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# As in install_servers.sh: no system service starts during installation (policy-rc.d exit 101).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install_docker: $(/usr/sbin/dockerd --version 2>&1); debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
