//! The state the runtime keeps per P and per G (Go keeps the mcache, gcWork and write-barrier
//! buffer on the P, and the stack, whose pointer slots are the roots, on the G).
//!
//! Invariants: a runtime's [`PState`]s are reachable as `&mut` only inside this crate (so no
//! safe code outside can replace or swap a P's cache or collector state); a [`GState`]'s roots
//! are read by others only while its goroutine is stopped.

use gomem_allocator::MCache;
use gomem_collector::barrier::WriteBarrier;
use gomem_collector::cycle::Collector;
use gomem_collector::world::GcPState;
use std::cell::UnsafeCell;
use std::sync::Arc;

/// Per-P state (Go's `p.mcache`, `p.gcw`, `p.wbBuf`).
///
/// Invariant: a runtime's P states are reachable as `&mut` only inside this crate (the
/// goroutine holding the P, and the runtime's stop-the-world). Replacing a P's cache or
/// collector state, or swapping two Ps' states (of two runtimes, say), would let goroutines
/// allocate into a heap whose collector does not scan their roots; so outside the crate the
/// fields are read-only ([`Runtime::stop_the_world`](crate::Runtime::stop_the_world) hands out
/// `&PState`), and only a `PState` the caller built itself can be taken apart mutably.
pub struct PState {
    /// The P's allocation cache.
    pub(crate) cache: MCache,
    /// The collector's per-P state: mark work, barrier buffer, assist credit.
    pub(crate) gc: GcPState,
    /// The barrier switch (shared; a copy of the collector's, one load away).
    pub(crate) wb: Arc<WriteBarrier>,
    /// The collector.
    pub(crate) collector: Arc<Collector>,
}

impl PState {
    /// A P state allocating from `cache` and marking for `collector`. The runtime makes its
    /// own; code outside it builds one to drive [`write_pointer`](crate::barrier::write_pointer)
    /// by itself (the barrier benchmarks).
    pub fn new(cache: MCache, collector: Arc<Collector>) -> PState {
        PState { cache, gc: GcPState::default(), wb: collector.write_barrier().clone(), collector }
    }

    /// The P's allocation cache.
    pub fn cache(&self) -> &MCache {
        &self.cache
    }

    /// The collector's per-P state.
    pub fn gc(&self) -> &GcPState {
        &self.gc
    }

    /// The barrier switch.
    pub fn write_barrier(&self) -> &Arc<WriteBarrier> {
        &self.wb
    }

    /// The collector.
    pub fn collector(&self) -> &Arc<Collector> {
        &self.collector
    }

    /// The cache and collector state, mutably, with the collector. Only a `PState` the caller
    /// owns is reachable as `&mut` outside this crate (see the type's invariant), so this
    /// cannot reach a running runtime's P.
    pub fn parts_mut(&mut self) -> (&mut MCache, &mut GcPState, &Arc<Collector>) {
        (&mut self.cache, &mut self.gc, &self.collector)
    }
}

/// A goroutine's precise roots: the heap addresses its live handles point at (the analogue of
/// the pointer slots of a Go stack frame). Pushed by the G as it creates handles, truncated when
/// a scope ends.
///
/// Ownership: the G's own thread mutates it while it runs mutator code; the collector reads it
/// only through the scheduler's handshake or with the world stopped (the G parked at a safepoint
/// or holding no P), which orders those reads after the G's last push.
pub struct GState {
    roots: UnsafeCell<Vec<usize>>,
}

// SAFETY: the root stack is accessed by its G's thread while that G runs, and by a handshake
// closure or a stopped-world reader only while the G is stopped (the scheduler's guarantee);
// never both at once.
unsafe impl Sync for GState {}

impl GState {
    pub(crate) fn new() -> GState {
        GState { roots: UnsafeCell::new(Vec::with_capacity(64)) }
    }

    /// Push a root.
    ///
    /// # Safety
    /// - Called on the G's own thread while it runs (holds a P).
    #[inline(always)]
    pub(crate) unsafe fn push(&self, addr: usize) -> usize {
        // SAFETY: the caller is the owning G, running.
        let v = unsafe { &mut *self.roots.get() };
        v.push(addr);
        v.len() - 1
    }

    /// Number of roots.
    ///
    /// # Safety
    /// - As for `push`.
    #[inline(always)]
    pub(crate) unsafe fn len(&self) -> usize {
        // SAFETY: as for push.
        unsafe { (*self.roots.get()).len() }
    }

    /// Drop roots back to `n`.
    ///
    /// # Safety
    /// - As for `push`.
    #[inline(always)]
    pub(crate) unsafe fn truncate(&self, n: usize) {
        // SAFETY: as for push.
        unsafe { (*self.roots.get()).truncate(n) }
    }

    /// Visit every root (what the collector scans).
    ///
    /// # Safety
    /// - The G is stopped (parked at a safepoint or holding no P and kept from reacquiring one),
    ///   or the caller is the G itself.
    pub unsafe fn for_each_root(&self, mut f: impl FnMut(usize)) {
        // SAFETY: the caller guarantees no concurrent mutation.
        for &r in unsafe { &*self.roots.get() } {
            f(r);
        }
    }
}
