#!/usr/bin/env bash
# The main job on the embedded default: validate and render the factory example, generate two
# days of telemetry, load it into DuckDB and run the rendered SQLMesh project on it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spec="${1:-examples/factory.yaml}"
bash scripts/setup.sh
export SQLMESH__DISABLE_ANONYMIZED_ANALYTICS=true
cargo build --locked --release -q
iotctl=target/release/iotctl
out=.demo/$(basename "$spec" .yaml)
rm -rf "$out"

echo "== validate $spec" >&2
"$iotctl" validate -f "$spec"
echo "== render into $out" >&2
"$iotctl" render -f "$spec" --out "$out"
"$iotctl" render -f "$spec" --out "$out" --check
echo "== sample telemetry: 2 days" >&2
"$iotctl" sample -f "$spec" --days 2 --devices 3 --interval 600 > "$out/sample.csv"
echo "== load into DuckDB" >&2
(cd "$out/sqlmesh" && ../../../.venv/bin/python ../../../scripts/load_duckdb.py iotctl.duckdb ../warehouse/raw_telemetry.sql ../sample.csv)
echo "== sqlmesh format --check, lint, test, plan (DuckDB)" >&2
(
  cd "$out/sqlmesh"
  sqlmesh=../../../.venv/bin/sqlmesh
  "$sqlmesh" format --check
  "$sqlmesh" lint
  "$sqlmesh" --gateway duckdb test
  "$sqlmesh" --gateway duckdb plan --auto-apply --no-prompts > ../plan.log
  ../../../.venv/bin/python - <<'PY'
import duckdb
con = duckdb.connect("iotctl.duckdb", read_only=True)
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
)
echo "== done: artifacts in $out (RisingWave DDL in $out/risingwave, apply order by file name)" >&2
