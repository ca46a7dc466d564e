#!/usr/bin/env python3
"""The collection types against redis-server, in one run (issue: hashes,
lists, sets, sorted sets on the in-memory store).

Reuses vs_redis.py's servers, pinning and free ports. Three parts:

1. Throughput: redis-benchmark's own tests for the collection types (LPUSH,
   RPUSH, LPOP, RPOP, SADD, HSET, SPOP, ZADD, ZPOPMIN, LRANGE_100,
   LRANGE_600) at -P 16 (target 1.2x) and -P 1 (target 1.0x), ROUNDS
   rounds alternating the servers; medians. Each test runs on a flushed
   server. The pop tests (LPOP, RPOP, SPOP, ZPOPMIN) pop redis-benchmark's
   keys (`mylist`, `myset`, `myzset`), which its own tests leave empty
   then, so the key is first filled (`redis-cli --pipe`, untimed) with as
   many elements as the test pops: every pop takes an element, none
   answers nil. The LRANGE tests fill their list themselves.
2. Memory: RSS growth of a fresh server after loading, through
   `redis-cli --pipe`, of one hash, one set, one sorted set and one list of
   MEM_ELEMENTS elements (members `m:%09d`, values 16 bytes), each in a
   server of its own, and of MEM_ELEMENTS small hashes of 5 fields
   (target: at most 1.0x redis-server's growth, each).
3. BLPOP wake-up latency: one client blocks in BLPOP, another pushes; the
   time from sending LPUSH to reading BLPOP's reply, WAKEUPS times; p50 and
   p99 (target: p99 no higher than redis-server's).

PARTS=memory (or throughput, wake; comma-separated) runs only those parts;
TESTS=lpop,rpop only those throughput tests.

Prints markdown tables and writes them to target/collections.md.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vs_redis as vr  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
MEM_ELEMENTS = int(os.environ.get("MEM_ELEMENTS", "1000000"))
WAKEUPS = int(os.environ.get("WAKEUPS", "2000"))
# Which parts to run: any of throughput, wake, memory (comma-separated).
PARTS = os.environ.get("PARTS", "throughput,wake,memory").split(",")

# TESTS=lpop,rpop (comma-separated) runs only those throughput tests.
TESTS = os.environ.get("TESTS", "lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,"
                       "lrange_100,lrange_600").split(",")
# redis-benchmark's CSV row names, by -t name.
ROW = {"lpush": "LPUSH", "rpush": "RPUSH", "lpop": "LPOP", "rpop": "RPOP", "sadd": "SADD",
       "hset": "HSET", "spop": "SPOP", "zadd": "ZADD", "zpopmin": "ZPOPMIN",
       "lrange_100": "LRANGE_100 (first 100 elements)",
       "lrange_600": "LRANGE_600 (first 600 elements)"}


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True, timeout=60).stdout.strip()


# The key each pop test pops, and the fill command of one element.
POP_FILL = {
    "lpop": lambda i: resp("RPUSH", "mylist", b"x" * 64),
    "rpop": lambda i: resp("RPUSH", "mylist", b"x" * 64),
    "spop": lambda i: resp("SADD", "myset", f"element:{i}"),
    "zpopmin": lambda i: resp("ZADD", "myzset", i, f"element:{i}"),
}
FILL_BATCH = 100_000


def prefill(port, test):
    """Give a pop test as many elements as it will pop."""
    fill = POP_FILL.get(test)
    if fill is None:
        return
    for base in range(0, vr.REQUESTS, FILL_BATCH):
        load(port, [fill(i) for i in range(base, min(base + FILL_BATCH, vr.REQUESTS))])


def throughput(port, test, pipe):
    cli(port, "flushall")
    prefill(port, test)
    rows = vr.bench(port, ["-t", test, "-P", str(pipe)])
    r = next(x for x in rows if x["test"] == ROW[test])
    return float(r["rps"]), float(r["p50_latency_ms"]), float(r["p99_latency_ms"])


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def load(port, commands):
    data = b"".join(commands)
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data,
                         capture_output=True, timeout=900)
    if out.returncode != 0 or b"errors: 0" not in out.stdout:
        raise RuntimeError(f"load failed: {out.stdout[-300:]!r} {out.stderr[-300:]!r}")


def big_collection(kind, n):
    """One key of type `kind` with n elements, 1000 elements a command."""
    value = "v" * 16
    for start in range(0, n, 1000):
        ids = range(start, min(start + 1000, n))
        if kind == "hash":
            yield resp("HSET", "big:hash", *[x for i in ids for x in (f"m:{i:09d}", value)])
        elif kind == "set":
            yield resp("SADD", "big:set", *[f"m:{i:09d}" for i in ids])
        elif kind == "sorted set":
            yield resp("ZADD", "big:zset", *[x for i in ids for x in (i, f"m:{i:09d}")])
        else:
            yield resp("RPUSH", "big:list", *[f"m:{i:09d}" for i in ids])


def small_hashes(n):
    for i in range(n):
        yield resp("HSET", f"h:{i:09d}", "name", "someone", "age", "42", "city", "somewhere",
                   "email", "someone@example.com", "score", "1234")


def memory(workdir, name, generate):
    port = vr.free_port()
    proc = vr.start_redis(port, workdir) if name == "redis" else vr.start_redynamo(port)
    try:
        before = vr.rss_bytes(proc.pid)
        load(port, generate())
        time.sleep(0.5)
        return vr.rss_bytes(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait()


def recv_reply(sock):
    """Read one whole reply of BLPOP (an array of two bulks) or LPUSH."""
    buf = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
        if buf.startswith(b":") and buf.endswith(b"\r\n"):
            return buf
        if buf.startswith(b"*2\r\n") and buf.count(b"\r\n") >= 5:
            return buf


def wakeups(port):
    blocked = socket.create_connection(("127.0.0.1", port))
    pusher = socket.create_connection(("127.0.0.1", port))
    for s in (blocked, pusher):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    try:
        for _ in range(WAKEUPS):
            blocked.sendall(resp("BLPOP", "wake", 5))
            time.sleep(0.0005)  # let the BLPOP arrive and block first
            t0 = time.perf_counter()
            pusher.sendall(resp("LPUSH", "wake", "x"))
            recv_reply(blocked)
            samples.append((time.perf_counter() - t0) * 1e6)
            recv_reply(pusher)
    finally:
        blocked.close()
        pusher.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main():
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        rport, yport = vr.free_port(), vr.free_port()
        procs = [vr.start_redis(rport, workdir), vr.start_redynamo(yport)]
        try:
            for round_no in range(ROUNDS if {"throughput", "wake"} & set(PARTS) else 0):
                order = [("redis", rport), ("redynamo", yport)]
                if round_no % 2:
                    order.reverse()
                for pipe in (16, 1) if "throughput" in PARTS else ():
                    n = vr.PIPELINED_REQUESTS if pipe > 1 else vr.REQUESTS
                    for test in TESTS:
                        for name, port in order:
                            results.setdefault((name, test, pipe), []).append(
                                vr.with_requests(n, lambda: throughput(port, test, pipe)))
                wake = {name: wakeups(port) for name, port in order} if "wake" in PARTS else {}
                for name, w in wake.items():
                    results.setdefault((name, "wake"), []).append(w)
                print(f"round {round_no + 1}/{ROUNDS} done", file=sys.stderr)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
        mem = {}
        loads = [(f"one {kind} of {MEM_ELEMENTS:,} elements",
                  lambda kind=kind: big_collection(kind, MEM_ELEMENTS))
                 for kind in ("hash", "set", "sorted set", "list")]
        loads.append((f"{MEM_ELEMENTS:,} hashes of 5 fields", lambda: small_hashes(MEM_ELEMENTS)))
        for label, gen in loads if "memory" in PARTS else ():
            mem[label] = {name: memory(workdir, name, gen) for name in ("redis", "redynamo")}

    med = statistics.median
    lines = [
        f"ROUNDS={ROUNDS} REQUESTS={vr.REQUESTS} (pipelined: {vr.PIPELINED_REQUESTS}) "
        f"CLIENTS={vr.CLIENTS} -r {vr.KEYSPACE} -d 64, "
        f"pinned={'server core 0, client core 1' if vr.PINNED else 'no'}; medians of {ROUNDS} runs",
        "",
        "| workload | redis rps | redynamo rps | ratio | target |",
        "|---|---:|---:|---:|---:|",
    ]
    for pipe in (16, 1) if "throughput" in PARTS else ():
        target = 1.2 if pipe > 1 else 1.0
        for test in TESTS:
            r = med(x[0] for x in results[("redis", test, pipe)])
            y = med(x[0] for x in results[("redynamo", test, pipe)])
            ratio = y / r if r else 0.0
            lines.append(f"| {ROW[test]} -P {pipe} | {r:,.0f} | {y:,.0f} | {ratio:.2f}× | "
                         f"≥{target:.1f}× {'met' if ratio >= target else 'MISSED'} |")
    if "wake" in PARTS:
        lines += ["", "| BLPOP wake-up (push sent → reply read) | redis | redynamo | target |",
                  "|---|---:|---:|---:|"]
        rw, yw = results[("redis", "wake")], results[("redynamo", "wake")]
        lines.append(f"| p50 | {med(x[0] for x in rw):.0f} µs | {med(x[0] for x in yw):.0f} µs | |")
        r99, y99 = med(x[1] for x in rw), med(x[1] for x in yw)
        lines.append(f"| p99 | {r99:.0f} µs | {y99:.0f} µs | ≤ redis "
                     f"{'met' if y99 <= r99 else 'MISSED'} |")
    lines += ["", "| memory: RSS growth after loading | redis | redynamo | ratio | target |",
              "|---|---:|---:|---:|---:|"]
    for label, m in mem.items():
        ratio = m["redynamo"] / max(m["redis"], 1)
        lines.append(f"| {label} | {m['redis'] / 2**20:.1f} MiB | {m['redynamo'] / 2**20:.1f} MiB | "
                     f"{ratio:.2f}× | ≤1.0× {'met' if ratio <= 1.0 else 'MISSED'} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/collections.md", "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
