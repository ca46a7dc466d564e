#!/usr/bin/env bash
# Check the Prometheus deploy files with promtool:
#   promtool check config  deploy/prometheus/prometheus.yml
#   promtool check rules   deploy/prometheus/alerts.yml
#   promtool test rules    deploy/prometheus/alerts_test.yml
#
# promtool comes from Debian's `prometheus` package. When it is missing the
# script installs it (apt-get, as root or through sudo). If it still cannot
# be had, the checks are skipped with a warning on a developer's machine
# and fail under CI=true, so CI never passes without them.
#
# The Grafana dashboard is checked by `cargo test --test dashboard`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prom="$root/deploy/prometheus"

find_promtool() {
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
        return 0
    fi
    # Where Debian's package puts it, in case PATH is minimal.
    for candidate in /usr/bin/promtool /usr/local/bin/promtool; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    # Anywhere the package installed it.
    if command -v dpkg >/dev/null 2>&1; then
        dpkg -L prometheus 2>/dev/null | grep -m1 '/promtool$' || true
    fi
}

install_promtool() {
    command -v apt-get >/dev/null 2>&1 || return 1
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo="sudo -n"
    fi
    # An empty package list (a fresh machine) needs an update first.
    if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        $sudo apt-get update -qq || return 1
    fi
    apt-cache policy prometheus | sed -n '1,3p'
    if ! apt-cache policy prometheus | grep -q 'Candidate: [0-9]'; then
        echo "check-deploy: no installable 'prometheus' package" >&2
        return 1
    fi
    echo "check-deploy: installing Debian's prometheus package for promtool"
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

promtool="$(find_promtool)"
if [ -z "$promtool" ]; then
    install_promtool || true
    promtool="$(find_promtool)"
fi
if [ -z "$promtool" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "check-deploy: FAILED: promtool is not available and could not be installed" >&2
        exit 1
    fi
    echo "check-deploy: WARNING: promtool not available; deploy/prometheus NOT checked" >&2
    exit 0
fi

"$promtool" --version 2>&1 | head -1
cd "$prom"
"$promtool" check config prometheus.yml
"$promtool" check rules alerts.yml
"$promtool" test rules alerts_test.yml
echo "check-deploy: deploy/prometheus OK"
