//! Registered global roots (the analogue of Go's data and BSS segments, which the collector
//! scans as roots in 256 KiB shards).
//!
//! A [`Global<T>`] is a pointer slot that lives outside the heap. Slots sit in fixed-size chunks
//! that never move, so a slot's address is stable and the collector can scan every registered
//! slot. Stores go through the write barrier like heap stores (Go's globals need barriers too,
//! because they are not rescanned at mark termination).
//!
//! # Invariants
//!
//! - A `Global` names the [`Globals`] that registered it: its slot address and that set's id,
//!   unique in the process (a counter, never reused). The mutator uses a `Global` only after
//!   checking that its id is the id of the runtime the goroutine runs on, and panics otherwise:
//!   a slot of another runtime is not among the roots this runtime's collector scans, and the
//!   other runtime may be gone.
//! - The slot storage lives as long as anything that can use a slot: the runtime, its
//!   collector's world and every goroutine (each goroutine's closure holds an `Arc<Globals>`,
//!   which its [`Mutator`](crate::Mutator) borrows). A `Global` outliving all of them is inert:
//!   no mutator will accept its id.

use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use core::marker::PhantomData;

/// Slots per chunk.
#[cfg(not(loom))]
const CHUNK: usize = 256;
/// Slots per chunk; 2 under loom, so a model's third global starts a new chunk.
#[cfg(loom)]
const CHUNK: usize = 2;

/// A global root slot holding a pointer to a `T` (or nil), registered with one runtime
/// ([`Runtime::global`](crate::Runtime::global)) and usable only by that runtime's goroutines.
pub struct Global<T> {
    slot: usize,
    owner: u64,
    _p: PhantomData<fn() -> T>,
}

impl<T> Clone for Global<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Global<T> {}

impl<T> core::fmt::Debug for Global<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Global(runtime {}, {:#x})", self.owner, self.slot)
    }
}

impl<T> Global<T> {
    /// Address of the slot, once `globals` is shown to be the set that registered it.
    ///
    /// Panics when it is not (a global of another runtime).
    #[inline(always)]
    pub(crate) fn slot_in(&self, globals: &Globals) -> usize {
        if self.owner != globals.id {
            wrong_runtime(self.owner, globals.id);
        }
        self.slot
    }
}

#[cold]
#[inline(never)]
fn wrong_runtime(owner: u64, user: u64) -> ! {
    panic!(
        "a Global registered with runtime {owner} was used by a goroutine of runtime {user}: \
         a global is a root only of the runtime that registered it"
    )
}

/// A fresh id, never given out before in this process.
#[cfg(not(loom))]
fn next_id() -> u64 {
    static NEXT: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(1);
    // Relaxed: only uniqueness matters, which the read-modify-write gives.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A fresh id (loom's atomics cannot be statics; a thread-local counter suffices in a model).
#[cfg(loom)]
fn next_id() -> u64 {
    std::thread_local!(static NEXT: core::cell::Cell<u64> = const { core::cell::Cell::new(1) });
    NEXT.with(|n| {
        let v = n.get();
        n.set(v + 1);
        v
    })
}

/// All global slots of one runtime.
pub struct Globals {
    // Boxed on purpose: a slot's address must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    chunks: Mutex<Vec<Box<[AtomicUsize; CHUNK]>>>,
    count: AtomicUsize,
    /// This set's process-unique id, carried by every `Global` it registers.
    id: u64,
}

impl Default for Globals {
    fn default() -> Self {
        Globals { chunks: Mutex::default(), count: AtomicUsize::new(0), id: next_id() }
    }
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
        Global { slot, owner: self.id, _p: PhantomData }
    }

    /// The id this set's `Global`s carry (the runtime's id in panic messages).
    pub fn id(&self) -> u64 {
        self.id
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
