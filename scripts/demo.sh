#!/usr/bin/env bash
# The main job on the embedded default: validate and render the factory example, start a local
# nats-server, apply the spec (NATS streams, and the SQLMesh project on DuckDB over two days of
# generated telemetry; RisingWave and the PostgreSQL warehouse are skipped with a notice when not
# configured), then show `iotctl status` and the daily device-health rollup.
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
mkdir -p "$out/nats"

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

echo "== two days of sample telemetry into the embedded warehouse (DuckDB)" >&2
mkdir -p "$out/sqlmesh"
"$iotctl" sample -f "$spec" --days 2 --devices 3 --interval 600 > "$out/sample.csv"
.venv/bin/python scripts/load_duckdb.py "$out/sqlmesh/iotctl.duckdb" "$out/rendered/warehouse/raw_telemetry.sql" "$out/sample.csv"

echo "== apply" >&2
export IOTCTL_SQLMESH_DIR="$out/sqlmesh" IOTCTL_SQLMESH_BIN=.venv/bin/sqlmesh
"$iotctl" apply -f "$spec" --yes --sqlmesh-gateway duckdb
echo "== apply again: nothing to do" >&2
"$iotctl" apply -f "$spec" --yes --sqlmesh-gateway duckdb
echo "== status" >&2
"$iotctl" status -f "$spec" --sqlmesh-gateway duckdb

echo "== daily site rollup (SQLMesh on DuckDB)" >&2
.venv/bin/python - "$out/sqlmesh/iotctl.duckdb" <<'PY'
import sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
schema = con.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'daily_site_rollup' LIMIT 1").fetchone()[0]
rows = con.execute(f"""
    SELECT CAST(event_date AS VARCHAR), site, device_type, metric, device_count, sample_count,
           ROUND(avg_value, 2), warning_breaches, critical_breaches
    FROM {schema}.daily_site_rollup ORDER BY 1, 2, 3, 4""").fetchall()
header = ("day", "site", "device_type", "metric", "devices", "readings", "avg", "warn", "crit")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
for row in [header] + rows:
    print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
PY
echo "== done: artifacts in $out/rendered (RisingWave DDL in apply order under risingwave/)" >&2
