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
    # An empty package list (a fresh machine) needs an update first. The
    # policy is read into a variable first: `apt-cache … | grep -q` under
    # pipefail fails at random when grep exits before apt-cache is done.
    local policy
    policy="$(apt-cache policy prometheus 2>/dev/null || true)"
    if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
        $sudo apt-get update -qq || return 1
        policy="$(apt-cache policy prometheus 2>/dev/null || true)"
    fi
    printf '%s\n' "$policy" | sed -n '1,3p'
    if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
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

# The dashboard's queries must parse too: each becomes a recording rule,
# with Grafana's variables replaced by values, for promtool to check.
if command -v python3 >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 - "$root/deploy/grafana/redynamo.json" >"$tmp/dashboard-rules.yml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str):
                exprs.append(x)
            else:
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(dashboard["panels"])
values = {"$__rate_interval": "1m", "$__interval": "1m", "$instance": ".*", "$job": "redynamo"}
print("groups:\n  - name: dashboard\n    rules:")
for i, e in enumerate(exprs):
    for var, value in values.items():
        e = e.replace(var, value)
    print(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}")
PY
    echo "Checking the dashboard's queries ($(grep -c 'record:' "$tmp/dashboard-rules.yml") expressions)"
    "$promtool" check rules "$tmp/dashboard-rules.yml"
elif [ "${CI:-}" = "true" ]; then
    echo "check-deploy: FAILED: python3 is needed to check the dashboard's queries" >&2
    exit 1
else
    echo "check-deploy: WARNING: no python3; the dashboard's queries were not checked" >&2
fi
echo "check-deploy: deploy/prometheus and the dashboard's queries OK"
