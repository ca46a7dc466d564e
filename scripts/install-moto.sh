#!/usr/bin/env bash
# Install moto (a DynamoDB-compatible server) into the repository's
# git-ignored virtualenv `.venv`, unless it is already there. The DynamoDB
# tests start `.venv/bin/moto_server` themselves on a free port.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ -x "$venv/bin/moto_server" ]; then
    echo "moto already installed: $venv/bin/moto_server"
    exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3 with venv support is needed (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
echo "moto installed: $venv/bin/moto_server"
