#!/usr/bin/env bash
# Regenerates the golden files and committed contracts from the examples, and the pinned
# diagnostics of the invalid fixtures. Review `git diff` afterwards: that diff is the change.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build -q
bin=target/debug/iotctl
for spec in examples/*.yaml; do
  name=$(basename "$spec" .yaml)
  rm -rf "tests/golden/$name"
  "$bin" render -q -f "$spec" --out "tests/golden/$name"
  rm -rf "contracts/$name"
  mkdir -p "contracts/$name"
  cp "tests/golden/$name/contracts/"* "contracts/$name/"
done
for fixture in tests/fixtures/invalid/*.yaml; do
  NO_COLOR=1 "$bin" validate -f "$fixture" 2> "${fixture%.yaml}.stderr" || true
done
NO_COLOR=1 "$bin" --help > tests/snapshots/help.txt
rm -rf tests/snapshots/help
IOTCTL_BLESS=1 cargo test -q --test suite cli::every_subcommand_help_is_pinned >/dev/null
echo "blessed: review with git diff" >&2
