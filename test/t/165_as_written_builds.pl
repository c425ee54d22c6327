# 165_as_written_builds.pl: an index build guarded as written is judged
# while it runs, not after.
#
# A parallel index build gives no hook between the registration of its
# workers and its end.  Guarded as written it runs in the caller's own
# process, so the caller cannot watch it from outside as run()'s caller
# watches its worker: a timer samples the registrations every millisecond
# and cancels the build once they are settled below what the attempt needs
# (build_sampler.cpp).  Without it, a short build would be judged only after
# it had finished, costing a whole build per short attempt.
#
# Here the build takes seconds and max_parallel_workers = 2 makes attempt 1
# short: it must be rolled back within a small part of the build, attempt 2
# (the last, accepted at min 2) runs the whole build, and the session goes
# on with no cancel left pending (its next statement succeeds) and no
# worker left behind.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node('as_written_builds',
	conf => [ "shared_preload_libraries = 'parallel_guard'" ]);
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE wide AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g;
ALTER TABLE wide SET (parallel_workers = 4);
VACUUM ANALYZE wide;
SQL

my $offset = log_offset($node);
my ($rc, $out, $err) = $node->psql('postgres', <<'SQL');
SET maintenance_work_mem = '512MB';
SET parallel_guard.target = 4;
SET parallel_guard.settle_time = '20ms';
SET parallel_guard.delay = 0;
SET parallel_guard.retries = 2;
SET max_parallel_workers = 2;
CREATE INDEX wide_h ON wide (h);
SELECT 'still usable';
SQL
is($rc, 0, 'the guarded build and the next statement succeed') or diag($err);
like($out, qr/still usable/, 'no cancel is left pending after a build the timer cancelled');
is_deeply([ notices($err) ], [ '1 of 2', '2 of 2' ], 'two attempts');

my @attempts = parse_attempts(log_since($node, $offset));
is(scalar(@attempts), 2, 'two attempt LOG lines');
is($attempts[0]{verdict}, 'short', 'attempt 1 short');
is($attempts[0]{launched}, 2, 'attempt 1 counted 2 workers');
is($attempts[1]{verdict}, 'accepted_short', 'attempt 2 accepted at min');
cmp_ok($attempts[1]{elapsed_ms}, '>', 500, 'the whole build takes a while')
  or diag("attempt 2 took $attempts[1]{elapsed_ms} ms");
cmp_ok($attempts[0]{elapsed_ms}, '<', $attempts[1]{elapsed_ms} / 4,
	'attempt 1 was rolled back within a quarter of the build, not after it')
  or diag("attempt 1 took $attempts[0]{elapsed_ms} ms, attempt 2 $attempts[1]{elapsed_ms} ms");

is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_indexes WHERE indexname = 'wide_h'"),
	'1', 'the index exists once');
ok(poll_until($node,
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'"),
	'no parallel worker left');

$node->stop;
done_testing();
