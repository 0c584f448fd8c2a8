#!/usr/bin/env bash
# Debian packages for the tests that use real things: podman/buildah to build and run the
# service-code images, PostgreSQL and Redis servers for the services' tests, promtool, amtool
# and Alertmanager for the alerting tests, curl and wget for the probe-command tests
# (scripts/check_test_deps.py checks the same list).
# Run as root (CI runs as root). Idempotent: installed packages are skipped quickly.
set -euo pipefail
packages=(
  python3-venv make
  podman buildah skopeo runc uidmap debootstrap iptables catatonit netavark aardvark-dns
  postgresql redis-server pgbouncer
  prometheus prometheus-alertmanager
  curl wget
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian packages start their own servers; the tests start private instances instead.
for service in postgresql redis-server prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
