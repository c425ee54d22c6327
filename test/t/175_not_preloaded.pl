# 175_not_preloaded.pl: the library not in shared_preload_libraries.
#
#  - CREATE EXTENSION warns that it is not preloaded;
#  - the views and functions that need its shared memory (queue, history,
#    history_launches, stats and the two resets) raise ERROR 55000 naming
#    shared_preload_libraries, rather than return nothing as if all were
#    well (they returned no rows before 1.4);
#  - run() itself works: no queue, no history, so its run_id is NULL.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use PostgreSQL::Test::Cluster;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->append_conf('postgresql.conf',
	join("\n", 'max_worker_processes = 16', 'max_parallel_workers = 8', 'autovacuum = off',
		'jit = off')
	  . "\n");
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION parallel_guard');
is($rc, 0, 'CREATE EXTENSION succeeds without the library preloaded');
like($err, qr/WARNING:  parallel_guard is not in "shared_preload_libraries"/,
	'CREATE EXTENSION warns that the library is not preloaded');
like($err, qr/DETAIL:  .*history and stats raise an error/,
	'the warning says the views raise an error');
make_table($node, 'big', 100_000);

for my $what ('SELECT * FROM parallel_guard.queue', 'SELECT * FROM parallel_guard.history',
	'SELECT * FROM parallel_guard.history_launches', 'SELECT * FROM parallel_guard.stats',
	'SELECT parallel_guard.history_reset()', 'SELECT parallel_guard.stats_reset()')
{
	($rc, $out, $err) = $node->psql('postgres', $what, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($rc, 0, "$what fails");
	like($err,
		qr/ERROR:  55000: parallel_guard must be loaded via "shared_preload_libraries"/,
		"$what: ERROR 55000 names shared_preload_libraries");
	like($err, qr/HINT:  Add parallel_guard to "shared_preload_libraries" and restart the server\./,
		"$what: the HINT says what to do");
}

my $r = $node->safe_psql('postgres',
	"$GUARD_SETTINGS SELECT achieved_workers, verdict, run_id IS NULL FROM parallel_guard.run("
	  . "'CREATE TABLE np1 AS SELECT k FROM big WHERE k <= 10', target => 2, min => 2, retries => 1)");
is($r, '2|met|t', 'run() works without the library preloaded; its run_id is NULL');
is($node->safe_psql('postgres', 'SELECT count(*) FROM np1'), '10', 'run() committed its table');

$node->stop;
done_testing();
