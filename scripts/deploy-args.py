#!/usr/bin/env python3
"""Print, as JSON, every redynamo command line that deploy/ and the
Dockerfile contain, for tests/deploy.rs to parse with the binary's own
option parser (redynamo::config::Config).

    .venv-deploy/bin/python scripts/deploy-args.py

Each entry: {"source", "args"} plus, for Kubernetes, "config" (the text of
the redis.conf-style file the args name, from the rendered ConfigMap),
"config_path", and the shutdown timings of the pod ("grace_seconds",
"prestop_seconds", "readiness_period_seconds",
"readiness_failure_threshold"). Kubernetes overlays are rendered with
`kubectl kustomize` (kubectl on PATH, or the one scripts/install-deploy-tools.sh
put in .venv-deploy). Needs PyYAML (in .venv-deploy).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dockerfile():
    """CMD and the HEALTHCHECK's command (exec form, JSON arrays)."""
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    # Join continuation lines; comments are whole lines in this file.
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    entrypoint = None
    for line in joined.splitlines():
        m = re.match(r"\s*ENTRYPOINT\s+(\[.*\])\s*$", line)
        if m:
            entrypoint = json.loads(m.group(1))
        m = re.match(r"\s*CMD\s+(\[.*\])\s*$", line)
        if m:
            out.append({"source": "Dockerfile CMD", "args": json.loads(m.group(1))})
        m = re.match(r"\s*HEALTHCHECK\s.*\bCMD\s+(\[.*\])\s*$", line)
        if m:
            argv = json.loads(m.group(1))
            out.append({"source": "Dockerfile HEALTHCHECK", "args": argv[1:], "program": argv[0]})
    if entrypoint is None or not entrypoint[0].endswith("/redynamo"):
        sys.exit(f"Dockerfile: ENTRYPOINT is not redynamo: {entrypoint}")
    for entry in out:
        if entry.get("program", entrypoint[0]) != entrypoint[0]:
            sys.exit(f"Dockerfile: {entry['source']} runs {entry['program']}, not {entrypoint[0]}")
    return out


def compose():
    path = os.path.join(ROOT, "deploy", "compose", "compose.yaml")
    doc = yaml.safe_load(open(path))
    out = []
    for name, service in sorted(doc["services"].items()):
        if "redynamo" not in str(service.get("image", "")):
            continue
        command = service.get("command", [])
        if isinstance(command, str):
            sys.exit(f"compose.yaml: {name}: write `command` as a list")
        out.append({"source": f"compose {name}", "args": command})
    return out


def kubectl():
    found = shutil.which("kubectl")
    if found:
        return found
    venv = os.path.join(ROOT, ".venv-deploy", "bin", "kubectl")
    if os.access(venv, os.X_OK):
        return venv
    sys.exit("kubectl not found (scripts/install-deploy-tools.sh installs one)")


def kubernetes():
    out = []
    overlays = os.path.join(ROOT, "deploy", "k8s", "overlays")
    for overlay in sorted(os.listdir(overlays)):
        rendered = subprocess.run(
            [kubectl(), "kustomize", os.path.join(overlays, overlay)],
            check=True, capture_output=True, text=True,
        ).stdout
        objects = [o for o in yaml.safe_load_all(rendered) if o]
        configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
        for obj in objects:
            if obj["kind"] != "Deployment":
                continue
            pod = obj["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in pod["containers"]:
                if "redynamo" not in c["image"]:
                    continue
                if c.get("command"):
                    sys.exit(f"{overlay}: the container overrides the image's ENTRYPOINT")
                entry = {
                    "source": f"k8s {overlay}",
                    "args": c.get("args", []),
                    "grace_seconds": pod.get("terminationGracePeriodSeconds", 30),
                    "prestop_seconds": c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0),
                    "readiness_period_seconds": c["readinessProbe"].get("periodSeconds", 10),
                    "readiness_failure_threshold": c["readinessProbe"].get("failureThreshold", 3),
                }
                # The config file named by the first argument, from the
                # ConfigMap volume it is mounted from.
                for m in c.get("volumeMounts", []):
                    cm = volumes.get(m["name"], {}).get("configMap")
                    if not cm:
                        continue
                    for arg in entry["args"]:
                        if arg.startswith(m["mountPath"].rstrip("/") + "/"):
                            key = arg[len(m["mountPath"].rstrip("/")) + 1:]
                            entry["config"] = configmaps[cm["name"]]["data"][key]
                            entry["config_path"] = arg
                out.append(entry)
    return out


if __name__ == "__main__":
    print(json.dumps(dockerfile() + compose() + kubernetes(), indent=1))
