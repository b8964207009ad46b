//! `gomem figures`: every whole-program comparison that the README and `docs/performance.md`
//! quote, run in one go and written as one Markdown file (`docs/figures.md`).
//!
//! Each entry of the [suite] is one [`compare`] plan: the same workload, flags, GOGC,
//! GOMEMLIMIT and GOMAXPROCS on both sides, gomem and its Go twin run alternately, each run its
//! own process. Nothing here measures anything itself; it only picks the workloads and lays the
//! medians out. The file starts with a header naming the date (UTC), the commit of the source
//! tree (`-dirty` when it has uncommitted changes), the machine (CPU, cores, kernel, RAM), the
//! Go version and the runs per side, so a figure quoted from it carries where it came from.
//! Each table gives, per figure, both medians, their ratio and the spread (the smallest and
//! largest value over the runs), so a reader sees the noise beside the median: a figure from a
//! single favourable run cannot hide there.
//!
//! `--quick` runs the same suite with tiny sizes and one run per side, in seconds; it exists to
//! test that the whole path works (`benches/tests/figures.rs`), and its numbers mean nothing.
//! `benches/figures.sh` runs this command and the criterion-style benches and writes both.

use crate::workloads::compare::{self, figure, Comparison, GoToolchain, Plan, Settings, Side};
use crate::workloads::report::Report;
use crate::workloads::{alloc, binary_trees, burst, churn, gcbench, latency, mark, Spec};
use gomem::config::GcPercent;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One comparison of the suite.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The heading of its table (`binary-trees --depth 21`).
    pub title: String,
    /// The workload and its parameters.
    pub spec: Spec,
    /// What both sides run with.
    pub settings: Settings,
    /// Workload metrics shown beside the common figures (keys of the report's `metrics`).
    pub metrics: &'static [&'static str],
    /// The Go side's marker.
    pub go_marker: compare::GoMarker,
}

/// The common figures of every table: report key and label.
pub const ROWS: [(&str, &str); 8] = [
    ("wall_s", "wall"),
    ("cpu_s", "process CPU"),
    ("num_gc", "GC cycles"),
    ("gc_cpu_fraction", "GC CPU"),
    ("pause_max_ns", "pause max"),
    ("pause_p99_ns", "pause p99"),
    ("peak_heap_alloc_bytes", "peak heap"),
    ("peak_rss_bytes", "peak RSS"),
];

/// The comparisons the documents quote, in order; `quick` shrinks every size to run in seconds.
pub fn suite(quick: bool, gomaxprocs: usize) -> Vec<Entry> {
    let plain = Settings { gogc: GcPercent::Percent(100), memory_limit: None, gomaxprocs };
    let limited = Settings {
        gogc: GcPercent::Off,
        memory_limit: Some(if quick { 16 << 20 } else { 128 << 20 }),
        gomaxprocs,
    };
    let q = |full: u64, tiny: u64| if quick { tiny } else { full };
    let bt = |depth: u32| Entry {
        title: format!("binary-trees --depth {depth}"),
        spec: Spec::BinaryTrees(binary_trees::Params {
            depth: if quick { depth - 14 } else { depth },
            goroutines: 1,
        }),
        settings: plain,
        metrics: &[],
        go_marker: Default::default(),
    };
    let churn = |live: u64, total: u64| churn::Params { live, total, goroutines: 1, seed: 1 };
    let mut v = vec![
        bt(18),
        bt(21),
        Entry {
            title: "gcbench".into(),
            spec: Spec::GcBench(gcbench::Params {
                scale: if quick { -8 } else { 0 },
                goroutines: 1,
            }),
            settings: plain,
            metrics: &[],
            go_marker: Default::default(),
        },
        Entry {
            title: "churn --live 64MiB --total 4GiB".into(),
            spec: Spec::Churn(churn(q(64 << 20, 64 << 10), q(4 << 30, 2 << 20))),
            settings: plain,
            metrics: &[],
            go_marker: Default::default(),
        },
        Entry {
            title: "latency".into(),
            spec: Spec::Latency(latency::Params {
                buffers: q(200_000, 1_000),
                size: 1 << 10,
                steps: q(1_000_000, 10_000),
                goroutines: 1,
            }),
            settings: plain,
            metrics: &["alloc_delay_p99_ns", "alloc_delay_max_ns"],
            go_marker: Default::default(),
        },
    ];
    for size in [16, 64, 512] {
        v.push(Entry {
            title: format!("alloc --size {size}"),
            spec: Spec::Alloc(alloc::Params {
                size,
                count: q(10_000_000, 10_000),
                pointers: false,
                goroutines: 1,
            }),
            settings: plain,
            metrics: &[],
            go_marker: Default::default(),
        });
    }
    v.push(Entry {
        title: "burst --peak 256MiB --keep 16MiB --duration 10".into(),
        spec: Spec::Burst(burst::Params {
            peak: q(256 << 20, 4 << 20),
            keep: q(16 << 20, 1 << 20),
            duration_ms: q(10_000, 200),
            rate: q(64 << 20, 16 << 20),
            goroutines: 1,
        }),
        settings: plain,
        metrics: &["rss_at_drop_bytes", "rss_end_bytes"],
        go_marker: Default::default(),
    });
    v.push(Entry {
        title: "churn --live 64MiB --total 1GiB, GOGC=off GOMEMLIMIT=128MiB".into(),
        spec: Spec::Churn(churn(q(64 << 20, 1 << 20), q(1 << 30, 8 << 20))),
        settings: limited,
        metrics: &[],
        go_marker: Default::default(),
    });
    // The mark phase alone, each shape against both of Go's markers.
    for shape in mark::Shape::ALL {
        for go_marker in [compare::GoMarker::GreenTea, compare::GoMarker::Classic] {
            v.push(Entry {
                title: format!("mark --shape {}, Go's {} marker", shape.name(), go_marker.name()),
                spec: Spec::Mark(mark::Params {
                    shape,
                    objects: q(1 << 20, 2000),
                    cycles: q(10, 2),
                    seed: 1,
                }),
                settings: plain,
                metrics: &[
                    "mark_wall_ps_per_object",
                    "mark_cpu_ps_per_object",
                    "mark_wall_ns",
                    "heap_marked_bytes",
                ],
                go_marker,
            });
        }
    }
    v
}

/// Which comparisons a run of `gomem figures` makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Suite {
    /// Everything the README and `docs/performance.md` quote ([`suite`]), into
    /// `docs/figures.md`.
    #[default]
    Main,
    /// Issue 14's targets ([`targets`]), into `docs/figures-targets.md`.
    Targets,
}

impl Suite {
    /// The entries of this suite.
    pub fn entries(self, quick: bool, gomaxprocs: usize) -> Vec<Entry> {
        match self {
            Suite::Main => suite(quick, gomaxprocs),
            Suite::Targets => targets(quick),
        }
    }
}

/// The GC-bound programs issue 14 sets targets for (wall at most 0.8× Go's, process CPU and
/// peak RSS at most Go's, pauses at p99 no longer): binary-trees at depths 18 and 21, gcbench
/// and churn of 64 MiB live over 1 GiB, each at GOMAXPROCS 1 and 2 against Go's default
/// (Green Tea) marker, and the three shorter ones at GOMAXPROCS 2 against Go built with its
/// classic marker too (`GOEXPERIMENT=nogreenteagc`).
pub fn targets(quick: bool) -> Vec<Entry> {
    let q = |full: u64, tiny: u64| if quick { tiny } else { full };
    let programs = |gomaxprocs: usize| {
        let settings = Settings { gogc: GcPercent::Percent(100), memory_limit: None, gomaxprocs };
        let bt = |depth: u32| Entry {
            title: format!("binary-trees --depth {depth}, GOMAXPROCS={gomaxprocs}"),
            spec: Spec::BinaryTrees(binary_trees::Params {
                depth: if quick { depth - 14 } else { depth },
                goroutines: 1,
            }),
            settings,
            metrics: &[],
            go_marker: Default::default(),
        };
        vec![
            bt(18),
            bt(21),
            Entry {
                title: format!("gcbench, GOMAXPROCS={gomaxprocs}"),
                spec: Spec::GcBench(gcbench::Params {
                    scale: if quick { -8 } else { 0 },
                    goroutines: 1,
                }),
                settings,
                metrics: &[],
                go_marker: Default::default(),
            },
            Entry {
                title: format!("churn --live 64MiB --total 1GiB, GOMAXPROCS={gomaxprocs}"),
                spec: Spec::Churn(churn::Params {
                    live: q(64 << 20, 64 << 10),
                    total: q(1 << 30, 2 << 20),
                    goroutines: 1,
                    seed: 1,
                }),
                settings,
                metrics: &[],
                go_marker: Default::default(),
            },
        ]
    };
    let mut v = programs(2);
    v.extend(programs(1));
    for mut e in programs(2) {
        if e.title.starts_with("binary-trees --depth 21") {
            continue;
        }
        e.title = format!("{}, Go's classic marker", e.title);
        e.go_marker = compare::GoMarker::Classic;
        v.push(e);
    }
    v
}

/// Where and when the suite ran: the header of the file.
#[derive(Clone, Debug)]
pub struct Header {
    /// `2026-12-03 10:30 UTC`.
    pub date: String,
    /// `git rev-parse --short HEAD` of the source tree, `-dirty` appended if it has changes.
    pub commit: String,
    /// The machine (CPU model, cores, kernel).
    pub machine: compare::Machine,
    /// Physical memory, in bytes (0 when unknown).
    pub ram: u64,
    /// `go version`, less its prefix.
    pub go_version: String,
    /// Runs per side.
    pub runs: usize,
    /// Whether this is a `--quick` run (tiny sizes: the numbers mean nothing).
    pub quick: bool,
}

impl Header {
    /// The header of a run starting now, from this source tree and this machine.
    pub fn detect(go: &GoToolchain, runs: usize, quick: bool) -> Header {
        let date =
            output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let commit = match output("git", &["-C", dir, "rev-parse", "--short", "HEAD"]) {
            Some(c) => {
                // The generated files (and the README, whose figures block it rewrites) do not
                // make the tree dirty: this run rewrites them.
                let status = [
                    "-C",
                    dir,
                    "status",
                    "--porcelain",
                    "-uno",
                    "--",
                    ".",
                    ":(exclude)docs/figures.md",
                    ":(exclude)docs/figures-benches.md",
                    ":(exclude)README.md",
                ];
                let dirty = output("git", &status).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{c}-dirty")
                } else {
                    c
                }
            }
            None => "unknown".into(),
        };
        let ram = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(0, |kib| kib << 10);
        Header {
            date,
            commit,
            machine: compare::Machine::detect(),
            ram,
            go_version: go.version.clone(),
            runs,
            quick,
        }
    }

    fn markdown(&self) -> String {
        let m = &self.machine;
        let mut s = String::new();
        let _ = writeln!(s, "# Figures: gomem against Go, side by side\n");
        let _ = writeln!(
            s,
            "Generated by `benches/figures.sh` (`gomem figures`); do not edit by hand. Every \
             figure is a median over the runs, both sides run alternately with the same flags \
             and settings; the spread columns give the smallest and largest value over the \
             runs. How each figure is measured: `docs/performance.md`.\n"
        );
        let _ = writeln!(s, "- date: {}", self.date);
        let _ = writeln!(s, "- commit: `{}`", self.commit);
        let _ = writeln!(
            s,
            "- machine: {}, {} cores, Linux {}, {} RAM",
            m.cpu,
            m.cores,
            m.kernel,
            crate::workloads::format_size(self.ram)
        );
        let _ = writeln!(s, "- Go: {}", self.go_version);
        let _ = writeln!(s, "- runs per side: {}", self.runs);
        if self.quick {
            let _ = writeln!(
                s,
                "- **--quick**: tiny sizes and one run; these numbers mean nothing, the run only \
                 checks that the command works"
            );
        }
        s
    }
}

/// The trimmed standard output of a command that succeeded.
fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let o =
        Command::new(cmd).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// One table: the entry's figures, both medians, the ratio and both spreads.
pub fn table(entry: &Entry, c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## {}\n", entry.title);
    let marker = match c.go_marker {
        compare::GoMarker::GreenTea => String::new(),
        m => format!(" --go-marker {}", m.name()),
    };
    let _ = writeln!(
        s,
        "`gomem compare {} {} {} --runs {}{marker}` ({})\n",
        c.spec.name(),
        c.spec.args().join(" "),
        c.settings.args().join(" "),
        c.gomem.len(),
        c.settings.describe()
    );
    let _ = writeln!(s, "| figure | gomem | Go | gomem/Go | gomem min–max | Go min–max |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    let figures = c.figures();
    let metric_rows: Vec<(String, String)> =
        entry.metrics.iter().map(|m| (format!("metrics.{m}"), (*m).to_owned())).collect();
    let rows = ROWS.iter().map(|&(k, l)| (k.to_owned(), l.to_owned())).chain(metric_rows);
    for (key, label) in rows {
        let Some(f) = figures.iter().find(|f| f.name == key) else { continue };
        let spread = |rs: &[Report]| {
            let v: Vec<f64> = rs.iter().filter_map(|r| figure(r, &key)).collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if v.is_empty() {
                "–".to_owned()
            } else {
                format!("{}–{}", f.unit.format(lo), f.unit.format(hi))
            }
        };
        let ratio = f.ratio.map_or("–".to_owned(), |r| format!("{r:.2}×"));
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {ratio} | {} | {} |",
            f.unit.format(f.gomem),
            f.unit.format(f.go),
            spread(&c.gomem),
            spread(&c.go)
        );
    }
    let _ = writeln!(s);
    s
}

/// How to run the suite.
#[derive(Clone, Debug)]
pub struct Options {
    /// Runs per side.
    pub runs: usize,
    /// Tiny sizes (and the caller usually passes one run).
    pub quick: bool,
    /// The `gomem` binary to run for the gomem side.
    pub gomem_exe: PathBuf,
    /// The directory of the Go twins.
    pub twins: PathBuf,
    /// GOMAXPROCS for both sides (entries that set their own keep it).
    pub gomaxprocs: usize,
    /// Which comparisons to make.
    pub suite: Suite,
}

/// What a run of the suite produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The Markdown file.
    pub markdown: String,
    /// The README's block ([`summary`]).
    pub summary: String,
    /// Every disagreement between the sides (which voids the comparison it belongs to).
    pub disagreements: Vec<String>,
}

/// Run the whole suite, printing progress on stderr.
pub fn run(go: &GoToolchain, o: &Options) -> Result<Outcome, compare::CompareError> {
    let header = Header::detect(go, o.runs, o.quick);
    let mut doc = header.markdown();
    if o.suite == Suite::Targets {
        let _ = writeln!(
            doc,
            "\nIssue 14's targets, against Go's default marker and (where the title says so) its \
             classic one: wall at most 0.8× Go's, process CPU and peak RSS at most 1.0×, pause \
             p99 no longer than Go's."
        );
    }
    let _ = writeln!(doc);
    let entries = o.suite.entries(o.quick, o.gomaxprocs);
    let mut disagreements = Vec::new();
    let mut tables = Vec::new();
    let start = std::time::Instant::now();
    let cache = compare::twin_cache_dir(&o.gomem_exe);
    for (n, e) in entries.iter().enumerate() {
        let at = |start: std::time::Instant| start.elapsed().as_secs();
        eprintln!("[{}/{}] {} ({} s so far)", n + 1, entries.len(), e.title, at(start));
        let twin = go.build_twin(&o.twins, e.spec.go_package(), &cache, e.go_marker)?;
        let plan = Plan {
            spec: e.spec.clone(),
            settings: e.settings,
            runs: o.runs,
            gomem_exe: o.gomem_exe.clone(),
            twin_exe: twin.exe.clone(),
        };
        let (gomem, go_runs) = plan.run(|i, total, side| {
            let who = if side == Side::Gomem { "gomem" } else { "Go" };
            eprintln!("      run {}/{total}: {who}", i + 1);
        })?;
        let c = Comparison {
            spec: e.spec.clone(),
            settings: e.settings,
            machine: header.machine.clone(),
            gomem_version: compare::gomem_version(),
            go_version: go.version.clone(),
            go_marker: twin.marker,
            go_goexperiment: twin.goexperiment,
            godebug: std::env::var("GODEBUG").unwrap_or_default(),
            gomem,
            go: go_runs,
        };
        for d in c.disagreements() {
            disagreements.push(format!("{}: {d}", e.title));
        }
        doc.push_str(&table(e, &c));
        tables.push((e.clone(), c));
    }
    eprintln!("done in {} s", start.elapsed().as_secs());
    Ok(Outcome { summary: summary(&header, &tables), markdown: doc, disagreements })
}

/// The default output file: `docs/figures.md` of this source tree.
pub fn default_output() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("docs").join("figures.md")
}

/// The line that starts the README's generated block.
pub const README_BEGIN: &str = "<!-- figures:begin (benches/figures.sh writes this block) -->";
/// The line that ends it.
pub const README_END: &str = "<!-- figures:end -->";

/// The README's few lines: where the figures come from, then per table the medians' ratios of
/// wall time, worst pause and peak RSS, with gomem's and Go's wall-time spreads.
pub fn summary(header: &Header, tables: &[(Entry, Comparison)]) -> String {
    let m = &header.machine;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Generated {} from commit `{}` on {} ({} cores, Linux {}), against Go {}; medians of {} \
         alternating runs per side, gomem/Go (below 1: gomem used less), with the spread of \
         wall times over the runs. All tables: [`docs/figures.md`](docs/figures.md).\n",
        header.date, header.commit, m.cpu, m.cores, m.kernel, header.go_version, header.runs
    );
    for (e, c) in tables {
        let f = c.figures();
        let get = |k: &str| f.iter().find(|f| f.name == k);
        let ratio =
            |k: &str| get(k).and_then(|f| f.ratio).map_or("–".to_owned(), |r| format!("{r:.2}×"));
        let span = |rs: &[Report]| {
            let v: Vec<f64> = rs.iter().filter_map(|r| figure(r, "wall_s")).collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{lo:.2}–{hi:.2} s")
        };
        let pause = get("pause_max_ns").map_or(String::new(), |f| {
            format!(" ({} against {})", f.unit.format(f.gomem), f.unit.format(f.go))
        });
        let _ = writeln!(
            s,
            "- `{}`: wall {} (gomem {}, Go {}), worst pause {}{pause}, peak RSS {}",
            e.title,
            ratio("wall_s"),
            span(&c.gomem),
            span(&c.go),
            ratio("pause_max_ns"),
            ratio("peak_rss_bytes")
        );
    }
    s
}

/// `text` with the lines between [`README_BEGIN`] and [`README_END`] replaced by `block`;
/// `None` if the markers are not there.
pub fn splice(text: &str, block: &str) -> Option<String> {
    let start = text.find(README_BEGIN)? + README_BEGIN.len();
    let end = start + text[start..].find(README_END)?;
    Some(format!("{}\n{}{}", &text[..start], block, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_of_both_suites_is_a_valid_workload() {
        for quick in [false, true] {
            for (which, len) in [(Suite::Main, 18), (Suite::Targets, 11)] {
                let s = which.entries(quick, 2);
                assert_eq!(s.len(), len, "{which:?}");
                for e in &s {
                    assert_eq!(e.spec.validate(), Ok(()), "{} (quick: {quick})", e.title);
                }
            }
            let t = Suite::Targets.entries(quick, 2);
            let p1 = t.iter().filter(|e| e.settings.gomaxprocs == 1).count();
            assert_eq!(p1, 4, "every target program at GOMAXPROCS=1");
        }
    }

    #[test]
    fn splice_replaces_only_the_block() {
        let text = format!("a\n{README_BEGIN}\nold\n{README_END}\nb\n");
        assert_eq!(
            splice(&text, "new\n").as_deref(),
            Some(format!("a\n{README_BEGIN}\nnew\n{README_END}\nb\n").as_str())
        );
        assert_eq!(splice("no markers", "x"), None);
    }
}
