//! The `gomem` command: inspect and exercise gomem from the shell.
//!
//! Each subcommand is a variant of [`Command`] with its own handler function; `main` parses the
//! arguments with clap and dispatches. Planned next: `compare` (run a workload's Go twin with
//! the same flags, [`Spec::args`], and put the two [`Report`]s side by side).
//!
//! ```text
//! gomem sizeclasses                          # the size-class table, as Go's sizeclasses.go
//! gomem run binary-trees --depth 10          # a workload: its lines on stdout, a summary on stderr
//! gomem run churn --live 64MiB --total 4GiB --goroutines 2 --gogc 50
//! gomem run latency --json                   # one JSON object on stdout instead
//! gomem run burst --peak 256MiB --keep 16MiB --duration 10  # RSS after a burst is dropped
//! gomem --help | --version
//! ```
//!
//! Exit status: 0 on success; 2 for a usage error (bad flag, size or parameter, invalid GOGC,
//! GOMEMLIMIT, GOMAXPROCS or GODEBUG); 1 when the run itself fails.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gomem::allocator::sizeclass;
use gomem::config::{self, Config, GcPercent};
use gomem::workloads::report::{self, Report, Sample};
use gomem::workloads::{self, alloc, binary_trees, burst, churn, gcbench, latency, Spec};

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
        /// The workload.
        #[command(subcommand)]
        workload: Workload,
    },
}

/// Options of `gomem run`, accepted before or after the workload's name.
#[derive(Debug, Args)]
struct RunOpts {
    /// Print one JSON object on stdout (no summary table, no output lines outside it).
    #[arg(long, global = true, help_heading = "Run options")]
    json: bool,
    /// GOGC: a percentage or "off" (overrides the environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "PERCENT|off", value_parser = parse_gogc)]
    gogc: Option<GcPercent>,
    /// GOMEMLIMIT: bytes with an optional unit (B, KiB, MiB, GiB, TiB) or "off" (overrides the
    /// environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "SIZE|off", value_parser = parse_memlimit)]
    memlimit: Option<MemLimit>,
    /// GOMAXPROCS: the number of Ps (overrides the environment).
    #[arg(long, global = true, help_heading = "Run options", value_name = "N", value_parser = parse_procs)]
    procs: Option<usize>,
    /// Never draw the progress bar.
    #[arg(long, global = true, help_heading = "Run options")]
    no_progress: bool,
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

fn parse_seconds(s: &str) -> Result<u64, String> {
    burst::parse_seconds(s)
}

/// Workloads for `gomem run`.
#[derive(Debug, Subcommand)]
enum Workload {
    /// The Benchmarks Game's binary-trees; prints the benchmark's own output lines.
    BinaryTrees {
        /// Maximum tree depth (the benchmark's N).
        #[arg(long, default_value_t = 10)]
        depth: u32,
        /// Goroutines sharing each depth's trees.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
    },
    /// Boehm's GCBench: long-lived tree and array, trees built top-down and bottom-up.
    Gcbench {
        /// Add N to the stretch, long-lived and maximum depths and scale the array by 2^N
        /// (0 = the classic 18/16/500000/4/16; -8 runs in milliseconds).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        scale: i32,
        /// Goroutines sharing each timed phase's trees.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
    },
    /// A steady live set of 64-byte linked nodes replaced at random until TOTAL bytes are
    /// allocated.
    Churn {
        /// Bytes kept live (e.g. 64MiB).
        #[arg(long, default_value = "64MiB", value_parser = parse_size)]
        live: u64,
        /// Bytes to allocate in all, the live set included (e.g. 4GiB).
        #[arg(long, default_value = "1GiB", value_parser = parse_size)]
        total: u64,
        /// Goroutines, each with its share of the live set.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
        /// Seed of the random replacements.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Allocation throughput: COUNT objects of SIZE bytes, none kept alive.
    Alloc {
        /// Bytes per object (e.g. 64, 32KiB).
        #[arg(long, default_value = "64", value_parser = parse_size)]
        size: u64,
        /// Objects in all.
        #[arg(long, default_value_t = 10_000_000)]
        count: u64,
        /// Allocate pointer arrays (scanned objects) instead of pointer-free buffers.
        #[arg(long)]
        pointers: bool,
        /// Goroutines sharing the objects.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
    },
    /// Single-allocation delay beside a large live ring of buffers (p50/p99/p99.9/max).
    Latency {
        /// Buffers in the ring (200000 × 1 KiB ≈ 200 MiB live).
        #[arg(long, default_value_t = 200_000)]
        buffers: u64,
        /// Bytes per buffer.
        #[arg(long, default_value = "1KiB", value_parser = parse_size)]
        size: u64,
        /// Timed allocations.
        #[arg(long, default_value_t = 1_000_000)]
        steps: u64,
        /// Goroutines, each with its own ring.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
    },
    /// Build PEAK bytes of live buffers, drop all but KEEP, then allocate garbage at RATE for
    /// DURATION seconds; the JSON report's rss_samples show the resident set over time.
    Burst {
        /// Bytes of live buffers built (whole MiB).
        #[arg(long, default_value = "256MiB", value_parser = parse_size)]
        peak: u64,
        /// Bytes kept live after the drop (whole MiB).
        #[arg(long, default_value = "16MiB", value_parser = parse_size)]
        keep: u64,
        /// Seconds of the tail after the drop (e.g. 5, 2.5).
        #[arg(long = "duration", default_value = "10", value_parser = parse_seconds)]
        duration_ms: u64,
        /// Garbage allocated per second during the tail, all goroutines together.
        #[arg(long, default_value = "64MiB", value_parser = parse_size)]
        rate: u64,
        /// Goroutines sharing the tables and the tail.
        #[arg(long, default_value_t = 1)]
        goroutines: u64,
    },
}

impl Workload {
    fn spec(self) -> Spec {
        match self {
            Workload::BinaryTrees { depth, goroutines } => {
                Spec::BinaryTrees(binary_trees::Params { depth, goroutines })
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

/// Run a workload and print its output and report.
fn run(opts: RunOpts, w: Workload) -> Result<(), Failure> {
    let spec = w.spec();
    spec.validate().map_err(|e| Failure::usage(format!("{}: {e}", spec.name())))?;
    let cfg = config(&opts).map_err(|e| Failure::usage(e.to_string()))?;
    for u in &cfg.debug.unknown {
        eprintln!("gomem: warning: GODEBUG setting {u:?} is not used by gomem");
    }
    let rt = gomem::Runtime::new(cfg).map_err(|e| match e {
        gomem::RuntimeError::Config(e) => Failure::usage(e.to_string()),
        e => Failure::run(e.to_string()),
    })?;
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
    // The runtime is not needed any more and the process is about to end, taking the
    // collector's threads with it. Dropping the runtime would shut the collector down first,
    // which can hang when the workload's last allocations started a cycle: the mark workers
    // leave before the controller has drained that cycle's work (Collector::shutdown).
    std::mem::forget(rt);
    let r: Report = r.map_err(|e| match e {
        workloads::WorkloadError::Invalid(m) => Failure::usage(format!("{}: {m}", spec.name())),
        e => Failure::run(format!("{}: {e}", spec.name())),
    })?;
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
        Command::Run { opts, workload } => run(opts, workload),
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
