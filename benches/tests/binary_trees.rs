//! binary-trees prints the Benchmarks Game's reference output.

use gomem::{Config, Runtime};

const REFERENCE_10: &str = "stretch tree of depth 11\t check: 4095
1024\t trees of depth 4\t check: 31744
256\t trees of depth 6\t check: 32512
64\t trees of depth 8\t check: 32704
16\t trees of depth 10\t check: 32752
long lived tree of depth 10\t check: 2047
";

#[test]
fn depth_10_matches_the_reference_output() {
    let rt = Runtime::new(Config::default().gomaxprocs(2)).unwrap();
    assert_eq!(gomem_benches::workloads::binary_trees::run(&rt, 10, 1).unwrap(), REFERENCE_10);
}

#[test]
fn parallel_variant_prints_the_same_lines() {
    let rt = Runtime::new(Config::default().gomaxprocs(2)).unwrap();
    assert_eq!(gomem_benches::workloads::binary_trees::run(&rt, 10, 4).unwrap(), REFERENCE_10);
}

#[test]
fn small_n_is_raised_to_the_minimum_depth() {
    let rt = Runtime::new(Config::default().gomaxprocs(1)).unwrap();
    let out = gomem_benches::workloads::binary_trees::run(&rt, 1, 1).unwrap();
    assert!(out.starts_with("stretch tree of depth 7\t check: 255\n"), "{out}");
    assert!(out.ends_with("long lived tree of depth 6\t check: 127\n"), "{out}");
}

#[test]
fn the_command_prints_it_too() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gomem"))
        .args(["run", "binary-trees", "--depth", "10"])
        .env("GOMAXPROCS", "2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), REFERENCE_10);
}

#[test]
fn the_command_rejects_bad_environment() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gomem"))
        .args(["run", "binary-trees", "--depth", "4"])
        .env("GOGC", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GOGC") && err.contains("lots"), "{err}");
}
