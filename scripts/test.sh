#!/usr/bin/env bash
# The whole test suite, DynamoDB tests included: installs moto into the
# git-ignored .venv (once), then runs cargo test. The DynamoDB tests start
# moto themselves on a free port; under CI=true a missing moto fails them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-moto.sh"
cd "$root"
exec cargo test --all-targets "$@"
