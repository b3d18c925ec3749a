#!/usr/bin/env bash
# Peak memory of a large replay: simulate N events (default ~10M: 7,000 devices × 1 day × one a
# minute) into a fresh local nats-server, replay them all, print the replay's summary line
# (messages, seconds, peak RSS). Needs scripts/setup.sh and `cargo build --release` first.
#   scripts/bench_replay_rss.sh [DEVICES] [stream|duckdb]
# `duckdb` loads the events into a fresh embedded DuckDB warehouse instead of the replay stream
# and also reports the DuckDB helper's peak RSS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
devices="${1:-7000}"
target="${2:-stream}"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
.tools/nats-server -js -a 127.0.0.1 -p -1 --ports_file_dir "$dir" -sd "$dir/store" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$dir/nats-server_$pid.ports" ] && break; sleep 0.05; done
export IOTCTL_NATS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0])' "$dir/nats-server_$pid.ports")
iotctl=target/release/iotctl
"$iotctl" apply -f examples/factory.yaml --only nats --yes -q > /dev/null
"$iotctl" simulate -f examples/factory.yaml --devices "$devices" --rate 1/min --duration 1d --format json | tail -1
case "$target" in
  stream) extra=() ;;
  duckdb) extra=(--to warehouse --sqlmesh-dir "$dir/sqlmesh" --sqlmesh-gateway duckdb --sqlmesh-bin .venv/bin/sqlmesh) ;;
  *) echo "usage: $0 [DEVICES] [stream|duckdb]" >&2; exit 2 ;;
esac
env -u IOTCTL_WAREHOUSE_URL "$iotctl" replay -f examples/factory.yaml --since 1h "${extra[@]}" --format json | tail -1 > "$dir/summary.json"
python3 - "$dir/summary.json" "$target" <<'PY'
import json
import sys

summary = json.load(open(sys.argv[1]))
counts = summary["replay"]["counts"]
seconds = summary["seconds"]
line = "%s: replayed %d events in %.1f s (%.0f/s), published %d, peak RSS %.1f MiB" % (
    sys.argv[2], counts["read"], seconds, counts["read"] / seconds, counts["published"],
    summary["peak_rss_kib"] / 1024)
if summary.get("helper_peak_rss_kib"):
    line += ", DuckDB helper %.1f MiB" % (summary["helper_peak_rss_kib"] / 1024)
print(line)
PY
