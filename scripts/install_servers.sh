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

# shellcheck source=scripts/lib/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt_install.sh"
apt_install install_servers "nginx, haproxy, prometheus and chromium" "${need[@]}"
echo "install_servers: $(nginx -v 2>&1); $(/usr/sbin/haproxy -v 2>&1 | head -n1); $(prometheus --version 2>&1 | head -n1); $(/usr/bin/chromium --version 2>&1)"
