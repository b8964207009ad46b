//! The hybrid write barrier (Go's `mbarrier.go` and `mwbbuf.go`).
//!
//! # The rule
//!
//! While the collector marks, a pointer store `*slot = ptr` first shades two pointers:
//!
//! ```text
//! writePointer(slot, ptr):
//!     shade(*slot)     // Yuasa: the old target cannot be hidden by unlinking it
//!     shade(ptr)       // Dijkstra: the new target cannot hide in an already-scanned object
//!     *slot = ptr
//! ```
//!
//! Why nothing can hide from the marker (Go's argument, restated): an object the mutator can
//! reach is reachable from its roots or from the heap. To make the marker miss it, the mutator
//! would have to move the only path to it out of grey objects' reach: store it somewhere already
//! scanned (black) and delete the old path. The insertion half catches the store into black; the
//! deletion half catches the unlink. Together they let each goroutine's roots be scanned once
//! per cycle, at any safepoint, without a final rescan at mark termination. Go's runtime records
//! both pointers unconditionally (it does not check whether the current stack is still grey),
//! and so do we. Design document: Go proposal 17503, "Eliminate STW stack re-scanning".
//!
//! # The buffer
//!
//! Shading on every store would be slow, so the barrier appends both pointers to a per-P
//! [`WbBuf`] and only when it is full (or at mark termination) does the P shade them all into its
//! [`GcWork`]. When marking is off the barrier is one relaxed load of [`WriteBarrier::enabled`] and
//! a predictable branch. Objects allocated while marking are born black (the allocator's
//! allocate-black), so they need no barrier for their initialising stores.

use crate::mark::shade;
use crate::sync::{AtomicBool, Ordering};
use crate::work::{GcWork, WorkPool};
use gomem_allocator::MHeap;

/// Entries per P buffer (Go's `wbBufEntries` = 512).
#[cfg(not(loom))]
pub const WB_BUF_ENTRIES: usize = 512;
/// Entries per P buffer; 4 under loom, so a model's second store fills the buffer.
#[cfg(loom)]
pub const WB_BUF_ENTRIES: usize = 4;

/// The barrier switch (Go's `writeBarrier.enabled`), on during mark and mark termination.
#[derive(Debug, Default)]
pub struct WriteBarrier {
    enabled: AtomicBool,
}

impl WriteBarrier {
    /// Whether pointer stores must be recorded.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        // Relaxed: flipped only with the world stopped; restarting the world (a lock release and
        // acquire in the scheduler) orders the flip before any mutator code reads it.
        self.enabled.load(Ordering::Relaxed)
    }

    /// Flip the switch (Go's `setGCPhase` writing `writeBarrier.enabled`).
    ///
    /// # Safety
    /// - The world of every mutator storing pointers into the heap this barrier guards is
    ///   stopped, and the flip is part of the collector's phase change: on at the start of mark
    ///   (with allocate-black, before any root is scanned), off only at mark termination once
    ///   no grey object is left. Turning it off during mark lets a mutator hide a live object
    ///   from the marker (the sweep then frees it); turning it on outside a cycle marks
    ///   objects that the next cycle then takes as already scanned.
    pub unsafe fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }
}

/// A P's buffer of pointers recorded by the barrier (Go's `wbBuf`).
#[derive(Debug)]
pub struct WbBuf {
    entries: Vec<usize>,
}

impl Default for WbBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl WbBuf {
    /// An empty buffer.
    pub fn new() -> WbBuf {
        WbBuf { entries: Vec::with_capacity(WB_BUF_ENTRIES) }
    }

    /// Record the old and new value of a pointer slot; true when the buffer is now full and
    /// must be flushed before the next store.
    #[inline(always)]
    pub fn record(&mut self, old: usize, new: usize) -> bool {
        self.entries.push(old);
        self.entries.push(new);
        self.entries.len() + 2 > WB_BUF_ENTRIES
    }

    /// The barrier's recording step for one pointer store (Go's `wbBuf.putFast`, then
    /// `wbBufFlush` when the buffer is full): record `old` and `new`, and if that fills the
    /// buffer, hand every entry to `shade` with `gcw` and dispose `gcw` to `pool`, so idle
    /// markers can take the work. The runtime's `write_pointer` passes [`shade`] on its heap;
    /// the loom model (`tests/loom_barrier.rs`), which can have no heap, a plain `put`.
    #[inline(always)]
    pub fn record_and_flush(
        &mut self,
        old: usize,
        new: usize,
        gcw: &mut GcWork,
        pool: &WorkPool,
        mut shade: impl FnMut(&mut GcWork, usize),
    ) {
        if self.record(old, new) {
            self.flush_with(|p| shade(gcw, p));
            gcw.dispose(pool);
        }
    }

    /// Shade every recorded pointer into `gcw` (Go's `wbBufFlush1`); nil and non-heap values are
    /// ignored by `shade`.
    ///
    /// # Safety
    /// - As for [`shade`]: `heap` is being marked and `gcw`'s work reaches the marking
    ///   collector before mark termination.
    pub unsafe fn flush(&mut self, heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool) {
        self.flush_with(|p| {
            // SAFETY: the caller's contract is shade's.
            unsafe { shade(heap, gcw, pool, p) };
        });
    }

    /// Hand every recorded pointer to `shade` and empty the buffer (the loom model passes a
    /// shading step that needs no heap).
    pub fn flush_with(&mut self, mut shade: impl FnMut(usize)) {
        for p in self.entries.drain(..) {
            shade(p);
        }
    }

    /// Throw the entries away (at mark termination, when everything is already marked).
    pub fn discard(&mut self) {
        self.entries.clear();
    }

    /// Recorded pointers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
