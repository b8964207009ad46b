//! The command refuses, before running anything, what the machine cannot hold (issue 13 item
//! 6), and every numeric flag's error names the flag and its real range (item 7). Each refusal
//! must come back at once with exit status 2: the sizes asked for would take minutes and more
//! memory than any test machine has if the run started.

mod common;

use common::{gomem_env, text};
use std::process::Output;

fn gomem(args: &[&str]) -> Output {
    gomem_env(args, &[])
}

/// `gomem ARGS` fails with a usage error whose stderr contains every one of `needles`.
fn refused(args: &[&str], env: &[(&str, &str)], needles: &[&str]) {
    let out = gomem_env(args, env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "gomem {args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "gomem {args:?}: {n:?} not in {err:?}");
    }
    assert!(out.stdout.is_empty(), "gomem {args:?} printed {:?}", text(&out.stdout));
}

#[test]
fn a_live_set_larger_than_the_machine_is_refused_before_the_run() {
    let machine = "more than this machine's";
    refused(&["run", "burst", "--peak", "1TiB"], &[], &["--peak 1TiB", "1.01 TiB", machine]);
    refused(&["run", "churn", "--live", "1TiB", "--total", "2TiB"], &[], &["--live 1TiB", machine]);
    refused(&["run", "binary-trees", "--depth", "30"], &[], &["--depth 30", "64.0 GiB", machine]);
    refused(
        &["run", "latency", "--buffers", "1000000000"],
        &[],
        &["--buffers 1000000000", machine],
    );
    refused(
        &["run", "alloc", "--size", "1GiB", "--goroutines", "4096"],
        &[],
        &["--size 1GiB", machine],
    );
    // compare refuses before looking for Go or building the twin.
    refused(&["compare", "burst", "--peak", "1TiB", "--runs", "1"], &[], &["--peak 1TiB", machine]);
}

#[test]
fn a_live_set_over_gomemlimit_is_refused() {
    let limit = "more than GOMEMLIMIT's 64.0 MiB";
    refused(
        &["run", "churn", "--live", "128MiB"],
        &[("GOMEMLIMIT", "64MiB")],
        &["--live 128MiB", limit],
    );
    refused(
        &["run", "--memlimit", "64MiB", "burst", "--peak", "256MiB"],
        &[],
        &["--peak 256MiB", limit],
    );
    refused(
        &["compare", "gcbench", "--scale", "0", "--memlimit", "8MiB"],
        &[],
        &["--scale 0", "GOMEMLIMIT"],
    );
}

#[test]
fn small_runs_still_pass_the_check() {
    // GOMEMLIMIT far above the live set does not refuse it.
    let out = gomem_env(&["run", "binary-trees", "--depth", "6"], &[("GOMEMLIMIT", "64MiB")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = gomem(&["run", "gcbench", "--scale", "-8"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Every numeric flag: a negative value, with a space and with `=`, and one past the range,
/// each answered with the flag's name and its real range.
#[test]
fn numeric_flag_errors_name_the_flag_and_its_range() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["run", "binary-trees"], "--depth", "from 0 to 30"),
        (&["run", "binary-trees"], "--goroutines", "from 1 to 4096"),
        (&["run", "gcbench"], "--goroutines", "from 1 to 4096"),
        (&["run", "churn"], "--goroutines", "from 1 to 4096"),
        (&["run", "churn"], "--seed", "from 0 up"),
        (&["run", "alloc"], "--count", "from 0 up"),
        (&["run", "alloc"], "--goroutines", "from 1 to 4096"),
        (&["run", "latency"], "--buffers", "from 1 up"),
        (&["run", "latency"], "--steps", "from 0 up"),
        (&["run", "latency"], "--goroutines", "from 1 to 4096"),
        (&["run", "burst"], "--goroutines", "from 1 to 4096"),
        (&["compare", "binary-trees"], "--runs", "from 1 to 1000"),
    ];
    for &(cmd, flag, range) in cases {
        for value in ["-1", "99999999999999999999999"] {
            let mut args = cmd.to_vec();
            args.extend([flag, value]);
            refused(&args, &[], &[&format!("'{value}' for '{flag} <N>'"), range]);
            let eq = format!("{flag}={value}");
            let mut args = cmd.to_vec();
            args.push(&eq);
            refused(&args, &[], &[&format!("'{value}' for '{flag} <N>'"), range]);
        }
    }
    refused(
        &["run", "binary-trees", "--depth", "31"],
        &[],
        &["'31' for '--depth <N>'", "from 0 to 30"],
    );
    refused(&["run", "gcbench", "--scale", "-13"], &[], &["'--scale <N>'", "from -12 to 4"]);
    refused(&["run", "gcbench", "--scale", "5"], &[], &["'--scale <N>'", "from -12 to 4"]);
    for (w, flag) in [
        ("churn", "--live"),
        ("churn", "--total"),
        ("alloc", "--size"),
        ("latency", "--size"),
        ("burst", "--peak"),
        ("burst", "--keep"),
        ("burst", "--rate"),
    ] {
        refused(
            &["run", w, flag, "-1MiB"],
            &[],
            &[&format!("'-1MiB' for '{flag} <SIZE>'"), "not a size"],
        );
    }
    refused(&["run", "burst", "--duration", "-1"], &[], &["'-1' for '--duration <SECONDS>'"]);
    refused(&["run", "--procs", "-1", "alloc"], &[], &["'--procs <N>'"]);
}

#[test]
fn burst_duration_is_in_seconds_in_name_and_text() {
    let out = gomem(&["run", "burst", "--help"]);
    let help = text(&out.stdout);
    let line = help.lines().find(|l| l.contains("--duration")).expect("a --duration line");
    assert!(line.contains("<SECONDS>") && line.contains("Seconds"), "{line}");
    assert!(!help.contains("DURATION_MS"), "{help}");
}

#[test]
fn negative_scale_still_runs() {
    for args in [&["run", "gcbench", "--scale", "-10"][..], &["run", "gcbench", "--scale=-10"]] {
        let out = gomem(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
}
