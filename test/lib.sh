# test/lib.sh: set-up shared by test/demo.sh, test/check.sh and test/bench.sh.
#
# Sourced, not run.  As root on Debian 12 it installs what is missing from
# Debian's archive, builds and installs the extension, and starts a
# throwaway PostgreSQL 15 cluster as the postgres OS user in a fresh
# temporary directory, on a private port and socket directory.  The EXIT
# trap stops that cluster and removes the directory, whatever happens.
# It never touches a cluster it did not start.

set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
export PG_CONFIG=$PG_BIN/pg_config
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libboost-dev
          libipc-run-perl make g++)
# What the TAP tests of the integrations need besides (test/check.sh adds
# it): pg_cron for this major version, pgbouncer, postgres_exporter, and
# Debian's JDBC driver and a JDK for the JDBC cancel through pgbouncer.
PG_MAJOR=${PG_MAJOR:-15}
INTEGRATION_PACKAGES=(postgresql-$PG_MAJOR-cron pgbouncer prometheus-postgres-exporter
                      libpostgresql-jdbc-java)
command -v javac >/dev/null && command -v java >/dev/null ||
    INTEGRATION_PACKAGES+=(default-jdk-headless)

log() { printf '\n== %s\n' "$*" >&2; }

pg_install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

pg_build_install() {
    log "building and installing parallel_guard"
    make -C "$REPO" -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null
    make -C "$REPO" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# A private workspace the postgres OS user can write.
pg_workspace() {
    WORK=$(mktemp -d /tmp/parallel_guard.XXXXXX)
    chmod 755 "$WORK"
    chown postgres: "$WORK"
    export WORK
}

as_pg() { runuser -u postgres -- env PATH="$PG_BIN:$PATH" "$@"; }

pg_free_port() {
    local port
    for port in $(shuf -i 20000-29999 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
           [ ! -e "/tmp/.s.PGSQL.$port" ]; then
            echo "$port"; return
        fi
    done
    echo "no free port found" >&2; return 1
}

pg_stop_cluster() {
    if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        as_pg pg_ctl -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 ||
            as_pg pg_ctl -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

pg_cleanup() {
    local rc=$?
    pg_stop_cluster
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ $rc -ne 0 ] && [ -f "$WORK/server.log" ]; then
            echo "---- last lines of the server log ($WORK/server.log) ----" >&2
            tail -n 40 "$WORK/server.log" >&2 || true
        fi
        [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
    fi
    exit $rc
}

# pg_start_cluster [extra postgresql.conf lines...]
pg_start_cluster() {
    [ -n "${WORK:-}" ] || pg_workspace
    PGDATA_DIR=$WORK/data
    PGPORT=$(pg_free_port)
    export PGHOST=$WORK PGPORT PGUSER=postgres PGDATABASE=postgres
    trap pg_cleanup EXIT
    trap 'exit 130' INT TERM
    as_pg initdb -D "$PGDATA_DIR" -A trust -U postgres >/dev/null
    {
        echo "port = $PGPORT"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$WORK'"
        echo "max_worker_processes = 16"
        echo "max_parallel_workers = 8"
        echo "shared_preload_libraries = 'parallel_guard'"
        echo "fsync = off"
        echo "log_line_prefix = '%m [%p] %b '"
        local line
        for line in "$@"; do echo "$line"; done
    } >>"$PGDATA_DIR/postgresql.conf"
    log "starting a throwaway cluster in $PGDATA_DIR (port $PGPORT)"
    as_pg pg_ctl -D "$PGDATA_DIR" -l "$WORK/server.log" -w start >/dev/null
}

psql_pg() { "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "$@"; }
