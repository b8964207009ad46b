//! What the collector needs from the world of goroutines, as traits the runtime implements
//! (the collector never calls the scheduler shim directly; MMTk's `VMBinding` plays this part).
//!
//! - [`World::stop_the_world`] runs a closure with every P stopped and hands it each P's
//!   allocation cache and collector state, and every goroutine's roots.
//! - [`World::scan_goroutine_roots`] visits each goroutine's roots *without* stopping the world:
//!   a goroutine's roots are read at its next safepoint, or on its behalf while it holds no P.
//! - [`World::scan_global_roots`] visits the registered global roots.
//! - [`World::borrow_p`] runs a closure of a collector thread holding a P (Go runs its mark
//!   workers, root jobs, background sweeper and scavenger on Ps), so that at GOMAXPROCS=N at
//!   most N threads do mutator and GC work at once.
//!
//! # Invariants (why the traits are `unsafe`)
//!
//! The collector frees every object it did not mark, so it trusts these reports completely:
//! a root left out, a P's cache or barrier buffer left out, or a "stopped" world that is still
//! running lets it free memory that a mutator still uses. Implementing [`World`] or
//! [`Stopped`] is therefore an `unsafe impl`: the implementer promises the contract written on
//! each method. `gomem`'s `Runtime` is the one implementation.

use crate::barrier::WbBuf;
use crate::work::GcWork;
use gomem_allocator::MCache;

/// The collector's per-P state, kept on the P by the runtime (Go's `p.gcw`, `p.wbBuf`).
#[derive(Debug, Default)]
pub struct GcPState {
    /// The P's mark work (Go's `gcWork`).
    pub gcw: GcWork,
    /// The P's write-barrier buffer.
    pub wbbuf: WbBuf,
    /// Mark-assist credit in bytes (Go keeps `gcAssistBytes` per goroutine; we keep it per P:
    /// see `docs/collector.md`). Negative is debt.
    pub assist_credit: i64,
    /// The last ragged-flush request (answered in [`Collector::assist_alloc`](crate::cycle::Collector::assist_alloc)) this P
    /// answered: its barrier buffer and local work were flushed since.
    pub flush_seen: u64,
}

/// The world, stopped: every P parked at a safepoint or idle.
///
/// # Safety
/// An implementation promises, for as long as the value lives:
/// - no mutator of the collector's heap runs: every goroutine is parked at a safepoint or
///   holds no P and cannot take one, so nothing allocates, stores a pointer or reads its
///   roots' objects concurrently;
/// - [`for_each_p`](Stopped::for_each_p) visits every P's cache and collector state exactly
///   once, and those caches are the only ones that allocate from the heap;
/// - the root visitors visit every root of every goroutine and every global root.
pub unsafe trait Stopped {
    /// Visit every P's allocation cache and collector state.
    fn for_each_p(&mut self, f: &mut dyn FnMut(&mut MCache, &mut GcPState));
    /// Visit every root of every goroutine.
    fn for_each_goroutine_root(&mut self, f: &mut dyn FnMut(usize));
    /// Visit every registered global root.
    fn for_each_global_root(&mut self, f: &mut dyn FnMut(usize));
}

/// How a collector thread's borrowed P is scheduled against the goroutines (the priorities Go's
/// `schedule` gives GC work; the runtime maps them onto its scheduler's classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PClass {
    /// Before any goroutine waiting for a P, and preempting a running goroutine when every P
    /// is taken: dedicated and fractional mark workers and the controller's root marking (Go's
    /// `findRunnableGCWorker`, tried before the run queues). Asked to give the P back only
    /// when a stop-the-world is requested.
    Gc,
    /// Only on a P nothing else wants, and asked to give it back as soon as a goroutine or a
    /// [`PClass::Gc`] borrower waits: idle mark workers, the background sweeper and the
    /// scavenger (Go's idle-priority workers and `goschedIfBusy`).
    Idle,
}

/// The goroutine world as the collector sees it.
///
/// # Safety
/// An implementation promises:
/// - [`stop_the_world`](World::stop_the_world) stops every mutator of the collector's heap
///   before calling `f`, hands `f` a [`Stopped`] that keeps its promises, and restarts the
///   world only after `f` returns, with the scheduler's lock release ordering the
///   collector's writes (barrier and allocate-black switches) before any mutator resumes;
/// - [`scan_goroutine_roots`](World::scan_goroutine_roots) visits every root of every
///   goroutine that exists when it is called, each read while its goroutine is stopped, and
///   returns only when all are done; goroutines created later start with no roots;
/// - [`scan_global_roots`](World::scan_global_roots) visits every global root;
/// - every pointer store by a mutator goes through the write barrier of the collector, with
///   the P's [`GcPState`] that `for_each_p` hands out, and every allocation from the heap
///   goes through one of the world's Ps' caches.
pub unsafe trait World: Send + Sync + 'static {
    /// Stop the world, run `f`, restart it. Returns the pause: from the stop request to the
    /// restart.
    fn stop_the_world(
        &self,
        reason: &'static str,
        f: &mut dyn FnMut(&mut dyn Stopped),
    ) -> std::time::Duration;
    /// Visit every root of every goroutine that exists now, each read while its goroutine is
    /// stopped at a safepoint or holds no P; returns when all are done.
    fn scan_goroutine_roots(&self, f: &(dyn Fn(usize) + Sync));
    /// Visit every registered global root.
    fn scan_global_roots(&self, f: &mut dyn FnMut(usize));
    /// Number of processors (GOMAXPROCS).
    fn gomaxprocs(&self) -> usize;
    /// Number of Ps running a goroutine now (a snapshot); by default all of them.
    fn running_ps(&self) -> usize {
        self.gomaxprocs()
    }
    /// Wait for a P as `class` says, then run `f` holding it, with the P's collector state and
    /// a probe that turns true when the P should be given back (a stop-the-world is requested,
    /// or, for [`PClass::Idle`], someone else waits for a P); give the P back when `f` returns.
    /// `f` must poll the probe often, return when it is true, leave no mark work in the P's
    /// [`GcPState::gcw`] that it did not find there, and must not borrow another P.
    ///
    /// The default (a world without Ps of its own, as the collector's tests use) runs `f` at
    /// once on a fresh [`GcPState`] with a probe that is always false.
    fn borrow_p(&self, class: PClass, f: &mut dyn FnMut(&mut GcPState, &dyn Fn() -> bool)) {
        let _ = class;
        f(&mut GcPState::default(), &|| false);
    }
}
