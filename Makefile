# parallel_guard: PGXS build of a C++ PostgreSQL extension.
EXTENSION = parallel_guard
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = parallel_guard
OBJS = src/module.o src/boundary.o src/messages.o src/statement.o src/launcher.o \
       src/watcher.o src/worker.o src/queue.o src/run.o
DATA = $(EXTENSION)--$(EXTVERSION).sql

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

.PHONY: tapcheck
tapcheck:
	$(prove_installcheck)
