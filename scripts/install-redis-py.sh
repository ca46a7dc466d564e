#!/usr/bin/env bash
# Install redis-py (>= 5.1, the first with client-side caching,
# `cache_config`) into the git-ignored virtualenv `.venv-redis-py`, unless
# it is already there. tests/client_cache.rs runs its Python with it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-redis-py"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'from redis.cache import CacheConfig' 2>/dev/null; then
    echo "redis-py already installed: $venv"
    exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3 with venv support is needed (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'redis>=5.1'
echo "redis-py installed: $venv"
