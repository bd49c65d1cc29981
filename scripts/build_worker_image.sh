#!/usr/bin/env bash
# Builds the worker image (deploy/Dockerfile) with nothing pulled from an image registry:
#   1. a Docker engine: the one that answers, or Debian's dockerd started here (no bridge, no iptables: containers
#      use the host's network), its log in $CACHE/dockerd.log;
#   2. the base: Debian bookworm (debootstrap --variant=minbase) with its Python 3.11 in a venv at /opt/python,
#      first on PATH as python and pip are in python:3.11-slim-bookworm. The root filesystem is kept as a tarball in
#      $CACHE (outside the clone, like pip's cache) and `docker import`ed; a second run reuses the image or the
#      tarball, a first run on a fresh machine makes it (a minute or two, from the Debian mirror);
#   3. `docker build --network host -f deploy/Dockerfile --build-arg BASE_IMAGE=<that base>`, from a context of only
#      the files the Dockerfile copies (sent as a tar on stdin, so neither builder sends .tools or .run).
# Prints the seconds each part took. Usage: bash scripts/build_worker_image.sh [TAG]  (default below).
# Environment: DURABLE_ROLLOUTS_CACHE (default ~/.cache/durable-rollouts), DEBIAN_MIRROR.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

tag="${1:-durable-rollouts-worker:dev}"
cache="${DURABLE_ROLLOUTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-rollouts}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
packages=python3,python3-venv,ca-certificates,passwd
# The recipe's version: change it (or the packages) and every machine makes a new base instead of reusing the old.
recipe=2
# The host's own certificate authorities go into the base (a machine behind a TLS-inspecting proxy reaches PyPI only
# through them), so they are part of the key too.
local_cas=/usr/local/share/ca-certificates
cas="$(find "$local_cas" -type f -name '*.crt' 2>/dev/null | sort | xargs -r cat | sha256sum | cut -c1-12)"
key="$(printf '%s %s %s %s\n' "$suite" "$packages" "$recipe" "$cas" | sha256sum | cut -c1-12)"
base_image="durable-rollouts-base:$suite-$key"
base_tar="$cache/worker-base-$suite-$key.tar"
mkdir -p "$cache"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "build_worker_image: $*"; }

bash scripts/install_docker.sh

# 1. The engine.
t0="$(now)"
if ! docker info >/dev/null 2>&1; then
  if [[ "$(id -u)" -ne 0 ]]; then
    say "no Docker engine answers and only root may start one: start dockerd, or run this as root" >&2
    exit 1
  fi
  log="$cache/dockerd.log"
  say "starting dockerd (log: $log)"
  # Its own session: the engine outlives this script and the test run, as a system service would.
  setsid /usr/sbin/dockerd --bridge=none --iptables=false >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not answer within 60 s; the end of its log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
fi
engine_s="$(took "$t0")"

# 2. The base image.
t0="$(now)"
if docker image inspect "$base_image" >/dev/null 2>&1; then
  base_how="present"
else
  if [[ ! -s "$base_tar" ]]; then
    base_how="debootstrapped and imported"
    say "making the base with debootstrap ($suite, $packages) from $mirror"
    rootfs="$(mktemp -d "$cache/rootfs-XXXXXX")"
    trap 'rm -rf "$rootfs" "$base_tar.part"' EXIT
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
    # Python and pip on PATH as in the official python images: a venv, since Debian's own Python refuses
    # `pip install` outside one (PEP 668).
    chroot "$rootfs" /usr/bin/python3 -m venv /opt/python
    if compgen -G "$local_cas/*.crt" >/dev/null; then
      cp "$local_cas"/*.crt "$rootfs$local_cas/"
      chroot "$rootfs" /usr/sbin/update-ca-certificates >/dev/null 2>&1
    fi
    # pip keeps its own CA bundle unless told: the system's, which now holds the host's authorities.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/opt/python/pip.conf"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$rootfs" -cf "$base_tar.part" .
    mv "$base_tar.part" "$base_tar"
    rm -rf "$rootfs"
    trap - EXIT
  else
    base_how="imported from $base_tar"
  fi
  docker import \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python"]' \
    "$base_tar" "$base_image" >/dev/null
fi
base_s="$(took "$t0")"

# 3. The worker image. The context holds what the Dockerfile copies and nothing else.
t0="$(now)"
tar -c --exclude=__pycache__ requirements.lock pyproject.toml README.md models workflows activities workers \
  deploy/Dockerfile \
  | docker build --network host -f deploy/Dockerfile --build-arg "BASE_IMAGE=$base_image" \
    --label durable-rollouts.image=worker -t "$tag" - \
    >"$cache/build.log" 2>&1 || { tail -n 30 "$cache/build.log" >&2; exit 1; }
# The previous build of the tag, now untagged: gone, so a CI machine's disk does not fill one build at a time.
docker image prune --force --filter label=durable-rollouts.image=worker >/dev/null
build_s="$(took "$t0")"

say "$tag built: engine ${engine_s} s, base ${base_s} s ($base_how: $base_image), image ${build_s} s"
