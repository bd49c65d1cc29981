# shellcheck shell=bash
# apt_install SCRIPT WHAT PACKAGE...: install Debian packages for one of our set-up scripts, or say what to do.
# Sourced by install_servers.sh and install_docker.sh. Needs root and apt-get; refuses with the command to run
# otherwise. No system service starts during the installation (policy-rc.d exit 101): we run the binaries as
# plain processes of our own, and a system nginx on port 80 or a system dockerd would surprise a developer.
apt_install() {
  local script=$1 what=$2
  shift 2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$script: $* missing and apt-get not found: install $what yourself" >&2
    return 1
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "$script: $* missing: run as root (sudo bash scripts/$script.sh) or install them" >&2
    return 1
  fi
  echo "$script: installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  local policy=/usr/sbin/policy-rc.d created=0 status=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
  [[ $created -eq 1 ]] && rm -f "$policy"
  return "$status"
}
