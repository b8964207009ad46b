//! The write-barrier entry point (Go's `mbarrier.go` / `mwbbuf.go`).
//!
//! Every pointer store into a heap object or a global goes through [`write_pointer`]. While the
//! collector marks, Go's hybrid barrier shades the *old* value of the slot (Yuasa's deletion
//! barrier: nothing the mutator unlinks can hide from the marker) and the *new* value (Dijkstra's
//! insertion barrier: nothing stored into a black object stays white), so stacks need scanning
//! only once per cycle. Like Go, we record both unconditionally into a per-P buffer; the collector
//! drains it. When the collector is not marking, the barrier costs one relaxed load and a
//! predictable branch.
//!
//! Status: the collector (a later issue) switches the barrier on and drains the buffers; until
//! then the switch stays off, but every store already takes this path.

use crate::state::PState;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// Entries per P buffer before a flush (Go's `wbBufEntries`).
pub const WB_BUF_ENTRIES: usize = 512;

/// The runtime-wide barrier switch (Go's `writeBarrier.enabled`).
#[derive(Debug, Default)]
pub struct WriteBarrier {
    enabled: AtomicBool,
}

impl WriteBarrier {
    /// Whether pointer stores must be recorded.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        // Relaxed: the collector flips it with the world stopped, and restarting the world
        // orders it before any mutator code runs.
        self.enabled.load(Ordering::Relaxed)
    }

    /// Switch it (with the world stopped).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }
}

/// A per-P buffer of pointers the barrier recorded (Go's `wbBuf`).
#[derive(Debug)]
pub struct WbBuf {
    entries: Vec<usize>,
}

impl WbBuf {
    pub(crate) fn new() -> WbBuf {
        WbBuf { entries: Vec::with_capacity(WB_BUF_ENTRIES) }
    }

    /// Whether the buffer is full.
    pub fn is_full(&self) -> bool {
        self.entries.len() + 2 > WB_BUF_ENTRIES
    }

    /// Take the recorded pointers (the collector's drain).
    pub fn drain(&mut self) -> std::vec::Drain<'_, usize> {
        self.entries.drain(..)
    }

    /// Number of recorded pointers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Store `new` into the pointer slot at `slot`, through the barrier.
///
/// # Safety
/// - `slot` is a pointer-sized, 8-aligned slot of a live heap object or a global root, and
///   `new` is 0 or the address of a live heap object.
#[inline(always)]
pub(crate) unsafe fn write_pointer(p: &mut PState, slot: usize, new: usize) {
    // SAFETY: the caller guarantees `slot` is a live, aligned pointer slot; pointer slots are
    // only ever accessed atomically.
    let cell = unsafe { &*(slot as *const AtomicUsize) };
    if p.wb.enabled() {
        let old = cell.load(Ordering::Relaxed);
        if p.wbbuf.is_full() {
            // The collector installs the drain; until it exists nothing enables the barrier,
            // so this branch only discards (and keeps the buffer bounded).
            p.wbbuf.entries.clear();
        }
        p.wbbuf.entries.push(old);
        p.wbbuf.entries.push(new);
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
