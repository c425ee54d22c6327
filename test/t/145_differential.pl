
# 145_differential.pl: guarded equals plain, statement by statement.
#
# Two identical databases, plain and guarded, on one server.  A generated
# corpus of statements of every accepted kind and their options (CREATE
# TABLE AS with column lists, WITH (...), USING, UNLOGGED, TABLESPACE, WITH
# NO DATA, IF NOT EXISTS; SELECT INTO; materialized views and REFRESH with
# and without CONCURRENTLY; CREATE INDEX with INCLUDE, WHERE, expressions,
# opclasses, collations, NULLS NOT DISTINCT, every built-in access method,
# on partitioned tables and inheritance trees), over queries with CTEs,
# window functions, set operations, subplans, functions of every volatility
# and parallel safety, domains, arrays, composite types, generated columns,
# row-level security and column privileges, runs plain in one database and
# through parallel_guard.run() in the other, as the same non-superuser role,
# with parallel plans forced in both.  A third database, written, runs each
# statement as written, guarded by the role's parallel_guard.target (set
# with ALTER ROLE ... IN DATABASE, as a DBA would; the library comes with
# session_preload_libraries): it must equal plain in every case, refusals
# included (guarded as written, nothing is refused: it is the plain
# statement plus retries).  The three databases run each statement at the
# same time, in three sessions (the objects are compared once all three
# have ended).  After each statement:
#  - both succeeded: the objects it made or changed are identical (kind,
#    persistence, owner, reloptions, access method, tablespace, columns and
#    their types, collations, generated expressions, rows, index definitions
#    and validity);
#  - the plain statement failed: the guarded one failed with the same
#    SQLSTATE;
#  - the guarded one failed where the plain one succeeded: only as refused,
#    with the SQLSTATE the README gives for it (0A000: WITH NO DATA,
#    CONCURRENTLY index builds, ...; 42P07: IF NOT EXISTS on an existing
#    relation); the plain statement's object is then dropped so that both
#    databases stay alike;
#  - no crash, no hang (each statement is bounded in time).
# The totals are printed with diag(): "differential: N statements: ...".

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $t_start = time;
my $node = guard_node('differential');

my $SETUP = <<'SQL';
CREATE EXTENSION IF NOT EXISTS parallel_guard;
GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO diff_user;
GRANT CREATE ON SCHEMA public TO diff_user;
CREATE TABLE src (k int PRIMARY KEY, v int, t text, d date, arr int[], j jsonb, p point)
  WITH (parallel_workers = 2);
INSERT INTO src SELECT g, g % 97, md5(g::text), date '2020-01-01' + g % 1000,
  ARRAY[g, g % 7], jsonb_build_object('k', g), point(g % 100, g % 31)
  FROM generate_series(1, 6000) g;
CREATE TABLE gen (k int, dbl int GENERATED ALWAYS AS (k * 2) STORED) WITH (parallel_workers = 2);
INSERT INTO gen SELECT g FROM generate_series(1, 2000) g;
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE FUNCTION f_imm(int) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1 * 3';
CREATE FUNCTION f_stable(int) RETURNS int LANGUAGE sql STABLE PARALLEL SAFE AS 'SELECT $1 + 7';
CREATE FUNCTION f_vol(int) RETURNS int LANGUAGE sql VOLATILE PARALLEL SAFE AS 'SELECT $1 - 1';
CREATE FUNCTION f_restricted(int) RETURNS int LANGUAGE sql STABLE PARALLEL RESTRICTED AS 'SELECT $1 * 5';
CREATE FUNCTION f_unsafe(int) RETURNS int LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
  AS 'BEGIN RETURN $1 % 11; END';
CREATE TABLE parted (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (2000) WITH (parallel_workers = 2);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (2000) TO (4000) WITH (parallel_workers = 2);
CREATE TABLE parted_3 PARTITION OF parted FOR VALUES FROM (4000) TO (MAXVALUE) WITH (parallel_workers = 2);
INSERT INTO parted SELECT g, g % 13 FROM generate_series(1, 6000) g;
CREATE TABLE inh_parent (k int, v int) WITH (parallel_workers = 2);
CREATE TABLE inh_child (w int) INHERITS (inh_parent);
INSERT INTO inh_parent SELECT g, g % 5 FROM generate_series(1, 3000) g;
INSERT INTO inh_child SELECT g, g % 5, g FROM generate_series(3001, 6000) g;
CREATE TABLE secret (k int, owner_name text, hidden int) WITH (parallel_workers = 2);
INSERT INTO secret SELECT g, 'o' || g % 3, g FROM generate_series(1, 3000) g;
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY even_rows ON secret FOR SELECT USING (k % 2 = 0);
GRANT SELECT (k, owner_name) ON secret TO diff_user;
GRANT SELECT ON src, gen, parted, inh_parent, inh_child TO diff_user;
-- Tables the role indexes (it must own them).
CREATE TABLE ix_base AS SELECT * FROM src;
ALTER TABLE ix_base SET (parallel_workers = 2);
CREATE TABLE ix_parted (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE ix_parted_1 PARTITION OF ix_parted FOR VALUES FROM (0) TO (3000);
CREATE TABLE ix_parted_2 PARTITION OF ix_parted FOR VALUES FROM (3000) TO (MAXVALUE);
INSERT INTO ix_parted SELECT g, g % 13 FROM generate_series(1, 6000) g;
CREATE TABLE ix_inh (k int, v int);
CREATE TABLE ix_inh_child () INHERITS (ix_inh);
INSERT INTO ix_inh SELECT g, g FROM generate_series(1, 5000) g;
INSERT INTO ix_inh_child SELECT g, g FROM generate_series(5001, 10000) g;
ALTER TABLE ix_base OWNER TO diff_user;
ALTER TABLE ix_parted OWNER TO diff_user;
ALTER TABLE ix_parted_1 OWNER TO diff_user;
ALTER TABLE ix_parted_2 OWNER TO diff_user;
ALTER TABLE ix_inh OWNER TO diff_user;
ALTER TABLE ix_inh_child OWNER TO diff_user;
-- Materialized views the role refreshes (it must own them).
CREATE MATERIALIZED VIEW mv_u WITH (parallel_workers = 2) AS SELECT k, v FROM src WHERE k <= 4500;
CREATE UNIQUE INDEX mv_u_k ON mv_u (k);
CREATE INDEX mv_u_v ON mv_u (v);
CREATE MATERIALIZED VIEW mv_n AS SELECT v, count(*) AS n FROM src GROUP BY v;
ALTER MATERIALIZED VIEW mv_u OWNER TO diff_user;
ALTER MATERIALIZED VIEW mv_n OWNER TO diff_user;
ANALYZE;
-- What an object is, as far as a statement can make it.
CREATE FUNCTION diff_sig(rel text) RETURNS text LANGUAGE plpgsql
SET max_parallel_workers_per_gather = 0 AS $f$
DECLARE
  c oid := to_regclass(rel);
  head text; cols text; rowsig text; idx text;
BEGIN
  IF c IS NULL THEN RETURN 'absent'; END IF;
  SELECT relkind::text || '|' || relpersistence::text || '|' || pg_get_userbyid(relowner) || '|'
         || coalesce(array_to_string(reloptions, ','), '') || '|'
         || coalesce((SELECT amname FROM pg_am WHERE oid = relam), '') || '|'
         || reltablespace || '|' || relispopulated || '|' || relrowsecurity
    INTO head FROM pg_class WHERE oid = c;
  SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' '
                    || attnotnull || ' ' || attgenerated::text || ' ' || coalesce(co.collname, '-')
                    || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'),
                    ', ' ORDER BY attnum)
    INTO cols
    FROM pg_attribute a
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attrelid = c AND a.attnum > 0 AND NOT a.attisdropped;
  IF (SELECT relkind IN ('r', 'm', 'p') AND relispopulated FROM pg_class WHERE oid = c) THEN
    EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), '''') FROM %s x', c::regclass)
      INTO rowsig;
  END IF;
  SELECT string_agg(pg_get_indexdef(indexrelid) || ' valid=' || indisvalid || ' ready=' || indisready,
                    '; ' ORDER BY pg_get_indexdef(indexrelid))
    INTO idx FROM pg_index WHERE indrelid = c;
  RETURN head || ' | ' || coalesce(cols, '') || ' | ' || coalesce(rowsig, '-') || ' | ' || coalesce(idx, '');
END $f$;
SQL

$node->safe_psql('postgres', 'CREATE ROLE diff_user LOGIN');
# plain is set up; guarded and written are copies of it (CREATE DATABASE
# ... TEMPLATE: the same objects, rows and statistics, in a fraction of the
# time the set-up takes).
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('plain', $SETUP);
$node->safe_psql('postgres', "CREATE DATABASE $_ TEMPLATE plain") for 'guarded', 'written';
$node->safe_psql('postgres', <<'SQL');
ALTER ROLE diff_user IN DATABASE written SET session_preload_libraries = 'parallel_guard';
ALTER ROLE diff_user IN DATABASE written SET parallel_guard.target = 2;
ALTER ROLE diff_user IN DATABASE written SET parallel_guard.min = 0;
ALTER ROLE diff_user IN DATABASE written SET parallel_guard.retries = 1;
SQL

my $FORCE = 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; '
  . 'SET min_parallel_table_scan_size = 0; SET min_parallel_index_scan_size = 0; '
  . 'SET max_parallel_workers_per_gather = 2; SET max_parallel_maintenance_workers = 2; '
  . "SET maintenance_work_mem = '256MB';";
my %s;
for my $db ('plain', 'guarded', 'written')
{
	$s{$db} = GuardTap::Session->new($node, $db, $node->connstr($db) . ' user=diff_user');
	$s{$db}->query($FORCE);
}
is($s{plain}->query('SELECT current_user'), 'diff_user', 'the statements run as a non-superuser role');
is($s{written}->query('SHOW parallel_guard.target'), '2', 'the written database guards by the role setting');

# --- the corpus ----------------------------------------------------------------
# [statement, objects to compare afterwards, object the plain statement made
# (dropped there when the guarded one is refused)]
my @corpus;
my $n = 0;

my @queries = (
	'SELECT k, v FROM src',
	'SELECT v, count(*) AS n, sum(k) AS s FROM src GROUP BY v',
	'WITH c AS (SELECT k, v FROM src WHERE v < 50) SELECT * FROM c WHERE k % 3 = 0',
	'WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50) SELECT i, (SELECT count(*) FROM src WHERE v = i) AS c FROM r',
	'SELECT k, v, rank() OVER (PARTITION BY v ORDER BY k) AS r, sum(k) OVER (ORDER BY k ROWS 2 PRECEDING) AS w FROM src',
	'SELECT k FROM src WHERE v < 10 UNION SELECT k FROM src WHERE v > 90',
	'SELECT k FROM src WHERE v < 20 INTERSECT SELECT k FROM src WHERE k % 2 = 0',
	'SELECT k FROM src EXCEPT ALL SELECT k FROM src WHERE v > 3',
	'SELECT k, (SELECT max(s2.k) FROM src s2 WHERE s2.v = s.v AND s2.k < s.k) AS prev FROM src s WHERE k < 800',
	'SELECT k FROM src s WHERE EXISTS (SELECT 1 FROM gen g WHERE g.dbl = s.k)',
	'SELECT k, v FROM src WHERE k > (SELECT avg(k) FROM gen)',
	'SELECT k, f_imm(k) AS x FROM src',
	'SELECT k, f_stable(k) AS x FROM src',
	'SELECT k, f_vol(k) AS x FROM src',
	'SELECT k, f_restricted(k) AS x FROM src',
	'SELECT k, f_unsafe(k) AS x FROM src',
	'SELECT k::posint AS p FROM src',
	'SELECT (k - 10)::posint AS p FROM src',
	'SELECT arr, arr[1] AS first, array_length(arr, 1) AS len FROM src',
	'SELECT ROW(k, t)::pair AS pr, (ROW(k, t)::pair).b AS b FROM src WHERE k < 3000',
	'SELECT k, dbl FROM gen',
	'SELECT k, owner_name FROM secret',
	'SELECT * FROM secret',
	'SELECT k, v FROM parted WHERE v < 7',
	'SELECT k, v FROM inh_parent',
	'SELECT k, v FROM ONLY inh_parent',
	'SELECT k / (v - v) AS boom FROM src',
	'SELECT no_such_column FROM src',
	'SELECT k, t COLLATE "C" AS tc FROM src ORDER BY tc LIMIT 500',
	"SELECT j ->> 'k' AS jk, d FROM src WHERE k < 5000",
	'SELECT d, count(*) AS n FROM src GROUP BY ROLLUP (d)',
	'SELECT s.k, p.v FROM src s JOIN parted p USING (k) WHERE s.v < 40',
	'SELECT count(*) AS n, sum(v) AS s FROM src',
	'SELECT DISTINCT v FROM src',
);

my @ctas_forms = (
	sub { "CREATE TABLE $_[0] AS $_[1]" },
	sub { my ($t, $q) = @_; $q =~ /^SELECT \* / ? undef : "CREATE TABLE $t (c1) AS $q" },
	sub { "CREATE TABLE $_[0] WITH (fillfactor = 70) AS $_[1]" },
	sub { "CREATE UNLOGGED TABLE $_[0] AS $_[1]" },
	sub { "CREATE TABLE $_[0] USING heap TABLESPACE pg_default AS $_[1]" },
	sub { $_[2] % 8 == 0 ? "CREATE TABLE $_[0] AS $_[1] WITH NO DATA" : undef },
	sub { my ($t, $q) = @_; $q =~ /^SELECT / && $q !~ /\bUNION\b|\bINTERSECT\b|\bEXCEPT\b|^WITH/ ? ($q =~ s/ FROM / INTO $t FROM /r) : undef },
	sub { "CREATE MATERIALIZED VIEW $_[0] AS $_[1]" },
	sub { $_[2] % 8 == 4 ? "CREATE MATERIALIZED VIEW $_[0] WITH (parallel_workers = 2) AS $_[1] WITH NO DATA" : undef },
);

# WITH NO DATA (refused by run(): no query runs) for every eighth query only.
for my $qi (0 .. $#queries)
{
	my $q = $queries[$qi];
	for my $form (@ctas_forms)
	{
		my $t = 'd_' . ++$n;
		my $sql = $form->($t, $q, $qi);
		next unless defined $sql;
		push @corpus, [ $sql, [$t], "DROP TABLE IF EXISTS $t; DROP MATERIALIZED VIEW IF EXISTS $t" ];
	}
}
# IF NOT EXISTS: a new name, and an existing one (plain: a NOTICE and no
# change; guarded: refused with 42P07).
push @corpus, [ 'CREATE TABLE IF NOT EXISTS d_ine AS SELECT k FROM src', ['d_ine'], 'DROP TABLE IF EXISTS d_ine' ];
push @corpus, [ 'CREATE TABLE IF NOT EXISTS d_ine AS SELECT v FROM src', ['d_ine'], undef ];
push @corpus, [ 'CREATE MATERIALIZED VIEW IF NOT EXISTS d_mine AS SELECT k FROM src', ['d_mine'], 'DROP MATERIALIZED VIEW IF EXISTS d_mine' ];
push @corpus, [ 'CREATE MATERIALIZED VIEW IF NOT EXISTS d_mine AS SELECT v FROM src', ['d_mine'], undef ];
push @corpus, [ 'CREATE TABLE d_ine AS SELECT k FROM src', ['d_ine'], undef ];

# CREATE INDEX on the role's tables.
my @index_forms = (
	'ON ix_base (k)',
	'ON ix_base (v) INCLUDE (k)',
	'ON ix_base (k) WHERE v < 10',
	'ON ix_base ((k * 2))',
	'ON ix_base (f_imm(k))',
	'ON ix_base (f_vol(k))',
	'ON ix_base (t text_pattern_ops)',
	'ON ix_base (t COLLATE "C")',
	'ON ix_base (k DESC NULLS LAST, v)',
	'ON ix_base (v, k) WITH (fillfactor = 60)',
	'ON ix_base USING hash (v)',
	'ON ix_base USING gist (p)',
	'ON ix_base USING spgist (p)',
	'ON ix_base USING gin (arr)',
	'ON ix_base USING brin (k)',
	'ON ix_base USING brin (d) WITH (pages_per_range = 16)',
	'ON ix_base (no_such_column)',
	'ON ix_base USING no_such_am (k)',
	'ON ix_base (k) WITH (no_such_option = 1)',
	'ON ix_parted (k)',
	'ON ix_parted (v) WHERE k > 100',
	'ON ONLY ix_parted (v)',
	'ON ix_inh (k)',
	'ON ONLY ix_inh (v)',
	'ON src (v)',
);
for my $f (@index_forms)
{
	my $i = 'ix_' . ++$n;
	my ($table) = $f =~ /^ON (?:ONLY )?(\w+)/;
	my @also = $table eq 'ix_parted' ? qw(ix_parted_1 ix_parted_2)
	  : $table eq 'ix_inh' ? ('ix_inh_child')
	  : ();
	push @corpus, [ "CREATE INDEX $i $f", [ $table, @also ], "DROP INDEX IF EXISTS $i" ];
	push @corpus, [ "CREATE UNIQUE INDEX ${i}_u ON ix_base (k) NULLS NOT DISTINCT", ['ix_base'], "DROP INDEX IF EXISTS ${i}_u" ]
	  if $f eq 'ON ix_base (k)';
}
push @corpus, [ 'CREATE UNIQUE INDEX ix_dup ON ix_base (v)', ['ix_base'], 'DROP INDEX IF EXISTS ix_dup' ];
push @corpus, [ 'CREATE INDEX CONCURRENTLY ix_conc ON ix_base (v)', ['ix_base'], 'DROP INDEX IF EXISTS ix_conc' ];
push @corpus, [ 'CREATE INDEX IF NOT EXISTS ix_ine ON ix_base (d)', ['ix_base'], 'DROP INDEX IF EXISTS ix_ine' ];
push @corpus, [ 'CREATE INDEX IF NOT EXISTS ix_ine ON ix_base (v)', ['ix_base'], undef ];
# An existing name where the statement fails for another reason first.
push @corpus, [ 'CREATE INDEX ix_ine ON ix_base (k) WITH (no_such_option = 2)', ['ix_base'], undef ];
push @corpus, [ 'CREATE INDEX ix_ine ON ix_base (no_such_column)', ['ix_base'], undef ];

# REFRESH, with changes in between (made alike in both databases).
my @refresh = (
	[ 'REFRESH MATERIALIZED VIEW mv_u', 'UPDATE src SET v = v + 1 WHERE k % 100 = 0' ],
	[ 'REFRESH MATERIALIZED VIEW CONCURRENTLY mv_u', 'DELETE FROM src WHERE k % 1000 = 1' ],
	[ 'REFRESH MATERIALIZED VIEW mv_n', 'INSERT INTO src (k, v) SELECT g, g % 97 FROM generate_series(30001, 30500) g' ],
	[ 'REFRESH MATERIALIZED VIEW CONCURRENTLY mv_n', undef ],
	[ 'REFRESH MATERIALIZED VIEW mv_u WITH NO DATA', undef, 'REFRESH MATERIALIZED VIEW mv_u' ],
	[ 'REFRESH MATERIALIZED VIEW mv_u', undef ],
	[ 'REFRESH MATERIALIZED VIEW src', undef ],
);
for my $r (@refresh)
{
	my ($sql, $change, $undo) = @$r;
	push @corpus, [ $change, [], undef, 'change' ] if defined $change;
	push @corpus, [ $sql, [ 'mv_u', 'mv_n' ], $undo ];
}

# --- running it ------------------------------------------------------------------
my %total = (same_result => 0, same_error => 0, refused => 0, different => 0, hang => 0);
my ($launched_runs, $guarded_ok) = (0, 0);
my @different;
my %spent = (plain => 0, guarded => 0, written => 0);
my %wtotal = (same_result => 0, same_error => 0, different => 0, hang => 0);
my ($written_launched, $written_ok) = (0, 0);

# Runs the statement of each database in its session, the three at once
# (three databases that share nothing the statements touch; 2 parallel
# workers each, 6 of the server's 8), each bounded at 60 s; returns their
# results in the order given and adds each one's time to %spent.
sub run_three
{
	my (@pairs) = @_;
	my (@dbs, %n, %took);
	my $t0 = time;
	while (my ($db, $sql) = splice(@pairs, 0, 2))
	{
		push @dbs, $db;
		$n{$db} = $s{$db}->start($sql);
	}
	while (keys %took < @dbs && time < $t0 + 60)
	{
		for my $db (@dbs)
		{
			$took{$db} //= time - $t0 if $s{$db}->finished($n{$db});
		}
		usleep(5_000);
	}
	$spent{$_} += $took{$_} // (time - $t0) for @dbs;
	# What has not finished by now gets its timeout result at once.
	return map { $s{$_}->result($n{$_}, 0) } @dbs;
}

# The signatures of the objects $objs in each database of @dbs, read at
# once in their sessions: "name: signature" lines.
sub sigs
{
	my ($objs, @dbs) = @_;
	my $sql = 'SELECT ' . join(" || E'\\n' || ", map { "'$_: ' || diff_sig('$_')" } @$objs);
	my %n = map { $_ => $s{$_}->start($sql) } @dbs;
	my %sig;
	for my $db (@dbs)
	{
		my $r = $s{$db}->result($n{$db});
		die "$db: query failed ($r->{sqlstate}): $sql\n$r->{err}" if $r->{sqlstate} ne '00000';
		$sig{$db} = $r->{out};
	}
	return %sig;
}

for my $c (@corpus)
{
	my ($sql, $objs, $undo, $kind) = @$c;
	if (($kind // '') eq 'change')
	{
		# Superuser-owned source tables: changed alike, by the superuser.
		$node->safe_psql($_, $sql) for 'plain', 'guarded', 'written';
		next;
	}
	my ($p, $g, $w) = run_three(
		plain => $sql,
		guarded => "SELECT achieved_workers FROM parallel_guard.run(\$pgd\$$sql\$pgd\$, "
		  . "target => 2, min => 0, retries => 1)",
		written => $sql);
	if ($w->{timeout} || $w->{lost})
	{
		$wtotal{hang}++;
		push @different, "$sql: as written " . ($w->{timeout} ? 'hung' : 'lost its connection');
		last;
	}
	my $ws = $w->{sqlstate};
	# The objects where the statement succeeded, plain's once for both
	# comparisons.
	my @made = grep { $_->[1]{sqlstate} eq '00000' } [ written => $w ], [ guarded => $g ];
	my %sig = $p->{sqlstate} eq '00000' && @made ? sigs($objs, 'plain', map { $_->[0] } @made) : ();
	if ($p->{sqlstate} eq '00000' && $ws eq '00000')
	{
		$written_ok++;
		$written_launched++ if $w->{err} =~ /launched [1-9]\d* parallel worker/;
		my ($sp, $sw) = @sig{qw(plain written)};
		$wtotal{ $sp eq $sw ? 'same_result' : 'different' }++;
		push @different, "$sql: as written, the objects differ:\n  plain:   $sp\n  written: $sw"
		  if $sp ne $sw;
	}
	elsif ($ws eq $p->{sqlstate})
	{
		$wtotal{same_error}++;
	}
	else
	{
		$wtotal{different}++;
		push @different, "$sql: plain $p->{sqlstate}, as written $ws: "
		  . join(' | ', grep { /ERROR/ } split /\n/, $w->{err} . "\n" . $p->{err});
	}
	if ($p->{timeout} || $g->{timeout} || $p->{lost} || $g->{lost})
	{
		$total{hang}++;
		push @different, "$sql: plain " . ($p->{timeout} ? 'hung' : $p->{lost} ? 'lost its connection' : 'ok')
		  . ', guarded ' . ($g->{timeout} ? 'hung' : $g->{lost} ? 'lost its connection' : 'ok');
		last;
	}
	my ($ps, $gs) = ($p->{sqlstate}, $g->{sqlstate});
	my $outcome;
	if ($ps eq '00000' && $gs eq '00000')
	{
		$guarded_ok++;
		$launched_runs++ if ($g->{out} // 0) =~ /^\d+$/ && $g->{out} > 0;
		my ($sp, $sg) = @sig{qw(plain guarded)};
		$outcome = $sp eq $sg ? 'same_result' : 'different';
		push @different, "$sql: the objects differ:\n  plain:   $sp\n  guarded: $sg" if $outcome eq 'different';
	}
	elsif ($ps ne '00000' && $gs eq $ps)
	{
		$outcome = 'same_error';
	}
	elsif ($gs eq '0A000' || ($gs eq '42P07' && $sql =~ /IF NOT EXISTS/))
	{
		# Refused before any worker started: the plain statement's object goes.
		$outcome = 'refused';
		if (defined $undo && $ps eq '00000')
		{
			$s{plain}->query($undo);
			$s{written}->query($undo) if $ws eq '00000'; # as written: made it too
		}
		my %after = sigs($objs, 'plain', 'guarded');
		my ($sp, $sg) = @after{qw(plain guarded)};
		if ($sp ne $sg)
		{
			$outcome = 'different';
			push @different, "$sql: refused ($gs), and the databases differ afterwards:\n  plain:   $sp\n  guarded: $sg";
		}
	}
	else
	{
		$outcome = 'different';
		push @different, "$sql: plain $ps, guarded $gs: "
		  . join(' | ', grep { /ERROR/ } split /\n/, $g->{err} . "\n" . $p->{err});
	}
	$total{$outcome}++;
}

my $statements = 0;
$statements += $total{$_} for keys %total;
diag(sprintf('differential: %d statements: %d same result, %d same error, %d refused by run(), '
		  . '%d different, %d hung; %d of %d guarded runs launched parallel workers; %.0f s',
		$statements, @total{qw(same_result same_error refused different hang)},
		$launched_runs, $guarded_ok, time - $t_start));
diag(sprintf('differential: the plain statements took %.1f s, the guarded ones %.1f s, '
		  . 'as written %.1f s', @spent{qw(plain guarded written)}));
diag(sprintf('differential, as written: %d same result, %d same error, %d different, %d hung; '
		  . '%d of %d launched parallel workers',
		@wtotal{qw(same_result same_error different hang)}, $written_launched, $written_ok));
diag($_) for @different;
cmp_ok($statements, '>=', 250, 'the corpus has at least 250 statements');
is($total{hang}, 0, 'no statement hung or lost its connection');
is($total{different}, 0, 'no guarded statement differs from the plain one');
cmp_ok($total{same_result}, '>=', 150, 'most statements succeed in both and are compared object by object');
cmp_ok($total{same_error}, '>=', 20, 'statements that fail, fail alike');
cmp_ok($launched_runs, '>=', $guarded_ok / 2, 'most guarded runs launched parallel workers');
is($wtotal{hang}, 0, 'as written: no statement hung or lost its connection');
is($wtotal{different}, 0, 'as written: no statement differs from the plain one');
cmp_ok($wtotal{same_result}, '>=', 200, 'as written: most statements succeed in both and are compared');
cmp_ok($written_launched, '>=', $written_ok / 2,
	'as written: most statements were guarded and launched parallel workers');
like($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard'"),
	qr/^0$/, 'no guard worker is left');

$_->quit for values %s;
$node->stop;
unlike(slurp_file($node->logfile), qr/was terminated by signal|PANIC:|TRAP:/, 'no crash in the server log');
done_testing();
