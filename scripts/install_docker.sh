#!/usr/bin/env bash
# Debian's Docker engine (docker.io) and debootstrap, for building and running the worker image
# (scripts/build_worker_image.sh, tests/cluster). Idempotent and quiet when both are present. The engine's system
# service is not started by the package here: build_worker_image.sh starts dockerd itself when none answers.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || [[ -x /usr/sbin/dockerd ]] || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || need+=(debootstrap)
[[ ${#need[@]} -eq 0 ]] && exit 0

# shellcheck source=scripts/lib/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt_install.sh"
apt_install install_docker "Docker and debootstrap" "${need[@]}"
echo "install_docker: $(/usr/sbin/dockerd --version 2>&1); debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
