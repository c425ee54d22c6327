
# 070_fuzz.pl: thousands of random argument combinations and random or
# mutated SQL texts thrown at parallel_guard.run().
#
# The calls go to psql in batch files of 100 (psql -f, ON_ERROR_STOP off,
# markers with psql's SQLSTATE after every statement).  Each
# call draws:
#  - target from -1..20 and NULL, min from -1..20 and NULL, retries from
#    -1..4 and NULL, delay from '0', '1 ms', '-1 s' and NULL (mostly from
#    their valid parts, so that most calls get as far as the statement),
#    positional or named, some arguments left to their defaults (never the
#    delay: its default is 2 s);
#  - the SQL text: a seed (CREATE TABLE ... AS in many shapes; SELECT INTO,
#    CREATE MATERIALIZED VIEW, CREATE INDEX and REFRESH MATERIALIZED VIEW on
#    fz relations; the refused kinds: ... AS EXECUTE, WITH NO DATA, temporary
#    tables, CREATE INDEX CONCURRENTLY, several statements, and other commands
#    such as DROP TABLE big, TRUNCATE big, ALTER TABLE big ..., EXPLAIN
#    ANALYZE CREATE TABLE ...) with 0-4 mutations: characters deleted,
#    inserted or replaced, inserted ';', quotes, '$$', comments, keywords
#    (DROP, INSERT, TEMP, INTO, EXECUTE, ...), non-ASCII characters (valid
#    UTF-8: BOM, zero-width space, right-to-left override, combining marks,
#    4-byte characters, U+10FFFF), substrings repeated up to thousands of
#    times, truncation; or an empty text, only a comment, or NULL.
# Every relation a statement names is fz_<n> (new, or one a previous call
# created), or big / other in the commands that must be refused: mutations
# never touch a name or the character on either side of it.  Some calls run
# inside BEGIN (plain, READ ONLY, REPEATABLE READ) ... COMMIT/ROLLBACK, and
# max_parallel_workers of the session changes now and then (0-8), so that
# attempts also fall short.
#
# Checks:
#  - the server never crashed: same postmaster PID and start time, no
#    'terminated by signal', 'server process ... was terminated', PANIC or
#    resource leak warning in the log;
#  - every call returned one well-formed row or raised an ERROR with a
#    SQLSTATE (never a lost connection; each batch of 100 calls bounded at
#    90 s, all the calls at 150 s), and no call raised XX000 (internal error);
#  - every returned row is consistent: 1 <= attempts <= retries, achieved
#    <= planned (when known), achieved >= min, target_met = (achieved >=
#    target), and its relation exists (a table or materialized view with
#    row_count rows, or an index); no fz relation exists that no successful
#    call named;
#  - afterwards pg_class has no new relation but fz_<n> tables, materialized
#    views and indexes on them (and their TOAST tables and indexes),
#    pg_namespace no new schema, the tables big and other are unchanged (row
#    count, checksum of every row, relation file, columns, no index), no
#    parallel_guard or parallel worker backend remains and no other backend
#    holds a lock.
# Then a few delays at the ends of the interval range, one attempt each (so
# that no delay is ever waited): a positive delay must be accepted and a
# negative one refused with 22023.
# diag() prints the number of calls, how many returned a row, and the errors
# by SQLSTATE, and a summary line "fuzz summary: calls N, ..., crashes C".
# The node preloads the library (shared_preload_libraries), so the queue and
# the history are in play, with parallel_guard.queue_timeout = 2s so that a
# session whose max_parallel_workers is lowered never waits long.
# The seed is fixed; PG_GUARD_FUZZ_SEED (or FUZZ_SEED) changes it and
# PG_GUARD_FUZZ_CALLS (or FUZZ_N) the number of calls.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;

my $SEED = $ENV{PG_GUARD_FUZZ_SEED} // $ENV{FUZZ_SEED} // 70707;
# 500 calls (1000 before; the calls that reach a worker take nearly all of
# the time): the first calls draw every template once (see random_sql), so
# every statement kind, accepted and refused, is called whatever the count;
# the default seed's 500 calls returned rows of every accepted kind (tables,
# SELECT INTO, materialized views, indexes, refreshes: diag "templates").
my $CALLS = $ENV{PG_GUARD_FUZZ_CALLS} // $ENV{FUZZ_N} // 500;
my $CALL_TIMEOUT = 90;   # seconds for a batch of 100 calls
my $FUZZ_BUDGET = 150;   # seconds for all the calls
srand($SEED);
diag("fuzz seed $SEED (PG_GUARD_FUZZ_SEED), $CALLS calls");

my $t_start = time;
my $node = guard_node(
	'fuzz',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		"parallel_guard.queue_timeout = '2s'",
	],
	tables => [ [ big => 20_000 ] ]);
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'parallel_guard', 'the library is preloaded');
$node->safe_psql('postgres',
	"CREATE TABLE other AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 500) g");

# Rows, a checksum of every row, the relation file and the indexes of each.
my $SIGNATURE_SQL =
    "SELECT (SELECT count(*) || ':' || md5(string_agg(b::text, ',' ORDER BY k)) FROM big b) "
  . "|| '/' || (SELECT count(*) || ':' || md5(string_agg(o::text, ',' ORDER BY id)) FROM other o) "
  . "|| '/' || (SELECT string_agg(relname || ':' || relfilenode || ':' || relnatts, ',' ORDER BY relname) "
  . "FROM pg_class WHERE relname IN ('big', 'other')) "
  . "|| '/indexes:' || (SELECT count(*) FROM pg_index WHERE indrelid IN ('big'::regclass, 'other'::regclass))";
my $signature = $node->safe_psql('postgres', $SIGNATURE_SQL);
like($signature, qr/^20000:[0-9a-f]{32}\/500:[0-9a-f]{32}\/big:\d+:1,other:\d+:2\/indexes:0$/,
	'pre-existing tables big and other');
my $relations_before = $node->safe_psql('postgres', 'SELECT string_agg(oid::text, \',\') FROM pg_class');
my $namespaces_before =
  $node->safe_psql('postgres', 'SELECT string_agg(oid::text, \',\') FROM pg_namespace');
my $pm_pid = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my $pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $log_off = log_offset($node);

# --- the SQL texts ------------------------------------------------------------

# {T} is a new relation's name, {E} an existing relation's (both fz_<n>).
my @CTAS_SEEDS = (
	'CREATE TABLE {T} AS SELECT k FROM big WHERE k < 100',
	'CREATE TABLE {T} AS SELECT k, k % 7 AS m FROM big',
	'CREATE TABLE {T} (a) AS SELECT count(*) FROM big',
	'CREATE TABLE {T} AS SELECT k FROM big WHERE k < 100;',
	'create table public.{T} as select * from other where id > 250',
	'CREATE UNLOGGED TABLE {T} AS SELECT k FROM big WHERE k % 1000 = 0',
	'CREATE TABLE IF NOT EXISTS {T} AS SELECT k FROM big WHERE k < 10',
	'CREATE TABLE {T} WITH (fillfactor = 50) AS SELECT k FROM big WHERE k < 50',
	"CREATE TABLE {T} AS SELECT \$\$a;b'c\$\$ AS s, k FROM big /* ; DROP TABLE big */ WHERE k < 10 -- tail",
	'CREATE TABLE {T} AS TABLE other',
	'CREATE TABLE {T} AS VALUES (1), (2)',
	'CREATE TABLE {T} AS SELECT 1 / (k - k) AS boom FROM big',
	'CREATE TABLE {T} AS SELECT k FROM big_missing',
	"CREATE TABLE {T} AS SELECT k::text || '\x{e9}\x{20ac}\x{1d11e}' AS t FROM big WHERE k < 5",
	'CREATE TABLE {T} AS WITH w AS (SELECT k FROM big WHERE k < 10) SELECT * FROM w',
	'CREATE TABLE {T} AS SELECT a.k, o.v FROM big a JOIN other o ON o.id = a.k',
	'CREATE TABLE {T} AS SELECT k % 10 AS g, count(*) FROM big GROUP BY 1',
	"CREATE TABLE {T} AS SELECT repeat('x', 5000) AS x FROM big WHERE k < 20",
	'CREATE TABLE {T} AS SELECT k FROM big ORDER BY k DESC LIMIT 5',
	'CREATE TABLE {T} AS SELECT k FROM big WHERE k < 100 WITH DATA',
	"CREATE TABLE \"{T}\" AS SELECT E'\\\\x' AS b, k FROM big WHERE k = 1",
	'CREATE TABLE {T} AS SELECT count(*) FROM big a, generate_series(1, 3) g',
	# kinds that later versions accept (or refuse): the checks hold either way
	'SELECT k INTO {T} FROM big WHERE k < 30',
	'CREATE MATERIALIZED VIEW {T} AS SELECT k FROM big WHERE k < 50',
	'CREATE INDEX {T} ON {E} (k)',
	'CREATE UNIQUE INDEX {T} ON {E} (k)',
	'CREATE INDEX {T} ON {E} USING hash (k)',
	'REFRESH MATERIALIZED VIEW {E}',
);
my @REFUSED_SEEDS = (
	'CREATE TABLE {T} AS SELECT k FROM big WHERE k < 100 WITH NO DATA',
	'CREATE TEMP TABLE {T} AS SELECT 1',
	'CREATE TABLE pg_temp.{T} AS SELECT 1',
	'SELECT k INTO TEMP {T} FROM big',
	'CREATE MATERIALIZED VIEW {T} AS SELECT k FROM big WITH NO DATA',
	'REFRESH MATERIALIZED VIEW {E} WITH NO DATA',
	'CREATE INDEX CONCURRENTLY {T} ON {E} (k)',
	'CREATE TABLE {T} AS EXECUTE p',
	'CREATE TABLE {T} (k int)',
	'CREATE VIEW {T} AS SELECT 1',
	'CREATE TABLE {T} AS SELECT 1; CREATE TABLE {T} AS SELECT 2',
	'CREATE TABLE {T} AS SELECT 1; DROP TABLE big',
	'EXPLAIN ANALYZE CREATE TABLE {T} AS SELECT k FROM big',
	'DROP TABLE big',
	'TRUNCATE big',
	'ALTER TABLE big ADD COLUMN z int',
	'ALTER TABLE other RENAME TO other2',
	'DELETE FROM big',
	'INSERT INTO big VALUES (0)',
	'UPDATE other SET v = NULL',
	'VACUUM big',
	'DROP TABLE other',
	'GRANT ALL ON big TO PUBLIC',
	'BEGIN',
	'COMMIT',
	'DO $$BEGIN EXECUTE $q$DROP TABLE big$q$; END$$',
	'SELECT 1',
	'COPY big TO STDOUT',
	'PREPARE p AS SELECT 1',
);
my @ODD_TEXTS = ('', ' ', ';', '/* */', '-- nothing', "\n\t", '$$', "'", ';;');

my @UNICODE = (
	"\x{e9}", "\x{20ac}", "\x{1d11e}", "\x{feff}", "\x{200b}", "\x{202e}", "\x{2028}",
	"\x{df}", "\x{130}", "\x{301}", "\x{fb00}", "\x{3a9}", "\x{ff}", "\x{1f600}",
	"\x{e000}", "\x{fffd}", "\x{10ffff}", "\x{7f}", "\x{85}", "\x{a0}");
my @TOKENS = (
	';', "'", '"', '$$', '$q$', '/*', '*/', '--', '\\', '(', ')', ',', '.', "\n", "\t", "\r",
	' DROP ', ' INSERT ', ' TEMP ', ' INTO ', ' EXECUTE ', ' TABLE ', ' SELECT ', ' AS ',
	' WITH ', ' NO DATA ', ' UNION ALL SELECT 1 ', ' FROM big ', '; DROP TABLE big',
	'; TRUNCATE big', ' OR 1=1 ', ' WHERE ', ' LIMIT 0 ', ' ORDER BY 1 ', ' UNLOGGED ',
	' IF NOT EXISTS ', ' MATERIALIZED VIEW ', " E'\\\\' ", ' $$;$$ ', ' NULL ', ' 1/0 ',
	'::text', ' COLLATE "C" ');

my $next_table = 0;
my @existing;    # names of tables some call has created
my %created;     # name => 1

sub pick { return $_[ int(rand(@_)) ] }

sub random_piece
{
	my $r = rand();
	return chr(32 + int(rand(95))) if $r < 0.45;
	return pick(@UNICODE) if $r < 0.65;
	return pick(@TOKENS);
}

# The edit positions of text segment $i: deletable characters lo..hi_del,
# insertion points lo..hi_ins; the character next to a name is kept.
sub bounds
{
	my ($seg, $i) = @_;
	my $len = length $seg->[$i]{text};
	my $lo = ($i > 0 && exists $seg->[ $i - 1 ]{name}) ? 1 : 0;
	my $keep_end = ($i < $#$seg && exists $seg->[ $i + 1 ]{name}) ? 1 : 0;
	return ($lo, $len - 1 - $keep_end, $len - $keep_end);
}

sub mutate
{
	my ($seg) = @_;
	my @texts = grep { exists $seg->[$_]{text} } 0 .. $#$seg;
	my $i = pick(@texts);
	my ($lo, $hi_del, $hi_ins) = bounds($seg, $i);
	return if $hi_ins < $lo;
	my $t = \$seg->[$i]{text};
	my $op = rand();
	my @spaces = grep { substr($$t, $_ - 1, 1) eq ' ' } ($lo + 1) .. $hi_ins;
	if (rand() < 0.2 && @spaces)
	{
		# harmless for the parser: blanks, comments, a line break
		substr($$t, pick(@spaces), 0, pick(' ', "\n", "\t", '/**/ ', '/* ; $$ \' */ ', "-- x;\n", "\x{a0}"));
	}
	elsif ($op < 0.25 && $hi_del >= $lo)
	{
		my $n = 1 + int(rand(3));
		my $p = $lo + int(rand($hi_del - $lo + 1));
		$n = $hi_del - $p + 1 if $p + $n - 1 > $hi_del;
		substr($$t, $p, $n, '');
	}
	elsif ($op < 0.6)
	{
		substr($$t, $lo + int(rand($hi_ins - $lo + 1)), 0, random_piece());
	}
	elsif ($op < 0.8 && $hi_del >= $lo)
	{
		substr($$t, $lo + int(rand($hi_del - $lo + 1)), 1, random_piece());
	}
	elsif ($op < 0.85 && $hi_del >= $lo)
	{
		# a substring repeated, up to ~200 kB
		my $p = $lo + int(rand($hi_del - $lo + 1));
		my $n = 1 + int(rand(min2(20, $hi_del - $p + 1)));
		my $piece = substr($$t, $p, $n);
		my $times = rand() < 0.3 ? 1000 + int(rand(200_000 / $n)) : 2 + int(rand(20));
		substr($$t, $p, $n, $piece x $times);
	}
	elsif ($op < 0.9 && $hi_del >= $lo && $i == $#$seg)
	{
		# truncated (only the last text segment, after every name)
		substr($$t, $lo + int(rand($hi_del - $lo + 1)), length($$t), '');
	}
	elsif ($op < 0.95 && $hi_del > $lo)
	{
		my $p = $lo + int(rand($hi_del - $lo));
		substr($$t, $p, 2, scalar reverse substr($$t, $p, 2));
	}
	elsif ($hi_del >= $lo)
	{
		my $p = $lo + int(rand($hi_del - $lo + 1));
		my $c = substr($$t, $p, 1);
		substr($$t, $p, 1, $c eq lc $c ? uc $c : lc $c);
	}
	return;
}

sub min2 { return $_[0] < $_[1] ? $_[0] : $_[1] }

sub new_name
{
	return pick(@existing) if @existing && rand() < 0.05;
	return 'fz_' . ++$next_table;
}

# Every template, in order: the first calls that draw a template take the
# next one of these (the accepted kinds first, then the refused ones), later
# calls draw at random.
my @FIRST_PASS = (@CTAS_SEEDS, @REFUSED_SEEDS);
my %drawn;    # template => [calls, rows returned]

# Returns (the SQL text or undef for NULL, [names], kind, template).
sub random_sql
{
	my $r = rand();
	return (undef, [], 'null') if $r < 0.02;
	return (pick(@ODD_TEXTS), [], 'odd') if $r < 0.05;
	# (one that names an existing relation waits until a call has made one)
	my ($first) = grep { @existing || $FIRST_PASS[$_] !~ /\{E\}/ } 0 .. $#FIRST_PASS;
	my $tmpl = defined $first ? splice(@FIRST_PASS, $first, 1)
	  : $r < 0.75 ? pick(@CTAS_SEEDS) : pick(@REFUSED_SEEDS);
	my (@seg, @names);
	for my $p (split /(\{[TE]\})/, $tmpl, -1)
	{
		if ($p eq '{T}' || $p eq '{E}')
		{
			push @names, $p eq '{E}' && @existing ? pick(@existing) : new_name();
			push @seg, { name => $names[-1] };
		}
		else
		{
			push @seg, { text => $p };
		}
	}
	my $nmut = rand() < 0.4 ? 0 : 1 + int(rand(rand() < 0.8 ? 2 : 4));
	mutate(\@seg) for 1 .. $nmut;
	return (join('', map { $_->{name} // $_->{text} } @seg), \@names,
		$nmut ? 'mutated' : 'seed', $tmpl);
}

sub sql_literal
{
	my ($text) = @_;
	return 'NULL' unless defined $text;
	my $tag;
	do { $tag = 'fz' . int(rand(1e9)) } while index($text, "\$$tag\$") >= 0;
	return "\$$tag\$$text\$$tag\$";
}

sub random_int
{
	my ($lo, $hi, $valid_lo, $valid_hi) = @_;
	return $valid_lo + int(rand($valid_hi - $valid_lo + 1)) if rand() < 0.88;
	my $v = $lo + int(rand($hi - $lo + 2));
	return $v > $hi ? undef : $v;
}

# Returns (call text, retries or undef, min, target).
sub random_call
{
	my ($text) = @_;
	my $target = random_int(-1, 20, 1, 8);
	my $min = random_int(-1, 20, 0, (defined $target && $target > 0 ? min2($target, 4) : 2));
	my $retries = random_int(-1, 4, 1, 4);
	my $delay = rand() < 0.9 ? pick("'0'", "'1 ms'") : pick("'0'", "'1 ms'", "'-1 s'", 'NULL');
	my %v = (
		sql => sql_literal($text),
		target => $target // 'NULL',
		min => $min // 'NULL',
		retries => $retries // 'NULL',
		delay => $delay);
	my $args;
	if (rand() < 0.7)
	{
		$args = join(', ', @v{qw(sql target min retries delay)});
	}
	else
	{
		my @keys = grep { $_ =~ /^(?:sql|delay)$/ || rand() < 0.7 } qw(sql target min retries delay);
		for (my $i = $#keys; $i > 0; $i--)
		{
			my $j = int(rand($i + 1));
			@keys[ $i, $j ] = @keys[ $j, $i ];
		}
		$target = 4 unless grep { $_ eq 'target' } @keys;
		$min = 2 unless grep { $_ eq 'min' } @keys;
		$retries = 5 unless grep { $_ eq 'retries' } @keys;
		$args = join(', ', map { "$_ => $v{$_}" } @keys);
	}
	return ("SELECT * FROM parallel_guard.run($args)", $retries, $min, $target);
}

# --- the fuzz -------------------------------------------------------------------
# The statements go to psql in batch files (psql -f, ON_ERROR_STOP off), each
# followed by markers with psql's SQLSTATE on stdout and stderr; a batch
# starts with the session settings.  (A pipe would stall on the large
# texts while a call runs.)
my $batch_dir = PostgreSQL::Test::Utils::tempdir;
my $session_settings = $GUARD_SETTINGS;

# Runs the items ([what, sql, info]) in one psql; returns one result per
# item: { out, err, sqlstate }, or { lost => 1 } / { timeout => 1 } from
# the first item that has no result.
sub run_batch
{
	my ($items, $timeout) = @_;
	my $file = "$batch_dir/batch.sql";
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh "$session_settings\n";
	for my $i (0 .. $#$items)
	{
		my $sql = $items->[$i][1];
		$sql .= ';' unless $sql =~ /;\s*\z/;
		print $fh "$sql\n\\echo '__fz_done_$i' :SQLSTATE\n\\warn '__fz_done_$i'\n";
	}
	close $fh;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-v', 'VERBOSITY=verbose',
			'-d', $node->connstr('postgres'), '-f', $file
		],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($timeout));
	my $timed_out = 0;
	if (!eval { $h->finish; 1 })
	{
		$timed_out = 1;
		$h->kill_kill;
	}
	return parse_batch($items, $out, $err, $timed_out);
}

sub parse_batch
{
	my ($items, $out, $err, $timed_out) = @_;
	my @res;
	my ($opos, $epos) = (0, 0);
	for my $i (0 .. $#$items)
	{
		pos($out) = $opos;
		pos($err) = $epos;
		if ($out =~ /\G(.*?)^__fz_done_$i (\S*)\n/gms)
		{
			my ($o, $state) = ($1, $2);
			$opos = pos($out);
			my $e = '';
			if ($err =~ /\G(.*?)^__fz_done_$i\n/gms)
			{
				$e = $1;
				$epos = pos($err);
			}
			chomp $o;
			push @res, { out => $o, err => $e, sqlstate => $state };
			next;
		}
		push @res, { ($timed_out ? 'timeout' : 'lost') => 1, err => substr($err, $epos) };
		last;
	}
	return @res;
}

my (%errors, %kinds, @oks, @problems);
my ($calls, $rows, $lost, $hangs, $internal) = (0, 0, 0, 0, 0);
my $deadline = time + $FUZZ_BUDGET;
my $over_time = 0;
my $max_len = 0;

# Checks one result; returns false when the session was lost or hung.
sub collect
{
	my ($what, $info, $r) = @_;
	if ($r->{timeout})
	{
		$hangs++;
		push @problems, "no answer within the batch's time: $info->{call}";
		return 0;
	}
	if ($r->{lost})
	{
		$lost++;
		push @problems, "connection lost at: " . ($info->{call} // $what) . "\n$r->{err}";
		return 0;
	}
	return 1 if $what ne 'call';

	$calls++;
	$kinds{ $info->{kind} }++;
	$drawn{ $info->{tmpl} }[0]++ if defined $info->{tmpl};
	if ($r->{sqlstate} eq '00000')
	{
		# planned_workers is NULL when not known (an index build's plan)
		if ($r->{out} =~ /^(-?\d+)\|(-?\d+)\|([tf])\|(-?\d*)\|(-?\d+)\|(\w+)\|(\d+)$/)
		{
			my ($achieved, $attempts, $met, $planned, $count, $verdict) = ($1, $2, $3, $4, $5, $6);
			$rows++;
			$drawn{ $info->{tmpl} }[1]++ if defined $info->{tmpl};
			my @bad;
			push @bad, 'attempts out of range'
			  if $attempts < 1 || $attempts > $info->{retries};
			push @bad, 'achieved > planned' if $planned ne '' && $achieved > $planned;
			push @bad, 'achieved < min' if $achieved < $info->{min};
			push @bad, 'target_met wrong'
			  if ($met eq 't') != ($achieved >= $info->{target});
			# the committed verdicts; met exactly when the target was met
			push @bad, "verdict $verdict"
			  if $verdict !~ /^(?:met|plan_limited|accepted_short|not_run)$/
			  || ($verdict eq 'met') != ($met eq 't');
			push @problems, join(', ', @bad) . ": '$r->{out}' from $info->{call}" if @bad;
			push @oks, { names => $info->{names}, count => $count, call => $info->{call} };
			$created{$_} = 1 for @{ $info->{names} };
			push @existing, @{ $info->{names} };
		}
		else
		{
			push @problems, "SQLSTATE 00000 without a well-formed row ('$r->{out}'): $info->{call}";
		}
	}
	elsif ($r->{sqlstate} =~ /^[0-9A-Z]{5}$/ && $r->{err} =~ /^(?:psql:\S+ )?ERROR:/m)
	{
		$errors{ $r->{sqlstate} }++;
		if ($r->{sqlstate} eq 'XX000')
		{
			$internal++;
			push @problems, "internal error: $r->{err}\nfrom: $info->{call}";
		}
	}
	else
	{
		push @problems, "neither a row nor an ERROR ($r->{sqlstate}): $r->{err}\nfrom: $info->{call}";
	}
	push @problems, "FATAL or PANIC: $r->{err}" if $r->{err} =~ /^(?:psql:\S+ )?(?:FATAL|PANIC):/m;
	if ($r->{err} =~ /server closed the connection|connection to server was lost/)
	{
		$lost++;
		push @problems, "connection lost at: $info->{call}\n$r->{err}";
		return 0;
	}
	return 1;
}

my $ok = 1;
my $made = 0;
my $t_fuzz = time;
my $BATCH = 100;
while ($ok && $made < $CALLS)
{
	if (time > $deadline)
	{
		$over_time = 1;
		last;
	}
	my @items;
	for (1 .. min2($BATCH, $CALLS - $made))
	{
		$made++;
		if (rand() < 1 / 150)
		{
			my $set = 'SET max_parallel_workers = ' . int(rand(9));
			$session_settings = "$GUARD_SETTINGS $set;";
			push @items, [ 'set', $set, {} ];
		}
		my ($text, $names, $kind, $tmpl) = random_sql();
		$max_len = length($text) if defined $text && length($text) > $max_len;
		my ($call, $retries, $min, $target) = random_call($text);
		my $info = {
			kind => $kind,
			tmpl => $tmpl,
			names => $names,
			retries => $retries // 0,
			min => $min // 0,
			target => $target // 0,
			call => length($call) > 300 ? substr($call, 0, 300) . '...' : $call,
		};
		my $in_block = rand() < 0.08;
		push @items,
		  [ 'begin', pick('BEGIN', 'BEGIN READ ONLY', 'BEGIN ISOLATION LEVEL REPEATABLE READ'), {} ]
		  if $in_block;
		utf8::encode($call);
		push @items, [ 'call', $call, $info ];
		push @items, [ 'end', pick('COMMIT', 'ROLLBACK'), {} ] if $in_block;
	}
	my @res = run_batch(\@items, $CALL_TIMEOUT);
	for my $i (0 .. $#res)
	{
		$ok = collect($items[$i][0], $items[$i][2], $res[$i]);
		last unless $ok;
	}
}

my $fuzz_s = time - $t_fuzz;
diag(sprintf('calls: %d (%s), returned a row: %d, errors: %d, longest SQL text: %d characters',
		$calls, join(', ', map { "$_ $kinds{$_}" } sort keys %kinds),
		$rows, $calls - $rows, $max_len));
diag('errors by SQLSTATE: ' . join(', ', map { "$_ $errors{$_}" } sort keys %errors));
diag("  $_") for @problems[ 0 .. min2($#problems, 19) ];

# What each statement kind got (a template's kind: its first two words).
my %tmpl_kind;
for my $t (@CTAS_SEEDS, @REFUSED_SEEDS)
{
	my $k = $t =~ /INTO (?:TEMP )?\{T\}/ ? 'SELECT INTO'
	  : $t =~ /^CREATE (?:UNIQUE )?INDEX/ ? 'CREATE INDEX'
	  : uc(($t =~ /^(\S+(?: \S+)?)/)[0]);
	$tmpl_kind{$k}[0] += $drawn{$t}[0] // 0;
	$tmpl_kind{$k}[1] += $drawn{$t}[1] // 0;
}
diag('templates: '
	  . scalar(grep { $drawn{$_} } @CTAS_SEEDS, @REFUSED_SEEDS) . ' of '
	  . (@CTAS_SEEDS + @REFUSED_SEEDS) . ' called; calls/rows by kind: '
	  . join(', ', map { "$_ $tmpl_kind{$_}[0]/$tmpl_kind{$_}[1]" } sort keys %tmpl_kind));
SKIP:
{
	skip "only $CALLS calls: the templates that name an existing relation come after the first 100", 1
	  if $CALLS < 200;
	is(join(' | ', grep { !$drawn{$_} } @CTAS_SEEDS, @REFUSED_SEEDS), '',
		'every template (statement kind, accepted or refused) was called');
}
ok($ok, 'the fuzz session never lost its connection nor hung');
ok(!$over_time, "the calls finished within $FUZZ_BUDGET s");
cmp_ok($calls, '>=', $CALLS, "all $CALLS calls were made");
# (about one call in six returns a row)
cmp_ok($rows, '>', $CALLS / 10, 'many calls returned a row');
cmp_ok(scalar(keys %errors), '>', 5, 'the errors cover many SQLSTATEs');
is($lost + $hangs, 0, 'every call returned a row or raised an ERROR');
is($internal, 0, 'no call raised an internal error (XX000)');
is(scalar(@problems), 0, 'every result was well formed and consistent');

# --- afterwards -----------------------------------------------------------------

my $post_pid = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
is($post_pid, $pm_pid, 'the postmaster PID is unchanged');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$pm_start, 'the postmaster was not restarted');
my $log = log_since($node, $log_off);
my @log_lines = split /\n/, $log;
my @crash = grep {
	/was terminated by (?:signal|exception)|server process .* was terminated|\bPANIC:|TRAP:|terminating any other active server processes/
} @log_lines;
is(scalar(@crash), 0, 'no crashed process in the server log') or diag(join("\n", @crash[ 0 .. min2($#crash, 9) ]));
my $crashes = scalar(@crash) + $lost + ($post_pid eq $pm_pid ? 0 : 1);
diag(sprintf('fuzz summary: calls %d, rows %d, errors %d (%s), lost connections %d, hangs %d, '
		  . 'internal errors %d, crashes %d',
		$calls, $rows, $calls - $rows,
		join(', ', map { "$_ $errors{$_}" } sort keys %errors),
		$lost, $hangs, $internal, $crashes));
is($crashes, 0, 'crashes = 0');
ok(poll_until($node,
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
		  . 'AND pid <> pg_backend_pid()', '0', 20),
	'pg_stat_activity: no client backend left but the checker');
# PostgreSQL 18 adds its asynchronous I/O workers (io_method = worker).
my @usual = ('background writer', 'checkpointer', 'logical replication launcher', 'walwriter');
push @usual, 'io worker'
  if $node->safe_psql('postgres', "SELECT current_setting('io_method', true)") eq 'worker';
is($node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity "
		  . "WHERE backend_type <> 'client backend'"),
	join(',', sort @usual),
	'pg_stat_activity: only the usual auxiliary processes');
my @leaks = grep { /WARNING:/ && /leak|still referenced|was not closed/ } @log_lines;
is(scalar(@leaks), 0, 'no resource leak warning in the server log')
  or diag(join("\n", @leaks[ 0 .. min2($#leaks, 9) ]));

ok(poll_until($node, $LEFTOVER_SQL, '0', 20), 'no parallel_guard or parallel worker backend remains');
ok(poll_until($node, 'SELECT count(*) FROM parallel_guard.queue', '0', 20),
	'no run is left in parallel_guard.queue');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()'),
	'0', 'no other backend holds a lock');
is($node->safe_psql('postgres', $SIGNATURE_SQL), $signature, 'big and other are unchanged');

# fz relations: tables, materialized views, indexes on them; their TOAST.
my $FZ = q{'^fz_[0-9]+$'};
my $new_rels = $node->safe_psql('postgres', qq{
SELECT coalesce(string_agg(c.relname || ' (' || c.relkind::text || ', ' || n.nspname || ')', ', '
                          ORDER BY c.relname), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid NOT IN ($relations_before)
  AND NOT (c.relkind IN ('r', 'm') AND c.relname ~ $FZ AND n.nspname = 'public')
  AND NOT (c.relkind = 'i' AND c.relname ~ $FZ AND EXISTS (SELECT 1 FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid WHERE i.indexrelid = c.oid AND t.relname ~ $FZ))
  AND NOT (c.relkind = 't' AND EXISTS (SELECT 1 FROM pg_class o
           WHERE o.reltoastrelid = c.oid AND o.relname ~ $FZ))
  AND NOT (c.relkind = 'i' AND EXISTS (SELECT 1 FROM pg_index i JOIN pg_class o
           ON o.reltoastrelid = i.indrelid WHERE i.indexrelid = c.oid AND o.relname ~ $FZ))});
is($new_rels, '',
	'no new relation but fz_<n> tables, materialized views and indexes on them, and their TOAST');
is($node->safe_psql('postgres',
		"SELECT coalesce(string_agg(nspname, ', '), '') FROM pg_namespace WHERE oid NOT IN ($namespaces_before)"),
	'', 'no new schema (no temporary schema either)');

# Every successful call left its relation (a table or materialized view with
# row_count rows, or an index); no other fz relation exists.
my (%fz, %fzkind);
for (split /\n/, $node->safe_psql('postgres', q{
SELECT c.relname || '|' || c.relkind::text || '|' || CASE WHEN c.relkind IN ('r', 'm')
  THEN (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', c.relname),
        false, true, '')))[1]::text ELSE '-' END
FROM pg_class c WHERE c.relkind IN ('r', 'm', 'i') AND c.relname ~ '^fz_[0-9]+$'}))
{
	my ($name, $kind, $count) = split /\|/;
	$fz{$name} = $count;
	$fzkind{$name} = $kind;
}
my @wrong;
for my $o (@oks)
{
	push @wrong,
	  "returned $o->{count} rows, but "
	  . join(', ', map { "$_ has " . ($fz{$_} // 'no relation') } @{ $o->{names} })
	  . ": $o->{call}"
	  unless grep { defined $fz{$_} && ($fz{$_} eq '-' || $fz{$_} == $o->{count}) }
	  @{ $o->{names} };
}
is(scalar(@wrong), 0, 'every call that returned a row left its relation (with row_count rows)')
  or diag(join("\n", @wrong[ 0 .. min2($#wrong, 9) ]));
my @stray = grep { !$created{$_} } sort keys %fz;
is("@stray", '', 'no fz relation exists that no successful call named');
my %by_kind;
$by_kind{$_}++ for values %fzkind;
diag(sprintf('fz relations after the fuzz: %s',
		join(', ', map { "$by_kind{$_} of relkind $_" } sort keys %by_kind)));

# --- delays at the ends of the interval range ---------------------------------
# One attempt each, so no delay is ever waited: a positive delay is
# accepted, a negative one refused (README: delay "not negative").
{
	my $e = GuardTap::Session->new($node, 'edges');
	$e->query($GUARD_SETTINGS);
	my $n = 900_000;
	for my $case (
		[ '1000000 years', '00000' ],
		[ '178000000 years', '00000' ],
		[ '2147483647 days', '00000' ],
		[ '-1000000 years', '22023' ],
		[ '-178000000 years', '22023' ],
		[ '1 year -400 days', '22023' ],
		[ '-1 month 31 days', '00000' ])
	{
		my ($delay, $want) = @$case;
		$n++;
		my $r = $e->run("SELECT * FROM parallel_guard.run("
			  . "'CREATE TABLE fz_$n AS SELECT 1 AS x', 1, 0, 1, '$delay')", 30);
		is($r->{sqlstate}, $want,
			"delay '$delay' with one attempt: " . ($want eq '00000' ? 'accepted' : 'refused as negative'))
		  or diag($r->{err});
	}
	$e->quit;
}

$node->stop;
diag(sprintf('070_fuzz: %.0f s in all (the calls: %.0f s)', time - $t_start, $fuzz_s));
done_testing();
