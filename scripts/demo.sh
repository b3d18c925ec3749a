#!/usr/bin/env bash
# The main job on the embedded default, on a fresh machine: validate and render the factory
# example, start a local nats-server, apply the streams, simulate a day of telemetry for 200
# devices (with late, malformed and anomalous readings), load it into the embedded warehouse
# (DuckDB) with a replay, build the SQLMesh daily models, and reconcile raw events against the
# batch models (pass). Then lose some warehouse rows on purpose: reconcile fails (exit 1) and
# lists the keys; a second load repairs it. Last, the pipeline's gauges for Prometheus and the
# rendered alert rules' unit tests. RisingWave and PostgreSQL are skipped with a notice.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spec="${1:-examples/factory.yaml}"
bash scripts/setup.sh
export SQLMESH__DISABLE_ANONYMIZED_ANALYTICS=true
cargo build --locked --release -q
iotctl=target/release/iotctl
name=$(basename "$spec" .yaml)
out=.demo/$name
rm -rf "$out"
mkdir -p "$out/nats" "$out/sqlmesh"
day=$(date -u -d yesterday +%F)

echo "== validate $spec" >&2
"$iotctl" validate -f "$spec"
echo "== render into $out/rendered" >&2
"$iotctl" render -f "$spec" --out "$out/rendered"
"$iotctl" render -f "$spec" --out "$out/rendered" --check

echo "== start a local nats-server with JetStream" >&2
.tools/nats-server -js -a 127.0.0.1 -p -1 --ports_file_dir "$out/nats" -sd "$out/nats/store" > "$out/nats/server.log" 2>&1 &
nats_pid=$!
trap 'kill $nats_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$out/nats/nats-server_$nats_pid.ports" ] && break; sleep 0.05; done
export IOTCTL_NATS_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0])' "$out/nats/nats-server_$nats_pid.ports")
echo "   $IOTCTL_NATS_URL" >&2
export IOTCTL_SQLMESH_DIR="$out/sqlmesh" IOTCTL_SQLMESH_BIN=.venv/bin/sqlmesh

echo "== apply the NATS streams" >&2
"$iotctl" apply -f "$spec" --yes --only nats

echo "== simulate $day: 200 devices, one reading a minute each" >&2
"$iotctl" simulate -f "$spec" --devices 200 --rate 1/min --start "$day" --duration 1d \
  --late-fraction 0.01 --malformed-fraction 0.001 --anomalies

echo "== load it into the embedded warehouse (DuckDB): a replay to the warehouse" >&2
"$iotctl" replay -f "$spec" --since 1h --to warehouse --sqlmesh-gateway duckdb

echo "== apply everything: SQLMesh builds the daily models on DuckDB" >&2
"$iotctl" apply -f "$spec" --yes --sqlmesh-gateway duckdb
echo "== apply again: nothing to do" >&2
"$iotctl" apply -f "$spec" --yes --sqlmesh-gateway duckdb

echo "== reconcile raw events against the batch models for $day (expect: pass)" >&2
"$iotctl" reconcile -f "$spec" --date "$day" --sqlmesh-gateway duckdb

echo "== a deliberate loss: 25 warehouse rows of 5 devices deleted, the models restated" >&2
.venv/bin/python - "$out/sqlmesh/iotctl.duckdb" <<'PY'
import sys
import duckdb
con = duckdb.connect(sys.argv[1])
victims = [r[0] for r in con.execute(
    "SELECT DISTINCT device_id FROM iot_raw.telemetry ORDER BY device_id LIMIT 5").fetchall()]
for device in victims:
    con.execute("DELETE FROM iot_raw.telemetry WHERE event_id IN (SELECT event_id FROM iot_raw.telemetry WHERE device_id = ? ORDER BY ts LIMIT 5)", [device])
print("deleted 5 rows each of", ", ".join(victims), file=sys.stderr)
PY
(cd "$out/sqlmesh" && ../../../.venv/bin/sqlmesh --gateway duckdb plan \
  --restate-model device_health.daily_device_metrics --start "$day" --end "$day" \
  --auto-apply --no-prompts > /dev/null)
echo "== reconcile again (expect: exit 1, the damaged keys listed)" >&2
status=0
"$iotctl" reconcile -f "$spec" --date "$day" --sqlmesh-gateway duckdb || status=$?
[ "$status" -eq 1 ] || { echo "reconcile should have failed with exit 1, got $status" >&2; exit 1; }
echo "   reconcile exited $status: the loss was caught" >&2

echo "== repair: load again (idempotent upsert) and restate, then reconcile (expect: pass)" >&2
"$iotctl" replay -f "$spec" --since 1h --to warehouse --sqlmesh-gateway duckdb --restate -q > /dev/null
"$iotctl" reconcile -f "$spec" --date "$day" --sqlmesh-gateway duckdb
echo "== what the load dead-lettered, by reason (dlq stats)" >&2
"$iotctl" dlq stats -f "$spec"
"$iotctl" status -f "$spec" --sqlmesh-gateway duckdb
echo "== the same as Prometheus gauges (status --format openmetrics), and the rendered rules' unit tests" >&2
"$iotctl" status -f "$spec" --sqlmesh-gateway duckdb --format openmetrics > "$out/status.prom"
grep -E '^iotctl_(dead_letters|replay_last_run_state|stream_messages)\{' "$out/status.prom" >&2
(cd "$out/rendered/observability/prometheus" && promtool test rules rules.test.yml >&2)
echo "== done: artifacts in $out/rendered (RisingWave DDL in apply order under risingwave/)" >&2
