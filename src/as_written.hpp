/*
 * as_written.hpp: statements guarded as written, by the setting
 * parallel_guard.target, in the session's own backend and transaction.
 */
#pragma once

namespace pg_guard {

/* The utility hook (from _PG_init, wherever the library is loaded). */
void as_written_install_hook();

} // namespace pg_guard
