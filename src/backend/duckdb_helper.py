"""iotctl's bridge to the embedded DuckDB warehouse (run with the SQLMesh venv's Python, which
has the duckdb package SQLMesh itself uses).

  query DB          SQL on stdin; rows on stdout, tab-separated, NULL as \\N, floats exact
  load DB DDL TABLE KEYS
                    runs the DDL file, then reads CSV file paths on stdin, one per line; each is
                    upserted into TABLE on KEYS (comma-separated); replies `ok ROWS` per file
"""
import sys

import duckdb


def text(value):
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def query(database):
    sql = sys.stdin.read()
    con = duckdb.connect(database, read_only=True)
    out = sys.stdout
    for row in con.execute(sql).fetchall():
        out.write("\t".join(text(v) for v in row))
        out.write("\n")
    return 0


def load(database, ddl_path, table, keys):
    con = duckdb.connect(database)
    with open(ddl_path, encoding="utf-8") as ddl:
        con.execute(ddl.read())
    described = con.execute(f"DESCRIBE {table}").fetchall()
    columns = {row[0]: row[1] for row in described}
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        before = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        con.execute(
            f"INSERT OR REPLACE INTO {table} SELECT DISTINCT ON ({keys}) * FROM "
            "read_csv(?, header = false, columns = ?, nullstr = '', quote = '\"', escape = '\"')",
            [path, columns],
        )
        after = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        print(f"ok {after - before}", flush=True)
    con.close()
    return 0


def main():
    mode, database = sys.argv[1], sys.argv[2]
    if mode == "query":
        return query(database)
    if mode == "load":
        return load(database, sys.argv[3], sys.argv[4], sys.argv[5])
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
