"""iotctl's bridge to the embedded DuckDB warehouse (run with the SQLMesh venv's Python, which
has the duckdb package SQLMesh itself uses, so the file stays in the format SQLMesh reads).

  query DB          SQL on stdin; rows on stdout, tab-separated, NULL as \\N, floats exact
  load DB DDL TABLE KEYS
                    (TABLE quoted for DuckDB, KEYS a JSON list of column names)
                    runs the DDL file, then reads one request per line on stdin:
                      insert PATH   appends the CSV file to TABLE; replies `ok ROWS`, or
                                    `conflict` (nothing written) when KEYS already hold a row
                      upsert PATH   inserts new keys, updates rows whose values differ; `ok ROWS`
                    and at end of input replies `rss KIB` (its peak resident set size)

Each request is one statement, so one transaction: a batch is all in or not at all. A batch of
at least one row group (122,880 rows) is written straight into the database file instead of
through the write-ahead log, which is why iotctl sends batches that large.
"""
import json
import resource
import sys
import time

import duckdb


def text(value):
    if value is None:
        return "\\N"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def quiet(con):
    """DuckDB draws a progress bar on stdout for statements over 2 s: in the middle of the
    replies iotctl parses (a 10M-row load failed on one)."""
    con.execute("SET enable_progress_bar = false")
    return con


def query(database):
    sql = sys.stdin.read()
    con = quiet(duckdb.connect(database, read_only=True))
    out = sys.stdout
    for row in con.execute(sql).fetchall():
        out.write("\t".join(text(v) for v in row))
        out.write("\n")
    return 0


def die_with_parent():
    """A loader left behind by a killed iotctl would hold the file's lock against the next run."""
    try:
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def connect_writable(database):
    """Opens the file, waiting out a previous loader that is still releasing its lock."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return quiet(duckdb.connect(database))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def load(database, ddl_path, table, keys):
    die_with_parent()
    con = connect_writable(database)
    with open(ddl_path, encoding="utf-8") as ddl:
        con.execute(ddl.read())
    described = con.execute(f"DESCRIBE {table}").fetchall()
    columns = {row[0]: row[1] for row in described}
    key_list = [quote(name) for name in json.loads(keys)]
    source = (
        "read_csv(?, header = false, auto_detect = false, columns = ?, nullstr = '',"
        " quote = '\"', escape = '\"')"
    )
    insert = f"INSERT INTO {table} SELECT * FROM {source}"
    # INSERT OR REPLACE rewrites every row it meets (13 s for 125k rows already present);
    # updating only the rows whose values differ and inserting the new ones costs 0.2 s.
    others = [quote(name) for name in columns if quote(name) not in key_list]
    keys = ", ".join(key_list)
    same_key = " AND ".join(f"{table}.{k} = batch.{k}" for k in key_list)
    differs = " OR ".join(f"{table}.{c} IS DISTINCT FROM batch.{c}" for c in others) or "false"
    upsert = [
        f"CREATE OR REPLACE TEMP TABLE iotctl_batch AS SELECT DISTINCT ON ({keys}) * FROM {source}",
        f"UPDATE {table} SET {', '.join(f'{c} = batch.{c}' for c in others)} "
        f"FROM iotctl_batch AS batch WHERE {same_key} AND ({differs})"
        if others
        else "SELECT 0",
        f"INSERT INTO {table} SELECT batch.* FROM iotctl_batch AS batch "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {same_key})",
    ]
    for line in sys.stdin:
        request, _, path = line.rstrip("\n").partition(" ")
        if not request:
            continue
        if request == "insert":
            try:
                rows = con.execute(insert, [path, columns]).fetchone()[0]
            except duckdb.ConstraintException:
                print("conflict", flush=True)
                continue
        elif request == "upsert":
            con.execute("BEGIN TRANSACTION")
            con.execute(upsert[0], [path, columns])
            rows = con.execute(upsert[1]).fetchone()[0] + con.execute(upsert[2]).fetchone()[0]
            con.execute("COMMIT")
        else:
            print(f"unknown request {request!r}", file=sys.stderr)
            return 2
        print(f"ok {rows}", flush=True)
    con.close()
    print(f"rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)
    return 0


def quote(name):
    """A column name as a DuckDB identifier: always quoted, so no name can be a keyword."""
    return '"' + name.replace('"', '""') + '"'


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
