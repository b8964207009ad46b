//! Registered global roots (the analogue of Go's data and BSS segments, which the collector
//! scans as roots in 256 KiB shards).
//!
//! A [`Global<T>`] is a pointer slot that lives outside the heap for as long as the runtime. Slots
//! sit in fixed-size chunks that never move, so a slot's address is stable and the collector can
//! scan every registered slot. Stores go through the write barrier like heap stores (Go's globals
//! need barriers too, because they are not rescanned at mark termination).

use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use core::marker::PhantomData;

/// Slots per chunk.
#[cfg(not(loom))]
const CHUNK: usize = 256;
/// Slots per chunk; 2 under loom, so a model's third global starts a new chunk.
#[cfg(loom)]
const CHUNK: usize = 2;

/// A global root slot holding a pointer to a `T` (or nil).
pub struct Global<T> {
    slot: usize,
    _p: PhantomData<fn() -> T>,
}

impl<T> Clone for Global<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Global<T> {}

impl<T> Global<T> {
    /// Address of the slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }
}

/// All global slots of one runtime.
#[derive(Default)]
pub struct Globals {
    // Boxed on purpose: a slot's address must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    chunks: Mutex<Vec<Box<[AtomicUsize; CHUNK]>>>,
    count: AtomicUsize,
}

impl Globals {
    /// Register a new slot, initially nil.
    pub fn register<T>(&self) -> Global<T> {
        let mut chunks = lock(&self.chunks);
        // Relaxed: `count` is only written under the lock; readers outside it tolerate a stale
        // (smaller) value, as a root registered concurrently with a scan is nil anyway.
        let n = self.count.load(Ordering::Relaxed);
        if n / CHUNK == chunks.len() {
            chunks.push(Box::new(core::array::from_fn(|_| AtomicUsize::new(0))));
        }
        let slot = &chunks[n / CHUNK][n % CHUNK] as *const AtomicUsize as usize;
        self.count.store(n + 1, Ordering::Relaxed);
        Global { slot, _p: PhantomData }
    }

    /// Visit every non-nil global root (for the collector).
    pub fn for_each_root(&self, mut f: impl FnMut(usize)) {
        let chunks = lock(&self.chunks);
        let n = self.count.load(Ordering::Relaxed);
        for i in 0..n {
            // ORDERING: Acquire; pairs with the Release store of the barrier.
            let v = chunks[i / CHUNK][i % CHUNK].load(Ordering::Acquire);
            if v != 0 {
                f(v);
            }
        }
    }

    /// Number of registered slots.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether no slot is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, loom))]
#[path = "globals_loom.rs"]
mod loom_models;
