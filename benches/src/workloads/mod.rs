//! Workloads the `gomem` command runs, written against the public API only (a runtime
//! implementer's code would look the same). Each has a Go twin under `benches/go/` that prints
//! the same lines and, with `-json`, the same JSON object ([`report::Report`]).
//!
//! | workload | module | what it stresses |
//! |---|---|---|
//! | `binary-trees` | [`binary_trees`] | many short-lived trees beside one long-lived tree |
//! | `gcbench` | [`gcbench`] | Boehm's GCBench: trees built top-down (stores into older objects) and bottom-up, a long-lived tree and a pointer-free array |
//! | `churn` | [`churn`] | a steady live set of small linked objects, replaced at random |
//! | `alloc` | [`alloc`] | allocation throughput, nothing kept alive |
//! | `latency` | [`latency`] | the delay of single allocations beside a large live ring of buffers |
//! | `burst` | [`burst`] | a large live set built, dropped, then a quiet tail: memory given back to the OS |
//! | `mark` | [`mark`] | the mark phase alone: a live heap of one shape (tree, list, array, churned) under forced cycles, per-cycle mark time and ns per object |
//!
//! A workload is described by a [`Spec`] (its name and parameters), which can
//! [run](Spec::run) it on a [`Runtime`], list its parameters for a report
//! ([`Spec::parameters`]) and give the command-line flags that reproduce it
//! ([`Spec::args`]), which are the same for `gomem run NAME` and for the Go twin. Running
//! returns an [`Outcome`]: the workload's own output lines, a deterministic check value (equal
//! for gomem and Go on the same parameters) and workload-specific metrics.
//! [`report::measure`] wraps a run with wall and CPU time, GC statistics and a peak-heap
//! sampler, and gives a [`report::Report`]; [`compare`] runs a workload on gomem and on its Go
//! twin in turn and puts the medians of their reports side by side (`gomem compare`), with the
//! twin built by [`twin_build`].

pub mod alloc;
pub mod binary_trees;
pub mod burst;
pub mod churn;
pub mod compare;
pub mod fit;
pub mod gcbench;
pub mod latency;
pub mod mark;
pub mod report;
pub mod twin_build;

use gomem::sync::{AtomicU64, Ordering};
use gomem::{AllocError, Runtime};
use std::sync::Arc;

/// How far a run has got, shared between the workload's goroutines and a monitor (the progress
/// bar). Units are the workload's own (objects, trees, steps); only `done / total` matters.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// A fresh counter at 0 of 0.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    /// Set the amount of work the run will do.
    pub fn set_total(&self, total: u64) {
        // Relaxed: a progress display tolerates stale values.
        self.total.store(total, Ordering::Relaxed);
    }

    /// Record `n` more units done. Call it in batches (every few thousand objects), not per
    /// object: the counter is shared by every goroutine.
    pub fn advance(&self, n: u64) {
        // Relaxed: as above.
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// `(done, total)`.
    pub fn get(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }

    /// A goroutine-local tally that adds to this counter in batches (and when dropped).
    pub fn tally(&self) -> Tally<'_> {
        Tally { progress: self, pending: 0 }
    }
}

/// Progress counted locally and published in batches of [`Tally::BATCH`] units, so goroutines
/// do not contend on the shared counter (see [`Progress::tally`]).
#[derive(Debug)]
pub struct Tally<'a> {
    progress: &'a Progress,
    pending: u64,
}

impl Tally<'_> {
    /// Units accumulated before they are published.
    pub const BATCH: u64 = 1 << 14;

    /// Count `n` more units done.
    #[inline]
    pub fn add(&mut self, n: u64) {
        self.pending += n;
        if self.pending >= Self::BATCH {
            self.progress.advance(self.pending);
            self.pending = 0;
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        self.progress.advance(self.pending);
    }
}

/// What a workload run produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The workload's own output, newline-terminated lines (what `gomem run` prints on stdout).
    pub output: String,
    /// A deterministic value computed from the live data at the end of the run; the Go twin
    /// computes the same value for the same parameters.
    pub check: u64,
    /// Workload-specific measurements (e.g. the latency percentiles), by name.
    pub metrics: Vec<(&'static str, u64)>,
}

/// Why a workload run failed.
#[derive(Debug)]
pub enum WorkloadError {
    /// The heap could not satisfy an allocation.
    Alloc(AllocError),
    /// The parameters are unusable (caught by [`Spec::validate`] before running).
    Invalid(String),
    /// The data the workload reads back is not what it wrote: a memory-manager bug.
    Corrupt(String),
}

impl core::fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WorkloadError::Alloc(e) => write!(f, "allocation failed: {e}"),
            WorkloadError::Invalid(e) => write!(f, "{e}"),
            WorkloadError::Corrupt(e) => write!(f, "heap data corrupted: {e}"),
        }
    }
}

impl std::error::Error for WorkloadError {}

impl From<AllocError> for WorkloadError {
    fn from(e: AllocError) -> Self {
        WorkloadError::Alloc(e)
    }
}

/// A parameter value as reports show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A count, a size in bytes, a depth.
    Uint(u64),
    /// A signed setting (gcbench's `scale`).
    Int(i64),
    /// A switch.
    Bool(bool),
    /// A choice by name (mark's `shape`).
    Name(&'static str),
}

impl core::fmt::Display for Param {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Param::Uint(v) => write!(f, "{v}"),
            Param::Int(v) => write!(f, "{v}"),
            Param::Bool(v) => write!(f, "{v}"),
            Param::Name(v) => f.write_str(v),
        }
    }
}

/// A workload and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// `binary-trees`.
    BinaryTrees(binary_trees::Params),
    /// `gcbench`.
    GcBench(gcbench::Params),
    /// `churn`.
    Churn(churn::Params),
    /// `alloc`.
    Alloc(alloc::Params),
    /// `latency`.
    Latency(latency::Params),
    /// `burst`.
    Burst(burst::Params),
    /// `mark`.
    Mark(mark::Params),
}

impl Spec {
    /// The workload's name, as `gomem run` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Spec::BinaryTrees(_) => "binary-trees",
            Spec::GcBench(_) => "gcbench",
            Spec::Churn(_) => "churn",
            Spec::Alloc(_) => "alloc",
            Spec::Latency(_) => "latency",
            Spec::Burst(_) => "burst",
            Spec::Mark(_) => "mark",
        }
    }

    /// The Go twin's package directory under `benches/go/`.
    pub fn go_package(&self) -> &'static str {
        match self {
            Spec::BinaryTrees(_) => "binarytrees",
            Spec::GcBench(_) => "gcbench",
            Spec::Churn(_) => "churn",
            Spec::Alloc(_) => "alloc",
            Spec::Latency(_) => "latency",
            Spec::Burst(_) => "burst",
            Spec::Mark(_) => "mark",
        }
    }

    /// The parameters as a report lists them (snake_case names, effective values).
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        match self {
            Spec::BinaryTrees(p) => p.parameters(),
            Spec::GcBench(p) => p.parameters(),
            Spec::Churn(p) => p.parameters(),
            Spec::Alloc(p) => p.parameters(),
            Spec::Latency(p) => p.parameters(),
            Spec::Burst(p) => p.parameters(),
            Spec::Mark(p) => p.parameters(),
        }
    }

    /// Flags that reproduce this spec, for `gomem run NAME` and for the Go twin alike.
    pub fn args(&self) -> Vec<String> {
        match self {
            Spec::BinaryTrees(p) => p.args(),
            Spec::GcBench(p) => p.args(),
            Spec::Churn(p) => p.args(),
            Spec::Alloc(p) => p.args(),
            Spec::Latency(p) => p.args(),
            Spec::Burst(p) => p.args(),
            Spec::Mark(p) => p.args(),
        }
    }

    /// Check the parameters: the error says which flag is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Spec::BinaryTrees(p) => p.validate(),
            Spec::GcBench(p) => p.validate(),
            Spec::Churn(p) => p.validate(),
            Spec::Alloc(p) => p.validate(),
            Spec::Latency(p) => p.validate(),
            Spec::Burst(p) => p.validate(),
            Spec::Mark(p) => p.validate(),
        }
    }

    /// A lower bound on the run's live memory and the flag that decides it ([`fit`]).
    pub fn live_estimate(&self) -> fit::LiveEstimate {
        match self {
            Spec::BinaryTrees(p) => p.live_estimate(),
            Spec::GcBench(p) => p.live_estimate(),
            Spec::Churn(p) => p.live_estimate(),
            Spec::Alloc(p) => p.live_estimate(),
            Spec::Latency(p) => p.live_estimate(),
            Spec::Burst(p) => p.live_estimate(),
            Spec::Mark(p) => p.live_estimate(),
        }
    }

    /// Refuse a run whose live set cannot fit in `bounds` ([`fit::Bound::detect`]): the error
    /// names the flag, its value and the bound.
    pub fn check_fits(&self, bounds: &[fit::Bound]) -> Result<(), String> {
        fit::check(&self.live_estimate(), bounds)
    }

    /// Run the workload on `rt`, reporting progress to `progress`.
    pub fn run(&self, rt: &Runtime, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
        self.validate().map_err(WorkloadError::Invalid)?;
        match self {
            Spec::BinaryTrees(p) => Ok(binary_trees::run_with(rt, p, progress)?),
            Spec::GcBench(p) => gcbench::run(rt, p, progress),
            Spec::Churn(p) => churn::run(rt, p, progress),
            Spec::Alloc(p) => alloc::run(rt, p, progress),
            Spec::Latency(p) => latency::run(rt, p, progress),
            Spec::Burst(p) => burst::run(rt, p, progress),
            Spec::Mark(p) => mark::run(rt, p, progress),
        }
    }
}

/// The most goroutines a workload accepts (`--goroutines`).
pub const MAX_GOROUTINES: u64 = 4096;

/// The `goroutines` check shared by every workload.
fn validate_goroutines(k: u64) -> Result<(), String> {
    if (1..=MAX_GOROUTINES).contains(&k) {
        Ok(())
    } else {
        Err(format!("--goroutines {k}: must be from 1 to {MAX_GOROUTINES}"))
    }
}

/// Goroutine `g`'s share of `n` units split among `k` goroutines (the first `n % k` get one
/// more), as the parallel binary-trees splits its trees.
pub fn share(n: u64, k: u64, g: u64) -> u64 {
    n / k + u64::from(g < n % k)
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

const UNITS: [(&str, u64); 5] =
    [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];

/// Parse a size in bytes: a decimal integer, optionally followed by `B`, `KiB`, `MiB`, `GiB`
/// or `TiB` (powers of 1024, case-sensitive, the grammar of `GOMEMLIMIT`): `4096`, `64MiB`,
/// `4GiB`. The error says what is wrong in words.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, mult) =
        UNITS.iter().find_map(|&(u, m)| s.strip_suffix(u).map(|d| (d, m))).unwrap_or((s, 1));
    const GRAMMAR: &str = "expected a non-negative integer optionally followed by B, KiB, MiB, \
                           GiB or TiB (powers of 1024), e.g. 64MiB";
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let unit_start = s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
        let hint = if unit_start < s.len() && s[..unit_start].bytes().all(|b| b.is_ascii_digit()) {
            format!(" (unknown unit {:?}; units are case-sensitive)", &s[unit_start..])
        } else {
            String::new()
        };
        return Err(format!("not a size: {GRAMMAR}{hint}"));
    }
    let n: u64 = digits.parse().map_err(|_| "too large: at most 2^64-1 bytes".to_owned())?;
    n.checked_mul(mult).ok_or_else(|| "too large: at most 2^64-1 bytes".to_owned())
}

/// Format a byte count for people: `512 B`, `1.50 KiB`, `64.0 MiB`, `4.00 GiB`.
pub fn format_size(b: u64) -> String {
    if b < 1024 {
        return format!("{b} B");
    }
    let (unit, m) = UNITS.iter().copied().find(|&(_, m)| b >= m).unwrap_or(("B", 1));
    let v = b as f64 / m as f64;
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea and Flood): a tiny generator the Go twins reproduce bit for bit, so
/// random workloads make the same choices in both languages.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The generator for goroutine `g` of a run seeded with `seed`.
    pub fn for_goroutine(seed: u64, g: u64) -> SplitMix64 {
        SplitMix64(seed.wrapping_add((g + 1).wrapping_mul(Self::GAMMA)))
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        for bad in ["", "MiB", "-1", "1.5MiB", "12XB", "4gib", "4GB", " 4", "0x10"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("4GB").unwrap_err().contains("unknown unit \"GB\""));
        assert!(parse_size("99999999999TiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes_format_for_people() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_size(64 << 20), "64.0 MiB");
        assert_eq!(format_size(200 << 20), "200 MiB");
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // SplitMix64 seeded with 0: the first outputs of the reference implementation.
        let mut r = SplitMix64(0);
        assert_eq!(r.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn shares_add_up() {
        for (n, k) in [(10, 3), (3, 10), (0, 4), (1024, 4)] {
            assert_eq!((0..k).map(|g| share(n, k, g)).sum::<u64>(), n);
        }
    }
}
