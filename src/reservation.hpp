/*
 * reservation.hpp: ordinary parallel launches leave the workers that guarded
 * runs have reserved free (hooks in every backend, installed when the
 * library is preloaded).
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/* Install the executor and utility hooks (from _PG_init, when preloaded). */
void reservation_install_hooks();

/*
 * In the guard's background worker, or in a backend running a statement
 * guarded as written (its own pgprocno): the launches of this process serve
 * the guarded run of the caller with this pgprocno, whose own reservation
 * (and those of runs behind it) they need not leave free.  -1: no longer.
 */
void reservation_serve_caller(int caller_procno);

/* max_parallel_workers as this session has it set (SHOW), whatever cap is in force. */
int session_max_parallel_workers_setting();

/* The server's max_parallel_workers (postgresql.conf, the command line or
 * the default) when this session's reset value is it; -1 when a role,
 * database or client setting overrides it here. */
int server_max_parallel_workers_setting();

} // namespace pg_guard
