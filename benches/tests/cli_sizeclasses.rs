//! Runs the built `gomem` binary: the `sizeclasses` subcommand, `--help`, `--version`, and the
//! error path for an unknown subcommand.

use std::process::{Command, Output};

const HEADER: &str = "class  bytes/obj  bytes/span  objects  tail waste  max waste  min align";

fn gomem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gomem")).args(args).output().expect("run the gomem binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn sizeclasses_prints_the_header_and_67_class_rows() {
    let out = gomem(&["sizeclasses"]);
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(out.stderr.is_empty(), "unexpected stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], HEADER);

    // The class rows run from the header to the first blank line.
    let rows: Vec<&str> = lines[1..].iter().copied().take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 67);
    for (i, row) in rows.iter().enumerate() {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields.len(), 7, "row {row:?}");
        assert_eq!(fields[0], (i + 1).to_string(), "row {row:?}");
        assert!(fields[5].ends_with('%'), "row {row:?}");
    }
    assert_eq!(rows[0], "    1          8        8192     1024           0     87.50%          8");
    assert_eq!(rows[66], "   67      32768       32768        1           0     12.50%       8192");

    // Then Go's alignment summary.
    let rest = &lines[1 + rows.len() + 1..];
    assert_eq!(rest.first(), Some(&"alignment  bits  min obj size"));
    assert_eq!(rest.last(), Some(&"     8192    13         32768"));
}

#[test]
fn unknown_subcommand_fails_with_a_message() {
    let out = gomem(&["no-such-subcommand"]);
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error"), "stderr: {err}");
    assert!(err.contains("no-such-subcommand"), "stderr: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_subcommand_fails() {
    let out = gomem(&[]);
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}

#[test]
fn help_lists_the_subcommands() {
    let out = gomem(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Usage: gomem"), "{text}");
    assert!(text.contains("sizeclasses"), "{text}");
}

#[test]
fn version_prints_the_package_version() {
    let out = gomem(&["--version"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), format!("gomem {}", env!("CARGO_PKG_VERSION")));
}
