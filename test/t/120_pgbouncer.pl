
# 120_pgbouncer.pl: guarded calls through Debian's pgbouncer in transaction
# pooling mode (README "Through pgbouncer").
#
# The test starts its own pgbouncer as the OS user that runs it, on a
# private loopback port and a private Unix socket directory, in front of
# the throwaway cluster (pool_mode = transaction, default_pool_size = 1: one
# server connection, so "the pooled connection" is one backend pid), and
# stops it at the end, even on failure.  Checked:
#  - the result row comes back through the pool, and the call holds its
#    server connection (the one backend) for its whole duration: another
#    client waits until the call has ended;
#  - a client cancel, forwarded by pgbouncer to the server, stops the
#    guard's worker and leaves nothing (no table, no guard or parallel
#    worker, no lock): psql's SIGINT (as Ctrl-C), JDBC's Statement.cancel()
#    and JDBC's setQueryTimeout (Debian's libpostgresql-jdbc-java, over
#    127.0.0.1); each time the client gets 57014, and the pooled server
#    connection (the same backend pid) runs the client's next statement
#    right after;
#  - statement_timeout of the batch role (server side, the README's
#    advice) ends a call that runs too long with 57014 and keeps the pooled
#    connection; pgbouncer's query_timeout instead drops the server
#    connection: with client_connection_check_interval set, the server
#    notices at once and the guarded run is rolled back; without it, the
#    run goes on and commits its table after the client was told it failed;
#  - statements guarded as written through the pool: batch_role of
#    test/clients/as_written_setup.sql (ALTER ROLE batch_role SET
#    parallel_guard.target = 4) runs a plain CREATE TABLE AS with psql -c
#    (the tag "SELECT 200000" comes back), and test/clients' JDBC example
#    GuardedAsWritten (bind parameters, server-prepared, its own
#    transaction): each has its parallel_guard.history row, verdict met,
#    4 workers, guarded_by parallel_guard.target, in the pool's server
#    connection.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $PGBOUNCER = '/usr/sbin/pgbouncer';
my $JDBC_JAR = '/usr/share/java/postgresql.jar';
for ($PGBOUNCER, $JDBC_JAR)
{
	BAIL_OUT("$_ is missing (test/check.sh installs it)") unless -e $_;
}

my $node = guard_node(
	'pgbouncer',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		# the query_timeout case: the server notices a dropped client
		"client_connection_check_interval = '200ms'"
	],
	tables => [ [ big => 100_000 ], [ slow => 2000 ] ]);
# The batch roles; pgb_timeout also has a statement_timeout.
batch_role($node, $_, 'postgres', 'big', 'slow') for qw(pgb_batch pgb_timeout);
$node->safe_psql('postgres', "ALTER ROLE pgb_timeout SET statement_timeout = '3s'");
# The as-written batch role of test/clients (and its source table).
my $CLIENTS = "$FindBin::RealBin/../clients";
$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file("$CLIENTS/as_written_setup.sql"));

# --- pgbouncer ---------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $server = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
my ($bouncer, $bouncer_out) = (undef, '');

sub write_ini
{
	my ($query_timeout) = @_;
	open my $fh, '>', "$dir/pgbouncer.ini" or die $!;
	print $fh <<"EOF";
[databases]
postgres = $server
; the same database through a pool whose queries pgbouncer times out
postgres_qt = $server

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/users.txt
admin_users = pgb_admin
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
; pgjdbc sends it at connect
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
query_timeout = $query_timeout
EOF
	close $fh;
	return;
}

write_ini(0);
PostgreSQL::Test::Utils::append_to_file("$dir/users.txt",
	qq{"pgb_batch" ""\n"pgb_timeout" ""\n"pgb_admin" ""\n"batch_role" ""\n});
$bouncer = IPC::Run::start([ $PGBOUNCER, "$dir/pgbouncer.ini" ],
	'<', \undef, '>&', \$bouncer_out);

# Stop the pgbouncer this test started, whatever happened.
END { stop_process($bouncer) }

my $deadline = time + 30;
usleep(50_000) until -S "$dir/.s.PGSQL.$port" || time > $deadline;
ok(-S "$dir/.s.PGSQL.$port", "pgbouncer listens on $dir, port $port")
  or BAIL_OUT("pgbouncer did not start: $bouncer_out");

sub pooled { my ($user, $db) = @_; return "host=$dir port=$port dbname=" . ($db // 'postgres') . " user=$user" }

my $ctl = GuardTap::Session->new($node, 'control');

# What must hold after every interrupted call.
sub nothing_left
{
	my ($label, $table) = @_;
	ok(poll_until($node, $LEFTOVER_SQL, '0'),
		"$label: no parallel_guard or parallel worker backend remains");
	is($ctl->query("SELECT to_regclass('$table') IS NULL"), 't', "$label: no table $table");
	is( $ctl->query(
			"SELECT count(*) FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()"),
		'0', "$label: no lock is held");
	return;
}

# Waits until the guard's worker for $table runs with its parallel workers.
sub workers_running
{
	my ($table, $n) = @_;
	return poll_until(
		$node,
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' "
		  . "AND leader_pid IN (SELECT pid FROM pg_stat_activity WHERE backend_type = "
		  . "'parallel_guard' AND query LIKE '%$table%')",
		$n, 30);
}

# About 8 s with 4 workers and the leader: long enough to be interrupted.
sub slow_call
{
	my ($table) = @_;
	return "SELECT * FROM parallel_guard.run('CREATE TABLE $table AS "
	  . "SELECT k FROM slow WHERE pg_sleep(0.02) IS NOT NULL', target => 4, min => 2, retries => 1)";
}

# --- the result row ------------------------------------------------------------
my $psql = GuardTap::Session->new($node, 'through pgbouncer', pooled('pgb_batch'));
my $backend = $psql->pid;
my $r = $psql->run("SELECT * FROM parallel_guard.run('CREATE TABLE pgb_tgt AS SELECT k FROM big', "
	  . "target => 4, min => 2, retries => 3)");
like("$r->{sqlstate}|$r->{out}", qr/^00000\|4\|1\|t\|4\|100000\|met\|\d+$/,
	'through pgbouncer (transaction pooling): the result row comes back');
is($ctl->query("SELECT count(*) FROM pgb_tgt"), '100000', 'the table has its rows');
is($ctl->query("SELECT pid FROM parallel_guard.history WHERE statement LIKE '%pgb_tgt%'"),
	$backend, 'the call ran in the pooled server connection');

# --- psql's SIGINT --------------------------------------------------------------
# psql -c, as a batch job would call it: on SIGINT psql sends a cancel
# request (to pgbouncer, which forwards it) and, not being interactive,
# exits after the error.
$psql->quit;
{
	my $label = 'psql SIGINT through pgbouncer';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-v', 'VERBOSITY=verbose',
			'-d', pooled('pgb_batch'), '-c', slow_call('pgb_sigint')
		],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(90));
	ok(workers_running('pgb_sigint', 4), "$label: the guard's worker runs with 4 parallel workers");
	is( $ctl->query(
			"SELECT count(*) FROM parallel_guard.queue WHERE pid = $backend AND state = 'running'"),
		'1', "$label: the call holds the pooled server connection (pid $backend) while it runs");
	# The pool's one server connection is taken: another client waits.
	my ($o2, $e2) = ('', '');
	my $other = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAt', '-d', pooled('pgb_batch'), '-c', 'SELECT 2' ],
		'<', \undef, '>', \$o2, '2>', \$e2, IPC::Run::timeout(90));
	usleep(1_000_000);
	$other->pump_nb;
	is($o2, '', "$label: another client waits for the pool's server connection meanwhile");
	$h->signal('INT');
	eval { $h->finish; 1 } or do { diag("psql: $@"); $h->kill_kill };
	eval { $other->finish; 1 } or do { diag("psql: $@"); $other->kill_kill };
	is($o2, "2\n", "$label: and gets it once the call has ended") or diag($e2);
	like($err, qr/Cancel request sent.*ERROR:  57014: canceling statement due to user request/s,
		"$label: pgbouncer forwarded the cancel, the client gets 57014")
	  or diag($err);
	is($ctl->query($LEFTOVER_SQL), '0', "$label: the worker is gone when the error returns");
	nothing_left($label, 'pgb_sigint');
	$psql = GuardTap::Session->new($node, 'next client', pooled('pgb_batch'));
	is($psql->pid, $backend,
		"$label: the pooled server connection (pid $backend) serves the next client");
	my $res = $psql->run('SELECT 1');
	is("$res->{sqlstate}|$res->{out}", '00000|1', "$label: and runs its statements");
	$psql->quit;
}

# --- JDBC: Statement.cancel() and setQueryTimeout --------------------------------
my $classes = PostgreSQL::Test::Utils::tempdir('classes');
my ($javac_out, $javac_err) = ('', '');
my $javac_ok = IPC::Run::run(
	[ 'javac', '-cp', $JDBC_JAR, '-d', $classes, "$FindBin::RealBin/jdbc/CancelGuardedCall.java" ],
	'>', \$javac_out, '2>', \$javac_err);
ok($javac_ok, 'javac CancelGuardedCall.java') or diag($javac_err);

sub jdbc_cancel
{
	my ($mode, $table) = @_;
	my $label = $mode eq 'cancel' ? 'JDBC Statement.cancel()' : 'JDBC setQueryTimeout(3)';
	$label .= ' through pgbouncer';
	my ($in, $out, $err) = ('', '', '');
	my $url = "jdbc:postgresql://127.0.0.1:$port/postgres?user=pgb_batch&prepareThreshold=0";
	my $h = IPC::Run::start(
		[
			'java', '-cp', "$classes:$JDBC_JAR", 'CancelGuardedCall', $url, $mode, 3,
			slow_call($table)
		],
		'<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout(90));
	$h->pump until $out =~ /^pid (\d+)$/m || !$h->pumpable;
	my ($pid) = $out =~ /^pid (\d+)$/m;
	ok(defined $pid, "$label: connected") or diag($err);
	$pid //= 0;
	ok(workers_running($table, 4), "$label: the guard's worker runs with 4 parallel workers");
	is( $ctl->query(
			"SELECT count(*) FROM parallel_guard.queue WHERE pid = $pid AND state = 'running'"),
		'1', "$label: the call runs in the pooled server connection (pid $pid)");
	$in .= "cancel\n" if $mode eq 'cancel';
	eval { $h->finish; 1 } or do { diag("java: $@"); $h->kill_kill };
	like($out, qr/^sqlstate 57014 .*canceling statement due to user request/m,
		"$label: the client gets 57014, the cancel reached the guarded call")
	  or diag("stdout: $out\nstderr: $err");
	is($ctl->query($LEFTOVER_SQL), '0', "$label: the worker is gone once the client has the error");
	nothing_left($label, $table);
	like($out, qr/^after $pid$/m,
		"$label: the pooled server connection (pid $pid) runs the next statement");
	return;
}

SKIP:
{
	skip 'javac failed', 2 unless $javac_ok;
	jdbc_cancel('cancel', 'pgb_jdbc_cancel');
	jdbc_cancel('timeout', 'pgb_jdbc_timeout');
}

# --- statement_timeout of the batch role ----------------------------------------
{
	my $label = 'statement_timeout (3s, of the role) through pgbouncer';
	my $s = GuardTap::Session->new($node, 'timeout role', pooled('pgb_timeout'));
	my $pid = $s->pid;
	my $res = $s->run(slow_call('pgb_stmt_timeout'));
	is($res->{sqlstate}, '57014', "$label: the client gets 57014") or diag($res->{err});
	like($res->{err}, qr/canceling statement due to statement timeout/,
		"$label: the server's statement_timeout ended the call");
	nothing_left($label, 'pgb_stmt_timeout');
	$res = $s->run('SELECT pg_backend_pid()');
	is("$res->{sqlstate}|$res->{out}", "00000|$pid",
		"$label: the pooled server connection (pid $pid) runs the next statement");
	$s->quit;
}

# --- guarded as written (batch_role's parallel_guard.target) ---------------------
{
	my $label = 'as written through pgbouncer';
	my $aw_hist = sub {
		my ($table) = @_;
		return $ctl->query(
			"SELECT usename || '|' || verdict || '|' || achieved_workers || '|' || attempts || '|' "
			  . "|| row_count || '|' || guarded_by || '|' || pid FROM parallel_guard.history "
			  . "WHERE statement LIKE '%$table%'");
	};
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			$node->installed_command('psql'), '-X', '-d', pooled('batch_role'),
			'-c', 'CREATE TABLE pgb_aw_plain AS SELECT k FROM client_demo_src',
			'-c', 'SELECT pg_backend_pid()'
		],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	like($out, qr/\ASELECT 200000\n/, "$label, psql -c: a plain CREATE TABLE AS returns the tag SELECT 200000")
	  or diag($err);
	my ($pid) = $out =~ /^\s*(\d+)$/m;
	like($err, qr/NOTICE:  parallel_guard: attempt 1 of 5: planned 4, launched 4 parallel workers: target 4 met/,
		"$label, psql -c: the attempt's NOTICE reaches the client");
	is($aw_hist->('pgb_aw_plain'), 'batch_role|met|4|1|200000|parallel_guard.target|' . ($pid // '?'),
		"$label, psql -c: history row (met, 4 workers, guarded by parallel_guard.target) in the pooled connection");

	my $classes_aw = PostgreSQL::Test::Utils::tempdir('classes_aw');
	my $ok = IPC::Run::run(
		[ 'javac', '-cp', $JDBC_JAR, '-d', $classes_aw, "$CLIENTS/java/GuardedAsWritten.java" ],
		'>', \$out, '2>', \$err);
	ok($ok, 'javac GuardedAsWritten.java') or diag($err);
	SKIP:
	{
		skip 'javac failed', 3 unless $ok;
		($out, $err) = ('', '');
		local $ENV{PG_JDBC_URL} = "jdbc:postgresql://127.0.0.1:$port/postgres";
		local $ENV{PGUSER} = 'batch_role';
		# pgbouncer 1.21 and later (trixie's) prepare the statement on the
		# server under a name of its own (PGBOUNCER_n), pgjdbc's S_n before.
		my $rc = IPC::Run::run(
			[ 'java', '-cp', "$classes_aw:$JDBC_JAR", 'GuardedAsWritten', 'pgb_aw_jdbc' ],
			'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
		like($out, qr/^guarded_as_written \(java\): table=pgb_aw_jdbc rows=100000 server_prepared=(?:S|PGBOUNCER)_\d+$/m,
			"$label, JDBC (bind parameters, server-prepared, own transaction): exit 0, executeUpdate() returns 100000")
		  or diag("exit $?; stdout: $out\nstderr: $err");
		like($aw_hist->('pgb_aw_jdbc'), qr/^batch_role\|met\|4\|1\|100000\|parallel_guard\.target\|\d+$/,
			"$label, JDBC: history row, met, 4 workers, guarded by parallel_guard.target");
		is($ctl->query("SELECT statement LIKE '%WHERE k \\% \$1 = \$2' FROM parallel_guard.history "
			  . "WHERE statement LIKE '%pgb_aw_jdbc%'"), 't',
			"$label, JDBC: the guarded statement had its bind parameters (\$1, \$2)");
	}
}

# --- pgbouncer's query_timeout ---------------------------------------------------
{
	my $label = "pgbouncer's query_timeout (2 s)";
	write_ini(2);
	my ($o, $e) = ('', '');
	IPC::Run::run(
		[ $node->installed_command('psql'), '-X', '-d', pooled('pgb_admin', 'pgbouncer'), '-c', 'RELOAD' ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(30));
	IPC::Run::run(
		[ $node->installed_command('psql'), '-XAt', '-d', pooled('pgb_admin', 'pgbouncer'), '-c', 'SHOW CONFIG' ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(30));
	like($o, qr/^query_timeout\|2\|/m, "$label: set by RELOAD on pgbouncer's console") or diag($e);
	my $s = GuardTap::Session->new($node, 'query_timeout', pooled('pgb_batch'));
	my $pid = $s->pid;
	my $res = $s->run(slow_call('pgb_query_timeout'));
	like($res->{err}, qr/FATAL:  08P01: query timeout/, "$label: pgbouncer ends the client's call")
	  or diag($res->{err});
	# pgbouncer closed the server connection; with
	# client_connection_check_interval the backend notices within 200 ms.
	ok( poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0'),
		"$label: the server connection (pid $pid) was closed and its backend has exited");
	nothing_left($label, 'pgb_query_timeout');
	$s->quit;

	# Without client_connection_check_interval the server does not notice
	# the dropped connection while the call waits: the run goes on, and its
	# table is committed although the client was told the query failed.
	$label = "pgbouncer's query_timeout without client_connection_check_interval";
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET client_connection_check_interval = 0; SELECT pg_reload_conf()');
	$s = GuardTap::Session->new($node, 'query_timeout unchecked', pooled('pgb_batch'));
	$res = $s->run(slow_call('pgb_qt_unchecked'));
	like($res->{err}, qr/FATAL:  08P01: query timeout/, "$label: pgbouncer ends the client's call")
	  or diag($res->{err});
	is($ctl->query("SELECT to_regclass('pgb_qt_unchecked') IS NULL"),
		't', "$label: when the client has its error, the table is not there yet");
	ok( poll_until(
			$node,
			"SELECT verdict FROM parallel_guard.history WHERE statement LIKE '%pgb_qt_unchecked%'",
			'met', 60),
		"$label: the guarded run goes on and commits");
	is($ctl->query('SELECT count(*) FROM pgb_qt_unchecked'), '2000',
		"$label: the table the client was told failed exists");
	$s->quit;
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET client_connection_check_interval; SELECT pg_reload_conf()');
	write_ini(0);
}

$ctl->quit;
$node->stop;
done_testing();
