/*
 * worker.hpp: the background worker that runs one attempt of the statement.
 */
#pragma once

#include "pg.hpp"

extern "C" {
/* bgw_function_name of every attempt's worker; the argument is the DSM handle. */
PGDLLEXPORT void parallel_guard_worker_main(Datum main_arg);
}
