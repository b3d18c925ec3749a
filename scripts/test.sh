#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests need (idempotent), then the
# unit, golden, CLI, fuzz and live suites (real SQLMesh and PostgreSQL).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export SQLMESH__DISABLE_ANONYMIZED_ANALYTICS=true
cargo fmt --all -- --check
cargo build --locked --all-targets
cargo test --locked
for spec in examples/*.yaml; do
  ./target/debug/iotctl validate -q -f "$spec"
done
if [ -z "${IOTCTL_TEST_RISINGWAVE_URL:-}" ]; then
  echo "notice: RisingWave end-to-end suite skipped (IOTCTL_TEST_RISINGWAVE_URL is not set; no RisingWave can run here)" >&2
fi
