
# 170_durable_history.pl: the history and the stats survive a clean restart
# and a crash-restart, keep what their settings say, and every role reads
# its own runs.
#
# The cluster preloads parallel_guard with parallel_guard.history_size = 6
# (so the journal is compacted every 16 records, every 8 runs) and
# restarts after a crash.  Runs are statements guarded as written (target 2,
# min 0, one attempt): quick, in the session's own backend, with a query id
# (compute_query_id = on).
#
# 1. Runs of the superuser (application_name set on the connection, one
#    statement of several lines longer than 160 bytes) and of role alice:
#    the history has the whole text, application_name and query_id;
#    alice reads her own run with its text and the superuser's runs with
#    '<insufficient privilege>' (application_name too, query_id NULL); a
#    member of pg_read_all_stats reads every text; a member of alice reads
#    alice's texts (not the superuser's); alice cannot reset.
# 2. Retention by count: 8 runs, the newest 6 kept.
# 3. A fast restart: the history (every column but pid) and the stats are
#    the same before and after; a new run continues the run ids.
# 4. A crash-restart (SIGKILL of a backend in the middle of a stream of
#    runs): every run whose result the client received is in the history,
#    and the stats count them; the runs lost are counted (0 expected).
# 5. Retention by age: parallel_guard.history_max_age = 1s hides the runs;
#    a restart drops them (setting the age back to 0 shows nothing).
# 6. history_reset() and stats_reset() clear the files: nothing comes back
#    after a restart.
# 7. A snapshot file of another format is ignored with a LOG line.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node(
	'durable',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		'parallel_guard.history_size = 6',
		'compute_query_id = on',
		'restart_after_crash = on',
	],
	tables => [ [ src => 2000 ] ]);

my $GUARD = $GUARD_SETTINGS
  . ' SET parallel_guard.target = 2; SET parallel_guard.min = 0;'
  . ' SET parallel_guard.retries = 1;';

$node->safe_psql('postgres', q{
	CREATE ROLE monitor LOGIN IN ROLE pg_read_all_stats;
	CREATE ROLE alice_mate LOGIN;
});
batch_role($node, 'alice', 'postgres', 'src');
$node->safe_psql('postgres', 'GRANT alice TO alice_mate');

my $HISTORY = "SELECT run_id, started, ended, database, usename, statement_kind, statement, "
  . "target, min, retries, attempts, planned, launched, achieved_workers, verdict, "
  . "sqlstate, row_count, guarded_by, application_name, query_id "
  . "FROM parallel_guard.history ORDER BY run_id";
my $STATS = "SELECT database, usename, attempts, short_attempts "
  . "FROM parallel_guard.stats ORDER BY 1, 2";

sub q_as
{
	my ($user, $sql) = @_;
	return $node->safe_psql('postgres', $sql,
		connstr => $node->connstr('postgres') . " user=$user");
}

# --- 1. who sees what; whole text, application_name, query_id ----------------
my $long = "CREATE TABLE long_one AS\n  SELECT k, 'a rather long literal to pass the old cut "
  . "of one hundred and sixty bytes' AS filler,\n         k * 2 AS twice\n"
  . "  FROM src\n  WHERE k > 0";
{
	local $ENV{PGAPPNAME} = 'durable_app';
	$node->safe_psql('postgres', "$GUARD $long;");
}
$node->safe_psql('postgres', "$GUARD CREATE TABLE alice_t AS SELECT k FROM src;",
	connstr => $node->connstr('postgres') . ' user=alice application_name=alice_app');

is( $node->safe_psql('postgres',
		"SELECT statement = \$\$$long\$\$, application_name, query_id IS NOT NULL "
		  . "FROM parallel_guard.history WHERE usename = 'postgres'"),
	't|durable_app|t',
	'the whole statement (several lines, over 160 bytes), application_name and query_id');
is( q_as('alice',
		"SELECT usename, statement, application_name, query_id IS NOT NULL "
		  . "FROM parallel_guard.history ORDER BY run_id"),
	"postgres|<insufficient privilege>|<insufficient privilege>|f\n"
	  . "alice|CREATE TABLE alice_t AS SELECT k FROM src|alice_app|t",
	"alice reads her own run's text and not the superuser's");
is( q_as('alice',
		"SELECT count(*) FILTER (WHERE node = '<insufficient privilege>'), count(*) "
		  . "FROM parallel_guard.history_launches h JOIN parallel_guard.history USING (run_id) "
		  . "WHERE usename = 'postgres'"),
	'1|1', "alice does not read the launch sites of the superuser's run");
is( q_as('monitor',
		"SELECT count(*) FILTER (WHERE statement LIKE 'CREATE TABLE%') "
		  . "FROM parallel_guard.history"),
	'2', 'a member of pg_read_all_stats reads every text');
is( q_as('alice_mate',
		"SELECT usename || ':' || statement FROM parallel_guard.history ORDER BY run_id"),
	"postgres:<insufficient privilege>\nalice:CREATE TABLE alice_t AS SELECT k FROM src",
	"a member of role alice reads alice's run's text, as in pg_stat_activity and the queue view, and not the superuser's");
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT parallel_guard.history_reset()',
	connstr => $node->connstr('postgres') . ' user=alice');
like($err, qr/permission denied/, 'alice cannot reset the history');

# --- 2. retention by count ---------------------------------------------------
$node->safe_psql('postgres',
	$GUARD . join('', map { " CREATE TABLE c$_ AS SELECT k FROM src;" } 1 .. 8));
is( $node->safe_psql('postgres',
		"SELECT count(*), string_agg(split_part(statement, ' ', 3), ',' ORDER BY run_id) "
		  . "FROM parallel_guard.history"),
	'6|c3,c4,c5,c6,c7,c8', 'history_size 6: the newest 6 runs are kept');

# --- 3. a fast restart -------------------------------------------------------
my $hist_before = $node->safe_psql('postgres', $HISTORY);
my $stats_before = $node->safe_psql('postgres', $STATS);
like($stats_before, qr/\|postgres\|9\|0$/m, 'the stats count the superuser\'s 9 runs');
$node->restart;    # fast
is($node->safe_psql('postgres', $HISTORY), $hist_before,
	'after a fast restart the history is the same');
is($node->safe_psql('postgres', $STATS), $stats_before,
	'after a fast restart the stats are the same');
my $last_id = $node->safe_psql('postgres', 'SELECT max(run_id) FROM parallel_guard.history');
$node->safe_psql('postgres', "$GUARD CREATE TABLE after_restart AS SELECT k FROM src;");
is( $node->safe_psql('postgres',
		"SELECT run_id FROM parallel_guard.history WHERE statement LIKE '%after_restart%'"),
	$last_id + 1, 'a run after the restart continues the run ids');

# --- 4. a crash-restart in the middle of a stream of runs ---------------------
# More than can end before the kill: the stream is killed in its middle.
my $RUNS = 200;
my $s = GuardTap::Session->new($node, 'stream');
$s->query("SET application_name = 'stream'; $GUARD");
my @n = map { $s->start("CREATE TABLE crash_$_ AS SELECT k FROM src") } 1 .. $RUNS;
my $seen = 0;
ok(poll_until($node,
		"SELECT count(*) >= 5 FROM parallel_guard.history WHERE application_name = 'stream'",
		't'),
	'the stream of runs is under way');
my $off = log_offset($node);
my $stats_pre_crash = $node->safe_psql('postgres', $STATS);
ok(kill('KILL', $s->pid), 'the backend of the stream is killed');
$s->wait_exit(30);
$seen++ while $seen < $RUNS && $s->finished($n[$seen]);
ok(wait_log($node, $off, qr/all server processes terminated; reinitializing/, 60),
	'the postmaster reinitializes shared memory');
ok(poll_until($node, 'SELECT 1', '1', 60), 'the server accepts connections again');
# The history keeps 6 runs: count the stream's runs by their ids (the run
# after the restart had $last_id + 1, the stream's follow it).
my $kept = $node->safe_psql('postgres',
	"SELECT max(run_id) - $last_id - 1 FROM parallel_guard.history");
my $lost = $seen > $kept ? $seen - $kept : 0;
note("crash: $seen runs returned to the client, $kept recorded after the restart, $lost lost");
cmp_ok($kept, '>=', $seen, 'every run the client saw return is in the history after the crash')
  and cmp_ok($kept, '<=', $seen + 1, '... and at most one more (recorded, result not sent)');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM parallel_guard.history WHERE application_name = 'stream' "
		  . "AND statement = 'CREATE TABLE crash_$kept AS SELECT k FROM src'"),
	'1', 'the newest run in the history after the crash is the last run recorded');
my ($pre_attempts) = $stats_pre_crash =~ /\|postgres\|(\d+)\|/;
my ($post_attempts) =
  $node->safe_psql('postgres', $STATS) =~ /\|postgres\|(\d+)\|/;
cmp_ok($post_attempts, '>=', $pre_attempts,
	'the stats counted before the crash are still there');
# A run appends its history entry, then its stats entry: a kill between the
# two leaves the last run in the history only.
cmp_ok($post_attempts, '>=', 9 + 1 + $seen, 'the stats count every run the client saw');
cmp_ok($post_attempts, '<=', 9 + 1 + $kept, '... and no run the history lacks');

# --- 5. retention by age -----------------------------------------------------
$node->safe_psql('postgres',
	"ALTER SYSTEM SET parallel_guard.history_max_age = '1s'; SELECT pg_reload_conf()");
ok(poll_until($node, 'SELECT count(*) FROM parallel_guard.history', '0'),
	'history_max_age 1s: older runs are not shown');
$node->restart;
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET parallel_guard.history_max_age; SELECT pg_reload_conf()");
ok(poll_until($node, "SELECT current_setting('parallel_guard.history_max_age')", '0'),
	'the age limit is lifted');
is($node->safe_psql('postgres', 'SELECT count(*) FROM parallel_guard.history'),
	'0', 'runs past the age were dropped at the restart, not only hidden');

# --- 6. resets clear the files -------------------------------------------------
$node->safe_psql('postgres', "$GUARD CREATE TABLE before_reset AS SELECT k FROM src;");
$node->safe_psql('postgres',
	'SELECT parallel_guard.history_reset(); SELECT parallel_guard.stats_reset()');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM parallel_guard.history'),
	'0', 'history_reset(): nothing comes back after a restart');
is($node->safe_psql('postgres', 'SELECT count(*) FROM parallel_guard.stats'),
	'0', 'stats_reset(): nothing comes back after a restart');

# --- 7. a file of another format ------------------------------------------------
$node->safe_psql('postgres', "$GUARD CREATE TABLE kept AS SELECT k FROM src;");
$node->stop;
my $file = $node->data_dir . '/pg_stat/parallel_guard.history';
ok(-s $file, 'the snapshot is written at shutdown');
is(-s $node->data_dir . '/pg_stat/parallel_guard.journal',
	16, '... and the journal emptied into it (its header only)');
open(my $fh, '>', $file) or die "$file: $!";
print $fh "not a parallel_guard file at all";
close($fh);
$off = log_offset($node);
$node->start;
ok(wait_log($node, $off, qr/ignoring file "pg_stat\/parallel_guard.history" of another format/, 30),
	'a snapshot of another format is ignored with a LOG line');
is($node->safe_psql('postgres', 'SELECT count(*) FROM parallel_guard.history'),
	'0', '... and the server runs with an empty history');

# --- 8. run()'s query_id: the statement its worker parsed -----------------------
# compute_query_id = on: the guard worker, with the caller's settings,
# computes the id of the statement it runs (not of the caller's SELECT).
$node->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION parallel_guard.run(text, int, int, int, interval) TO alice});
for my $t (qw(q1 q1 q2))
{
	q_as('alice', "SELECT * FROM parallel_guard.run('CREATE TABLE $t AS SELECT k FROM src', "
		  . "target => 2, min => 0, retries => 1); DROP TABLE $t;");
}
is( $node->safe_psql('postgres',
		"SELECT string_agg(split_part(statement, ' ', 3) || ':' || (query_id IS NOT NULL), ',' ORDER BY run_id), "
		  . "count(DISTINCT query_id), "
		  . "count(DISTINCT query_id) FILTER (WHERE statement LIKE '%q1 %') "
		  . "FROM parallel_guard.history WHERE guarded_by = 'run()'"),
	'q1:true,q1:true,q2:true|2|1',
	"run(): query_id is the guarded statement's (the same for the same statement, another for another)");

$node->stop;
done_testing();
