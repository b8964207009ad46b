//! gomem-collector: Go 1.27's concurrent tri-color mark-sweep collector.
//!
//! This crate will hold, as Go's `mgc*.go` files do: the GC cycle (sweep termination, concurrent
//! mark with the hybrid write barrier, mark termination, concurrent sweep), per-P work buffers and
//! the global work pool, background mark workers and mark assists, the pacer (GOGC, GOMEMLIMIT),
//! the sweeper's and scavenger's policies, finalizers, cleanups and weak pointers, and the debug
//! modes `gccheckmark` and `clobberfree`. It builds on the mechanisms of [`gomem_allocator`]
//! (spans, mark bits, sweeping one span) and reaches the goroutine world through a trait the
//! runtime implements, never through the scheduler shim directly.
//!
//! Status: the allocator (issue 2) is in place; the collector is the subject of a later issue
//! and has no code yet.
//!
//! Modules so far (bottom layer first):
//! - [`sync`]: the loom-switched atomics and locks, plus the scanner's word load;
//! - [`work`]: per-P work buffers and the global work pool (Go's `mgcwork.go`);
//! - [`mark`]: greying, scanning with oblets, draining (Go's `mgcmark.go`).
#![deny(unsafe_op_in_unsafe_fn)]

pub use gomem_allocator as allocator;

pub mod barrier;
pub mod checkmark;
pub mod cycle;
pub mod limiter;
pub mod mark;
pub mod pacer;
pub mod scavenger;
pub mod sync;
pub mod work;
pub mod world;

pub use mark::{drain, scan_object, shade, OBLET_BYTES};
pub use work::{GcWork, WorkBuf, WorkPool, WORKBUF_ENTRIES};
