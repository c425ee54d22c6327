/*
 * persist.cpp: the snapshot and the journal of the history and the stats
 * (see persist.hpp for the design).
 *
 * Only plain POSIX calls on the hot path (open, writev, close): nothing
 * that can raise an ERROR after the run being recorded has ended.
 */
#include "persist.hpp"

#include "module.hpp"

extern "C" {
#include "common/file_perm.h"
#include "storage/fd.h"
}

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <type_traits>

namespace pg_guard {

namespace {

constexpr const char *kSnapshotPath = "pg_stat/parallel_guard.history";
constexpr const char *kSnapshotTemp = "pg_stat/parallel_guard.history.tmp";
constexpr const char *kJournalPath = "pg_stat/parallel_guard.journal";
constexpr uint32 kMagic = 0x50474844; /* "PGHD" */
constexpr uint32 kFormat = 1;
constexpr Size kLongestRecord = 64 * 1024 * 1024; /* anything longer is damage */

struct FileHeader {
    uint32 magic;
    uint32 format;
    uint32 history_entry_size;
    uint32 stats_entry_size;
};

struct RecordHeader {
    uint32 kind;
    uint32 len;
};

struct PersistShared {
    pg_atomic_uint32 journal_records; /* appended since the last compaction */
};

PersistShared *persist = nullptr;

FileHeader file_header()
{
    FileHeader h;
    h.magic = kMagic;
    h.format = kFormat;
    h.history_entry_size = static_cast<uint32>(history_entry_size());
    h.stats_entry_size = static_cast<uint32>(stats_entry_size());
    return h;
}

/* The journal is compacted after this many records: a run appends two (its
 * history entry and its stats entry), so about every history_size runs. */
uint32 journal_limit()
{
    return static_cast<uint32>(Max(2 * guard_history_size(), 16));
}

/* All of len bytes through op (read or write), resumed after a signal;
 * false on an error or at the end of the file. */
template <typename Buf, typename Op> bool transfer_all(int fd, Buf *data, Size len, Op op)
{
    auto *p = reinterpret_cast<typename std::conditional<std::is_const<Buf>::value, const char,
                                                         char>::type *>(data);
    while (len > 0) {
        ssize_t n = op(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= static_cast<Size>(n);
    }
    return true;
}

bool write_all(int fd, const void *data, Size len)
{
    return transfer_all(fd, data, len, [](int f, const char *b, Size l) { return write(f, b, l); });
}

bool read_all(int fd, void *data, Size len)
{
    return transfer_all(fd, data, len, [](int f, char *b, Size l) { return read(f, b, l); });
}

/* An empty journal: its header only. */
bool reset_journal()
{
    int fd = open(kJournalPath, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, pg_file_create_mode);
    if (fd < 0) {
        ereport(LOG, (errcode_for_file_access(),
                      errmsg("parallel_guard: could not create file \"%s\": %m", kJournalPath)));
        return false;
    }
    FileHeader h = file_header();
    bool ok = write_all(fd, &h, sizeof(h));
    int saved = errno;
    close(fd);
    errno = saved;
    if (!ok)
        ereport(LOG, (errcode_for_file_access(),
                      errmsg("parallel_guard: could not write file \"%s\": %m", kJournalPath)));
    return ok;
}

/* Hand every record of one file to its loader; a missing file is no
 * error, one of another layout is skipped with a LOG line. */
void load_file(const char *path)
{
    int fd = open(path, O_RDONLY | PG_BINARY, 0);
    if (fd < 0) {
        if (errno != ENOENT)
            ereport(LOG, (errcode_for_file_access(),
                          errmsg("parallel_guard: could not open file \"%s\": %m", path)));
        return;
    }
    FileHeader want = file_header();
    FileHeader h;
    if (!read_all(fd, &h, sizeof(h)) || memcmp(&h, &want, sizeof(h)) != 0) {
        ereport(LOG, (errmsg("parallel_guard: ignoring file \"%s\" of another format", path),
                      errdetail("The history and the stats it holds are not loaded.")));
        close(fd);
        return;
    }
    Size cap = 0;
    char *buf = nullptr;
    int records = 0;
    for (;;) {
        RecordHeader r;
        if (!read_all(fd, &r, sizeof(r)))
            break; /* the end, or a record cut short by a crash */
        if (r.len > kLongestRecord) {
            ereport(LOG, (errmsg_plural("parallel_guard: file \"%s\" is damaged after %d record",
                                        "parallel_guard: file \"%s\" is damaged after %d records",
                                        records, path, records),
                          errdetail("The records after the damage are not loaded.")));
            break;
        }
        if (r.len + 1 > cap) {
            cap = Max(r.len + 1, 8192);
            buf = static_cast<char *>(buf ? repalloc(buf, cap) : palloc(cap));
        }
        if (!read_all(fd, buf, r.len))
            break;
        buf[r.len] = '\0';
        switch (static_cast<RecordKind>(r.kind)) {
        case RecordKind::History:
        case RecordKind::HistoryMeta: history_load(static_cast<RecordKind>(r.kind), buf, r.len); break;
        case RecordKind::Stats:
        case RecordKind::StatsMeta: stats_load(static_cast<RecordKind>(r.kind), buf, r.len); break;
        default: break; /* a kind of a later version: skipped */
        }
        records++;
    }
    if (buf)
        pfree(buf);
    close(fd);
}

/* Write the snapshot; the caller holds both locks or runs alone. */
bool write_snapshot();

/* At a clean shutdown of the postmaster (code 0): the snapshot, and an
 * empty journal.  After a crash (code != 0) the files stay as they are:
 * the postmaster reads them back when it reinitializes shared memory. */
void shutdown_write(int code, Datum)
{
    if (code != 0)
        return;
    if (write_snapshot())
        (void) reset_journal();
}

} // namespace

struct PersistWriter {
    int fd;
    bool failed;
    Size used;
    char buf[65536];
};

namespace {

PersistWriter writer; /* one snapshot at a time per process */

void flush(PersistWriter *w)
{
    if (!w->failed && w->used > 0 && !write_all(w->fd, w->buf, w->used))
        w->failed = true;
    w->used = 0;
}

void put_bytes(PersistWriter *w, const void *data, Size len)
{
    const char *p = static_cast<const char *>(data);
    while (len > 0 && !w->failed) {
        if (w->used == sizeof(w->buf))
            flush(w);
        Size n = Min(len, sizeof(w->buf) - w->used);
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        p += n;
        len -= n;
    }
}

bool write_snapshot()
{
    PersistWriter *w = &writer;
    w->fd = open(kSnapshotTemp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, pg_file_create_mode);
    if (w->fd < 0) {
        ereport(LOG, (errcode_for_file_access(),
                      errmsg("parallel_guard: could not create file \"%s\": %m", kSnapshotTemp)));
        return false;
    }
    w->failed = false;
    w->used = 0;
    FileHeader h = file_header();
    put_bytes(w, &h, sizeof(h));
    history_dump(w);
    stats_dump(w);
    flush(w);
    int saved = errno;
    if (!w->failed && pg_fsync(w->fd) != 0)
        w->failed = true, saved = errno;
    close(w->fd);
    if (w->failed) {
        errno = saved;
        ereport(LOG, (errcode_for_file_access(),
                      errmsg("parallel_guard: could not write file \"%s\": %m", kSnapshotTemp)));
        unlink(kSnapshotTemp);
        return false;
    }
    return durable_rename(kSnapshotTemp, kSnapshotPath, LOG) == 0;
}

} // namespace

void persist_put(PersistWriter *w, RecordKind kind, const void *a, Size alen, const void *b,
                 Size blen)
{
    RecordHeader r;
    r.kind = static_cast<uint32>(kind);
    r.len = static_cast<uint32>(alen + blen);
    put_bytes(w, &r, sizeof(r));
    put_bytes(w, a, alen);
    if (blen > 0)
        put_bytes(w, b, blen);
}

Size persist_shmem_size()
{
    return sizeof(PersistShared);
}

void persist_shmem_startup()
{
    bool found;
    persist = static_cast<PersistShared *>(
        ShmemInitStruct("parallel_guard persist", persist_shmem_size(), &found));
    if (found)
        return; /* a backend attaching (EXEC_BACKEND) */
    pg_atomic_init_u32(&persist->journal_records, 0);
    if (IsUnderPostmaster)
        return;
    /* The postmaster, at server start or after a crash: snapshot, then
     * journal; then a new snapshot (dropping entries past their age) and an
     * empty journal, unless the snapshot could not be written. */
    load_file(kSnapshotPath);
    load_file(kJournalPath);
    if (write_snapshot())
        (void) reset_journal();
    on_shmem_exit(shutdown_write, static_cast<Datum>(0));
}

bool persist_append(RecordKind kind, const void *a, Size alen, const void *b, Size blen)
{
    if (!persist || !guard_history_journal())
        return false;
    static bool open_failed_before = false; /* one LOG line per process, not one per run */
    int fd = open(kJournalPath, O_WRONLY | O_APPEND | PG_BINARY, 0);
    if (fd < 0) {
        /* Gone (removed by hand?): lose this record rather than guess; the
         * next compaction makes the journal again. */
        if (!open_failed_before)
            ereport(LOG, (errcode_for_file_access(),
                          errmsg("parallel_guard: could not open file \"%s\": %m", kJournalPath)));
        open_failed_before = true;
        return false;
    }
    RecordHeader r;
    r.kind = static_cast<uint32>(kind);
    r.len = static_cast<uint32>(alen + blen);
    struct iovec iov[3];
    iov[0].iov_base = &r;
    iov[0].iov_len = sizeof(r);
    iov[1].iov_base = const_cast<void *>(a);
    iov[1].iov_len = alen;
    iov[2].iov_base = const_cast<void *>(b);
    iov[2].iov_len = blen;
    ssize_t want = static_cast<ssize_t>(sizeof(r) + alen + blen);
    ssize_t n = writev(fd, iov, blen > 0 ? 3 : 2);
    int saved = errno;
    close(fd);
    if (n != want) {
        errno = n < 0 ? saved : ENOSPC;
        ereport(LOG, (errcode_for_file_access(),
                      errmsg("parallel_guard: could not write file \"%s\": %m", kJournalPath)));
        return false;
    }
    return pg_atomic_add_fetch_u32(&persist->journal_records, 1) >= journal_limit();
}

/*
 * The snapshot is written and fsynced (durable_rename) under both locks, so
 * that no record is appended between the snapshot and the truncation of the
 * journal.  That holds up, for the fsync (about 20 ms on the test machine),
 * the end of other runs and the count of an ordinary launch held back, once
 * every history_size runs; keeping the locks only to copy would need a
 * journal rotated under them and a lock of its own for the writer.
 */
void persist_compact(bool always, void (*under_locks)())
{
    history_lock();
    stats_lock();
    if (under_locks)
        under_locks();
    bool due = persist != nullptr &&
               (always || pg_atomic_read_u32(&persist->journal_records) >= journal_limit());
    if (due && write_snapshot() && reset_journal())
        pg_atomic_write_u32(&persist->journal_records, 0);
    stats_unlock();
    history_unlock();
}

} // namespace pg_guard
