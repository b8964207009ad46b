//! The mutator's side of the write barrier: every pointer store into a heap object or a global
//! goes through `write_pointer`. The barrier itself (the switch, the per-P buffer, the shading
//! rule and why it is sound) is the collector's: see `gomem_collector::barrier`.

use crate::state::PState;
use crate::sync::{AtomicUsize, Ordering};
use gomem_collector::mark::shade;

/// Store `new` into the pointer slot at `slot`, through the write barrier.
///
/// While `p.wb` is enabled, the old and new values are recorded in `p.gc.wbbuf`; when that
/// buffer fills, it is shaded into `p.gc.gcw` and the work is disposed to `p.collector.pool()`
/// (Go's `wbBufFlush`). Then the store is made with release ordering.
///
/// Mutator code never calls this directly: [`Mutator::set`](crate::Mutator::set),
/// [`Mutator::array_set`](crate::Mutator::array_set) and
/// [`Mutator::set_global`](crate::Mutator::set_global) do. It is public so that code outside the
/// runtime can drive this exact store sequence with a [`PState`] it built itself (the barrier
/// microbenchmarks in `benches/benches/gc.rs`).
///
/// # Safety
/// - `slot` is a pointer-sized, 8-aligned slot of a live heap object or a global root, and
///   `new` is 0 or the address of a live heap object.
/// - `p` is the state of the P the caller holds (or a `PState` the caller owns outside any
///   runtime), and `p.wb` is enabled only while `p.collector` marks `p.cache.heap()`, with no
///   sweep running on it (the collector's marking contract, see `gomem_collector::mark`); the
///   work the flush queues then reaches that collector's pool.
#[inline(always)]
pub unsafe fn write_pointer(p: &mut PState, slot: usize, new: usize) {
    // SAFETY: the caller guarantees `slot` is a live, aligned pointer slot; pointer slots are
    // only ever accessed atomically.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    if p.wb.enabled() {
        let old = cell.load(Ordering::Relaxed);
        // SAFETY: the barrier is on only while `p.collector` marks `p.cache.heap()` (the
        // caller's contract), and the flushed work goes straight to its pool.
        unsafe {
            let (heap, pool) = (p.cache.heap(), p.collector.pool());
            p.gc.wbbuf.record_and_flush(old, new, &mut p.gc.gcw, pool, |gcw, x| {
                shade(heap, gcw, pool, x);
            });
        }
    }
    // ORDERING: Release; pairs with the Acquire in `read_pointer`, so a goroutine that loads
    // the pointer also sees the pointee's initialisation (Go's publication barrier).
    cell.store(new, Ordering::Release);
}

/// Load the pointer slot at `slot`.
///
/// # Safety
/// - As for [`write_pointer`].
#[inline(always)]
pub(crate) unsafe fn read_pointer(slot: usize) -> usize {
    // SAFETY: as for write_pointer.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    // ORDERING: Acquire; pairs with the Release in `write_pointer`.
    cell.load(Ordering::Acquire)
}
