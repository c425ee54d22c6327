#!/usr/bin/perl
# test/bench.pl BENCH_DIR SERVER_LOG: the analysis half of test/bench.sh.
#
# Reads the psql outputs of each section (BENCH_DIR/NAME.out: "@@ TAG" marks,
# "PID|n", result rows "a|b|c|d|e" and "Time: x ms" lines from \timing) and
# the server log's parallel_guard LOG lines of that session's backend, and
# prints the report.  Parameters come from the environment set by bench.sh.
# Perl core modules only.
use strict;
use warnings;
use POSIX qw(ceil);
use List::Util qw(min max sum);

my ($dir, $logfile) = @ARGV;
die "usage: bench.pl BENCH_DIR SERVER_LOG\n" unless defined $logfile;
my %E = %ENV;
my @results;    # [name, value, unit]
my @problems;

# ---- statistics -------------------------------------------------------------
sub median {
    my @s = sort { $a <=> $b } @_;
    return undef unless @s;
    my $n = @s;
    return $n % 2 ? $s[$n / 2] : ($s[$n / 2 - 1] + $s[$n / 2]) / 2;
}
sub pct {    # nearest-rank percentile
    my ($p, @v) = @_;
    my @s = sort { $a <=> $b } @v;
    return undef unless @s;
    my $k = ceil($p / 100 * @s);
    $k = 1 if $k < 1;
    return $s[$k - 1];
}
sub f { my ($v, $d) = @_; return defined $v ? sprintf("%.*f", $d // 2, $v) : 'n/a' }
sub statline {
    my ($label, $d, @v) = @_;
    return sprintf("   %-26s %4d %9s %9s %9s %9s", $label, scalar @v,
                   f(median(@v), $d), f(pct(90, @v), $d), f(min(@v), $d), f(max(@v), $d)) if @v;
    return sprintf("   %-26s %4d %9s", $label, 0, '-');
}
sub stathead { return sprintf("   %-26s %4s %9s %9s %9s %9s", '', 'n', 'median', 'p90', 'min', 'max') }
sub result { push @results, [@_] }

# ---- psql outputs ---------------------------------------------------------------
# Returns { pid => n, recs => [ { tag, kind, idx, ms, row => [..] } ] }.
sub read_out {
    my ($name) = @_;
    my $file = "$dir/$name.out";
    open my $fh, '<', $file or die "cannot read $file: $!\n";
    my (%s, $cur);
    $s{recs} = [];
    while (my $l = <$fh>) {
        chomp $l;
        if ($l =~ /^@@ (\S+)(?: (\d+))?$/) {
            $cur = $1 eq '-' ? undef : { tag => "$1" . (defined $2 ? " $2" : ''), kind => $1,
                                          idx => $2 // 0 };
            push @{ $s{recs} }, $cur if $cur;
        } elsif ($l =~ /^PID\|(\d+)$/) {
            $s{pid} = $1;
        } elsif ($l =~ /^Time: ([\d.]+) ms/) {
            if ($cur && !defined $cur->{ms}) { $cur->{ms} = $1 }
        } elsif ($l =~ /^-?\d+\|-?\d+\|[tf]\|-?\d+\|-?\d+\|\w+\|\d+$/) {
            # run()'s row: achieved_workers|attempts|target_met|planned_workers|
            # row_count|verdict|run_id (an older row shape matches nothing, and
            # every call is then reported below as having raised an error).
            $cur->{row} = [split /\|/, $l] if $cur;
        }
    }
    die "no backend PID in $file\n" unless $s{pid};
    for my $r (@{ $s{recs} }) {
        push @problems, "$name: no timing for '$r->{tag}'" unless defined $r->{ms};
    }
    return \%s;
}

# ---- server log -------------------------------------------------------------------
# Per backend PID, the guarded runs in order, each with its attempts.
my %runs_by_pid;
{
    open my $fh, '<', $logfile or die "cannot read $logfile: $!\n";
    my %open;    # pid -> attempts of the run under way
    while (my $l = <$fh>) {
        next unless $l =~ /\[(\d+)\] .*?parallel_guard: (attempt=|run )/;
        my $pid = $1;
        if ($l =~ /parallel_guard: attempt=(\d+)\/(\d+) worker_pid=(\d+) planned=(-?\d+) launched=(-?\d+) target=(\d+) min=(\d+) verdict=(\w+) counted=(\w+) verdict_ms=([\d.]+) elapsed_ms=([\d.]+)/) {
            push @{ $open{$pid} }, { n => $1, of => $2, wpid => $3, planned => $4, launched => $5,
                                     verdict => $8, counted => $9, verdict_ms => $10,
                                     elapsed_ms => $11 };
        } elsif ($l =~ /parallel_guard: run kind=\w+ attempts=(\d+)\/(\d+) target=(\d+) min=(\d+) planned=(-?\d+) launched=(-?\d+) verdict=(\w+) rows=(\d+) total_ms=([\d.]+)/) {
            my ($n, $planned, $launched, $verdict, $rows, $total_ms) = ($1, $5, $6, $7, $8, $9);
            my $by = $l =~ /guarded_by=(\S+)/ ? $1 : '';
            my $atts = delete $open{$pid} // [];
            push @problems, "log: run line of backend $pid says $n attempts, " . scalar(@$atts) .
                            " attempt lines seen" if $n != @$atts;
            push @{ $runs_by_pid{$pid} }, { attempts => $n, planned => $planned,
                                            launched => $launched, verdict => $verdict,
                                            rows => $rows, total_ms => $total_ms, by => $by,
                                            atts => $atts };
        } else {
            push @problems, "log: unparsed parallel_guard line: $l";
        }
    }
}

# Attach the server's runs to the guarded calls of a section, in order.  A
# run that raised an error (verdict below_min, plan_too_small, failed) has a
# run line but no result row.
my %GUARDED = map { $_ => 1 } qw(free short rR r1 guarded warmg aw warma awR aw1);
# Guarded as written: the statement itself prints no result row.
my %ASWRITTEN = map { $_ => 1 } qw(aw warma awR aw1);
my %FAILED_VERDICT = map { $_ => 1 } qw(below_min plan_too_small failed);
sub guarded_recs { my ($s) = @_; return grep { $GUARDED{ $_->{kind} } } @{ $s->{recs} } }
sub attach_runs {
    my ($name, $s) = @_;
    my @g = guarded_recs($s);
    my @runs = @{ $runs_by_pid{ $s->{pid} } // [] };
    push @problems, "$name: " . scalar(@g) . " guarded calls but " . scalar(@runs) .
                    " run lines in the server log" if @g != @runs;
    for my $i (0 .. $#g) {
        my ($r, $run) = ($g[$i], $runs[$i]);
        $r->{run} = $run;
        next unless $run;
        if ($ASWRITTEN{ $r->{kind} }) {
            $r->{row} = [$run->{launched}, $run->{attempts}];
            if ($FAILED_VERDICT{ $run->{verdict} }) {
                $r->{failed} = 1;
                push @problems, "$name: '$r->{tag}' (as written) raised an error: run " .
                                "verdict=$run->{verdict} launched=$run->{launched} after " .
                                "$run->{attempts} attempt(s)";
            }
            next;
        }
        if ($r->{row} && $r->{row}[1] != $run->{attempts}) {
            push @problems, "$name: '$r->{tag}' returned attempts=$r->{row}[1], log says $run->{attempts}";
        }
        if ($r->{row} && $r->{row}[5] ne $run->{verdict}) {
            push @problems, "$name: '$r->{tag}' returned verdict=$r->{row}[5], log says $run->{verdict}";
        }
        if (!$r->{row}) {
            $r->{failed} = 1;
            push @problems, "$name: '$r->{tag}' raised an error: run verdict=$run->{verdict} " .
                            "launched=$run->{launched} after $run->{attempts} attempt(s)";
        }
    }
    # What psql printed as errors.
    if (open my $fh, '<', "$dir/$name.err") {
        while (my $l = <$fh>) {
            push @{ $s->{errors} }, $1 if $l =~ /ERROR:\s+(.*)/;
        }
    }
}
sub atts_of { return map { $_->{run} ? @{ $_->{run}{atts} } : () } @_ }

my %S;
for my $name (qw(p1 p1b p2 p3 p4 p5 p6)) {
    $S{$name} = read_out($name);
    attach_runs($name, $S{$name});
}

# ---- header -------------------------------------------------------------------------
my $plans = do { local $/; open my $fh, '<', "$dir/plans.out" or die; <$fh> };
my @plan_lines = map { s/^\s+//r } grep { /Workers (Planned|Launched)|^\s*Result/ } split /\n/, $plans;

print "\n", "=" x 78, "\n";
print "parallel_guard benchmark\n";
print "=" x 78, "\n";
print "server:    $E{PG_VERSION_STR}\n";
print "machine:   $E{NPROC} CPUs; the benchmark took $E{BENCH_SECONDS} s in all\n";
print "code:      $E{GIT_HEAD}\n";
print "settings:  $E{SETTINGS}\n";
print "data:      big = $E{BENCH_ROWS} rows (id int, v int, pad md5 text), parallel_workers = 4,\n";
print "           VACUUM ANALYZE, CHECKPOINT; built in $E{data_s} s\n";
print "FAST:      $E{FAST_SQL}\n";
print "SLOW:      $E{SLOW_SQL}\n";
print "TINY:      $E{TINY_SQL}\n";
print "direct plans (EXPLAIN ANALYZE of FAST, SLOW; EXPLAIN of TINY), per_gather 4:\n";
print "           ", join('; ', @plan_lines), "\n";
print "timing:    one psql session per section, \\timing on (client round trip), the\n";
print "           guarded call is SELECT * FROM parallel_guard.run(\$\$<stmt>\$\$, <args>);\n";
print "           server times from the LOG lines of that session's backend.\n";

# ---- 1. launch-to-verdict ---------------------------------------------------------------
sub latency_block {
    my ($name, $s) = @_;
    my @g = grep { $_->{kind} eq 'free' || $_->{kind} eq 'short' } guarded_recs($s);
    my @all = atts_of(@g);
    my @lines = (stathead() . "   (verdict_ms, ms)");
    push @lines, statline('all attempts', 3, map { $_->{verdict_ms} } @all);
    my %by;
    push @{ $by{ $_->{verdict} } }, $_ for @all;
    for my $v (sort keys %by) {
        push @lines, statline("verdict=$v", 3, map { $_->{verdict_ms} } @{ $by{$v} });
    }
    my %cnt;
    $cnt{ $_->{counted} }++ for @all;
    push @lines, "   counted: " . join(', ', map { "$_ $cnt{$_}" } sort keys %cnt);
    push @lines, statline('attempt start to verdict', 3, map { $_->{elapsed_ms} } @all) .
                 "   (elapsed_ms)";
    # Pool free: 4 of 8 slots always launch; max_parallel_workers = 2: 2 launch.
    my ($wrong, $n) = (0, 0);
    my %wrong_kinds;
    for my $r (@g) {
        my $expect = $r->{kind} eq 'free' ? 4 : 2;
        for my $a ($r->{run} ? @{ $r->{run}{atts} } : ()) {
            $n++;
            next if $a->{launched} == $expect;
            $wrong++;
            $wrong_kinds{"$r->{kind}: launched=$a->{launched} (expected $expect) counted=$a->{counted} verdict=$a->{verdict}"}++;
        }
    }
    push @lines, sprintf("   attempts whose launched count differs from what the pool allows: %d of %d", $wrong, $n);
    push @lines, map { "     $wrong_kinds{$_} x $_" } sort keys %wrong_kinds;
    my @failed = grep { $_->{failed} } @g;
    push @lines, sprintf("   calls that raised an error: %d of %d%s", scalar @failed, scalar @g,
                         @{ $s->{errors} // [] } ? " (first: ERROR: $s->{errors}[0])" : '');
    push @problems, "$name: $wrong of $n attempts report a launched count the pool contradicts"
        if $wrong;
    return (\@all, \@failed, $wrong, @lines);
}

print "\n1. Launch-to-verdict latency (verdict_ms: the worker's stamp right after\n";
print "   LaunchParallelWorkers -> the caller's verdict), parsed from the server LOG\n";
print "   $E{BENCH_P1_RUNS} x [pool free: run(FAST, $E{P1_ARGS})]\n";
print "   interleaved with $E{BENCH_P1_RUNS} x [SET max_parallel_workers = 2; same call; RESET]\n";
my ($all1, $failed1, $wrong1, @l1) = latency_block('p1', $S{p1});
print "$_\n" for @l1;
my @vms = map { $_->{verdict_ms} } @$all1;
result('verdict_latency_median', f(median(@vms), 3), 'ms');
result('verdict_latency_p90', f(pct(90, @vms), 3), 'ms');
result('verdict_latency_min', f(min(@vms), 3), 'ms');
result('verdict_latency_max', f(max(@vms), 3), 'ms');
result('verdict_latency_attempts', scalar(@vms), 'attempts');

print "\n1b. The same with SET parallel_leader_participation = off (information only:\n";
print "   the leader never runs the Gather's child, so the count comes from the lock\n";
print "   group; a short count is trusted only after parallel_guard.settle_time)\n";
print "   $E{BENCH_P1B_RUNS} x pool free, $E{BENCH_P1B_RUNS} x max_parallel_workers = 2, interleaved,\n";
print "   run(SLOW, $E{P1_ARGS}) (SLOW: its workers outlive settle_time)\n";
my ($all1b, $failed1b, $wrong1b, @l1b) = latency_block('p1b', $S{p1b});
print "$_\n" for @l1b;
my @short1b = map { $_->{verdict_ms} }
              grep { $_->{verdict} ne 'met' && $_->{counted} eq 'lock_group' } @$all1b;
my @met1b = map { $_->{verdict_ms} } grep { $_->{verdict} eq 'met' } @$all1b;
print statline('short count, lock_group', 3, @short1b), "   (settled after settle_time)\n";
if ($wrong1b) {
    print "   (a short count from the lock group is taken when settle_time expires; workers\n";
    print "   that have already exited by then are not counted: it can read below the launch)\n";
}
result('verdict_latency_noleader_met_median', f(median(@met1b), 3), 'ms');
result('verdict_latency_noleader_lockgroup_short_median', f(median(@short1b), 3), 'ms');
result('noleader_miscounted_attempts', $wrong1b, 'attempts');
result('noleader_failed_calls', scalar(@$failed1b), 'calls');

# ---- 2. cost of one short attempt ----------------------------------------------------------
my $R = $E{BENCH_R};
print "\n2. Cost of one short attempt, delay 0\n";
print "   SET max_parallel_workers = 2 (every attempt launches 2 < target 4);\n";
print "   $E{BENCH_P2_REPS} pairs, order alternating (R,1),(1,R),...:\n";
print "     A: run(FAST, $E{P2_ARGS_R})   ($R attempts: " . ($R - 1) . " short + 1 accepted_short)\n";
print "     B: run(FAST, $E{P2_ARGS_1})    (1 attempt: accepted_short)\n";
print "   per short attempt = (T(A) - T(B)) / ($R - 1) for each pair; median over pairs\n";
print "   (elapsed_ms as the extension logs it: today counted from the start of\n";
print "   watch_attempt(), i.e. after the worker was registered and has started)\n";
{
    my $s = $S{p2};
    my (%A, %B);
    for my $r (@{ $s->{recs} }) {
        next unless $r->{kind} =~ /^r(R|1)$/;
        ($1 eq 'R' ? \%A : \%B)->{ $r->{idx} } = $r;
        my $want = $1 eq 'R' ? $R : 1;
        push @problems, "section 2: '$r->{tag}' used $r->{row}[1] attempts, expected $want"
            if $r->{row} && $r->{row}[1] != $want;
    }
    my (@pc, @ps, @ta, @tb, @sa, @sb);
    for my $i (sort { $a <=> $b } keys %A) {
        next unless $B{$i};
        push @ta, $A{$i}{ms};
        push @tb, $B{$i}{ms};
        push @pc, ($A{$i}{ms} - $B{$i}{ms}) / ($R - 1);
        if ($A{$i}{run} && $B{$i}{run}) {
            push @sa, $A{$i}{run}{total_ms};
            push @sb, $B{$i}{run}{total_ms};
            push @ps, ($A{$i}{run}{total_ms} - $B{$i}{run}{total_ms}) / ($R - 1);
        }
    }
    my @short = grep { $_->{verdict} eq 'short' } atts_of(values %A);
    my @last = grep { $_->{verdict} ne 'short' } atts_of(values %A, values %B);
    print stathead(), "   (ms)\n";
    print statline("T(A) client", 1, @ta), "\n";
    print statline("T(B) client", 1, @tb), "\n";
    print statline("per short attempt, client", 2, @pc), "\n";
    print statline("T(A) server total_ms", 1, @sa), "\n";
    print statline("T(B) server total_ms", 1, @sb), "\n";
    print statline("per short attempt, server", 2, @ps), "\n";
    print statline("short: start to verdict", 3, map { $_->{elapsed_ms} } @short),
          "   (elapsed_ms of the short attempts)\n";
    print statline("short: launch to verdict", 3, map { $_->{verdict_ms} } @short), "\n";
    print statline("last: start to verdict", 3, map { $_->{elapsed_ms} } @last),
          "   (accepted_short attempts)\n";
    result('short_attempt_cost_client_median', f(median(@pc), 2), 'ms');
    result('short_attempt_cost_server_median', f(median(@ps), 2), 'ms');
    result('short_attempt_start_to_verdict_median', f(median(map { $_->{elapsed_ms} } @short), 3),
           'ms');
    result('short_attempts_measured', scalar(@short), 'attempts');
}

# ---- 3. overhead --------------------------------------------------------------------------
sub overhead_block {
    my ($s, $label, $digits) = @_;
    my (%D, %G);
    for my $r (@{ $s->{recs} }) {
        $D{ $r->{idx} } = $r if $r->{kind} eq 'direct';
        $G{ $r->{idx} } = $r if $r->{kind} eq 'guarded';
    }
    my @idx = grep { $G{$_} } sort { $a <=> $b } keys %D;
    my @d = map { $D{$_}{ms} } @idx;
    my @g = map { $G{$_}{ms} } @idx;
    my @gs = map { $G{$_}{run} ? $G{$_}{run}{total_ms} : () } @idx;
    my @ratio = map { $G{$_}{ms} / $D{$_}{ms} } @idx;
    my @diff = map { $G{$_}{ms} - $D{$_}{ms} } @idx;
    my %att;
    $att{ "$_->{row}[1] attempt(s), launched $_->{row}[0], planned $_->{row}[3]" }++
        for grep { $_->{row} } map { $G{$_} } @idx;
    print stathead(), "   (ms)\n";
    print statline("direct, client", $digits, @d), "\n";
    print statline("guarded, client", $digits, @g), "\n";
    print statline("guarded, server total_ms", $digits, @gs), "\n";
    print statline("guarded - direct, pairwise", $digits, @diff), "\n";
    print statline("guarded / direct, pairwise", 3, @ratio), "\n";
    print "   guarded runs: ", join('; ', map { "$att{$_} x $_" } sort keys %att), "\n";
    my ($md, $mg) = (median(@d), median(@g));
    printf "   median guarded / median direct = %.3f;  median guarded - median direct = %.2f ms\n",
           $mg / $md, $mg - $md if $md;
    return ($md, $mg, \@ratio, \@diff);
}

print "\n3. Overhead of run() against the same statement run directly (pool free)\n";
print "   session: SET max_parallel_workers_per_gather = 4 (what run() gives its worker)\n";
print "   a) SLOW, $E{BENCH_P3_RUNS} pairs, order alternating, DROP TABLE after each (not timed),\n";
print "      one untimed warm-up of each first\n";
print "      direct:  $E{SLOW_SQL};\n";
print "      guarded: run(SLOW, $E{P3_ARGS})\n";
{
    my ($md, $mg, $ratio, $diff) = overhead_block($S{p3}, 'SLOW', 1);
    result('ctas_direct_median', f($md, 1), 'ms');
    result('ctas_guarded_median', f($mg, 1), 'ms');
    result('ctas_guarded_over_direct', f($md ? $mg / $md : undef, 3), 'ratio');
    result('ctas_guarded_over_direct_pairwise_median', f(median(@$ratio), 3), 'ratio');
    result('ctas_guarded_minus_direct_pairwise_median', f(median(@$diff), 1), 'ms');
}
print "   b) TINY, $E{BENCH_TINY_RUNS} pairs, order alternating, 3 untimed warm-ups of each\n";
print "      direct:  $E{TINY_SQL};\n";
print "      guarded: run(TINY, $E{TINY_ARGS})\n";
{
    my ($md, $mg, $ratio, $diff) = overhead_block($S{p4}, 'TINY', 3);
    result('tiny_direct_median', f($md, 3), 'ms');
    result('tiny_guarded_median', f($mg, 3), 'ms');
    result('tiny_fixed_overhead', f(defined $md ? $mg - $md : undef, 3), 'ms');
    result('tiny_fixed_overhead_pairwise_median', f(median(@$diff), 3), 'ms');
}

# ---- 4. guarded as written ----------------------------------------------------------------
# "Verdict N ms after the launch" of the NOTICEs psql printed (short attempts).
sub notice_verdicts {
    my ($name) = @_;
    my @v;
    open my $fh, '<', "$dir/$name.err" or return ();
    while (my $l = <$fh>) { push @v, $1 if $l =~ /Verdict ([\d.]+) ms after the launch/ }
    return @v;
}
print "\n4. Statements guarded as written ($E{AW_SET} in the session)\n";
print "   a) SLOW, $E{BENCH_AW_RUNS} triples, order rotating over the six orders, DROP TABLE after\n";
print "      each (not timed), one untimed warm-up of each; SET max_parallel_workers_per_gather = 4\n";
print "      plain:      $E{SLOW_SQL};\n";
print "      as written: $E{AW_SET}; SLOW; RESET (the SET and RESET not timed;\n";
print "                  retries 5, min 2, delay 2 s: the settings' defaults)\n";
print "      run():      run(SLOW, $E{P3_ARGS})\n";
{
    my (%D, %A, %G);
    for my $r (@{ $S{p5}{recs} }) {
        $D{ $r->{idx} } = $r if $r->{kind} eq 'direct';
        $A{ $r->{idx} } = $r if $r->{kind} eq 'aw';
        $G{ $r->{idx} } = $r if $r->{kind} eq 'guarded';
    }
    my @idx = grep { $A{$_} && $G{$_} } sort { $a <=> $b } keys %D;
    my @d = map { $D{$_}{ms} } @idx;
    my @a = map { $A{$_}{ms} } @idx;
    my @g = map { $G{$_}{ms} } @idx;
    my @as = map { $A{$_}{run} ? $A{$_}{run}{total_ms} : () } @idx;
    my @gs = map { $G{$_}{run} ? $G{$_}{run}{total_ms} : () } @idx;
    my @ra = map { $A{$_}{ms} / $D{$_}{ms} } @idx;
    my @rg = map { $G{$_}{ms} / $D{$_}{ms} } @idx;
    my @da = map { $A{$_}{ms} - $D{$_}{ms} } @idx;
    my %att;
    for my $k (['as written', \%A], ['run()', \%G]) {
        $att{"$k->[0]: $_->{row}[1] attempt(s), launched $_->{row}[0]"}++
            for grep { $_->{row} } map { $k->[1]{$_} } @idx;
    }
    print stathead(), "   (ms)\n";
    print statline("plain, client", 1, @d), "\n";
    print statline("as written, client", 1, @a), "\n";
    print statline("run(), client", 1, @g), "\n";
    print statline("as written, server total", 1, @as), "\n";
    print statline("run(), server total_ms", 1, @gs), "\n";
    print statline("as written - plain, pairs", 1, @da), "\n";
    print statline("as written / plain, pairs", 3, @ra), "   (goal: median <= 1.01)\n";
    print statline("run() / plain, pairwise", 3, @rg), "\n";
    print "   runs: ", join('; ', map { "$att{$_} x $_" } sort keys %att), "\n";
    my @by = map { $_->{run}{by} } grep { $_->{run} } map { $A{$_} } @idx;
    my @wrong_by = grep { $_ ne 'parallel_guard.target' } @by;
    push @problems, "section 4a: " . scalar(@wrong_by) . " as-written runs logged guarded_by other than parallel_guard.target"
        if @wrong_by;
    my @am = atts_of(map { $A{$_} } @idx);
    my @gm = atts_of(map { $G{$_} } @idx);
    print statline("as written: launch->verdict", 3, map { $_->{verdict_ms} } @am),
          "   (verdict_ms, every attempt)\n";
    print statline("as written: start->verdict", 3, map { $_->{elapsed_ms} } @am), "   (elapsed_ms)\n";
    print statline("run(): launch->verdict", 3, map { $_->{verdict_ms} } @gm), "\n";
    my ($md, $ma, $mg) = (median(@d), median(@a), median(@g));
    printf "   median as written / median plain = %.3f; median run() / median plain = %.3f\n",
           $ma / $md, $mg / $md if $md;
    result('aw_plain_median', f($md, 1), 'ms');
    result('aw_aswritten_median', f($ma, 1), 'ms');
    result('aw_run_median', f($mg, 1), 'ms');
    result('aw_aswritten_over_plain_pairwise_median', f(median(@ra), 3), 'ratio');
    result('aw_run_over_plain_pairwise_median', f(median(@rg), 3), 'ratio');
    result('aw_aswritten_minus_plain_pairwise_median', f(median(@da), 1), 'ms');
    result('aw_verdict_after_launch_median', f(median(map { $_->{verdict_ms} } @am), 3), 'ms');
    result('aw_verdict_after_launch_max', f(max(map { $_->{verdict_ms} } @am), 3), 'ms');
}
print "   b) one short attempt as written, delay 0: SET max_parallel_workers = 2,\n";
print "      parallel_guard.min = 2, delay = 0; FAST; $E{BENCH_AW_REPS} pairs, order alternating:\n";
print "        A: parallel_guard.retries = $R   ($R attempts: " . ($R - 1) . " short + 1 accepted_short)\n";
print "        B: parallel_guard.retries = 1    (1 attempt: accepted_short)\n";
print "      per short attempt = (T(A) - T(B)) / ($R - 1) per pair; median over pairs\n";
{
    my (%A, %B);
    for my $r (@{ $S{p6}{recs} }) {
        next unless $r->{kind} =~ /^aw(R|1)$/;
        ($1 eq 'R' ? \%A : \%B)->{ $r->{idx} } = $r;
        my $want = $1 eq 'R' ? $R : 1;
        push @problems, "section 4b: '$r->{tag}' used $r->{run}{attempts} attempts, expected $want"
            if $r->{run} && $r->{run}{attempts} != $want;
    }
    my (@pc, @ps, @ta, @tb, @sa, @sb);
    for my $i (sort { $a <=> $b } keys %A) {
        next unless $B{$i};
        push @ta, $A{$i}{ms};
        push @tb, $B{$i}{ms};
        push @pc, ($A{$i}{ms} - $B{$i}{ms}) / ($R - 1);
        if ($A{$i}{run} && $B{$i}{run}) {
            push @sa, $A{$i}{run}{total_ms};
            push @sb, $B{$i}{run}{total_ms};
            push @ps, ($A{$i}{run}{total_ms} - $B{$i}{run}{total_ms}) / ($R - 1);
        }
    }
    my @short = grep { $_->{verdict} eq 'short' } atts_of(values %A);
    my @last = grep { $_->{verdict} ne 'short' } atts_of(values %A, values %B);
    my @nv = notice_verdicts('p6');
    print stathead(), "   (ms)\n";
    print statline("T(A) client", 1, @ta), "\n";
    print statline("T(B) client", 1, @tb), "\n";
    print statline("per short attempt, client", 2, @pc), "\n";
    print statline("T(A) server total_ms", 1, @sa), "\n";
    print statline("T(B) server total_ms", 1, @sb), "\n";
    print statline("per short attempt, server", 2, @ps), "\n";
    print statline("short: start to verdict", 3, map { $_->{elapsed_ms} } @short),
          "   (elapsed_ms of the short attempts)\n";
    print statline("short: launch to verdict", 3, map { $_->{verdict_ms} } @short), "   (LOG verdict_ms)\n";
    print statline("NOTICE: after the launch", 1, @nv), "   (\"Verdict N ms after the launch\")\n";
    print statline("last: start to verdict", 3, map { $_->{elapsed_ms} } @last),
          "   (accepted_short attempts)\n";
    my $mpc = median(@pc);
    my $mse = median(map { $_->{elapsed_ms} } @short);
    printf "   per short attempt (client) - its start to verdict = %.2f ms: the rollback of the\n" .
           "   subtransaction, the next attempt's set-up and the plan's restart, together\n",
           $mpc - $mse if defined $mpc && defined $mse;
    result('aw_short_attempt_cost_client_median', f($mpc, 2), 'ms');
    result('aw_short_attempt_cost_server_median', f(median(@ps), 2), 'ms');
    result('aw_short_attempt_start_to_verdict_median', f($mse, 3), 'ms');
    result('aw_short_attempt_launch_to_verdict_median', f(median(map { $_->{verdict_ms} } @short), 3), 'ms');
    result('aw_short_attempts_measured', scalar(@short), 'attempts');
}

# ---- summary ------------------------------------------------------------------------------
if (@problems) {
    print "\nPROBLEMS noticed while parsing:\n";
    print "   $_\n" for @problems;
}
print "\n";
result('parse_problems', scalar @problems, 'problems');
printf "RESULT %s %s %s\n", @$_ for @results;
