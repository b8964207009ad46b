//! # gomem: Go's runtime memory manager, rebuilt in Rust
//!
//! This is the crate users import. It wires the allocator ([`gomem_allocator`]), the scheduler
//! shim ([`gomem_sched`]) and the concurrent collector ([`gomem_collector`]: mark-sweep with Go's
//! hybrid write barrier, pacer, sweeper and scavenger) into one [`Runtime`], and gives mutator
//! code a safe, typed API. Finalizers, cleanups and weak pointers are not implemented yet.
//!
//! ## A runtime, goroutines, a mutator
//!
//! 1. [`Runtime::new`] (or [`Runtime::from_env`], which reads GOGC, GOMEMLIMIT, GOMAXPROCS and
//!    GODEBUG) reserves a heap and makes GOMAXPROCS processors (Ps), each with its own
//!    allocation cache.
//! 2. [`Runtime::go`] spawns a goroutine: a closure on its own OS thread that holds a P while it
//!    runs. It receives a [`Mutator`], through which it allocates, links and reads objects.
//! 3. Heap types are `#[repr(C)]` structs declared with [`gc_object!`], which derives their
//!    pointer layout at compile time; pointer fields are [`Gc<T>`](Gc).
//! 4. Every handle the mutator keeps is a [`Local`], rooted on the goroutine's root stack for the
//!    scope that made it; reads that reach no safepoint can go through a [`View`] instead, whose
//!    [`Ref`]s push no roots; every pointer store goes through the write barrier.
//!
//! ```
//! use gomem::{gc_object, Config, Gc, Runtime};
//!
//! gc_object! {
//!     /// A singly linked list cell.
//!     pub struct Cell {
//!         pub next: Gc<Cell>,
//!         pub value: u64,
//!     }
//! }
//!
//! let rt = Runtime::new(Config::default().gomaxprocs(2)).unwrap();
//! let sum = rt.go(|m| {
//!     // Build 0 -> 1 -> ... -> 9 and sum it back.
//!     let mut head = None;
//!     for v in (0..10u64).rev() {
//!         let c = m.alloc::<Cell>().unwrap();
//!         m.write(c, Cell::value, v);
//!         m.set(c, Cell::next, head);
//!         head = Some(c);
//!     }
//!     let mut sum = 0;
//!     let mut cur = head;
//!     while let Some(c) = cur {
//!         sum += m.read(c, Cell::value);
//!         cur = m.get(c, Cell::next);
//!     }
//!     sum
//! });
//! assert_eq!(sum.join().unwrap(), 45);
//! ```
//!
//! ## Vocabulary
//!
//! - **P** (processor): a token; GOMAXPROCS exist. Allocation and pointer stores need one.
//! - **G** (goroutine): a closure on its own thread; it holds a P while running mutator code.
//! - **safepoint**: a place where a G can be stopped or have its roots scanned: allocation slow
//!   paths, [`Mutator::safepoint`], giving up the P.
//! - **root**: a heap address the collector must treat as live: a G's [`Local`] handles and the
//!   registered [`Global`]s.
//!
//! ## Where to read next
//!
//! [`mutator`] (handles, scopes, the barrier contract), [`view`] (unrooted reads and why they
//! are sound), [`object`] (typed objects), [`config`]
//! (the environment), [`timeline`] (recording goroutines, GC phases, pauses and the heap over
//! time, for traces and charts), `docs/embedding.md` in the repository (a guide for runtime
//! implementers) and `docs/architecture.md` (how the crates fit together). The `gomem` command,
//! its workloads and the comparison with Go live in the `gomem-benches` crate (`benches/`).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod barrier;
pub mod config;
pub mod globals;
pub mod memstats;
pub mod mutator;
pub mod object;
mod runtime;
pub mod state;
pub mod sync;
pub mod timeline;
pub mod view;

pub use config::{Config, ConfigError, GcPercent};
pub use globals::Global;
pub use gomem_allocator as allocator;
pub use gomem_allocator::AllocError;
pub use gomem_collector as collector;
pub use gomem_sched as sched;
pub use memstats::MemStats;
pub use mutator::{Local, Mutator};
pub use object::{Bytes, Field, Gc, GcType, PtrArray, Scalar};
pub use runtime::{JoinHandle, Runtime, RuntimeError, StoppedWorld, MAX_GOMAXPROCS};
pub use view::{Ref, View};
