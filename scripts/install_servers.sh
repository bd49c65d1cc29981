#!/usr/bin/env bash
# nginx, HAProxy and Prometheus for the end-to-end tests and the demo, and Chromium for the Web UI test (tests/ui/),
# from the Debian packages. Idempotent and quiet when
# every binary is present. We only need the binaries: tests and the demo run them as plain processes of ours
# (config under .run/, loopback ports), so the packages' system services are stopped and disabled right after
# installation when systemd or policy-rc.d would have started them.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v prometheus >/dev/null 2>&1 || [[ -x /usr/bin/prometheus ]] || need+=(prometheus)
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ ${#need[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_servers: ${need[*]} missing and apt-get not found: install nginx, haproxy, prometheus and chromium yourself" >&2
  exit 1
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "install_servers: ${need[*]} missing: run as root (sudo bash scripts/install_servers.sh) or install them" >&2
  exit 1
fi

echo "install_servers: installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d exit 101 keeps the packages from starting their system services during installation: we never
# use them, and a system nginx on port 80 would be one more thing to surprise a developer.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install_servers: $(nginx -v 2>&1); $(/usr/sbin/haproxy -v 2>&1 | head -n1); $(prometheus --version 2>&1 | head -n1); $(/usr/bin/chromium --version 2>&1)"
