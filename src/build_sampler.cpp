/*
 * build_sampler.cpp: a millisecond timer that counts this process's own
 * parallel index build (see the header for why).
 *
 * Everything the handler touches is a plain static; it calls only
 * functions that read shared memory or the clock, and sets the flags a
 * query cancel sets (as StatementTimeoutHandler() does), plus the latch.
 */
#include "build_sampler.hpp"

#include "bgworker_slots.hpp"

extern "C" {
#include "utils/timeout.h"
}

namespace pg_guard {

namespace {

constexpr long kRegisteringMs = 1000; /* as the watcher: fewer than planned, with room */

TimeoutId timer = MAX_TIMEOUTS; /* registered on first use */
volatile sig_atomic_t sampling = false;
volatile sig_atomic_t settled = false;
volatile sig_atomic_t cancelled = false;
volatile int planned = 0;
volatile int cancel_below = 0;
volatile int most = 0;
volatile long settle_ms = 0;
volatile TimestampTz since = 0;      /* the build planned */
volatile TimestampTz first_seen = 0; /* its first registration seen */

void sample()
{
    if (!sampling)
        return;
    int n = parallel_workers_of_unlocked(MyProcPid);
    TimestampTz now = GetCurrentTimestamp();
    if (n > most)
        most = n;
    if (n > 0 && first_seen == 0)
        first_seen = now;
    if (most >= planned) {
        settled = true;
        sampling = false;
        return;
    }
    TimestampTz from = first_seen != 0 ? first_seen : since;
    if (!TimestampDifferenceExceeds(from, now, static_cast<int>(settle_ms)))
        return;
    int registered = parallel_workers_registered_unlocked();
    bool room = registered >= 0 && registered < max_parallel_workers;
    if (room && !TimestampDifferenceExceeds(from, now, kRegisteringMs))
        return;
    settled = true;
    sampling = false;
    if (most < cancel_below && !QueryCancelPending) {
        cancelled = true;
        InterruptPending = true;
        QueryCancelPending = true;
    }
    SetLatch(MyLatch);
}

} // namespace

void build_sampler_start(int workers, int below, long settle)
{
    if (timer == MAX_TIMEOUTS)
        timer = RegisterTimeout(USER_TIMEOUT, [] { sample(); });
    planned = workers;
    cancel_below = below;
    settle_ms = settle;
    most = 0;
    first_seen = 0;
    since = GetCurrentTimestamp();
    settled = false;
    cancelled = false;
    sampling = true;
    enable_timeout_every(timer, TimestampTzPlusMilliseconds(since, 1), 1);
}

bool build_sampler_settled()
{
    return settled;
}

int build_sampler_stop()
{
    sampling = false;
    if (timer != MAX_TIMEOUTS)
        disable_timeout(timer, false);
    return most;
}

bool build_sampler_cancelled(bool clear)
{
    bool was = cancelled;
    if (clear && was) {
        cancelled = false;
        QueryCancelPending = false;
    }
    return was;
}

} // namespace pg_guard
