//! The `gomem` command: inspect and exercise gomem from the shell.
//!
//! Each subcommand is a variant of [`Command`] with its own handler function; `main` parses the
//! arguments with clap and dispatches. Subcommands planned next: `run` (drive a workload on the
//! runtime) and `compare` (put gomem's numbers beside Go's).
//!
//! ```text
//! gomem sizeclasses     # the size-class table, in the layout of Go's sizeclasses.go
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
        Command::Sizeclasses => sizeclasses(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`gomem sizeclasses | head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gomem: {e}");
            ExitCode::FAILURE
        }
    }
}
