#!/usr/bin/env bash
# Load benchmark: redynamo (in-memory backend) against redis-server, in one
# run, on loopback. See BENCHMARKS.md for what each figure means.
#
#   benches/vs-redis.sh            # full run (3 rounds, 200k requests each)
#   ROUNDS=1 REQUESTS=50000 benches/vs-redis.sh   # quick look
#   ROUNDS=0 benches/vs-redis.sh   # memory test only
#   benches/vs-redis.sh --metrics-layer   # GET throughput with and without the metrics layer
#   benches/vs-redis.sh --connections     # idle-connection RSS, connect bursts, FLUSHALL,
#                                         # big bulk strings, exit time (benches/connections.py)
#   benches/vs-redis.sh --collections     # list/set/hash/zset throughput, RSS of big and
#                                         # small collections, BLPOP wake-up (benches/collections.py)
#   benches/vs-redis.sh --pubsub          # PUBLISH to 50 subscribers, messages delivered
#                                         # per second (benches/pubsub.py)
#
# Needs redis-server and redis-benchmark (apt: redis-server redis-tools)
# and builds redynamo in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null || { echo "redis-benchmark missing: apt-get install redis-tools" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install redis-server" >&2; exit 1; }
cargo build --release --quiet
if [ "${1:-}" = "--connections" ]; then
    shift
    exec python3 benches/connections.py "$@"
fi
if [ "${1:-}" = "--collections" ]; then
    shift
    exec python3 benches/collections.py "$@"
fi
if [ "${1:-}" = "--pubsub" ]; then
    shift
    exec python3 benches/pubsub.py "$@"
fi
exec python3 benches/vs_redis.py "$@"
