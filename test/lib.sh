# test/lib.sh: set-up shared by test/demo.sh, test/check.sh and test/bench.sh.
#
# Sourced, not run.  As root on Debian it installs what is missing from
# Debian's archive, builds and installs the extension, and starts a
# throwaway PostgreSQL cluster as the postgres OS user in a fresh
# temporary directory, on a private port and socket directory.  The EXIT
# trap stops that cluster and removes the directory, whatever happens.
# It never touches a cluster it did not start.
#
# Environment:
#   PG_MAJOR=15 (default)  the PostgreSQL major version to build and test
#                          against: 15 on Debian 12; 17, 18, 19 in the roots
#                          of test/matrix.sh
#   PG_APT_RELEASE=NAME    take postgresql-$PG_MAJOR and its server headers
#                          from this archive suite (PACKAGE/NAME), e.g.
#                          experimental for 19; everything else, their
#                          dependencies too where they can, comes from the
#                          system's own suite

set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
# PG_PRIVATE_CONFIG=/path/to/pg_config: build, install into and run that
# installation (a private copy of the server) instead of Debian's in
# /usr/lib/postgresql/$PG_MAJOR; the server packages are then not installed.
if [ -n "${PG_PRIVATE_CONFIG:-}" ]; then
    PG_BIN=$("$PG_PRIVATE_CONFIG" --bindir)
    PG_MAJOR=$("$PG_PRIVATE_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
fi
export PG_MAJOR PG_CONFIG=$PG_BIN/pg_config
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The server's own packages (contrib modules such as auto_explain and
# pg_stat_statements ship in postgresql-NN), then the build and test tools.
PG_PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR)
PACKAGES=(libboost-dev libipc-run-perl make g++)
# What the TAP tests of the integrations need besides (test/check.sh adds
# it): pgbouncer, postgres_exporter, and Debian's JDBC driver and a JDK for
# the JDBC cancel through pgbouncer.
INTEGRATION_PACKAGES=(pgbouncer prometheus-postgres-exporter libpostgresql-jdbc-java)
command -v javac >/dev/null && command -v java >/dev/null ||
    INTEGRATION_PACKAGES+=(default-jdk-headless)
# Installed where the archive has them, left out (with a line saying so)
# where it has none: pg_cron is built for each major version by Debian once
# that version is released (experimental has PostgreSQL 19 but no
# postgresql-19-cron); test/t/110_pg_cron.pl skips, naming the package,
# when pg_cron is not installed.
OPTIONAL_PACKAGES=()

log() { printf '\n== %s\n' "$*" >&2; }

# pg_missing PACKAGE...: the ones not installed.
pg_missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
    done
}

# pg_in_archive PACKAGE: whether apt can install it (after apt-get update).
# (Not grep -q: under pipefail, apt-cache killed by SIGPIPE when grep stops
# reading early would make a package in the archive look absent.)
pg_in_archive() {
    apt-cache policy "$1" 2>/dev/null | grep '^  Candidate: [^(]' >/dev/null
}

pg_install_packages() {
    local pg_missing_now=() missing=() optional=() p updated=0
    [ -n "${PG_PRIVATE_CONFIG:-}" ] ||
        mapfile -t pg_missing_now < <(pg_missing "${PG_PACKAGES[@]}")
    mapfile -t missing < <(pg_missing "${PACKAGES[@]}")
    mapfile -t optional < <(pg_missing "${OPTIONAL_PACKAGES[@]}")
    if ((${#optional[@]})); then
        apt-get update -qq; updated=1
        for p in "${optional[@]}"; do
            if pg_in_archive "$p"; then
                missing+=("$p")
            else
                log "$p is not in this system's archive: the tests that need it are skipped"
            fi
        done
    fi
    # From another suite, the server's own libpq is named too: apt takes a
    # dependency from that suite only when asked to.
    ((${#pg_missing_now[@]})) && [ -n "${PG_APT_RELEASE:-}" ] && pg_missing_now+=(libpq5 libpq-dev)
    if ((${#pg_missing_now[@]})); then
        log "installing ${pg_missing_now[*]}${PG_APT_RELEASE:+ (from $PG_APT_RELEASE)}"
        [ "$updated" = 1 ] || apt-get update -qq; updated=1
        # PACKAGE/SUITE, not -t SUITE: -t would take every dependency from
        # that suite it can (experimental's perl conflicts with sid's perl-base).
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${pg_missing_now[@]/%/${PG_APT_RELEASE:+/$PG_APT_RELEASE}}" >/dev/null
    fi
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        [ "$updated" = 1 ] || apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    [ -x "$PG_CONFIG" ] || { echo "no $PG_CONFIG after installing postgresql-server-dev-$PG_MAJOR" >&2; exit 1; }
}

pg_build_install() {
    log "building and installing parallel_guard for $("$PG_CONFIG" --version)"
    # Objects built against another server version must not be linked in.
    local stamp=$REPO/.pg_build_version
    if [ "$(cat "$stamp" 2>/dev/null)" != "$("$PG_CONFIG" --version)" ]; then
        make -C "$REPO" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
        "$PG_CONFIG" --version >"$stamp"
    fi
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
    [ -z "${PG_EXIT_HOOK:-}" ] || "$PG_EXIT_HOOK" "$rc"
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
