#!/usr/bin/env python3
"""Run redis-benchmark against redis-server and redynamo in alternation.

Both servers run at once on free loopback ports. With two or more cores the
servers are pinned to core 0 and redis-benchmark to core 1 (taskset), so the
client never steals the server's core. Every workload runs ROUNDS times per
server, alternating servers each round, and the median is reported, because
this machine is shared and noisy. The memory test loads 1,000,000 keys of 16
bytes with 64-byte values into each server and compares resident set sizes;
ROUNDS=0 runs only that test. Prints a markdown table and writes it to
target/vs-redis.md.

With --metrics-layer it measures what the metrics layer costs instead: the
same GET workloads against redis-server, redynamo and redynamo without the
layer (`--no-metrics-layer`), all three in alternation, and the overhead is
the drop in GET throughput between the last two (target: 5% or less).
It also reads each server's CPU time (/proc/PID/task/*/schedstat) around
every run and reports CPU time per request: while the server is the
bottleneck (pipelined runs), throughput is its inverse, and unlike
throughput it does not depend on how much of the core the server was
given, so on a shared machine the overhead in CPU per request is the
steadier of the two figures. Writes target/metrics-layer.md.

BENCH_RT=1 runs the servers and redis-benchmark under SCHED_FIFO
(`chrt -f 10`, needs root): on a machine that is also compiling, the
benchmark's processes then preempt every ordinary process on their cores,
so other load (at any nice level) no longer lands in one server's round
and not the other's. The kernel's real-time throttling (5% of each second
left to other tasks by default) still applies, to both servers alike.

With --upstream it measures redynamo as a caching proxy (`--backend redis`,
docs/upstream.md) in front of a redis-server, against that redis-server
directly: GET/SET at -P 1 and -P 16 through the proxy with its cache and
without (`--cache-max-bytes 0`), a cache-hit GET -P 16 after a warm-up pass
(target: 1.2x the direct figure) and the miss path's p99 (GET -P 1 through
the proxy without cache; target: at most 0.2 ms above the direct p99). All
servers share the server core. Writes target/vs-redis-upstream.md.
"""
import csv
import hashlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("ROUNDS", "3"))
REQUESTS = int(os.environ.get("REQUESTS", "200000"))
CLIENTS = int(os.environ.get("CLIENTS", "50"))
KEYSPACE = int(os.environ.get("KEYSPACE", "100000"))
MEM_KEYS = int(os.environ.get("MEM_KEYS", "1000000"))
REDYNAMO = os.environ.get("REDYNAMO_BIN", "target/release/redynamo")

PINNED = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
REALTIME = os.environ.get("BENCH_RT") == "1"
RT = ["chrt", "-f", "10"] if REALTIME else []
SERVER_CPU = RT + (["taskset", "-c", "0"] if PINNED else [])
CLIENT_CPU = RT + (["taskset", "-c", "1"] if PINNED else [])

# (label, redis-benchmark -t test name, pipeline, csv row name)
WORKLOADS = [
    ("GET -P 1", "get", 1, "GET"),
    ("SET -P 1", "set", 1, "SET"),
    ("GET -P 16", "get", 16, "GET"),
    ("SET -P 16", "set", 16, "SET"),
    ("MSET (10 keys) -P 16", "mset", 16, "MSET (10 keys)"),
    ("INCR -P 16", "incr", 16, "INCR"),
    ("HSET -P 16", "hset", 16, "HSET"),
    ("PING_INLINE -P 1", "ping_inline", 1, "PING_INLINE"),
]
# The script of the EVALSHA workload (issue 21): INCR and EXPIRE of one
# key, as a rate limiter's counter does. Loaded once per server with
# SCRIPT LOAD (load_script) before the rounds.
EVALSHA_SCRIPT = "local n = redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 60) return n"
EVALSHA_SHA = hashlib.sha1(EVALSHA_SCRIPT.encode()).hexdigest()
# Custom commands: (label, args, pipeline)
CUSTOM = [
    ("EVALSHA INCR+EXPIRE -P 16", ["evalsha", EVALSHA_SHA, "1", "key:__rand_int__"], 16),
    ("MGET (10 keys) -P 16", ["mget"] + ["key:__rand_int__"] * 10, 16),
    ("GET/SET 50/50 -P 16", None, 16),
]
TARGETS = {
    "GET -P 1": 1.0, "SET -P 1": 1.0, "GET -P 16": 1.2, "SET -P 16": 1.2,
    "MSET (10 keys) -P 16": 1.0, "MGET (10 keys) -P 16": 1.0, "INCR -P 16": 1.0, "HSET -P 16": 1.2,
    "GET/SET 50/50 -P 16": 1.0, "EVALSHA INCR+EXPIRE -P 16": 1.0,
}


def load_script(port):
    """SCRIPT LOAD the EVALSHA workload's script."""
    out = subprocess.run(["redis-cli", "-p", str(port), "script", "load", EVALSHA_SCRIPT],
                         capture_output=True, text=True, timeout=30)
    if out.stdout.strip() != EVALSHA_SHA:
        raise RuntimeError(f"SCRIPT LOAD on port {port}: {out.stdout} {out.stderr}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def start_redis(port, workdir):
    p = subprocess.Popen(
        SERVER_CPU + ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


def start_redynamo(port, extra=()):
    p = subprocess.Popen(
        SERVER_CPU + [REDYNAMO, "--port", str(port), "--log-level", "warn", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


def bench(port, args):
    cmd = CLIENT_CPU + ["redis-benchmark", "-p", str(port), "-c", str(CLIENTS),
                        "-n", str(REQUESTS), "-r", str(KEYSPACE), "-d", "64", "--csv"] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {out.stderr}")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    header, data = rows[0], rows[1:]
    return [dict(zip(header, r)) for r in data]


def mixed(port, pipe):
    """GETs and SETs at the same time: two redis-benchmark processes, half
    the clients each, over the same keys; throughput is their sum."""
    half = str(max(CLIENTS // 2, 1))
    procs = []
    for args in (["set", "key:__rand_int__", "x" * 64], ["get", "key:__rand_int__"]):
        cmd = CLIENT_CPU + ["redis-benchmark", "-p", str(port), "-c", half,
                            "-n", str(REQUESTS // 2), "-r", str(KEYSPACE), "--csv",
                            "-P", str(pipe)] + args
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    rows = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"redis-benchmark failed: {err}")
        r = list(csv.reader(io.StringIO(out)))
        rows.append(dict(zip(r[0], r[1])))
    rps = sum(float(r["rps"]) for r in rows)
    return rps, max(float(r["p50_latency_ms"]) for r in rows), max(float(r["p99_latency_ms"]) for r in rows)


def run_workload(port, label):
    for name, test, pipe, row in WORKLOADS:
        if name == label:
            rows = bench(port, ["-t", test, "-P", str(pipe)])
            r = next(x for x in rows if x["test"] == row)
            return float(r["rps"]), float(r["p50_latency_ms"]), float(r["p99_latency_ms"])
    for name, args, pipe in CUSTOM:
        if name != label:
            continue
        if args is None:
            return mixed(port, pipe)
        rows = bench(port, ["-P", str(pipe)] + args)
        return float(rows[0]["rps"]), float(rows[0]["p50_latency_ms"]), float(rows[0]["p99_latency_ms"])
    raise KeyError(label)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def load_keys(port, n):
    # 16-byte keys ("key:%012d"), 64-byte values, through redis-cli --pipe.
    value = "v" * 64
    buf = io.StringIO()
    for i in range(n):
        key = f"key:{i:012d}"
        buf.write(f"*3\r\n$3\r\nSET\r\n$16\r\n{key}\r\n$64\r\n{value}\r\n")
    data = buf.getvalue().encode()
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data,
                         capture_output=True, timeout=600)
    if out.returncode != 0 or b"errors: 0" not in out.stdout:
        raise RuntimeError(f"load failed: {out.stdout!r} {out.stderr!r}")
    dbsize = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                            text=True).stdout.strip()
    if dbsize != str(n):
        raise RuntimeError(f"expected {n} keys, DBSIZE says {dbsize}")


# Pipelined runs go ten times faster: ten times the requests, so that each
# lasts about as long as an unpipelined one and the noise weighs the same.
PIPELINED_REQUESTS = int(os.environ.get("PIPELINED_REQUESTS", str(10 * REQUESTS)))


def cpu_ns(pid):
    """CPU time a process's threads have run, in ns (schedstat's first field)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def with_requests(n, run):
    global REQUESTS
    saved, REQUESTS = REQUESTS, n
    try:
        return run()
    finally:
        REQUESTS = saved


def metrics_layer():
    """GET throughput with and without the metrics layer (see the docstring)."""
    labels = ["GET -P 1", "GET -P 16", "GET/SET 50/50 -P 16"]
    servers = ["redis", "redynamo", "redynamo, no metrics layer"]
    results = {(s, l): [] for s in servers for l in labels}
    with tempfile.TemporaryDirectory() as workdir:
        ports = [free_port() for _ in servers]
        procs = [start_redis(ports[0], workdir), start_redynamo(ports[1]),
                 start_redynamo(ports[2], ["--no-metrics-layer"])]
        try:
            for round_no in range(ROUNDS):
                order = list(zip(servers, ports))
                # Rotate who goes first, so drift does not favour one.
                order = order[round_no % 3:] + order[:round_no % 3]
                for label in labels:
                    for name, port in order:
                        n = PIPELINED_REQUESTS if "-P 16" in label else REQUESTS
                        pid = procs[ports.index(port)].pid
                        before = cpu_ns(pid)
                        out = with_requests(n, lambda: run_workload(port, label))
                        results[(name, label)].append((out[0], (cpu_ns(pid) - before) / n))
                print(f"round {round_no + 1}/{ROUNDS} done", file=sys.stderr)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
    lines = [
        f"ROUNDS={ROUNDS} REQUESTS={REQUESTS} (pipelined: {PIPELINED_REQUESTS}) CLIENTS={CLIENTS} "
        f"KEYSPACE={KEYSPACE} -d 64, "
        f"pinned={'servers core 0, client core 1' if PINNED else 'no'}{', SCHED_FIFO' if REALTIME else ''}; medians of {ROUNDS} runs",
        "",
        "| workload | redis rps | redynamo rps | without metrics layer rps | redynamo / redis "
        "| overhead in throughput (median of paired rounds) "
        "| server CPU per request: redis / redynamo / without layer "
        "| overhead in CPU per request (median of paired rounds) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        r, y, n = (results[(s, label)] for s in servers)
        med = lambda xs, i=0: statistics.median(x[i] for x in xs)
        # Per round: how much more the stack without the layer served, and
        # how much more CPU per request the stack with it used.
        overhead = statistics.median(b[0] / a[0] - 1 for a, b in zip(y, n)) * 100
        cpu_over = statistics.median(a[1] / b[1] - 1 for a, b in zip(y, n) if b[1]) * 100
        lines.append(
            f"| {label} | {med(r):,.0f} | {med(y):,.0f} | {med(n):,.0f} | "
            f"{med(y) / med(r):.2f}× | {overhead:+.1f} % | "
            f"{med(r, 1):,.0f} / {med(y, 1):,.0f} / {med(n, 1):,.0f} ns | {cpu_over:+.1f} % | ≤5 % "
            + ("met" if cpu_over <= 5 else "MISSED") + " |")
    table = "\n".join(lines)
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/metrics-layer.md", "w") as f:
        f.write(table + "\n")


def upstream():
    """redynamo as a proxy in front of redis-server (see the docstring)."""
    labels = ["GET -P 1", "SET -P 1", "GET -P 16", "SET -P 16"]
    servers = ["redis direct", "proxy (cache)", "proxy (no cache)"]
    results = {(s, l): [] for s in servers for l in labels + ["cache-hit GET -P 16"]}
    with tempfile.TemporaryDirectory() as workdir:
        ports = [free_port() for _ in servers]
        url = f"redis://127.0.0.1:{ports[0]}"
        procs = [start_redis(ports[0], workdir)]
        try:
            procs.append(start_redynamo(ports[1], ["--backend", "redis", "--upstream", url]))
            procs.append(start_redynamo(ports[2], ["--backend", "redis", "--upstream", url,
                                                   "--cache-max-bytes", "0"]))
            # Every key the benchmark asks for exists (a hit is a value).
            load_keys(ports[0], KEYSPACE)
            for round_no in range(ROUNDS):
                order = list(zip(servers, ports))
                order = order[round_no % 3:] + order[:round_no % 3]
                for label in labels:
                    for name, port in order:
                        results[(name, label)].append(with_requests(
                            PIPELINED_REQUESTS if "-P 16" in label else REQUESTS,
                            lambda: run_workload(port, label)))
                # Cache hits: one pass fills the proxy's cache (the SETs
                # above invalidated what they wrote), the next is measured.
                for name, port in order:
                    if name == "proxy (cache)":
                        with_requests(PIPELINED_REQUESTS, lambda: run_workload(port, "GET -P 16"))
                    if name != "proxy (no cache)":
                        results[(name, "cache-hit GET -P 16")].append(with_requests(
                            PIPELINED_REQUESTS, lambda: run_workload(port, "GET -P 16")))
                print(f"round {round_no + 1}/{ROUNDS} done", file=sys.stderr)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
    med = lambda xs, i=0: statistics.median(x[i] for x in xs)
    lines = [
        f"ROUNDS={ROUNDS} REQUESTS={REQUESTS} (pipelined: {PIPELINED_REQUESTS}) CLIENTS={CLIENTS} "
        f"KEYSPACE={KEYSPACE} (all present) -d 64, "
        f"pinned={'servers core 0, client core 1' if PINNED else 'no'}; medians of {ROUNDS} runs",
        "",
        "| workload | redis direct rps | proxy (cache) rps | proxy (no cache) rps | cache / direct "
        "| direct p50/p99 ms | cache p50/p99 ms | no cache p50/p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels + ["cache-hit GET -P 16"]:
        d, c, n = (results[(s, label)] for s in servers)
        lines.append(
            f"| {label} | {med(d):,.0f} | {med(c):,.0f} | "
            + (f"{med(n):,.0f}" if n else "–")
            + f" | {med(c) / med(d):.2f}× | {med(d, 1):.3f}/{med(d, 2):.3f} | "
            f"{med(c, 1):.3f}/{med(c, 2):.3f} | "
            + (f"{med(n, 1):.3f}/{med(n, 2):.3f}" if n else "–") + " |")
    hit = med(results[("proxy (cache)", "cache-hit GET -P 16")]) / med(
        results[("redis direct", "cache-hit GET -P 16")])
    miss = med(results[("proxy (no cache)", "GET -P 1")], 2) - med(
        results[("redis direct", "GET -P 1")], 2)
    lines += [
        "",
        f"- cache-hit GET -P 16: {hit:.2f}× direct (target ≥1.2×: "
        + ("met" if hit >= 1.2 else "MISSED") + ")",
        f"- miss-path p99 (GET -P 1, no cache): {miss:+.3f} ms over direct (target ≤0.2 ms: "
        + ("met" if miss <= 0.2 else "MISSED") + ")",
    ]
    table = "\n".join(lines)
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/vs-redis-upstream.md", "w") as f:
        f.write(table + "\n")


def main():
    if "--metrics-layer" in sys.argv[1:]:
        return metrics_layer()
    if "--upstream" in sys.argv[1:]:
        return upstream()
    labels = [w[0] for w in WORKLOADS] + [c[0] for c in CUSTOM]
    results = {(s, l): [] for s in ("redis", "redynamo") for l in labels}
    with tempfile.TemporaryDirectory() as workdir:
        rport, yport = free_port(), free_port()
        redis = start_redis(rport, workdir)
        redynamo = start_redynamo(yport)
        try:
            for port in (rport, yport):
                load_script(port)
            for round_no in range(ROUNDS):
                order = [("redis", rport), ("redynamo", yport)]
                if round_no % 2:
                    order.reverse()
                for label in labels:
                    for name, port in order:
                        results[(name, label)].append(run_workload(port, label))
                print(f"round {round_no + 1}/{ROUNDS} done", file=sys.stderr)
        finally:
            redis.terminate()
            redynamo.terminate()
            redis.wait()
            redynamo.wait()

        # Memory: fresh servers, baseline RSS, load, RSS again.
        mem = {}
        for name in ("redis", "redynamo"):
            port = free_port()
            proc = start_redis(port, workdir) if name == "redis" else start_redynamo(port)
            try:
                before = rss_bytes(proc.pid)
                load_keys(port, MEM_KEYS)
                time.sleep(0.5)
                after = rss_bytes(proc.pid)
                mem[name] = (before, after)
            finally:
                proc.terminate()
                proc.wait()

    lines = []
    if ROUNDS:
        lines += [
            f"ROUNDS={ROUNDS} REQUESTS={REQUESTS} CLIENTS={CLIENTS} KEYSPACE={KEYSPACE} -d 64, "
            f"pinned={'server core 0, client core 1' if PINNED else 'no'}{', SCHED_FIFO' if REALTIME else ''}; medians of {ROUNDS} runs",
            "",
            "| workload | redis rps | redynamo rps | ratio | target | redis p50/p99 ms | redynamo p50/p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
    for label in labels if ROUNDS else []:
        r = results[("redis", label)]
        y = results[("redynamo", label)]
        r_rps = statistics.median(x[0] for x in r)
        y_rps = statistics.median(x[0] for x in y)
        ratio = y_rps / r_rps if r_rps else 0.0
        target = TARGETS.get(label)
        mark = "" if target is None else (f"≥{target:.1f}× " + ("met" if ratio >= target else "MISSED"))
        lines.append(
            f"| {label} | {r_rps:,.0f} | {y_rps:,.0f} | {ratio:.2f}× | {mark} | "
            f"{statistics.median(x[1] for x in r):.3f}/{statistics.median(x[2] for x in r):.3f} | "
            f"{statistics.median(x[1] for x in y):.3f}/{statistics.median(x[2] for x in y):.3f} |")
    rb, ra = mem["redis"]
    yb, ya = mem["redynamo"]
    lines += [
        "",
        f"| memory, {MEM_KEYS:,} keys (16 B keys, 64 B values) | redis | redynamo | ratio | target |",
        "|---|---:|---:|---:|---:|",
        f"| RSS after load | {ra / 2**20:.1f} MiB | {ya / 2**20:.1f} MiB | {ya / ra:.2f}× | ≤1.0× "
        + ("met" if ya <= ra else "MISSED") + " |",
        f"| RSS growth per key | {(ra - rb) / MEM_KEYS:.0f} B | {(ya - yb) / MEM_KEYS:.0f} B | "
        f"{(ya - yb) / max(ra - rb, 1):.2f}× | |",
    ]
    table = "\n".join(lines)
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/vs-redis.md", "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
