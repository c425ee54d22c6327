#!/usr/bin/env bash
# test/package_check.sh: check parallel_guard's packaging and client examples.
#
#   bash test/package_check.sh               # everything, as root
#   bash test/package_check.sh --meta-only   # only the META.json checks, any user
#
# As root on Debian (12 for PostgreSQL 15; PG_MAJOR picks another version,
# see test/lib.sh), from any directory:
#  1. installs what is missing from Debian's archive (the build tools of
#     test/lib.sh, build-essential, dpkg-dev, debhelper, postgresql-server-dev-all,
#     python3-psycopg2, libpostgresql-jdbc-java, a JDK if javac is missing);
#  2. validates META.json against the PGXN Meta Spec 1.0.0 (required keys,
#     types, SemVer versions, licenses, provides) and checks that its versions
#     match default_version of parallel_guard.control;
#  3. runs `make dist` and checks the zip: one top folder
#     parallel_guard-<version>/ holding exactly the files committed at HEAD,
#     and a valid META.json of the same version;
#  4. builds the Debian package postgresql-$PG_MAJOR-parallel-guard with
#     dpkg-buildpackage -us -uc -b in a copy of the repository in a temporary
#     directory (nothing is built in the repository; debian/control is made
#     there from debian/control.in for $PG_MAJOR with pg_buildext
#     updatecontrol, as Debian does for its target distribution), installs it
#     with dpkg -i and checks `dpkg -L`;
#  5. starts a throwaway cluster (test/lib.sh, also listening on 127.0.0.1 for
#     JDBC) on the packaged files: CREATE EXTENSION, a guarded run, every
#     upgrade path to default_version;
#  6. runs the client examples of test/clients (psql, Java JDBC, Python
#     psycopg2), each with a free pool, then on the same table with
#     --force-shortfall (exit code 75 and SQLSTATE 53000 expected,
#     yesterday's table still there, no TABLE_new left) and with
#     --force-plan-too-small (exit code 78 and SQLSTATE 55000: not worth a
#     retry; likewise), and their as-written variants (batch_role's ALTER ROLE ... SET
#     parallel_guard.target = 4, no run() in the code) with a free pool, with
#     a shortfall forced by the role's settings (exit code 75, yesterday's
#     table still there) and with the source table's parallel_workers = 1
#     (exit code 78, yesterday's table still there).
# At exit the cluster is stopped and its directory removed; the package is
# purged again (unless it was installed before this run, or KEEP_PACKAGE=1)
# and extension files found in place before it, from `make install`, are put
# back.  Prints "N passed, N failed" and exits non-zero on any failure.
#
# Environment:
#   PACKAGE_FROM=worktree (default)  build the package from the working tree:
#                                    tracked and untracked files, not ignored
#   PACKAGE_FROM=head                build it from the commit HEAD (git archive),
#                                    with the working tree's debian/ if HEAD has
#                                    none
#   PACKAGE_BUILD_TESTS=1            also run the regression suite during the
#                                    package build (dh_pgxs_test); it is skipped
#                                    by default (DEB_BUILD_OPTIONS=nocheck), as
#                                    test/check.sh runs it
#   KEEP_PACKAGE=1                   leave the package installed
#   KEEP_WORK=1                      keep the temporary directory (test/lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXTENSION=parallel_guard
DEB_PACKAGE=postgresql-$PG_MAJOR-parallel-guard
PYTHON=/usr/bin/python3
JDBC_JAR=/usr/share/java/postgresql.jar

passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() {
    failed=$((failed + 1)); printf 'FAIL %s\n' "$1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/     /'
}
# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() {
    local desc=$1; shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}
summary() {
    echo
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

control_version() {  # default_version of a control file
    sed -n "s/^default_version = '\(.*\)'/\1/p" "$1"
}

# ---------------------------------------------------------------------------
# META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/meta/spec.txt).
# No Debian package ships a PGXN validator (PGXN::Meta::Validator is on CPAN
# only; Debian has pgxnclient, which does not validate), so this checks the
# spec's rules itself, with the standard library of Debian's python3.
# Prints one "ok ..." or "not ok ...: why" line per rule.
meta_validate() {  # META.json CONTROL_FILE SOURCE_DIR
    "$PYTHON" - "$@" <<'PYEOF'
import json, os, re, sys

meta_path, control_path, srcdir = sys.argv[1:4]
extension = os.path.basename(control_path)[:-len(".control")]
SEMVER = (r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
          r"(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
          r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")
SEMVER_RE = re.compile(r"\A" + SEMVER + r"\Z")
RANGE_RE = re.compile(r"\A(?:(?:[=!]=|[<>]=?)\s*)?(?:" + SEMVER + r"|0)"
                      r"(?:,\s*(?:(?:[=!]=|[<>]=?)\s*)?" + SEMVER + r")*\Z")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
            "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
            "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
            "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source", "restricted",
            "unrestricted", "unknown"}
REQUIRED = ["name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"]
OPTIONAL = ["description", "generated_by", "tags", "no_index", "prereqs",
            "release_status", "resources"]
URI_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*:\S+\Z")
EMAIL_RE = re.compile(r"\A[^@\s]+@[^@\s]+\Z")

results = []
def rule(name, errors):
    results.append((name, errors))

def is_str(v, minlen=1):
    return isinstance(v, str) and len(v) >= minlen

def is_term(v):  # 2+ characters, no slash, backslash, space or control character
    return is_str(v, 2) and not re.search(r"[/\\\s\x00-\x1f\x7f]", v)

def is_path(v):
    return is_str(v, 2) and not v.startswith("/") and ".." not in v.split("/")

def custom(key):
    return re.match(r"\A[xX]_.", key) is not None

def unknown_keys(obj, allowed, where):
    return ["%s: unknown key %r" % (where, k) for k in obj if k not in allowed and not custom(k)]

try:
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
except (OSError, ValueError) as e:
    print("not ok META.json parses as JSON: %s" % e)
    sys.exit(1)
rule("META.json parses as JSON and is an object",
     [] if isinstance(meta, dict) else ["the top level is not an object"])
if not isinstance(meta, dict):
    meta = {}

rule("required keys present (%s)" % ", ".join(REQUIRED),
     ["missing key %r" % k for k in REQUIRED if k not in meta])
rule("no unknown top-level keys", unknown_keys(meta, REQUIRED + OPTIONAL, "top level"))

rule("name is a term", [] if is_term(meta.get("name")) else ["name %r" % meta.get("name")])
rule("version is SemVer", [] if isinstance(meta.get("version"), str)
     and SEMVER_RE.match(meta["version"]) else ["version %r" % meta.get("version")])
errs = []
for k in ("abstract", "description", "generated_by"):
    if (k in meta or k == "abstract") and not is_str(meta.get(k)):
        errs.append("%s must be a non-empty string" % k)
rule("abstract, description, generated_by are non-empty strings", errs)

m = meta.get("maintainer")
ok = is_str(m) or (isinstance(m, list) and len(m) >= 1 and all(is_str(x) for x in m)
                   and len(set(m)) == len(m))
rule("maintainer is a string or a list of unique strings", [] if ok else ["maintainer %r" % (m,)])

lic = meta.get("license")
if isinstance(lic, str):
    errs = [] if lic in LICENSES else ["unknown license %r" % lic]
elif isinstance(lic, list):
    errs = ["unknown license %r" % x for x in lic if x not in LICENSES]
    if not lic or len(set(map(str, lic))) != len(lic):
        errs.append("license list empty or not unique")
elif isinstance(lic, dict):
    errs = [] if lic else ["license object empty"]
    errs += ["license %r: %r is not a URI" % (k, v) for k, v in lic.items()
             if not (isinstance(v, str) and URI_RE.match(v))]
else:
    errs = ["license %r" % (lic,)]
rule("license is a known license string, list, or name-to-URI object", errs)

prov = meta.get("provides")
errs = []
if not isinstance(prov, dict) or not prov:
    errs.append("provides must be a non-empty object")
    prov = {}
for ext, info in prov.items():
    if not is_term(ext):
        errs.append("provides: extension name %r is not a term" % ext)
    if not isinstance(info, dict):
        errs.append("provides.%s is not an object" % ext)
        continue
    errs += ["provides.%s: missing %r" % (ext, k) for k in ("file", "version") if k not in info]
    errs += unknown_keys(info, ["file", "version", "abstract", "docfile", "docpath"],
                         "provides." + ext)
    if "version" in info and not (isinstance(info["version"], str)
                                  and SEMVER_RE.match(info["version"])):
        errs.append("provides.%s.version %r is not SemVer" % (ext, info["version"]))
    for k in ("file", "docfile"):
        if k in info:
            if not is_path(info[k]):
                errs.append("provides.%s.%s %r is not a relative path" % (ext, k, info[k]))
            elif not os.path.isfile(os.path.join(srcdir, info[k])):
                errs.append("provides.%s.%s %s does not exist" % (ext, k, info[k]))
    for k in ("abstract", "docpath"):
        if k in info and not is_str(info[k]):
            errs.append("provides.%s.%s must be a non-empty string" % (ext, k))
rule("provides: extensions with file (existing) and SemVer version", errs)

ms = meta.get("meta-spec")
errs = []
if not isinstance(ms, dict):
    errs.append("meta-spec must be an object")
else:
    if not (isinstance(ms.get("version"), str) and re.match(r"\A1\.0\.\d+\Z", ms["version"])):
        errs.append("meta-spec.version %r is not 1.0.x" % ms.get("version"))
    if "url" in ms and ms["url"] not in ("https://pgxn.org/meta/spec.txt",
                                         "http://pgxn.org/meta/spec.txt"):
        errs.append("meta-spec.url %r" % ms["url"])
    errs += unknown_keys(ms, ["version", "url"], "meta-spec")
rule("meta-spec is version 1.0.x", errs)

errs = []
if "tags" in meta:
    t = meta["tags"]
    if not isinstance(t, list) or not t or len(set(map(str, t))) != len(t):
        errs.append("tags must be a non-empty list of unique strings")
    else:
        errs += ["tag %r" % x for x in t if not (isinstance(x, str) and 2 <= len(x) <= 255
                                                and not re.search(r"[/\\\x00-\x1f\x7f]", x))]
if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
    errs.append("release_status %r" % meta["release_status"])
rule("tags and release_status", errs)

errs = []
pr = meta.get("prereqs")
if pr is not None:
    phases = ["configure", "build", "test", "runtime", "develop"]
    rels = ["requires", "recommends", "suggests", "conflicts"]
    if not isinstance(pr, dict) or not any(p in pr for p in phases):
        errs.append("prereqs must be an object with at least one of %s" % ", ".join(phases))
        pr = {}
    errs += unknown_keys(pr, phases, "prereqs")
    for p in phases:
        if p not in pr:
            continue
        ph = pr[p]
        if not isinstance(ph, dict) or not any(r in ph for r in rels):
            errs.append("prereqs.%s needs one of %s" % (p, ", ".join(rels)))
            continue
        errs += unknown_keys(ph, rels, "prereqs." + p)
        for r in rels:
            if r not in ph:
                continue
            deps = ph[r]
            if not isinstance(deps, dict) or not deps:
                errs.append("prereqs.%s.%s must be a non-empty object" % (p, r))
                continue
            for name, ver in deps.items():
                if not is_term(name):
                    errs.append("prereqs.%s.%s: %r is not a term" % (p, r, name))
                if not (ver == 0 and not isinstance(ver, bool)) and not (
                        isinstance(ver, str) and RANGE_RE.match(ver)):
                    errs.append("prereqs.%s.%s.%s: %r is not a version range" % (p, r, name, ver))
rule("prereqs: phases, relationships, version ranges", errs)

errs = []
res = meta.get("resources")
if res is not None:
    if not isinstance(res, dict) or not any(k in res for k in ("homepage", "bugtracker", "repository")):
        errs.append("resources needs homepage, bugtracker or repository")
        res = {}
    errs += unknown_keys(res, ["homepage", "bugtracker", "repository"], "resources")
    if "homepage" in res and not (isinstance(res["homepage"], str) and URI_RE.match(res["homepage"])):
        errs.append("resources.homepage is not a URI")
    bt = res.get("bugtracker")
    if bt is not None:
        if not isinstance(bt, dict) or not ("web" in bt or "mailto" in bt):
            errs.append("resources.bugtracker needs web or mailto")
        else:
            errs += unknown_keys(bt, ["web", "mailto"], "resources.bugtracker")
            if "web" in bt and not (isinstance(bt["web"], str) and URI_RE.match(bt["web"])):
                errs.append("resources.bugtracker.web is not a URI")
            if "mailto" in bt and not (isinstance(bt["mailto"], str) and EMAIL_RE.match(bt["mailto"])):
                errs.append("resources.bugtracker.mailto is not an email address")
    rp = res.get("repository")
    if rp is not None:
        if not isinstance(rp, dict) or not (("url" in rp and "type" in rp) or "web" in rp):
            errs.append("resources.repository needs url and type, or web")
        else:
            errs += unknown_keys(rp, ["url", "web", "type"], "resources.repository")
            for k in ("url", "web"):
                if k in rp and not (isinstance(rp[k], str) and URI_RE.match(rp[k])):
                    errs.append("resources.repository.%s is not a URI" % k)
            if "type" in rp and not (isinstance(rp["type"], str) and re.match(r"\A[a-z]+\Z", rp["type"])):
                errs.append("resources.repository.type %r" % rp["type"])
errs2 = []
ni = meta.get("no_index")
if ni is not None:
    if not isinstance(ni, dict) or not ("file" in ni or "directory" in ni):
        errs2.append("no_index needs file or directory")
    else:
        errs2 += unknown_keys(ni, ["file", "directory"], "no_index")
        for k in ("file", "directory"):
            if k in ni:
                v = ni[k]
                vals = v if isinstance(v, list) else [v]
                if not vals or not all(is_path(x) for x in vals):
                    errs2.append("no_index.%s must be a path or a non-empty list of paths" % k)
rule("resources and no_index", errs + errs2)

# This project's own rules: the versions follow the control file.
with open(control_path, encoding="utf-8") as f:
    m = re.search(r"^default_version\s*=\s*'([^']*)'", f.read(), re.M)
default_version = m.group(1) if m else None
mm = re.match(r"\A(\d+)(?:\.(\d+))?(?:\.(\d+))?\Z", default_version or "")
semver = "%d.%d.%d" % tuple(int(x or 0) for x in mm.groups()) if mm else None
errs = []
if semver is None:
    errs.append("default_version %r of %s cannot be written as SemVer"
                % (default_version, os.path.basename(control_path)))
else:
    if meta.get("version") != semver:
        errs.append("version %r, but default_version %r is %s"
                    % (meta.get("version"), default_version, semver))
    info = prov.get(extension)
    if not isinstance(info, dict):
        errs.append("provides has no entry %r" % extension)
    else:
        if info.get("version") != semver:
            errs.append("provides.%s.version %r, expected %s" % (extension, info.get("version"), semver))
        f = info.get("file")
        if f != os.path.basename(control_path) and not re.match(
                r"\A%s--[^/]+\.sql\Z" % re.escape(extension), str(f)):
            errs.append("provides.%s.file %r is neither %s nor an install script %s--*.sql"
                        % (extension, f, os.path.basename(control_path), extension))
rule("version and provides.%s match default_version %s of the control file (SemVer %s)"
     % (extension, default_version, semver), errs)

# default_version can be installed from the scripts: its own install script,
# or an older one and a chain of upgrade scripts (as CREATE EXTENSION does).
scripts = [n for n in os.listdir(os.path.dirname(os.path.abspath(control_path)))
           if n.startswith(extension + "--") and n.endswith(".sql")]
names = [n[len(extension) + 2:-4].split("--") for n in scripts]
reach = {v[0] for v in names if len(v) == 1}
changed = True
while changed:
    changed = False
    for v in names:
        if len(v) == 2 and v[0] in reach and v[1] not in reach:
            reach.add(v[1]); changed = True
rule("default_version %s can be installed from %s" % (default_version, ", ".join(sorted(scripts)) or "no script"),
     [] if default_version in reach else
     ["no install script %s--%s.sql and no upgrade path to it" % (extension, default_version)])

bad = 0
for name, errors in results:
    if errors:
        bad += 1
        print("not ok %s: %s" % (name, "; ".join(errors)))
    else:
        print("ok %s" % name)
sys.exit(1 if bad else 0)
PYEOF
}

# meta_check LABEL META.json CONTROL SOURCE_DIR: the validator's rules as checks.
meta_check() {
    local label=$1 out line
    out=$(meta_validate "$2" "$3" "$4" 2>&1) || true
    if [ -z "$out" ]; then fail "$label: validator ran"; return; fi
    while IFS= read -r line; do
        case $line in
            "ok "*) pass "$label: ${line#ok }" ;;
            "not ok "*) fail "$label: ${line#not ok }" ;;
            *) fail "$label: validator output" "$line" ;;
        esac
    done <<<"$out"
}

if [ "${1:-}" = --meta-only ]; then
    [ -x "$PYTHON" ] || PYTHON=python3
    log "META.json"
    meta_check META.json "$REPO/META.json" "$REPO/$EXTENSION.control" "$REPO"
    summary
    exit
fi

[ "$(id -u)" -eq 0 ] || { echo "run as root (it installs packages); --meta-only needs no root" >&2; exit 2; }

# ---------------------------------------------------------------------------
log "installing what is missing"
PACKAGES+=(git unzip build-essential dpkg-dev debhelper postgresql-server-dev-all python3 python3-psycopg2
           libpostgresql-jdbc-java)
command -v javac >/dev/null && command -v java >/dev/null || PACKAGES+=(default-jdk-headless)
pg_install_packages

VERSION=$(control_version "$REPO/$EXTENSION.control")
log "parallel_guard $VERSION (default_version of $EXTENSION.control)"

pg_workspace
# Extension files that were in place before the package (make install), the
# package's state before this run, and the cleanup that restores them.
BACKUP=$WORK/backup
PKG_WAS_INSTALLED=0
dpkg-query -W -f='${Status}' "$DEB_PACKAGE" 2>/dev/null | grep -q "ok installed" && PKG_WAS_INSTALLED=1
PKG_INSTALLED_HERE=0
eval "lib_$(declare -f pg_cleanup)"
pg_cleanup() {
    local rc=$? f
    set +e
    pg_stop_cluster
    if [ "$PKG_INSTALLED_HERE" = 1 ] && [ -z "${KEEP_PACKAGE:-}" ]; then
        dpkg --purge "$DEB_PACKAGE" >/dev/null 2>&1 || echo "could not purge $DEB_PACKAGE" >&2
    fi
    if [ -d "$BACKUP" ]; then  # put back what the package did not replace
        (cd "$BACKUP" && find . -type f) | while read -r f; do
            [ -e "/${f#./}" ] || cp -a "$BACKUP/${f#./}" "/${f#./}"
        done
    fi
    (exit $rc)
    lib_pg_cleanup
}
trap pg_cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
log "META.json"
meta_check META.json "$REPO/META.json" "$REPO/$EXTENSION.control" "$REPO"
changelog_version=$(cd "$REPO" && dpkg-parsechangelog -SVersion 2>/dev/null || true)
if [ "${changelog_version%-*}" != "$VERSION" ]; then
    echo "warning: debian/changelog is at $changelog_version, $EXTENSION.control at $VERSION:" \
         "the package gets version $VERSION-<revision> all the same; add a debian/changelog entry" >&2
fi

# ---------------------------------------------------------------------------
log "make dist"
ZIP=$EXTENSION-$VERSION.zip
zip_existed=0
[ -e "$REPO/$ZIP" ] && zip_existed=1
if make -C "$REPO" -s dist PG_CONFIG="$PG_CONFIG" >"$WORK/dist.log" 2>&1 && [ -f "$REPO/$ZIP" ]; then
    pass "make dist writes $ZIP"
    if [ "$zip_existed" = 1 ]; then cp "$REPO/$ZIP" "$WORK/$ZIP"; else mv "$REPO/$ZIP" "$WORK/$ZIP"; fi
    unzip -Z1 "$WORK/$ZIP" | sort >"$WORK/zip.list"
    check "zip: every entry is under $EXTENSION-$VERSION/" \
        test -z "$(grep -v "^$EXTENSION-$VERSION/" "$WORK/zip.list")"
    git -C "$REPO" ls-tree -r --name-only HEAD | sed "s|^|$EXTENSION-$VERSION/|" | sort >"$WORK/head.list"
    grep -v '/$' "$WORK/zip.list" >"$WORK/zip.files"
    if diff -u "$WORK/head.list" "$WORK/zip.files" >"$WORK/zip.diff"; then
        pass "zip: exactly the files committed at HEAD ($(wc -l <"$WORK/zip.files") files)"
    else
        fail "zip: exactly the files committed at HEAD" "$(head -20 "$WORK/zip.diff")"
    fi
    missing=()
    for f in META.json Makefile README.md "$EXTENSION.control" \
             $(git -C "$REPO" ls-tree --name-only HEAD | grep -E "^$EXTENSION--.*\.sql$"); do
        grep -qxF "$EXTENSION-$VERSION/$f" "$WORK/zip.files" || missing+=("$f")
    done
    check "zip: META.json, Makefile, README.md, control file and all $EXTENSION--*.sql (${missing[*]:-none missing})" \
        test ${#missing[@]} -eq 0
    mkdir -p "$WORK/dist"
    unzip -q "$WORK/$ZIP" -d "$WORK/dist"
    meta_check "zip's META.json" "$WORK/dist/$EXTENSION-$VERSION/META.json" \
        "$WORK/dist/$EXTENSION-$VERSION/$EXTENSION.control" "$WORK/dist/$EXTENSION-$VERSION"
else
    fail "make dist writes $ZIP" "$(tail -5 "$WORK/dist.log")"
fi

# ---------------------------------------------------------------------------
log "building the Debian package (sources from ${PACKAGE_FROM:-worktree})"
SRC=$WORK/build/parallel-guard
mkdir -p "$SRC"
case ${PACKAGE_FROM:-worktree} in
    worktree)
        (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do
                case $f in "$EXTENSION"-*.zip) continue ;; esac
                [ -e "$f" ] && printf '%s\0' "$f"
            done | tar --null -T - -cf -) | tar -C "$SRC" -xf - ;;
    head)
        git -C "$REPO" archive HEAD | tar -C "$SRC" -xf -
        [ -d "$SRC/debian" ] || cp -a "$REPO/debian" "$SRC/debian" ;;
    *) echo "PACKAGE_FROM is worktree or head" >&2; exit 2 ;;
esac
build_opts=nocheck
[ -z "${PACKAGE_BUILD_TESTS:-}" ] || build_opts=
# Build for $PG_MAJOR alone, whatever the distribution's default version is
# (pg_buildext intersects debian/pgversions with the supported versions).
export PG_SUPPORTED_VERSIONS=$PG_MAJOR
if (cd "$SRC" && pg_buildext updatecontrol) >"$WORK/updatecontrol.log" 2>&1 &&
   grep -qx "Package: $DEB_PACKAGE" "$SRC/debian/control"; then
    pass "pg_buildext updatecontrol: debian/control builds $DEB_PACKAGE"
else
    fail "pg_buildext updatecontrol: debian/control builds $DEB_PACKAGE" \
         "$(cat "$WORK/updatecontrol.log"; grep '^Package:' "$SRC/debian/control")"
fi
if (cd "$SRC" && DEB_BUILD_OPTIONS=$build_opts dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
    pass "dpkg-buildpackage -us -uc -b${build_opts:+ (DEB_BUILD_OPTIONS=nocheck)}"
else
    if grep -q '^\*\*\*\* .*regression.diffs \*\*\*\*' "$WORK/build.log"; then
        fail "dpkg-buildpackage -us -uc -b: the regression suite" \
             "$(sed -n '/^\*\*\*\* .*regression.diffs \*\*\*\*/,$p' "$WORK/build.log" | head -60)"
    else
        fail "dpkg-buildpackage -us -uc -b" "$(grep -vE '^(g\+\+|gcc) ' "$WORK/build.log" | tail -30)"
    fi
fi
DEB=$(ls "$WORK"/build/"$DEB_PACKAGE"_*.deb 2>/dev/null | head -n 1 || true)
leftovers=$(cd "$REPO" && ls -d debian/files debian/*.substvars debian/.debhelper \
    debian/debhelper-build-stamp "debian/$DEB_PACKAGE" 2>/dev/null || true)
check "no build products in the repository${leftovers:+: $leftovers}" test -z "$leftovers"
if [ -z "$DEB" ]; then
    fail "$DEB_PACKAGE .deb built"
    summary; exit
fi
deb_version=$(dpkg-deb -f "$DEB" Version)
check "$(basename "$DEB"): version $deb_version follows default_version $VERSION" \
    test "${deb_version%-*}" = "$VERSION"

# ---------------------------------------------------------------------------
log "installing $(basename "$DEB")"
PKG_SO=$("$PG_CONFIG" --pkglibdir)/$EXTENSION.so
PKG_SHARE=$("$PG_CONFIG" --sharedir)/extension
if [ "$PKG_WAS_INSTALLED" = 0 ]; then
    for f in "$PKG_SO" "$PKG_SHARE/$EXTENSION.control" "$PKG_SHARE/$EXTENSION"--*.sql; do
        if [ -f "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1; then
            mkdir -p "$BACKUP$(dirname "$f")"
            cp -a "$f" "$BACKUP$f"
        fi
    done
fi
[ "$PKG_WAS_INSTALLED" = 1 ] || PKG_INSTALLED_HERE=1
if dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1; then
    pass "dpkg -i $(basename "$DEB")"
else
    fail "dpkg -i $(basename "$DEB")" "$(tail -10 "$WORK/dpkg.log")"
    summary; exit
fi
dpkg -L "$DEB_PACKAGE" >"$WORK/dpkg-L.txt"
missing=()
for f in "$PKG_SO" "$PKG_SHARE/$EXTENSION.control" \
         $(cd "$SRC" && ls "$EXTENSION"--*.sql | sed "s|^|$PKG_SHARE/|"); do
    grep -qxF "$f" "$WORK/dpkg-L.txt" || missing+=("$f")
done
check "dpkg -L lists the .so, the control file and every $EXTENSION--*.sql (${missing[*]:-none missing})" \
    test ${#missing[@]} -eq 0
stray=()
for f in "$PKG_SHARE/$EXTENSION"--*.sql; do
    grep -qxF "$f" "$WORK/dpkg-L.txt" || stray+=("$f")
done
if ((${#stray[@]})); then
    # Install scripts of an earlier `make install` that the package does not
    # ship would be found by CREATE EXTENSION too: move them aside meanwhile.
    for f in "${stray[@]}"; do
        mkdir -p "$BACKUP$(dirname "$f")"; mv "$f" "$BACKUP$f"
    done
    echo "moved aside while testing (not in the package): ${stray[*]}" >&2
fi
check "dpkg --verify $DEB_PACKAGE (installed files are the packaged ones)" \
    dpkg --verify "$DEB_PACKAGE"

# ---------------------------------------------------------------------------
# The cluster loads the packaged library (shared_preload_libraries); JDBC
# needs TCP, so it listens on 127.0.0.1 too.
pg_start_cluster "listen_addresses = '127.0.0.1'"
psqlq() { psql_pg -qAtX "$@"; }

log "the extension from the package"
if psqlq -c "CREATE EXTENSION $EXTENSION" 2>"$WORK/create.err"; then
    pass "CREATE EXTENSION $EXTENSION"
else
    fail "CREATE EXTENSION $EXTENSION" "$(cat "$WORK/create.err")"
fi
check "extension version is $VERSION" \
    test "$(psqlq -c "SELECT extversion FROM pg_extension WHERE extname = '$EXTENSION'")" = "$VERSION"
check "the server preloaded the packaged library" \
    test "$(psqlq -c "SHOW shared_preload_libraries")" = "$EXTENSION"
res=$(psqlq 2>"$WORK/run.err" <<'SQL' || true
CREATE TABLE pkg_src AS SELECT g AS k, g % 10 AS grp FROM generate_series(1, 200000) AS g;
ALTER TABLE pkg_src SET (parallel_workers = 4);
ANALYZE pkg_src;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT achieved_workers, attempts, target_met, planned_workers, row_count
FROM parallel_guard.run('CREATE TABLE pkg_tgt AS SELECT grp, count(*) AS n FROM pkg_src GROUP BY grp',
                        target => 4, min => 2, retries => 3, delay => '1 second');
SQL
)
if [ "$res" = "4|1|t|4|10" ]; then
    pass "guarded run: 4 workers, 1 attempt, target met, 10 rows"
else
    fail "guarded run: 4 workers, 1 attempt, target met, 10 rows" "got '$res' $(cat "$WORK/run.err")"
fi
# Every upgrade path to default_version that the packaged scripts offer.
paths=$(psqlq -c "SELECT source FROM pg_extension_update_paths('$EXTENSION')
                  WHERE target = '$VERSION' AND path IS NOT NULL ORDER BY source")
n=0
for old in $paths; do
    n=$((n + 1))
    if psqlq -c "CREATE DATABASE upgrade_$n" &&
       psqlq -d "upgrade_$n" -c "CREATE EXTENSION $EXTENSION VERSION '$old'" \
             -c "ALTER EXTENSION $EXTENSION UPDATE" 2>"$WORK/upgrade.err" &&
       [ "$(psqlq -d "upgrade_$n" -c "SELECT extversion FROM pg_extension WHERE extname = '$EXTENSION'")" = "$VERSION" ]; then
        pass "ALTER EXTENSION $EXTENSION UPDATE from $old to $VERSION"
    else
        fail "ALTER EXTENSION $EXTENSION UPDATE from $old to $VERSION" "$(cat "$WORK/upgrade.err")"
    fi
done
[ "$n" -gt 0 ] || echo "(no upgrade script to $VERSION in the package)" >&2

# ---------------------------------------------------------------------------
# run_client NAME TABLE EXPECT(ok|short|plan) COMMAND...: one run of a client
# example and its checks: exit code, printed result or SQLSTATE, the table.
# short: a busy pool, 53000, exit 75 (retry later); plan: the plan asks for
# fewer than min, 55000, exit 78 (a retry cannot help).  The failures run on
# the table the ok run made: a failed night keeps yesterday's table (the
# clients build today's as TABLE_new and swap it in only once it is there);
# a last ok run replaces it.
run_client() {
    local name=$1 table=$2 expect=$3 rc=0 oid
    shift 3
    oid=$(psqlq -c "SELECT to_regclass('$table')::oid" 2>/dev/null)
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    local out err
    out=$(cat "$WORK/$name.out"); err=$(cat "$WORK/$name.err")
    if [ "$expect" = ok ]; then
        if [ "$rc" -eq 0 ] &&
           grep -qE "achieved_workers=4 attempts=1 target_met=t planned_workers=4 row_count=100000 verdict=met run_id=[0-9]+" <<<"$out"; then
            pass "$name: exit 0, prints achieved_workers=4 attempts=1 target_met=t ... verdict=met run_id=N"
        else
            fail "$name: exit 0, prints achieved_workers=4 attempts=1 target_met=t ... verdict=met run_id=N" \
                 "exit $rc; stdout: $out; stderr: $(tail -5 <<<"$err")"
        fi
        check "$name: table $table has 100000 rows, a new table (was oid ${oid:-none}), no ${table}_new left" \
            test "$(psqlq -c "SELECT count(*), to_regclass('$table')::oid IS DISTINCT FROM '${oid:-0}'::oid,
                                     to_regclass('${table}_new') IS NULL FROM $table" 2>/dev/null)" = "100000|t|t"
    else
        local code=75 state=53000 flag=--force-shortfall
        [ "$expect" = plan ] && code=78 state=55000 flag=--force-plan-too-small
        if [ "$rc" -eq "$code" ] && grep -q "SQLSTATE $state" <<<"$err"; then
            pass "$name $flag: exit $code, prints SQLSTATE $state"
        else
            fail "$name $flag: exit $code, prints SQLSTATE $state" \
                 "exit $rc; stdout: $out; stderr: $(tail -5 <<<"$err")"
        fi
        check "$name $flag: yesterday's $table (oid $oid) is still there, 100000 rows" \
            test "$(psqlq -c "SELECT to_regclass('$table')::oid, count(*) FROM $table" 2>/dev/null)" = "$oid|100000"
        check "$name $flag: no table ${table}_new left" \
            test "$(psqlq -c "SELECT to_regclass('${table}_new') IS NULL")" = t
    fi
    sed 's/^/     | /' "$WORK/$name.out" "$WORK/$name.err" | grep -v 'LOCATION:' | head -12
}

CLIENTS=$REPO/test/clients
export PSQL=$PG_BIN/psql
log "client example: psql"
run_client psql client_psql ok bash "$CLIENTS/psql/run.sh" client_psql
run_client psql client_psql short \
    bash "$CLIENTS/psql/run.sh" --force-shortfall client_psql
run_client psql client_psql plan \
    bash "$CLIENTS/psql/run.sh" --force-plan-too-small client_psql
run_client psql_again client_psql ok bash "$CLIENTS/psql/run.sh" client_psql

log "client example: Java (JDBC over 127.0.0.1:$PGPORT)"
mkdir -p "$WORK/classes"
if javac -cp "$JDBC_JAR" -d "$WORK/classes" "$CLIENTS/java/GuardedCtas.java" 2>"$WORK/javac.err"; then
    pass "java: javac GuardedCtas.java against $JDBC_JAR"
    run_client java client_java ok java -cp "$WORK/classes:$JDBC_JAR" GuardedCtas client_java
    run_client java client_java short \
        java -cp "$WORK/classes:$JDBC_JAR" GuardedCtas --force-shortfall client_java
    run_client java client_java plan \
        java -cp "$WORK/classes:$JDBC_JAR" GuardedCtas --force-plan-too-small client_java
else
    fail "java: javac GuardedCtas.java against $JDBC_JAR" "$(cat "$WORK/javac.err")"
fi

log "client example: Python (psycopg2 over the socket in $PGHOST)"
run_client python client_python ok "$PYTHON" "$CLIENTS/python/guarded_ctas.py" client_python
run_client python client_python short \
    "$PYTHON" "$CLIENTS/python/guarded_ctas.py" --force-shortfall client_python
run_client python client_python plan \
    "$PYTHON" "$CLIENTS/python/guarded_ctas.py" --force-plan-too-small client_python

# run_as_written NAME TABLE COMMAND...: an as-written example (no run(),
# the guard from batch_role's settings) three times as batch_role: with a
# free pool (exit 0, 100000 rows, the history says guarded by
# parallel_guard.target); then with a shortfall forced by the role's
# settings (exit 75, SQLSTATE 53000, yesterday's table, the same one, still
# there); then with a plan that asks for fewer than min, the source table's
# parallel_workers = 1 (exit 78, SQLSTATE 55000, yesterday's table still
# there).
# aw_failure_kept WHAT EXIT SQLSTATE TABLE OID: the client run just made
# ($rc, $WORK/$name.out/.err) exited EXIT printing SQLSTATE, and yesterday's
# TABLE is still the same table with its rows.
aw_failure_kept() {
    local what=$1 code=$2 state=$3 table=$4 oid=$5 out err
    out=$(cat "$WORK/$name.out"); err=$(cat "$WORK/$name.err")
    if [ "$rc" -eq "$code" ] && grep -q "SQLSTATE $state" <<<"$err"; then
        pass "$what: exit $code, prints SQLSTATE $state"
    else
        fail "$what: exit $code, prints SQLSTATE $state" \
             "exit $rc; stdout: $out; stderr: $(tail -5 <<<"$err")"
    fi
    check "$what: yesterday's $table (oid $oid) is still there, 100000 rows" \
        test "$(psqlq -c "SELECT '$table'::regclass::oid, count(*) FROM $table" 2>/dev/null)" = "$oid|100000"
    sed 's/^/     | /' "$WORK/$name.out" "$WORK/$name.err" | grep -v 'LOCATION:' | tail -4
}

run_as_written() {
    local name=$1 table=$2 rc=0 out err oid
    shift 2
    PGUSER=batch_role "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    out=$(cat "$WORK/$name.out"); err=$(cat "$WORK/$name.err")
    if [ "$rc" -eq 0 ] && grep -qE "table=$table rows=100000( server_prepared=S_[0-9]+)?$" <<<"$out"; then
        pass "$name: exit 0, prints rows=100000"
    else
        fail "$name: exit 0, prints rows=100000" "exit $rc; stdout: $out; stderr: $(tail -5 <<<"$err")"
    fi
    check "$name: table $table has 100000 rows" \
        test "$(psqlq -c "SELECT count(*) FROM $table" 2>/dev/null)" = 100000
    check "$name: parallel_guard.history: batch_role, met, guarded by parallel_guard.target" \
        test "$(psqlq -c "SELECT usename || '|' || verdict || '|' || guarded_by FROM parallel_guard.history
                          WHERE statement LIKE '%$table%' ORDER BY run_id DESC LIMIT 1")" \
             = "batch_role|met|parallel_guard.target"
    sed 's/^/     | /' "$WORK/$name.out" "$WORK/$name.err" | grep -v 'LOCATION:' | head -6
    oid=$(psqlq -c "SELECT '$table'::regclass::oid" 2>/dev/null)
    psqlq -c "ALTER ROLE batch_role SET max_parallel_workers = 1" \
          -c "ALTER ROLE batch_role SET parallel_guard.min = 2" \
          -c "ALTER ROLE batch_role SET parallel_guard.retries = 1"
    PGUSER=batch_role "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" && rc=0 || rc=$?
    psqlq -c "ALTER ROLE batch_role RESET max_parallel_workers" \
          -c "ALTER ROLE batch_role RESET parallel_guard.min" \
          -c "ALTER ROLE batch_role RESET parallel_guard.retries"
    aw_failure_kept "$name, role's max_parallel_workers = 1" 75 53000 "$table" "$oid"
    psqlq -c "ALTER TABLE client_demo_src SET (parallel_workers = 1)"
    PGUSER=batch_role "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" && rc=0 || rc=$?
    psqlq -c "ALTER TABLE client_demo_src SET (parallel_workers = 4)"
    aw_failure_kept "$name, source's parallel_workers = 1" 78 55000 "$table" "$oid"
}

log "client examples as written (ALTER ROLE batch_role SET parallel_guard.target = 4)"
if psqlq -f "$CLIENTS/as_written_setup.sql" 2>"$WORK/as_written_setup.err"; then
    pass "as_written_setup.sql: batch_role, its grants and settings"
    run_as_written psql_as_written client_aw_psql bash "$CLIENTS/psql/run.sh" --as-written client_aw_psql
    if javac -cp "$JDBC_JAR" -d "$WORK/classes" "$CLIENTS/java/GuardedAsWritten.java" 2>"$WORK/javac.err"; then
        pass "java: javac GuardedAsWritten.java against $JDBC_JAR"
        run_as_written java_as_written client_aw_java \
            java -cp "$WORK/classes:$JDBC_JAR" GuardedAsWritten client_aw_java
    else
        fail "java: javac GuardedAsWritten.java against $JDBC_JAR" "$(cat "$WORK/javac.err")"
    fi
    run_as_written python_as_written client_aw_python \
        "$PYTHON" "$CLIENTS/python/guarded_as_written.py" client_aw_python
else
    fail "as_written_setup.sql: batch_role, its grants and settings" "$(cat "$WORK/as_written_setup.err")"
fi

check "dpkg --verify $DEB_PACKAGE after the tests (nothing replaced the packaged files meanwhile)" \
    dpkg --verify "$DEB_PACKAGE"

summary
