#!/usr/bin/env bash
# Install what the end-to-end tests (tests/e2e, `make e2e`) need, and nothing when it is already there:
#   Debian: chromium (driven by Playwright, no browser download), redis-server, postgresql;
#   PyPI, into the project's venv: playwright, the Celery provider and a PostgreSQL driver.
# Idempotent; a second run takes about a second. Debian packages need root (or sudo).
#
#   scripts/e2e/install.sh [VENV]      VENV defaults to .venv next to this repository's Makefile
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-${VENV:-$ROOT/.venv}}"
PY="$VENV/bin/python"

# Keep these pins in step with pyproject's test extra and the constraints file (see docs/e2e.md).
PY_PACKAGES=(
    "playwright==1.65.2"
    "apache-airflow-providers-celery==3.26.0"
    "psycopg2-binary==2.9.13"
    "asyncpg==0.32.0"
)
DEB_PACKAGES=(chromium redis-server postgresql)

log() { echo ">>> e2e install: $*"; }

# --- Debian packages -------------------------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    log "apt-get install ${missing[*]} (about 30 s)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
    log "Debian packages present: ${DEB_PACKAGES[*]}"
fi

# --- Python packages into the venv --------------------------------------------------------------
[ -x "$PY" ] || { echo "no venv at $VENV: run 'make venv' first" >&2; exit 1; }
need=()
for spec in "${PY_PACKAGES[@]}"; do
    name="${spec%%==*}" want="${spec##*==}"
    have="$("$PY" -c 'import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass' "$name")"
    [ "$have" = "$want" ] || need+=("$spec")
done
if ((${#need[@]})); then
    constraints=()
    airflow_version="$("$PY" -c 'from importlib.metadata import version; print(version("apache-airflow"))')"
    [ -f "$ROOT/constraints/airflow-$airflow_version.txt" ] && constraints=(-c "$ROOT/constraints/airflow-$airflow_version.txt")
    log "pip install ${need[*]}"
    "$PY" -m pip install --quiet --disable-pip-version-check "${constraints[@]}" "${need[@]}"
else
    log "Python packages present: ${PY_PACKAGES[*]}"
fi
