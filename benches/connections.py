#!/usr/bin/env python3
"""Connection costs of redynamo against redis-server, in one run.

Run through `benches/vs-redis.sh --connections` (which builds redynamo in
release mode first), or directly after a release build. Every figure is
taken on fresh servers started by this script on free loopback ports, the
two servers measured one after the other with the same client code:

- idle connections: RSS growth per connection after N clients (default
  5,000) connect and each answers one PING, then sit idle for 3 s;
- connect burst: N connects fired at once at a fresh server; the time until
  every one has answered a PING, and the kernel's listen-queue overflows
  (TcpExtListenOverflows) during the burst;
- FLUSHALL: RSS before, after 50 SETs of 64 MiB (3.2 GiB), then 1, 3 and
  10 s after FLUSHALL;
- a 512 MiB bulk string sent slowly (1 MiB every 10 ms): peak RSS growth
  over the bytes sent, then the RSS 3 s after the client disconnects
  before finishing it (the value is never stored);
- exit: the time from SIGTERM to the process being gone with M keys
  loaded (default 4,000,000).

Prints a markdown table and writes it to target/connections.md. Select
parts with PARTS=idle,burst,flush,bulk,exit (default: all).
"""
import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

N = int(os.environ.get("CONNECTIONS", "5000"))
EXIT_KEYS = int(os.environ.get("EXIT_KEYS", "4000000"))
FLUSH_VALUES = int(os.environ.get("FLUSH_VALUES", "50"))
FLUSH_VALUE_MB = int(os.environ.get("FLUSH_VALUE_MB", "64"))
BULK_MB = int(os.environ.get("BULK_MB", "512"))
PARTS = os.environ.get("PARTS", "idle,burst,flush,bulk,exit").split(",")
REDYNAMO = os.environ.get("REDYNAMO_BIN", "target/release/redynamo")
REDYNAMO_ARGS = os.environ.get("REDYNAMO_ARGS", "").split()


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


def start(name, port, workdir):
    if name == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", workdir, "--maxclients", str(N + 100),
               "--proto-max-bulk-len", str(1 << 30)]
    else:
        cmd = [REDYNAMO, "--port", str(port), "--log-level", "warn",
               "--maxclients", str(N + 100), *REDYNAMO_ARGS]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    # The readiness probe's connection is gone; let the server settle.
    time.sleep(0.5)
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def listen_overflows():
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, values in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            fields = dict(zip(head.split()[1:], values.split()[1:]))
            return int(fields.get("ListenOverflows", 0))
    return 0


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


async def ping_clients(port, n):
    """n clients connect at once and each answers a PING; returns them."""
    async def one():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"PING\r\n")
        await w.drain()
        line = await r.readline()
        assert line == b"+PONG\r\n", line
        return r, w
    return await asyncio.gather(*(one() for _ in range(n)))


def idle(name, workdir):
    port = free_port()
    p = start(name, port, workdir)
    try:
        before = rss(p.pid)

        async def run():
            clients = await ping_clients(port, N)
            await asyncio.sleep(3)
            after = rss(p.pid)
            for _, w in clients:
                w.close()
            return after
        after = asyncio.run(run())
        return (after - before) / N
    finally:
        stop(p)


def burst(name, workdir):
    port = free_port()
    p = start(name, port, workdir)
    try:
        overflows = listen_overflows()
        t0 = time.monotonic()

        async def run():
            clients = await ping_clients(port, N)
            took = time.monotonic() - t0
            for _, w in clients:
                w.close()
            return took
        took = asyncio.run(run())
        return took, listen_overflows() - overflows
    finally:
        stop(p)


def send_all(sock, data):
    view = memoryview(data)
    while view:
        n = sock.send(view)
        view = view[n:]


def read_reply(sock):
    buf = b""
    while not buf.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return buf


def flush(name, workdir):
    port = free_port()
    p = start(name, port, workdir)
    try:
        base = rss(p.pid)
        value = b"v" * (FLUSH_VALUE_MB << 20)
        s = socket.create_connection(("127.0.0.1", port))
        for i in range(FLUSH_VALUES):
            send_all(s, cmd("SET", f"big:{i}", value))
            assert read_reply(s) == b"+OK\r\n"
        loaded = rss(p.pid)
        send_all(s, cmd("FLUSHALL"))
        assert read_reply(s) == b"+OK\r\n"
        t0 = time.monotonic()
        marks = []
        for at in (1, 3, 10):
            time.sleep(max(0, t0 + at - time.monotonic()))
            marks.append(rss(p.pid))
        s.close()
        return base, loaded, marks
    finally:
        stop(p)


def bulk(name, workdir):
    port = free_port()
    p = start(name, port, workdir)
    try:
        base = rss(p.pid)
        s = socket.create_connection(("127.0.0.1", port))
        total = BULK_MB << 20
        send_all(s, b"*3\r\n$3\r\nSET\r\n$4\r\nbulk\r\n$%d\r\n" % total)
        chunk = b"x" * (1 << 20)
        peak = 0
        # All but the last MiB: the command never completes.
        for _ in range(BULK_MB - 1):
            send_all(s, chunk)
            time.sleep(0.01)
            peak = max(peak, rss(p.pid))
        time.sleep(0.5)
        peak = max(peak, rss(p.pid))
        s.close()
        time.sleep(3)
        left = rss(p.pid)
        return base, (peak - base) / (total - (1 << 20)), left
    finally:
        stop(p)


def exit_time(name, workdir):
    port = free_port()
    p = start(name, port, workdir)
    try:
        out = subprocess.run(["redis-cli", "-p", str(port), "DEBUG", "POPULATE", str(EXIT_KEYS)],
                             capture_output=True, text=True, timeout=600)
        if "OK" not in out.stdout:
            # redynamo has no DEBUG POPULATE: load through redis-cli --pipe.
            lines = [cmd("SET", f"key:{i:012d}", "v" * 16) for i in range(EXIT_KEYS)]
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=b"".join(lines),
                           capture_output=True, timeout=600, check=True)
        size = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True,
                              text=True).stdout.strip()
        assert size == str(EXIT_KEYS), size
        loaded = rss(p.pid)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        return time.monotonic() - t0, loaded
    finally:
        if p.poll() is None:
            stop(p)


def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < N + 100:
        sys.exit(f"need {N + 100} file descriptors, the hard limit is {hard}")
    lines = [f"CONNECTIONS={N}; fresh servers for each figure; redynamo args: "
             f"{' '.join(REDYNAMO_ARGS) or '(defaults)'}", "",
             "| figure | redis-server | redynamo | ratio |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as workdir:
        if "idle" in PARTS:
            r, y = idle("redis", workdir), idle("redynamo", workdir)
            lines.append(f"| RSS per idle connection ({N:,} clients, one PING each, 3 s idle) "
                         f"| {r / 1024:.1f} KiB | {y / 1024:.1f} KiB | {y / r:.2f}× |")
        if "burst" in PARTS:
            (rt, ro), (yt, yo) = burst("redis", workdir), burst("redynamo", workdir)
            lines.append(f"| {N:,} connects at once to a fresh server, until every one answered PING "
                         f"| {rt:.2f} s | {yt:.2f} s | {yt / rt:.2f}× |")
            lines.append(f"| listen-queue overflows during that burst | {ro} | {yo} | |")
        if "flush" in PARTS:
            rows = {n: flush(n, workdir) for n in ("redis", "redynamo")}
            label = f"{FLUSH_VALUES} × {FLUSH_VALUE_MB} MiB SETs"
            for i, title in enumerate(["RSS before", f"RSS after {label}"]):
                r, y = rows["redis"][i], rows["redynamo"][i]
                lines.append(f"| {title} | {mib(r)} | {mib(y)} | {y / r:.2f}× |")
            for j, at in enumerate((1, 3, 10)):
                r, y = rows["redis"][2][j], rows["redynamo"][2][j]
                lines.append(f"| RSS {at} s after FLUSHALL | {mib(r)} | {mib(y)} | {y / r:.2f}× |")
        if "bulk" in PARTS:
            rows = {n: bulk(n, workdir) for n in ("redis", "redynamo")}
            r, y = rows["redis"], rows["redynamo"]
            lines.append(f"| {BULK_MB} MiB bulk sent slowly: peak RSS growth / bytes sent "
                         f"| {r[1]:.2f} | {y[1]:.2f} | {y[1] / r[1]:.2f}× |")
            lines.append(f"| RSS before it, and 3 s after the client left mid-bulk "
                         f"| {mib(r[0])} → {mib(r[2])} | {mib(y[0])} → {mib(y[2])} | |")
        if "exit" in PARTS:
            (rt, rr), (yt, yr) = exit_time("redis", workdir), exit_time("redynamo", workdir)
            lines.append(f"| SIGTERM to exit with {EXIT_KEYS:,} keys (RSS {mib(rr)} / {mib(yr)}) "
                         f"| {rt:.2f} s | {yt:.2f} s | |")
    table = "\n".join(lines)
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/connections.md", "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
