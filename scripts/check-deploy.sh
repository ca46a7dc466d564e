#!/usr/bin/env bash
# Check every file in deploy/ and the Dockerfile (run by scripts/test.sh):
#
#   promtool              deploy/prometheus (config, rules, rule tests), the
#                         compose fleet's prometheus.yml, the dashboard's
#                         queries
#   hadolint              Dockerfile
#   kubectl kustomize     renders deploy/k8s/overlays/*, then
#   kubernetes-validate   every rendered object (Kubernetes 1.30, the oldest
#                         with the preStop sleep action), strict: unknown
#                         fields fail; the ServiceMonitor (a custom resource)
#                         against deploy/k8s/schemas/servicemonitor.schema.json
#   cfn-lint              deploy/dynamodb/*.yaml
#   check-jsonschema      deploy/compose/compose.yaml (compose-spec schema)
#
# promtool comes from Debian's `prometheus` package, unpacked rather than
# installed: `apt-get download` and `dpkg-deb` put its one promtool binary
# into the git-ignored `.venv-deploy/bin/`, so no Prometheus server is
# installed, started or enabled at boot (installing the package would start
# one on :9090 wherever services start), and none of its web assets come
# along. A promtool already on PATH (or Debian's, in /usr/bin) is used as it
# is. The other checkers come from PyPI into `.venv-deploy` too
# (scripts/install-deploy-tools.sh). A tool that cannot be had fails the run
# under CI=true; elsewhere its checks are skipped with a loud warning.
#
# The options the deploy files pass to redynamo, the shutdown timings and
# the IAM policy's actions are checked by `cargo test --test deploy`; the
# Grafana dashboard by `cargo test --test dashboard`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prom="$root/deploy/prometheus"
venv="$root/.venv-deploy"

find_promtool() {
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
        return 0
    fi
    # Where install_promtool unpacks it, and where Debian's package puts it
    # (in case PATH is minimal).
    for candidate in "$venv/bin/promtool" /usr/bin/promtool /usr/local/bin/promtool; do
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
    command -v dpkg-deb >/dev/null 2>&1 || return 1
    local sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo="sudo -n"
    fi
    # An empty package list (a fresh machine) needs an update first (as
    # root); downloading needs no root. The policy is read into a variable
    # first: `apt-cache … | grep -q` under pipefail fails at random when
    # grep exits before apt-cache is done.
    local policy
    policy="$(apt-cache policy prometheus 2>/dev/null || true)"
    if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
        $sudo apt-get update -qq || return 1
        policy="$(apt-cache policy prometheus 2>/dev/null || true)"
    fi
    printf '%s\n' "$policy" | sed -n '1,3p'
    if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
        echo "check-deploy: no downloadable 'prometheus' package" >&2
        return 1
    fi
    echo "check-deploy: unpacking promtool from Debian's prometheus package into $venv/bin"
    local deb
    deb="$(mktemp -d)"
    # apt-get download warns that the _apt user cannot write a private
    # directory and downloads anyway; its output is shown only on failure.
    if ! (cd "$deb" && apt-get download -qq prometheus >"$deb/log" 2>&1) \
        || ! dpkg-deb --fsys-tarfile "$deb"/prometheus_*.deb | tar -x -C "$deb" ./usr/bin/promtool; then
        cat "$deb/log" >&2 2>/dev/null || true
        rm -rf "$deb"
        return 1
    fi
    mkdir -p "$venv/bin"
    install -m 0755 "$deb/usr/bin/promtool" "$venv/bin/promtool"
    rm -rf "$deb"
}

promtool="$(find_promtool)"
if [ -z "$promtool" ]; then
    install_promtool || true
    promtool="$(find_promtool)"
fi
missing=()
skipped() {
    if [ "${CI:-}" = "true" ]; then
        echo "check-deploy: FAILED: $1 is not available and could not be installed" >&2
        exit 1
    fi
    echo "check-deploy: WARNING: $1 not available; $2 NOT checked" >&2
    missing+=("$1")
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check_prometheus() {
    if [ -z "$promtool" ]; then
        skipped promtool "deploy/prometheus and the compose prometheus.yml"
        return 0
    fi
    "$promtool" --version 2>&1 | head -1
    (
        cd "$prom"
        "$promtool" check config prometheus.yml
        "$promtool" check rules alerts.yml
        "$promtool" test rules alerts_test.yml
    )
    # The compose fleet's config loads the same alerts.yml (mounted beside
    # it in the container).
    mkdir -p "$tmp/compose-prometheus"
    cp "$root/deploy/compose/prometheus.yml" "$prom/alerts.yml" "$tmp/compose-prometheus/"
    "$promtool" check config "$tmp/compose-prometheus/prometheus.yml"
    check_dashboard_queries
}

# The dashboard's queries must parse too: each becomes a recording rule,
# with Grafana's variables replaced by values, for promtool to check.
check_dashboard_queries() {
if command -v python3 >/dev/null 2>&1; then
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
}

check_dockerfile() {
    echo "hadolint $("$venv/bin/hadolint" --version)"
    "$venv/bin/hadolint" "$root/Dockerfile"
    echo "Dockerfile OK"
}

check_kubernetes() {
    local kubectl overlay
    kubectl="$(command -v kubectl || echo "$venv/bin/kubectl")"
    for overlay in "$root"/deploy/k8s/overlays/*/; do
        overlay="$(basename "$overlay")"
        "$kubectl" kustomize "$root/deploy/k8s/overlays/$overlay" >"$tmp/k8s-$overlay.yaml"
        # Custom resources apart: kubernetes-validate has no schema for them.
        "$venv/bin/python" - "$tmp/k8s-$overlay.yaml" "$tmp/k8s-$overlay" <<'PY'
import sys, yaml
objs = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
core = [o for o in objs if o["kind"] != "ServiceMonitor"]
monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
if not monitors:
    sys.exit("no ServiceMonitor rendered")
yaml.safe_dump_all(core, open(sys.argv[2] + "-core.yaml", "w"))
for i, m in enumerate(monitors):
    yaml.safe_dump(m, open(f"{sys.argv[2]}-servicemonitor-{i}.yaml", "w"))
PY
        "$venv/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "$tmp/k8s-$overlay-core.yaml"
        "$venv/bin/check-jsonschema" --schemafile "$root/deploy/k8s/schemas/servicemonitor.schema.json" \
            "$tmp/k8s-$overlay"-servicemonitor-*.yaml
        echo "deploy/k8s/overlays/$overlay: $(grep -c '^kind:' "$tmp/k8s-$overlay.yaml") objects OK"
    done
}

check_cloudformation() {
    echo "cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}')"
    "$venv/bin/cfn-lint" "$root"/deploy/dynamodb/*.yaml
    echo "deploy/dynamodb OK"
}

check_compose() {
    "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$root/deploy/compose/compose.yaml"
}

check_prometheus

if "$root/scripts/install-deploy-tools.sh"; then
    check_dockerfile
    check_kubernetes
    check_cloudformation
    check_compose
else
    skipped "the deploy checkers (.venv-deploy)" "Dockerfile, deploy/k8s, deploy/dynamodb and deploy/compose"
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "check-deploy: WARNING: checked what the available tools check; missing: ${missing[*]}" >&2
else
    echo "check-deploy: every file in deploy/ and the Dockerfile OK"
fi
