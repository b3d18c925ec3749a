"""Load sample telemetry (CSV from `iotctl sample`) into a DuckDB warehouse.

Usage: load_duckdb.py DATABASE WAREHOUSE_DDL CSV

Creates the raw-telemetry table from the rendered warehouse DDL (the same file PostgreSQL
runs), and the other warehouse tables rendered beside it, then upserts the CSV on the raw
table's primary key, so loading twice changes nothing.
"""
import pathlib
import sys

import duckdb


def main() -> int:
    database, ddl_path, csv_path = sys.argv[1:4]
    with open(ddl_path, encoding="utf-8") as ddl_file:
        ddl = ddl_file.read()
    con = duckdb.connect(database)
    con.execute(ddl)
    for other in sorted(pathlib.Path(ddl_path).parent.glob("*.sql")):
        if other.resolve() != pathlib.Path(ddl_path).resolve():
            con.execute(other.read_text(encoding="utf-8"))
    table = next(
        line.split()[5]
        for line in ddl.splitlines()
        if line.startswith("CREATE TABLE IF NOT EXISTS")
    )
    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    con.execute(
        f"INSERT OR REPLACE INTO {table} SELECT * FROM read_csv(?, header = true, columns = ?)",
        [csv_path, {name: types[name] for name in columns}],
    )
    after = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    print(f"loaded {csv_path} into {table}: {before} -> {after} rows", file=sys.stderr)
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
