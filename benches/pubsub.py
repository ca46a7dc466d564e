#!/usr/bin/env python3
"""PUBLISH to SUBSCRIBERS subscribers: redynamo against redis-server.

Both servers run at once on free loopback ports, pinned to core 0 (as
vs_redis.py does); the publishers (redis-benchmark, PUBLISH of a 16-byte
message, CLIENTS connections, pipeline PIPELINE) and the subscribers (one
process reading SUBSCRIBERS RESP2 connections with select, counting
`message` frames) share core 1. The figure is messages delivered per
second: frames received by all subscribers over the time from the first to
the last. Every round alternates the servers; the median of ROUNDS rounds
is reported (target: at least 1.0x redis-server). Writes
target/pubsub-bench.md.

    benches/vs-redis.sh --pubsub
    ROUNDS=1 MESSAGES=20000 REDYNAMO_BIN=target/debug/redynamo python3 benches/pubsub.py
"""
import multiprocessing
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from vs_redis import CLIENT_CPU, free_port, start_redis, start_redynamo  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
MESSAGES = int(os.environ.get("MESSAGES", "200000"))
SUBSCRIBERS = int(os.environ.get("SUBSCRIBERS", "50"))
CLIENTS = int(os.environ.get("CLIENTS", "4"))
PIPELINE = int(os.environ.get("PIPELINE", "16"))
CHANNEL = b"bench"
FRAME = b"*3\r\n$7\r\nmessage\r\n"


def subscribers(port, expected, ready, result):
    """Open the subscribers, report ready, count frames until `expected`
    arrived (or 60 s of silence); put (frames, seconds)."""
    if CLIENT_CPU:
        os.sched_setaffinity(0, {1})
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(SUBSCRIBERS):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(CHANNEL), CHANNEL))
        confirm = b""
        while not confirm.endswith(b":1\r\n"):
            confirm += s.recv(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    ready.set()
    # A frame may straddle two reads: keep each socket's tail.
    tails = {s.fileno(): b"" for s in socks}
    frames = 0
    first = last = None
    while frames < expected:
        events = sel.select(timeout=60)
        if not events:
            break
        for key, _ in events:
            data = key.fileobj.recv(1 << 20)
            if not data:
                continue
            now = time.perf_counter()
            first = first or now
            last = now
            buf = tails[key.fd] + data
            n = buf.count(FRAME)
            frames += n
            cut = buf.rfind(FRAME)
            tails[key.fd] = buf[cut + len(FRAME):][-64:] if cut >= 0 else buf[-64:]
    result.put((frames, (last - first) if first and last and last > first else 0.0))
    for s in socks:
        s.close()


def one_round(port):
    ready = multiprocessing.Event()
    result = multiprocessing.Queue()
    expected = MESSAGES * SUBSCRIBERS
    sub = multiprocessing.Process(target=subscribers, args=(port, expected, ready, result))
    sub.start()
    ready.wait(30)
    cmd = CLIENT_CPU + ["redis-benchmark", "-p", str(port), "-n", str(MESSAGES),
                        "-c", str(CLIENTS), "-P", str(PIPELINE), "-q",
                        "PUBLISH", CHANNEL.decode(), "0123456789abcdef"]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    frames, secs = result.get(timeout=120)
    sub.join(10)
    if frames < expected:
        print(f"  port {port}: only {frames} of {expected} messages delivered", file=sys.stderr)
    return frames / secs if secs > 0 else 0.0


def main():
    with tempfile.TemporaryDirectory() as tmp:
        rport, yport = free_port(), free_port()
        redis = start_redis(rport, tmp)
        ours = start_redynamo(yport)
        try:
            theirs_rates, ours_rates = [], []
            for r in range(ROUNDS):
                theirs_rates.append(one_round(rport))
                ours_rates.append(one_round(yport))
                print(f"round {r + 1}: redis-server {theirs_rates[-1]:,.0f}/s, "
                      f"redynamo {ours_rates[-1]:,.0f}/s", file=sys.stderr)
        finally:
            for p in (redis, ours):
                p.terminate()
                p.wait()
    theirs = statistics.median(theirs_rates)
    mine = statistics.median(ours_rates)
    table = (
        f"| PUBLISH to {SUBSCRIBERS} subscribers ({CLIENTS} publishers, -P {PIPELINE}) "
        f"| redis-server | redynamo | ratio |\n|---|---|---|---|\n"
        f"| messages delivered / s (median of {ROUNDS}) | {theirs:,.0f} | {mine:,.0f} "
        f"| {mine / theirs if theirs else 0:.2f}x |\n"
    )
    print(table)
    os.makedirs("target", exist_ok=True)
    with open("target/pubsub-bench.md", "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
