//! The `gomem` command: inspect and exercise gomem from the shell.
//!
//! Each subcommand is a variant of [`Command`] with its own handler function; `main` parses the
//! arguments with clap and dispatches. Planned next: `compare` (put gomem's numbers beside Go's).
//!
//! ```text
//! gomem sizeclasses                         # the size-class table, as Go's sizeclasses.go
//! gomem run binary-trees --depth 10         # a workload, configured by GOGC, GOMAXPROCS, ...
//! gomem --help | --version
//! ```

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gomem::allocator::sizeclass;

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
    /// Run a workload on a gomem runtime configured from GOGC, GOMEMLIMIT, GOMAXPROCS and
    /// GODEBUG, and print its output.
    Run {
        /// The workload.
        #[command(subcommand)]
        workload: Workload,
    },
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
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
        goroutines: u64,
    },
}

/// Run a workload and print its output.
fn run(w: Workload) -> Result<(), Box<dyn std::error::Error>> {
    let rt = gomem::Runtime::from_env()?;
    match w {
        Workload::BinaryTrees { depth, goroutines } => {
            let out = gomem::workloads::binary_trees::run(&rt, depth, goroutines as usize)?;
            let mut o = std::io::stdout().lock();
            o.write_all(out.as_bytes())?;
            o.flush()?;
        }
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
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Sizeclasses => sizeclasses().map_err(Into::into),
        Command::Run { workload } => run(workload),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`gomem sizeclasses | head`) is not an error worth reporting.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gomem: {e}");
            ExitCode::FAILURE
        }
    }
}
