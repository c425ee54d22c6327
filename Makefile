# parallel_guard: PGXS build of a C++ PostgreSQL extension.
EXTENSION = parallel_guard
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = parallel_guard
OBJS = src/module.o src/boundary.o src/messages.o src/statement.o src/launcher.o \
       src/watcher.o src/worker.o src/queue.o src/history.o src/run.o \
       src/lock_group.o src/bgworker_slots.o src/launch_plan.o src/explain.o \
       src/reservation.o src/stats.o src/launch_sites.o src/build_sampler.o src/attempt_loop.o src/as_written.o src/persist.o
# The first version's script plus one upgrade script per later version.
DATA = $(wildcard $(EXTENSION)--*.sql)

# One regression test per behaviour, in file-name order.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

# TAP tests (several sessions, cancels, crashes) run with `make tapcheck`,
# as a non-root user: each test starts its own clusters.
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config

# Server headers are third-party: -isystem keeps their warnings out of -Werror.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror -Wno-register -Wno-missing-field-initializers
SHLIB_LINK += -lstdc++

# Debian's server is built with LLVM; its bitcode step would compile our C++
# without PG_CXXFLAGS.  The JIT gains nothing from inlining this module.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.hpp)

# From PostgreSQL 17, PostgreSQL::Test::Cluster copies a new cluster from
# $INITDB_TEMPLATE instead of running initdb (0.4 s against 2.2 s here, for
# about 30 clusters per run): make that template once, with the options
# Cluster.pm's own initdb uses.  Older versions ignore it.
TAP_INITDB_TEMPLATE = $(CURDIR)/tmp_initdb_template

.PHONY: tapcheck
ifeq ($(shell test $(MAJORVERSION) -ge 17 2>/dev/null && echo y),y)
tapcheck: export INITDB_TEMPLATE = $(TAP_INITDB_TEMPLATE)
tapcheck:
	rm -rf '$(TAP_INITDB_TEMPLATE)'
	'$(bindir)/initdb' -D '$(TAP_INITDB_TEMPLATE)' -A trust -N >/dev/null
	$(prove_installcheck)
else
tapcheck:
	$(prove_installcheck)
endif

# ---- dist: release archive (begin) -------------------------------------------
# `make dist` writes $(EXTENSION)-$(EXTVERSION).zip into this directory: the
# committed tree (git archive HEAD, so nothing uncommitted or untracked) under
# one top folder $(EXTENSION)-$(EXTVERSION)/, as PGXN expects.  The version is
# default_version of the control file, which must be committed as it is.
DIST_NAME = $(EXTENSION)-$(EXTVERSION)

.PHONY: dist
dist:
	@test -n "$(EXTVERSION)" || { echo "dist: no default_version in $(EXTENSION).control" >&2; exit 1; }
	@git rev-parse -q --verify HEAD >/dev/null || { echo "dist: needs a git checkout with a commit" >&2; exit 1; }
	@v=$$(git show HEAD:$(EXTENSION).control | sed -n "s/^default_version = '\(.*\)'/\1/p"); \
	 test "$$v" = "$(EXTVERSION)" || { echo "dist: $(EXTENSION).control says $(EXTVERSION) but HEAD says $$v: commit it first, the archive is made from HEAD" >&2; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=no)" || echo "dist: warning: uncommitted changes are not in $(DIST_NAME).zip" >&2
	rm -f $(DIST_NAME).zip
	git archive --format=zip --prefix=$(DIST_NAME)/ -o $(DIST_NAME).zip HEAD
	@echo "dist: wrote $(DIST_NAME).zip"
# ---- dist: release archive (end) ---------------------------------------------
