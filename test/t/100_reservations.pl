
# 100_reservations.pl: with parallel_guard in shared_preload_libraries, the
# run at the head of the queue reserves its target, and ordinary parallel
# launches in every backend take only the workers nobody reserved (pool:
# max_parallel_workers = 8).
#
# A "holder" is an ordinary query whose 4 parallel workers stay alive until
# the test lets them go (each participant blocks on its own row in hold());
# a "probe" is an ordinary parallel query (Gather, 4 planned) run under
# EXPLAIN ANALYZE, whose Workers Launched is read.  With the holder's 4
# workers running and a guarded run of target 6 waiting at the head (it
# reserves 6), PostgreSQL alone would give a probe 4 workers (8 - 4); under
# the reservation it gets 0, since 8 - 6 - 4 < 0.  So:
#
#  - ordinary queries yield only while a reservation is held: a probe gets 4
#    before, 0 while the run waits (queue view: reserved_workers 6), and 4
#    again once the run has launched and ended; a superuser session with
#    parallel_guard.yield_to_reservations = off still gets 4; the guarded
#    run launches its full 6 as soon as the holder lets go;
#  - VACUUM (PARALLEL 4, VERBOSE) and a parallel CREATE INDEX in another
#    session yield too: 0 workers while the reservation is held, 4 after;
#  - parallel_guard.stats counts the probe held back (workers withheld) and
#    the run met; stats_reset() clears it;
#  - parallel_guard.max_reserved_workers = 2: the waiting run reserves only
#    2 and the probe gets 2;
#  - a statement that launches twice (an Append over two Gathers, with a
#    serial branch in between) keeps its reservation between its launches:
#    while its first launch's workers are gone and a holder runs, the view
#    shows its 4 workers reserved and an ordinary query gets 0; its second
#    launch gets its 4;
#  - a reserving backend that is terminated or killed (SIGKILL, crash
#    restart) leaves no reservation behind: the probe gets 4 at once;
#  - a guarded run of target 4, min 4, one attempt, meets its target while
#    two other sessions launch ordinary parallel queries in a loop, three
#    times over;
#  - 40 guarded jobs at once, with two competitors looping, all meet their
#    target at their first attempt (no short attempt in the server log);
#  - no head-of-line stall: a run waiting out a 6 s delay after a short
#    attempt does not hold up a run that arrives behind it;
#  - a non-superuser can change none of the settings, nor reset the stats
#    (since 1.4 it may read them: counts only).
#
# Every assertion is on worker counts or order, none on time; every wait is
# bounded.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = guard_node(
	'reservations',
	conf => [
		@RESERVATION_POOL,
		'max_connections = 60',
		'restart_after_crash = on',
		"parallel_guard.queue_timeout = '60s'",
	],
	tables => [ [ 'big', 100000 ], [ 'wide', 100000 ], [ 'b2', 100000 ] ]);

holder_fixture($node);
$node->safe_psql('postgres', <<'SQL');
ALTER TABLE wide SET (parallel_workers = 6);
-- Tables for parallel VACUUM: 5 indexes (the leader takes one, 4 workers).
DO $$
DECLARE c text;
BEGIN
  FOR i IN 1 .. 4 LOOP
    EXECUTE format('CREATE TABLE vac%s (a int, b int, c int, d int, e int) '
                   'WITH (autovacuum_enabled = off)', i);
    FOREACH c IN ARRAY ARRAY['a', 'b', 'c', 'd', 'e'] LOOP
      EXECUTE format('CREATE INDEX ON vac%s (%s)', i, c);
    END LOOP;
  END LOOP;
END $$;
-- A table whose index build is slow enough to be watched.
CREATE TABLE idx AS SELECT g AS k FROM generate_series(1, 3000) g;
ALTER TABLE idx SET (parallel_workers = 4);
CREATE FUNCTION slow_key(k int) RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN PERFORM pg_sleep(0.001); RETURN k; END $$;
CREATE ROLE joe LOGIN;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO joe;
SQL

my $ctl = GuardTap::Session->new($node, 'control');
my @sessions;

sub session
{
	my ($name) = @_;
	my $s = GuardTap::Session->new($node, $name);
	$s->query($GUARD_SETTINGS);
	push @sessions, $s;
	return $s;
}

# Workers Launched of an ordinary parallel query in session $s.
sub probe
{
	my ($s) = @_;
	my $plan = $s->query(
		'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM big');
	return $plan =~ /Workers Launched: (\d+)/ ? $1 : "none in: $plan";
}

# Dead rows in vac$i for a VACUUM to remove: made before any long query
# starts, whose snapshot would keep them (no index vacuuming, no launch).
sub make_dead_rows
{
	my ($i) = @_;
	$ctl->query("INSERT INTO vac$i SELECT g, g, g, g, g FROM generate_series(1, 20000) g; "
		  . "DELETE FROM vac$i WHERE a % 2 = 0");
	return;
}
make_dead_rows($_) for 1 .. 4;

# VACUUM (PARALLEL 4) of vac$i in session $s: its launched workers.
sub vacuum_launched
{
	my ($s, $i) = @_;
	my $r = $s->run("SET min_parallel_index_scan_size = 0; VACUUM (PARALLEL 4, VERBOSE) vac$i");
	return $r->{err} =~ /launched (\d+) parallel vacuum workers? for index vacuuming/
	  ? $1
	  : "none ($r->{sqlstate}): $r->{err}";
}

# The most parallel workers seen while session $s builds an index on slow_key(k).
my $idx_round = 0;
sub index_build_workers
{
	my ($s) = @_;
	$idx_round++;
	return most_workers($ctl, $s, "SET maintenance_work_mem = '256MB'; "
		  . "CREATE INDEX idx_$idx_round ON idx (slow_key(k))");
}

my $hold_round = 0;
# Starts an ordinary query whose 4 workers stay until release(); returns
# [session, statement number, tag].
sub start_holder
{
	my ($label) = @_;
	my $tag = 'h' . ++$hold_round;
	return GuardTap::start_holder($ctl, session("holder $tag"), $tag, $label);
}

sub release { return release_holder($ctl, $_[0]) }

# Starts a guarded run of target 6 on wide and waits until it is waiting at
# the head with $reserved workers reserved.
my $run_round = 0;
sub start_reserver
{
	my ($label, $reserved) = @_;
	my $t = 'g' . ++$run_round;
	my $s = session("reserver $t");
	my $n = $s->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE $t AS SELECT count(*) FROM wide', target => 6, min => 6, retries => 1)");
	my $pid = $s->pid;
	ok( $ctl->poll(
			"SELECT state || ':' || reserved_workers FROM parallel_guard.queue WHERE pid = $pid",
			"waiting:$reserved", 30),
		"$label: the guarded run waits at the head with $reserved workers reserved");
	return [ $s, $n, $t ];
}

sub no_reservation
{
	return $ctl->poll('SELECT coalesce(sum(reserved_workers), 0) FROM parallel_guard.queue',
		'0', 30);
}

is($ctl->query('SHOW parallel_guard.yield_to_reservations'), 'on',
	'ordinary queries yield to reservations by default');
# The control session keeps the default costs: its looks at pg_stat_activity
# must not launch parallel workers of their own.
$ctl->query('SELECT parallel_guard.stats_reset()');

# --- ordinary queries yield while, and only while, a reservation is held ----
{
	my $label = 'yield';
	my $o = session('probe');
	is(probe($o), 4, "$label: an ordinary query gets 4 workers from the idle pool");
	my $h = start_holder($label);
	is(probe($o), 4, "$label: ... and 4 while the holder has 4 (no reservation)");
	is(vacuum_launched($o, 1), 4, "$label: VACUUM (PARALLEL 4) gets 4 workers (no reservation)");
	my $g = start_reserver($label, 6);
	is(probe($o), 0, "$label: under the reservation of 6 the ordinary query gets 0 workers");
	is(probe($o), 0, "$label: ... again on its next launch");
	is(vacuum_launched($o, 2), 0, "$label: VACUUM (PARALLEL 4) in another session yields: 0 workers");
	is(index_build_workers($o), 0, "$label: a parallel CREATE INDEX in another session yields: 0 workers");
	my $su = session('superuser without yield');
	$su->query('SET parallel_guard.yield_to_reservations = off');
	is(probe($su), 4, "$label: a session with yield_to_reservations off still gets 4");
	is($ctl->query("SELECT state FROM parallel_guard.queue WHERE pid = " . $g->[0]->pid),
		'waiting', "$label: the guarded run is still waiting");
	ok(release($h), "$label: the holder ends");
	my $r = $g->[0]->result($g->[1], 60);
	is("$r->{sqlstate}|$r->{out}", '00000|6|1',
		"$label: the guarded run launches its full target 6 at its first attempt");
	ok(no_reservation(), "$label: no reservation is left");
	is(probe($o), 4, "$label: the ordinary query gets 4 workers again");
	is(vacuum_launched($o, 3), 4, "$label: VACUUM (PARALLEL 4) gets 4 again");
	is(index_build_workers($o), 4, "$label: the parallel CREATE INDEX gets 4 again");

	my ($held, $withheld, $met, $attempts) = split /\|/, $ctl->query(
		"SELECT ordinary_launches_held_back, ordinary_workers_withheld, runs_met, attempts "
		  . "FROM parallel_guard.stats WHERE database = 'postgres' AND usename = current_user");
	# Counted: the two capped launches of the probe (4 workers each, which
	# the pool minus the holder's 4 had free); not the yielding VACUUM and
	# index build (capped as whole commands, no count of their own), nor the
	# session with yield_to_reservations off.
	is($held, 2, "$label: parallel_guard.stats counts the 2 held-back launches");
	is($withheld, 8, "$label: ... and the 8 workers withheld from them");
	is("$met|$attempts", '1|1', "$label: ... and the guarded run that met its target at its one attempt");
	$ctl->query('SELECT parallel_guard.stats_reset()');
	is($ctl->query('SELECT count(*) FROM parallel_guard.stats'), '0', "$label: stats_reset() clears the counters");
	$_->quit for @sessions;
	@sessions = ();
}

# --- the cap on reserved workers ---------------------------------------------
{
	my $label = 'cap';
	$ctl->query('ALTER SYSTEM SET parallel_guard.max_reserved_workers = 2');
	$ctl->query('SELECT pg_reload_conf()');
	ok($ctl->poll('SHOW parallel_guard.max_reserved_workers', '2', 10), "$label: max_reserved_workers = 2");
	my $o = session('probe');
	my $h = start_holder($label);
	my $g = start_reserver($label, 2);
	is(probe($o), 2, "$label: the ordinary query gets the 2 workers the cap leaves it (8 - 2 reserved - 4 running)");
	ok(release($h), "$label: the holder ends");
	my $r = $g->[0]->result($g->[1], 60);
	is("$r->{sqlstate}|$r->{out}", '00000|6|1', "$label: the guarded run still gets its 6 once they are free");
	$ctl->query('ALTER SYSTEM RESET parallel_guard.max_reserved_workers');
	$ctl->query('SELECT pg_reload_conf()');
	ok($ctl->poll('SHOW parallel_guard.max_reserved_workers', '-1', 10), "$label: cap reset");
	$_->quit for @sessions;
	@sessions = ();
}

# --- a terminated reserving backend releases its reservation -----------------
{
	my $label = 'terminate';
	my $o = session('probe');
	my $h = start_holder($label);
	my $g = start_reserver($label, 6);
	is(probe($o), 0, "$label: the ordinary query yields to the reservation");
	$ctl->query('SELECT pg_terminate_backend(' . $g->[0]->pid . ')');
	ok(defined $g->[0]->wait_exit(30), "$label: the reserving backend's connection is closed");
	# It reports FATAL to the client before its exit callbacks run.
	ok($ctl->poll('SELECT count(*) FROM pg_stat_activity WHERE pid = ' . $g->[0]->pid, '0', 30),
		"$label: the reserving backend has exited");
	is(probe($o), 4, "$label: its reservation went with it: the ordinary query gets 4 at once")
	  or diag($ctl->query("SELECT backend_type, leader_pid, state FROM pg_stat_activity")
		  . "\n" . $ctl->query('SELECT * FROM parallel_guard.queue'));
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty");
	ok(release($h), "$label: the holder ends");
	$_->quit for @sessions;
	@sessions = ();
}

# --- a guarded run meets its target while others launch in a loop ------------
my $comp_round = 0;
sub competitor
{
	my $tag = 'c' . ++$comp_round;
	return start_competitor(session("competitor $tag"), $tag, 'SELECT count(*) FROM big');
}

{
	my $label = 'competitors';
	my @c = (competitor(), competitor());
	usleep(300_000);
	my $g = session('guarded');
	for my $i (1 .. 3)
	{
		my $r = $g->run("SELECT achieved_workers, attempts FROM parallel_guard.run("
			  . "'CREATE TABLE comp_$i AS SELECT count(*) FROM big', target => 4, min => 4, retries => 1)", 60);
		is("$r->{sqlstate}|$r->{out}", '00000|4|1',
			"$label: run $i of target 4 (min 4, one attempt) gets its 4 workers while two sessions launch in a loop")
		  or diag($r->{err});
	}
	my @l = map { stop_competitor($node, $_) } @c;
	cmp_ok(scalar(@l), '>', 10, "$label: the competitors launched all along (" . scalar(@l) . " launches)");
	ok((grep { $_ == 4 } @l), "$label: ... and got their 4 workers when nobody had reserved them");
	$_->quit for @sessions;
	@sessions = ();
}

# --- 40 guarded jobs at once on a pool of 8 ------------------------------------
{
	my $label = '40 jobs';
	my @c = (competitor(), competitor());
	my $off = log_offset($node);
	my @jobs;
	for my $i (1 .. 40)
	{
		my $s = session("job $i");
		push @jobs, [ $s, $s->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
				  . "'CREATE TABLE job_$i AS SELECT count(*) FROM big WHERE pg_sleep(0) IS NOT NULL', "
				  . "target => 4, min => 4, retries => 3, delay => '100ms')") ];
	}
	my %outcome;
	for my $j (@jobs)
	{
		my $r = $j->[0]->result($j->[1], 180);
		$outcome{"$r->{sqlstate}|$r->{out}"}++;
	}
	stop_competitor($node, $_) for @c;
	is_deeply(\%outcome, { '00000|4|1' => 40 },
		"$label: every job met its target 4 at its first attempt")
	  or diag(explain \%outcome);
	my @short = grep { $_->{verdict} ne 'met' } parse_attempts(log_since($node, $off));
	is(scalar(@short), 0, "$label: no wasted attempt in the server log");
	$_->quit for @sessions;
	@sessions = ();
}

# --- no head-of-line stall while a run waits out its delay ------------------------
{
	my $label = 'delay';
	my $a = session('short run');
	# Its own max_parallel_workers caps it at 2: the first attempt is short.
	$a->query('SET max_parallel_workers = 2');
	my $off = log_offset($node);
	my $an = $a->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE hol_a AS SELECT count(*) FROM big', target => 4, min => 0, retries => 2, delay => '6s')");
	ok(wait_log($node, $off, qr/attempt=1\/2 .*verdict=short/, 30), "$label: the first run's attempt 1 is short");
	ok($ctl->poll('SELECT state FROM parallel_guard.queue WHERE pid = ' . $a->pid, 'delaying', 10),
		"$label: it waits out its delay as 'delaying' in the queue view");
	my $b = session('run behind');
	my $r = $b->run("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE hol_b AS SELECT count(*) FROM big', target => 4, min => 4, retries => 1)", 60);
	is("$r->{sqlstate}|$r->{out}", '00000|4|1', "$label: a run arriving behind it gets its 4 workers");
	ok(!$a->finished($an), "$label: ... while the first run is still waiting out its delay");
	my $ra = $a->result($an, 60);
	is("$ra->{sqlstate}|$ra->{out}", '00000|2|2', "$label: the first run then makes its second attempt");
	$_->quit for @sessions;
	@sessions = ();
}

# --- a run back from its delay keeps its place in the queue ------------------------
# A (capped at 2 by its own session) is short in an idle pool and waits out
# its delay out of line.  Meanwhile the holder takes 4 workers and W arrives,
# waiting at the head for 6.  Back from its delay, A is in line again before
# W (it arrived first), both waiting for the holder's workers (A's own
# max_parallel_workers 2 counts every parallel worker of the server); once
# the holder ends, both launch.
{
	my $label = 'place kept';
	my $a = session('A');
	$a->query('SET max_parallel_workers = 2');
	my $off = log_offset($node);
	my $apid = $a->pid;
	my $an = $a->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE pk_a AS SELECT count(*) FROM big', target => 4, min => 0, retries => 2, delay => '6s')");
	ok(wait_log($node, $off, qr/\[$apid\] LOG:  parallel_guard: attempt=1\/2 .*verdict=short/, 30),
		"$label: A's attempt 1 is short (2 of 4)");
	ok($ctl->poll("SELECT state FROM parallel_guard.queue WHERE pid = $apid", 'delaying', 10),
		"$label: A waits out its delay out of line");
	my $h = start_holder($label);
	my $w = session('W');
	my $wpid = $w->pid;
	my $wn = $w->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE pk_w AS SELECT count(*) FROM wide', target => 6, min => 6, retries => 1)");
	ok($ctl->poll("SELECT state || ':' || queue_position FROM parallel_guard.queue WHERE pid = $wpid",
			'waiting:1', 10),
		"$label: W, arriving during A's delay, waits at the head");
	ok( $ctl->poll(
			"SELECT string_agg(state || ':' || queue_position, ',' ORDER BY pid = $wpid) "
			  . "FROM parallel_guard.queue WHERE pid IN ($apid, $wpid)",
			'waiting:1,waiting:2', 20),
		"$label: back from its delay, A waits in line before W")
	  or diag($ctl->query("SELECT string_agg(pid || ' ' || state || ' ' || coalesce(queue_position::text, '-'), ', ') FROM parallel_guard.queue"));
	ok(release($h), "$label: the holder ends");
	my $ra = $a->result($an, 30);
	is("$ra->{sqlstate}|$ra->{out}", '00000|2|2', "$label: A makes its second attempt")
	  or diag($ra->{err});
	my $rw = $w->result($wn, 60);
	is("$rw->{sqlstate}|$rw->{out}", '00000|6|1', "$label: W then gets its 6");
	$_->quit for @sessions;
	@sessions = ();
}

# --- settings are superuser only ----------------------------------------------------
{
	my $label = 'privileges';
	my $j = GuardTap::Session->new($node, 'joe');
	$j->query("\\connect postgres joe\nSELECT 1");
	is($j->query('SELECT current_user'), 'joe', "$label: connected as joe");
	my %want = (
		"SET parallel_guard.queue_timeout = 0" => '42501',
		"SET parallel_guard.yield_to_reservations = off" => '42501',
		"SET parallel_guard.max_reserved_workers = 0" => '55P02',
		"ALTER ROLE joe SET parallel_guard.queue_timeout = 0" => '42501',
		"ALTER ROLE joe SET parallel_guard.yield_to_reservations = off" => '42501',
		"SELECT parallel_guard.stats_reset()" => '42501',
	);
	for my $sql (sort keys %want)
	{
		my $r = $j->run($sql);
		is($r->{sqlstate}, $want{$sql}, "$label: joe: $sql is refused ($want{$sql})");
	}
	is($j->query('SHOW parallel_guard.queue_timeout'), '1min', "$label: joe's queue_timeout is the server's");
	# 1.4: the stats (counts only) are readable by every role; resetting them is not.
	is($j->run('SELECT count(*) FROM parallel_guard.stats')->{sqlstate},
		'00000', "$label: joe may read the stats");
	$j->quit;
}

# --- a statement that launches twice keeps its workers between launches ------------
{
	my $label = 'two launches';
	my $o = session('probe');
	my $h = start_holder($label);
	my $g = session('two launches');
	$g->query('SET enable_parallel_append = off');
	my $gn = $g->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE two AS SELECT count(*) FROM big UNION ALL SELECT count(*) FROM pg_sleep(3) "
		  . "UNION ALL SELECT count(*) FROM b2', target => 4, min => 4, retries => 1)");
	my $gpid = $g->pid;
	# Between its launches (the serial branch sleeps), nothing of its own is
	# registered: the reservation holds all 4 back.
	ok( $ctl->poll(
			"SELECT state || ':' || reserved_workers FROM parallel_guard.queue WHERE pid = $gpid",
			'running:4', 30),
		"$label: between its two launches the run holds its 4 workers reserved");
	is(probe($o), 0, "$label: an ordinary query then gets 0 workers (8 - 4 held - 4 running)");
	my $r = $g->result($gn, 60);
	is("$r->{sqlstate}|$r->{out}", '00000|4|1', "$label: its second launch gets its 4 workers too")
	  or diag($r->{err});
	ok(no_reservation(), "$label: the reservation ends with the statement");
	is(probe($o), 4, "$label: the ordinary query gets 4 again");
	ok(release($h), "$label: the holder ends");
	$_->quit for @sessions;
	@sessions = ();
}

# --- SIGKILL of a reserving backend: crash restart ---------------------------------
{
	my $label = 'SIGKILL';
	my $o = session('probe');
	my $h = start_holder($label);
	my $g = start_reserver($label, 6);
	is(probe($o), 0, "$label: the ordinary query yields to the reservation");
	my $off = log_offset($node);
	ok(kill('KILL', $g->[0]->pid), "$label: the reserving backend is killed");
	ok(wait_log($node, $off, qr/all server processes terminated; reinitializing/, 60),
		"$label: the postmaster restarts every backend");
	$_->wait_exit(30) for map { $_ } @sessions;
	$ctl->quit;
	@sessions = ();
	ok(poll_until($node, 'SELECT 1', '1', 60), "$label: the server accepts connections again");
	$ctl = GuardTap::Session->new($node, 'control after restart');
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty");
	is(probe(session('probe after restart')), 4, "$label: no reservation survived: the ordinary query gets 4");
	$_->quit for $ctl, @sessions;
}

$node->stop;
done_testing();
