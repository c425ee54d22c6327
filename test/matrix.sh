#!/usr/bin/env bash
# test/matrix.sh: run every test on every supported PostgreSQL major version,
# each in a fresh minimal Debian root made with debootstrap.
#
#   bash test/matrix.sh                    # 15, 17, 18 and 19: test/check.sh in each
#   bash test/matrix.sh 17 19              # only these versions
#   bash test/matrix.sh --run 'bash test/bench.sh' 18   # another command in the root
#
# As root, from any directory (it installs debootstrap if it is missing).
# For each version it makes a new minimal root
# (debootstrap --variant=minbase) of the Debian suite that ships that
# version, in a temporary directory, with nothing else installed: so the
# test command must install every package it needs itself, and nothing
# preinstalled on this machine can hide a missing install step.  It mounts
# /proc and a tmpfs on /dev/shm inside the root, copies the working tree in
# (with a clone of its git history, for `make dist`), and runs the command
# there with chroot, with PG_MAJOR set (test/lib.sh).  Whatever happens, the
# EXIT trap stops what still runs inside the roots, unmounts everything and
# removes the roots.
#
#   version  suite                    debootstrap script
#   15       bookworm (Debian 12)     bookworm
#   17       trixie (Debian 13)       sid
#   18       forky (testing)          sid
#   19       sid + experimental       sid; PostgreSQL from experimental
#   (16 is in none of Debian's suites: it is built by construction only.)
#
# Prints per version "PostgreSQL N (suite): N passed, N failed, N skipped"
# and its wall time, then the total as "N passed, N failed" alone on the
# last line, and exits non-zero on any failure.
#
# Environment:
#   MATRIX_MIRROR    Debian mirror (default: the one this machine's apt uses)
#   MATRIX_LOG_DIR   where each version's full output is kept (default: a
#                    new directory under /tmp, printed at the end)
#   MATRIX_KEEP=1    keep the roots (their paths are printed) instead of
#                    removing them
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN='bash test/check.sh'
VERSIONS=()
while (($#)); do
    case $1 in
        --run) RUN=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        15|17|18|19) VERSIONS+=("$1"); shift ;;
        *) echo "matrix.sh: unknown argument $1 (versions: 15 17 18 19; --run CMD)" >&2; exit 2 ;;
    esac
done
((${#VERSIONS[@]})) || VERSIONS=(15 17 18 19)

[ "$(id -u)" -eq 0 ] || { echo "matrix.sh: run as root (debootstrap, chroot, mount)" >&2; exit 2; }
if ! command -v debootstrap >/dev/null; then
    echo "matrix.sh: installing debootstrap" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
        { echo "matrix.sh: could not install debootstrap" >&2; exit 1; }
fi

log() { printf '\n==== %s\n' "$*" >&2; }

# The archive this machine's apt uses (deb822 .sources or one-line lists).
host_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
          awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    [ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${MATRIX_MIRROR:-$(host_mirror)}
SCRIPTS=/usr/share/debootstrap/scripts

suite_of() { case $1 in 15) echo bookworm ;; 17) echo trixie ;; 18) echo forky ;; 19) echo sid ;; esac; }

# ---------------------------------------------------------------------------
# Cleanup: everything below TOP is ours (roots, their mounts, their processes).
TOP=$(mktemp -d /tmp/parallel_guard-matrix.XXXXXX)
LOG_DIR=${MATRIX_LOG_DIR:-$TOP.logs}
mkdir -p "$LOG_DIR"

# Processes whose root directory is inside $1 (started by us in that root).
procs_in_root() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$1"|"$1"/*) echo "${p#/proc/}" ;; esac
    done
}

# Mount points at or below $1, deepest first.
mounts_below() {
    awk -v top="$1" '$5 == top || index($5, top "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

teardown_root() {
    local root=$1 pids m i
    [ -d "$root" ] || return 0
    pids=$(procs_in_root "$root")
    if [ -n "$pids" ]; then
        # Clusters still running in the root (its test was interrupted).
        local pidfile pg_ctl
        pg_ctl=$(ls "$root"/usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | tail -n 1)
        find "$root/tmp" -xdev -maxdepth 7 -name postmaster.pid 2>/dev/null |
        while read -r pidfile; do
            [ -n "$pg_ctl" ] || break
            chroot "$root" runuser -u postgres -- "${pg_ctl#"$root"}" \
                -D "$(dirname "${pidfile#"$root"}")" -m immediate -w stop >/dev/null 2>&1 || true
        done
        pids=$(procs_in_root "$root")
        [ -z "$pids" ] || kill -TERM $pids 2>/dev/null
        for i in $(seq 1 20); do
            pids=$(procs_in_root "$root"); [ -z "$pids" ] && break; sleep 0.5
        done
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
        sleep 0.5
    fi
    for m in $(mounts_below "$root"); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "matrix.sh: could not unmount $m" >&2
    done
    if [ -n "$(mounts_below "$root")" ]; then
        echo "matrix.sh: $root still has mounts; not removing it" >&2
        return 1
    fi
    if [ -n "${MATRIX_KEEP:-}" ]; then
        echo "matrix.sh: kept $root" >&2
    else
        rm -rf --one-file-system "$root"
    fi
}

cleanup() {
    local rc=$? root
    trap - EXIT INT TERM
    for root in "$TOP"/root-*; do teardown_root "$root"; done
    [ -n "${MATRIX_KEEP:-}" ] || rmdir "$TOP" 2>/dev/null || true
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# make_root VERSION ROOT: a fresh minimal root of the suite that ships VERSION.
make_root() {
    local v=$1 root=$2 suite script
    suite=$(suite_of "$v")
    script=$SCRIPTS/$suite
    [ -e "$script" ] || script=$SCRIPTS/sid  # forky and sid bootstrap like sid
    debootstrap --variant=minbase "$suite" "$root" "$MIRROR" "$script" \
        >"$LOG_DIR/debootstrap-$v.log" 2>&1 || {
        tail -20 "$LOG_DIR/debootstrap-$v.log" >&2; return 1; }
    mount -t proc proc "$root/proc"
    mkdir -p "$root/dev/shm"
    mount -t tmpfs -o mode=1777,size=2g shm "$root/dev/shm"
    # A chroot starts no services: the main cluster that installing
    # postgresql-NN creates must not be started on this machine's network.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    case $v in 18|19)
        # forky, sid and experimental are snapshots in this archive whose
        # Release files are past their Valid-Until (bookworm's and trixie's
        # have none).
        echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99parallel-guard-snapshot" ;;
    esac
    if [ "$v" = 19 ]; then
        # 19 is in experimental; test/lib.sh takes the server from it.
        echo "deb $MIRROR experimental main" >"$root/etc/apt/sources.list.d/experimental.list"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

# copy_tree ROOT: the working tree (tracked and untracked files, not ignored)
# over a clone of its history, at /parallel_guard in the root.
copy_tree() {
    local dest=$1/parallel_guard
    git clone -q --no-hardlinks "$REPO" "$dest" || return 1
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -C "$dest" -xf -
    (cd "$REPO" && git ls-files -z --deleted) | (cd "$dest" && xargs -0 -r rm -f --)
}

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---------------------------------------------------------------------------
total_passed=0 total_failed=0 total_skipped=0 summary=() files_skipped=() failed_checks=()
matrix_start=$SECONDS
for v in "${VERSIONS[@]}"; do
    suite=$(suite_of "$v")
    [ "$v" = 19 ] && suite="sid + experimental"
    root=$TOP/root-$v
    out=$LOG_DIR/pg$v.log
    start=$SECONDS
    log "PostgreSQL $v: a fresh $suite root in $root"
    p=0 f=0 s=0 skipped_files=()
    if make_root "$v" "$root" && copy_tree "$root"; then
        log "PostgreSQL $v: $RUN (root made in $(fmt_time $((SECONDS - start))))"
        apt_release=
        [ "$v" = 19 ] && apt_release=experimental
        # In the background, so that a signal to this script is handled at
        # once (bash runs traps only after a foreground command ends); the
        # EXIT trap then stops what runs in the root.
        rm -f "$out.rc"
        { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
              HOME=/root LANG=C.UTF-8 TERM=dumb PG_MAJOR="$v" PG_APT_RELEASE="$apt_release" \
              /bin/bash -c "cd /parallel_guard && $RUN" 2>&1
          echo $? >"$out.rc"; } | tee "$out" &
        wait $!
        rc=$(cat "$out.rc" 2>/dev/null || echo 1)
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
        if [ -n "$line" ]; then
            p=$(awk '{print $1}' <<<"$line"); f=$(awk '{print $3}' <<<"$line")
        fi
        s=$(grep -E '^skipped: [0-9]+ ' "$out" | tail -n 1 | awk '{print $2}'); s=${s:-0}
        mapfile -t skipped_files < <(sed -n 's/^skipped test file: /  skipped on '"$v"': /p' "$out")
        mapfile -t -O "${#failed_checks[@]}" failed_checks < <(sed -n 's/^failed check: /  failed on '"$v"': /p' "$out")
        # A non-zero exit that its own count does not show is one failure more.
        [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=$((f + 1))
    else
        echo "matrix.sh: could not make the PostgreSQL $v root" >&2
        f=1
    fi
    teardown_root "$root" || f=$((f + 1))
    total_passed=$((total_passed + p)); total_failed=$((total_failed + f))
    total_skipped=$((total_skipped + s))
    summary+=("PostgreSQL $v ($suite): $p passed, $f failed, $s skipped in $(fmt_time $((SECONDS - start)))")
    files_skipped+=("${skipped_files[@]}")
    log "${summary[-1]}"
done

echo
echo "matrix: ${VERSIONS[*]}, logs in $LOG_DIR, $(fmt_time $((SECONDS - matrix_start))) in all"
printf '%s\n' "${summary[@]}"
echo "skipped: $total_skipped checks that a version has nothing for, ${#files_skipped[@]} test files"
((${#files_skipped[@]})) && printf '%s\n' "${files_skipped[@]}"
((${#failed_checks[@]})) && { echo "failed checks:"; printf '%s\n' "${failed_checks[@]}"; }
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
