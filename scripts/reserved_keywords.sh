#!/usr/bin/env bash
# Regenerates sql/reference/reserved-keywords.txt from the engines' own keyword lists: a
# throwaway PostgreSQL (Debian's package, as scripts/setup.sh installs it), the venv's DuckDB,
# and RisingWave's list in sql/reference/risingwave-reserved-keywords.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d)
chown nobody "$dir"
trap 'su nobody -s /bin/sh -c "$bin/pg_ctl -D $dir/data stop -m immediate" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
su nobody -s /bin/sh -c "$bin/initdb -D $dir/data -A trust -U pg >/dev/null && $bin/pg_ctl -D $dir/data -o '-p 55439 -k $dir -c listen_addresses=' -l $dir/log -w start >/dev/null"
pg=$(psql -h "$dir" -p 55439 -U pg -d postgres -Atc "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R','T') ORDER BY 1")
duck=$(.venv/bin/python -c "import duckdb
for (w,) in duckdb.sql(\"SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'\").fetchall(): print(w)")
pg_version=$("$bin/postgres" --version | awk '{print $3}')
duck_version=$(.venv/bin/python -c "import duckdb; print(duckdb.__version__)")
{
  echo "# Words iotctl double-quotes as identifiers: the reserved keywords of the three SQL engines it renders"
  echo "# for, from their own lists. Regenerate with scripts/reserved_keywords.sh; tests/suite/live/naming.rs asks the"
  echo "# running PostgreSQL and DuckDB again and fails when a word of theirs is missing here."
  echo "# PostgreSQL $pg_version: pg_get_keywords() with catcode R (reserved) or T (type or function name)."
  echo "# DuckDB $duck_version: duckdb_keywords() with keyword_category 'reserved'."
  echo "# RisingWave: sql/reference/risingwave-reserved-keywords.txt."
  { echo "$pg"; echo "$duck"; grep -v '^#' sql/reference/risingwave-reserved-keywords.txt; } | tr 'A-Z' 'a-z' | sed '/^$/d' | sort -u
} > sql/reference/reserved-keywords.txt
echo "wrote sql/reference/reserved-keywords.txt" >&2
