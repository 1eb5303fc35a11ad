#!/usr/bin/env bash
# Install what tests/test_node_sdk.py and tests/test_node_conversation.py need, and nothing when it is there:
#   node and npm (Debian packages nodejs and npm, only if missing; needs root);
#   Sinch's Node SDK (@sinch/fax, @sinch/conversation, @sinch/sdk-core, @sinch/sdk-client 1.4.0, pinned by
#   tests/node/package-lock.json)
#   into tests/node/node_modules with `npm ci`, when node_modules is missing or older than the lockfile.
# Idempotent and silent when done. tests/test_node_sdk.py runs it when tests/node/node_modules is missing.
#
#   scripts/node-sdk/install.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$ROOT/tests/node"
# Written after a successful `npm ci`: node_modules is complete and belongs to the lockfile it is newer than.
STAMP="$DIR/node_modules/.npm-ci-stamp"
NODE_MAJOR_MIN=18

log() { echo ">>> node-sdk install: $*"; }

# --- node and npm ------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "node and npm are needed (Node.js >= $NODE_MAJOR_MIN): install them, or run this script as root" >&2
        exit 1
    fi
    command -v apt-get >/dev/null || { echo "node and npm are missing and there is no apt-get to install them" >&2; exit 1; }
    log "apt-get install nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
    echo "Node.js $(node --version) is too old for @sinch/fax 1.4.0: need >= $NODE_MAJOR_MIN" >&2
    exit 1
fi

# --- the pinned SDK ------------------------------------------------------------------------------
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$DIR/package-lock.json" ]; then
    exit 0
fi
log "npm ci in tests/node ($(node --version), npm $(npm --version))"
(cd "$DIR" && npm ci --no-audit --no-fund)
touch "$STAMP"
