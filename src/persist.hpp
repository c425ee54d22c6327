/*
 * persist.hpp: the history and the stats on disk, so that they survive a
 * restart and a crash-restart of the server.
 *
 * Two files under the data directory's pg_stat/, both a header (magic,
 * format version, the sizes of a history and a stats entry) followed by
 * records (kind, length, bytes):
 *  - parallel_guard.history, a snapshot of both, written whole (a temporary
 *    file and durable_rename()) at a clean shutdown, at a reset, and when
 *    the journal has grown to 2 x history_size records (at least 16);
 *  - parallel_guard.journal, appended with one write() per finished run
 *    (its history entry) and per stats change (the stats entry as it now
 *    is), by the process that recorded it, under the lock of that data.
 * At server start, and again when the postmaster reinitializes shared
 * memory after a crash, the snapshot is read and then the journal replayed.
 *
 * pg_stat_statements keeps only a file written at shutdown and unlinks it
 * once read, so a crash loses everything; the journal is what a crash
 * keeps.  A process crash loses no record whose write() returned; an
 * operating system crash may lose what was not yet on disk (the journal is
 * never fsynced on the hot path).
 *
 * Nothing here raises an ERROR for an I/O failure: the runs being recorded
 * have already committed or failed on their own, so a failure is a LOG.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

enum class RecordKind : uint32 {
    History = 1,     /* a HistoryEntry and its statement text */
    HistoryMeta = 2, /* the next run_id */
    Stats = 3,       /* a StatsEntry as it now is */
    StatsMeta = 4    /* the time of the last stats_reset() */
};

/* The persistence's own few bytes of shared memory (no lock of its own). */
Size persist_shmem_size();
/* Called from the shmem startup hook after the history and the stats are
 * set up: in the postmaster, loads the files into them (when the memory is
 * new) and registers the write at a clean shutdown. */
void persist_shmem_startup();

/* Append one record (the bytes of a, then of b) to the journal with one
 * write().  The caller holds the lock of the data exclusively, so records
 * of one kind are in the order of the changes.  Returns true when the
 * journal has grown enough to be compacted (call persist_compact() after
 * releasing the lock). */
bool persist_append(RecordKind kind, const void *a, Size alen, const void *b, Size blen);

/* Write the snapshot from shared memory and empty the journal; takes the
 * history's and the stats' locks (in that order) while it does, and calls
 * under_locks first (a reset: cleared and saved with no run in between, so
 * that a crash cannot bring back what was reset).  Unless `always`, only
 * when the journal is still long (another process may have compacted it
 * meanwhile). */
void persist_compact(bool always, void (*under_locks)() = nullptr);

/* Used by the dump functions below while the snapshot is written. */
struct PersistWriter;
void persist_put(PersistWriter *w, RecordKind kind, const void *a, Size alen, const void *b,
                 Size blen);

/* Implemented by history.cpp and stats.cpp: write every kept entry (the
 * caller holds the lock, or runs alone in the postmaster), and take one
 * record back at load (in the postmaster, before any backend runs). */
Size history_entry_size();
void history_dump(PersistWriter *w);
void history_load(RecordKind kind, const char *data, Size len);
void history_lock();
void history_unlock();
Size stats_entry_size();
void stats_dump(PersistWriter *w);
void stats_load(RecordKind kind, const char *data, Size len);
void stats_lock();
void stats_unlock();

} // namespace pg_guard
