//! gomem-collector: Go 1.27's concurrent tri-color mark-sweep collector.
//!
//! As Go's `mgc*.go` files do, this crate holds the GC cycle (sweep termination, concurrent mark
//! with the hybrid write barrier, mark termination, concurrent sweep), per-P work buffers and the
//! global work pool, background mark workers and mark assists, the pacer (GOGC, GOMEMLIMIT), the
//! GC CPU limiter, the sweeper's and scavenger's policies, and the debug modes `gccheckmark` and
//! `gcstoptheworld`. It builds on the mechanisms of [`gomem_allocator`] (spans, mark bits,
//! sweeping one span, releasing pages) and reaches the goroutine world through a trait the
//! runtime implements, never through the scheduler shim directly. Finalizers, cleanups and weak
//! pointers are not implemented yet. `docs/collector.md` and `docs/scavenger.md` in the
//! repository give the design.
//!
//! Modules, bottom layer first (the `mod` declarations below are alphabetical):
//! - [`sync`]: the loom-switched atomics and locks, plus the scanner's word load;
//! - [`events`]: an optional record of phase boundaries and pauses, for timelines (Go's
//!   execution tracer plays this part);
//! - [`work`]: per-P work buffers and the global work pool (Go's `mgcwork.go`);
//! - [`mark`]: greying, scanning with oblets, draining (Go's `mgcmark.go`), and, as methods of
//!   the collector, mark assists and background credit (`mark/assist.rs`);
//! - [`barrier`]: the write barrier and its per-P buffers (Go's `mbarrier.go`, `mwbbuf.go`);
//! - [`checkmark`]: `GODEBUG=gccheckmark=1` (Go's `mcheckmark.go`);
//! - [`pacer`]: heap goal, trigger, assist ratio (Go's `mgcpacer.go`);
//! - [`scan`]: the dense-span scan kernel, scalar and AVX-512, that Green Tea's span scan calls
//!   (Go's `internal/runtime/gc/scan`);
//! - [`world`]: the traits the runtime implements;
//! - [`cycle`]: the collector, its threads and one cycle's phases (Go's `mgc.go`;
//!   `cycle/phases.rs`), on which the rest build as methods of [`cycle::Collector`]:
//! - [`sweep`]: the active-sweeper count that mark start waits for (Go's `activeSweep`), and
//!   the collector's sweepers (Go's `mgcsweep.go`);
//! - [`stats`]: the cycle statistics and the gctrace line (Go's `mstats.go`, and the end of
//!   `gcMarkTermination`);
//! - [`limiter`]: the GC CPU limiter (Go's `mgclimit.go`);
//! - [`memlimit`]: GOMEMLIMIT at run time and the counters fed to the pacer;
//! - [`scavenger`]: the scavenger's goals, pacing and thread (Go's `mgcscavenge.go`).
#![deny(unsafe_op_in_unsafe_fn)]

pub use gomem_allocator as allocator;

pub mod barrier;
pub mod checkmark;
pub mod cycle;
pub mod events;
pub mod limiter;
pub mod mark;
pub mod memlimit;
pub mod pacer;
pub mod scan;
pub mod scavenger;
pub mod stats;
pub mod sweep;
pub mod sync;
pub mod work;
pub mod world;

pub use mark::{drain, scan_object, shade, OBLET_BYTES};
pub use work::{GcWork, WorkBuf, WorkPool, WORKBUF_ENTRIES};
