//! Span sets: Go's `spanSet` (`runtime/mspanset.go`), a concurrent FIFO of span pointers with
//! lock-free push and pop. Each `mcentral` keeps four of them (partial/full × swept/unswept); see
//! the crate docs for where that sits in the allocation hierarchy.
//!
//! # Structure
//!
//! ```text
//!  head_tail: AtomicU64 = head << 32 | tail      two 32-bit logical indices, head <= tail
//!  spine ──► [ *Block, *Block, null, *Block, … ]  capacity `cap`; entries [0, spine_len) installed
//!                │
//!                ▼
//!  Block { popped: AtomicU32, spans: [AtomicPtr<T>; SPAN_SET_BLOCK_ENTRIES] }
//! ```
//!
//! The set is one unbounded array, cut into blocks of [`SPAN_SET_BLOCK_ENTRIES`] slots that are
//! hung off a growable "spine". Logical index `i` lives in block `i / E`, slot `i % E` (with
//! `E = SPAN_SET_BLOCK_ENTRIES`); the set's contents are the indices in `[head, tail)`.
//!
//! * **push** reserves index `tail` with one `fetch_add`, finds the block for it (taking the
//!   spine lock only when that block, or a larger spine, must be created), then stores the pointer
//!   into its slot with `Release`.
//! * **pop** claims index `head` with a CAS (only while `head < tail`), waits until the pusher
//!   that reserved that index has filled the slot, takes the pointer, clears the slot and bumps
//!   the block's `popped` count. The popper that brings `popped` to `E` is the block's *last
//!   popper*: it unhooks the block from the spine and puts it on the set's free list.
//! * **reset** (only when empty, with exclusive access) recycles the partly used block under the
//!   head and rewinds both indices to zero, as Go does for the unswept sets at sweep termination.
//!
//! # Invariants
//!
//! * **INV-SS-1** `head <= tail`. Only `pop` moves `head`, by CAS from `h` to `h + 1` after
//!   seeing `h < tail`; `tail` never decreases between resets.
//! * **INV-SS-2** Every index `< tail` has been reserved by exactly one pusher (the `fetch_add`
//!   hands out each value once), and every index `< head` has been claimed by exactly one popper
//!   (the CAS that moved `head` past it). So each pushed pointer is popped at most once.
//! * **INV-SS-3** For every block number `k < spine_len`, entry `k` of the current spine holds a
//!   block, unless all `E` slots of block `k` have been popped (then it is null or a stale copy
//!   that nobody reads, see below). `spine_len` grows only under the spine lock, and only after
//!   the entries below it are stored; it shrinks only in `reset`.
//! * **INV-SS-4** A slot is null except between its pusher's store and its popper's clear. Blocks
//!   on the free list have `popped == 0` and every slot null.
//! * **INV-SS-5** A block leaves the spine only through its last popper, or through `reset`
//!   (exclusive access). Only those two return blocks to the free list.
//! * **INV-SS-6** No block and no spine array is deallocated before `Drop`.
//!
//! # Why it is safe: reclamation
//!
//! Every access to a block is made on behalf of an index the accessing thread holds in that
//! block: a pusher for the index it reserved, a popper for the index it claimed. A pusher's last
//! touch of the block is its slot store; the popper of that index waits (`Acquire`) until it sees
//! that store, so the pusher is done before the popper counts itself. A popper's last touch of the
//! block is its `popped` increment (`AcqRel`). The increments of one block form a release
//! sequence, so the popper that reads `E - 1` happens-after every other popper of the block, and
//! through them after every pusher of it. Hence when `popped` reaches `E` no other thread holds
//! an index in the block and none will touch it again: the last popper may recycle it. Nothing
//! else ever reads the block's spine entry for that block number again before a reset.
//!
//! Recycled blocks are reused for later block numbers, but only ever deallocated in `Drop`
//! (INV-SS-6), so even a broken protocol could not turn into a use-after-free; the argument above
//! is what guarantees no pointer is lost or handed out twice.
//!
//! A thread may read the spine pointer just before another thread grows the spine, and keep using
//! the old array. That is harmless: old arrays stay allocated (they are kept on a list and freed in
//! `Drop`, where Go leaks them for good; the waste is a few KiB even for huge heaps), every entry a
//! thread reads was installed before the `spine_len` it checked, and a spine only ever grows, so
//! `index < spine_len <= capacity` of whichever array it loaded.
//!
//! **Stale entries.** A last popper clears the entry in the spine array it loaded. If a grower
//! copied that entry into a new array first, the new array keeps a pointer to a recycled block.
//! Nobody reads it: the block number lies below `head / E`, no pusher or popper holds an index
//! there, `reset` only looks at `head / E`, and after a reset every entry is overwritten before
//! `spine_len` covers it again. `Drop` frees blocks from its own list of every block it ever
//! allocated, never by walking the spine, so stale entries are never freed twice.
//!
//! # Differences from Go
//!
//! * The free-block pool is per set, a `Vec` under the spine lock ("don't be clever"), instead of
//!   Go's global lock-free `lfstack`; blocks go back to the system allocator when the set drops.
//! * A pusher that finds the spine several blocks short of its own index installs every missing
//!   block, not just its own. Go installs its block at its own number and bumps `spineLen` by one,
//!   which leaves a hole if all pushers of the previous block are still between reserving and
//!   locking; that needs `E` stalled pushers (512 in Go, 4 under loom), but OS threads can be
//!   preempted anywhere, so we close it.
//! * Overflowing the 32-bit tail (2^32 pushes between resets) panics, as Go throws.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use crate::sync::{self, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Slots per spine block (Go's `spanSetBlockEntries`): 512, so a block's slots fill 4 KiB.
///
/// Under `cfg(loom)` it is 4, so the models reach block boundaries, block recycling and spine
/// growth in a handful of operations.
#[cfg(not(loom))]
pub const SPAN_SET_BLOCK_ENTRIES: usize = 512;
/// Slots per spine block (Go's `spanSetBlockEntries`), shrunk to 4 under `cfg(loom)` so the models
/// reach block boundaries, block recycling and spine growth in a handful of operations.
#[cfg(loom)]
pub const SPAN_SET_BLOCK_ENTRIES: usize = 4;

/// Spine capacity allocated on first use (Go's `spanSetInitSpineCap`): 256 blocks × 512 spans
/// cover a 1 GiB heap of one-page spans before the spine first doubles. 1 under loom, so the
/// second block already grows the spine.
#[cfg(not(loom))]
const SPAN_SET_INIT_SPINE_CAP: usize = 256;
#[cfg(loom)]
const SPAN_SET_INIT_SPINE_CAP: usize = 1;

const E: usize = SPAN_SET_BLOCK_ENTRIES;

/// One spine entry: a pointer to a block, null before installation and after recycling.
type SpineEntry<T> = AtomicPtr<Block<T>>;

/// A fixed run of slots (Go's `spanSetBlock`).
struct Block<T> {
    /// Pops completed on this block since it was (re)installed. Padded away from the slots: every
    /// popper of the block increments it.
    popped: CachePadded<AtomicU32>,
    /// The slots; slot `i % E` of block `i / E` holds logical index `i`.
    spans: [AtomicPtr<T>; E],
}

impl<T> Block<T> {
    /// Allocate a clean block (`popped == 0`, every slot null), owned by the caller until
    /// freed with `Box::from_raw`.
    fn alloc() -> NonNull<Self> {
        let block = Box::new(Block {
            popped: CachePadded::new(AtomicU32::new(0)),
            spans: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        });
        NonNull::from(Box::leak(block))
    }
}

/// `head` and `tail` packed into one word (Go's `headTailIndex`), so a popper can check
/// `head < tail` and advance `head` in one CAS.
#[derive(Clone, Copy, PartialEq, Eq)]
struct HeadTail(u64);

impl HeadTail {
    const fn new(head: u32, tail: u32) -> Self {
        Self((head as u64) << 32 | tail as u64)
    }
    const fn head(self) -> u32 {
        (self.0 >> 32) as u32
    }
    const fn tail(self) -> u32 {
        self.0 as u32
    }
}

/// State guarded by the spine lock.
struct SpineLocked<T> {
    /// Capacity of the current spine (Go's `spineCap`).
    cap: usize,
    /// Every spine array ever installed, with its capacity; the last one is current. Old arrays
    /// are kept because lock-free readers may still hold them; `Drop` frees them all.
    spines: Vec<(NonNull<SpineEntry<T>>, usize)>,
    /// Every block this set has allocated; `Drop` frees exactly these, once each.
    blocks: Vec<NonNull<Block<T>>>,
    /// Recycled blocks ready for reuse (INV-SS-4: `popped == 0`, all slots null).
    free: Vec<NonNull<Block<T>>>,
}

/// A concurrent set of span pointers with lock-free push and pop (Go's `spanSet`,
/// `runtime/mspanset.go`); `mcentral` keeps its partial and full, swept and unswept spans in
/// four of these.
///
/// The set stores `NonNull<T>` values and never dereferences them; it does not own what they point
/// to. It pops in push order (a FIFO), though callers must not rely on that under concurrency.
/// See the [module docs](self) for the structure, invariants and reclamation argument.
#[doc(alias = "spanSet")]
pub struct SpanSet<T> {
    /// Guards block installation, spine growth and the free list.
    spine_lock: Mutex<SpineLocked<T>>,
    /// Current spine array, `cap` entries (null until the first push). Written only under the
    /// spine lock; read lock-free.
    spine: AtomicPtr<SpineEntry<T>>,
    /// Number of installed spine entries (Go's `spineLen`). Written only under the spine lock or
    /// with exclusive access; read lock-free.
    spine_len: AtomicUsize,
    /// `head << 32 | tail` (Go's `index`).
    head_tail: AtomicU64,
    /// The set hands out `NonNull<T>` without owning any `T`.
    _marker: PhantomData<NonNull<T>>,
}

// SAFETY: all shared state is reached through atomics or the spine mutex; the blocks and spine
// arrays behind the raw pointers are owned by the set (freed only in `Drop`, which has `&mut`),
// so moving the set to another thread moves that ownership with it. The set never dereferences a
// `NonNull<T>`; the `T: Sync` bound is the conservative contract mcentral relies on, since pushing
// on one thread and popping on another lets both threads reach the same `T`.
unsafe impl<T: Sync> Send for SpanSet<T> {}
// SAFETY: every `&self` method synchronises through the atomics and the spine mutex as argued in
// the module docs (INV-SS-1..6); see the `Send` impl for the `T: Sync` bound.
unsafe impl<T: Sync> Sync for SpanSet<T> {}

impl<T> Default for SpanSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SpanSet<T> {
    /// An empty set. Allocates nothing until the first push.
    pub fn new() -> Self {
        Self {
            spine_lock: Mutex::new(SpineLocked {
                cap: 0,
                spines: Vec::new(),
                blocks: Vec::new(),
                free: Vec::new(),
            }),
            spine: AtomicPtr::new(ptr::null_mut()),
            spine_len: AtomicUsize::new(0),
            head_tail: AtomicU64::new(0),
            _marker: PhantomData,
        }
    }

    /// Add `s` to the set (Go's `spanSet.push`). Safe to call concurrently with any push and pop.
    ///
    /// Lock-free unless the index it reserves falls in a block not yet installed, in which case it
    /// takes the spine lock to install it (and to grow the spine if full).
    ///
    /// # Panics
    ///
    /// If 2^32 pushes have happened since the set was created or last reset.
    pub fn push(&self, s: NonNull<T>) {
        let index = self.reserve();
        self.fill(index, s);
    }

    /// Remove and return a pointer from the set (Go's `spanSet.pop`), or `None` if it is empty.
    /// Safe to call concurrently with any push and pop; never takes a lock, except that the last
    /// popper of a block takes the spine lock to put the block on the free list.
    ///
    /// `None` can also mean the only entries belong to pushes still installing their block; like
    /// Go, pop reports "nothing here yet" rather than wait for them. Once it has claimed an index
    /// it does wait (spinning) for that index's pusher to store its pointer.
    pub fn pop(&self) -> Option<NonNull<T>> {
        let index = self.claim()?;
        let (top, bottom) = (index / E, index % E);
        // SAFETY: `claim` saw `top < spine_len` with an Acquire load, and we hold the unpopped
        // index `index` in block `top`, so the block cannot be recycled under us.
        let entry = unsafe { self.entry(top) };
        // ORDERING: Acquire; pairs with the Release entry store in `install_blocks`, so the
        // block's initial (or recycled) state is visible before we use it.
        let block = NonNull::new(entry.load(Ordering::Acquire)).expect("spanSet: block missing");
        // SAFETY: blocks are deallocated only in `Drop` (INV-SS-6), and this one is not recycled
        // before our `popped` increment below, since we hold an unpopped index in it.
        let block_ref = unsafe { block.as_ref() };
        let slot = &block_ref.spans[bottom];
        let backoff = Backoff::new();
        let s = loop {
            // ORDERING: Acquire; pairs with the Release slot store in `fill`: whatever the pusher
            // wrote before pushing (the span's fields) is visible to our caller.
            if let Some(s) = NonNull::new(slot.load(Ordering::Acquire)) {
                break s;
            }
            // Our index's pusher has reserved it but not stored yet; the window is a few
            // instructions unless that thread was preempted.
            backoff.snooze();
        };
        // Relaxed: the clear is published to the block's next user by the AcqRel increment
        // below and the free-list mutex (INV-SS-4).
        slot.store(ptr::null_mut(), Ordering::Relaxed);
        // ORDERING: AcqRel; the Release half publishes our slot clear and ends our use of the
        // block; the Acquire half lets the popper that reaches E synchronise with every earlier
        // popper of the block (the increments form a release sequence), see the module docs.
        let popped = block_ref.popped.fetch_add(1, Ordering::AcqRel) + 1;
        if popped as usize == E {
            // We are the last popper: no other thread holds an index in this block. Note that we
            // need not be the popper of its last slot, only the last to finish.
            // Relaxed: nobody reads entry `top` again before a reset (see "Stale entries").
            entry.store(ptr::null_mut(), Ordering::Relaxed);
            self.recycle(block);
        }
        Some(s)
    }

    /// Empty the set's bookkeeping (Go's `spanSet.reset`): recycle the partly used block under the
    /// head and rewind head and tail to zero, so the 32-bit indices start over. The spine array is
    /// kept for reuse.
    ///
    /// # Panics
    ///
    /// If the set is not empty (a logic error: its pointers would be lost). Go throws here too.
    pub fn reset(&mut self) {
        // SAFETY: `&mut self` excludes every other operation on the set, and whatever handed us
        // the `&mut` ordered all earlier operations before this call.
        unsafe { self.reset_unsync() }
    }

    /// [`reset`](Self::reset) through a shared reference, for callers that know by other means
    /// (the world is stopped) that nobody else is using the set.
    ///
    /// # Panics
    ///
    /// If the set is not empty.
    ///
    /// # Safety
    ///
    /// * No other operation on this set (push, pop, reset) runs concurrently with this call.
    /// * Every earlier operation on the set happens-before this call, and this call
    ///   happens-before every later one (as a stop-the-world handshake or a mutex guarantees).
    pub unsafe fn reset_unsync(&self) {
        // Relaxed throughout: the caller guarantees exclusive, externally ordered access.
        let ht = HeadTail(self.head_tail.load(Ordering::Relaxed));
        assert!(
            ht.head() >= ht.tail(),
            "spanSet: reset of a non-empty set (head = {}, tail = {})",
            ht.head(),
            ht.tail()
        );
        let top = ht.head() as usize / E;
        if top < self.spine_len.load(Ordering::Relaxed) {
            // The head's block is installed but was not recycled: some of its slots were never
            // reserved. Recycle it now, or it would leak once the indices rewind.
            // SAFETY: `top < spine_len`, read under exclusive access, which orders it after the
            // Release store that installed the entry.
            let entry = unsafe { self.entry(top) };
            if let Some(block) = NonNull::new(entry.load(Ordering::Relaxed)) {
                // SAFETY: blocks are deallocated only in `Drop` (INV-SS-6).
                let popped = unsafe { block.as_ref() }.popped.load(Ordering::Relaxed) as usize;
                // Empty set and head inside the block: head % E > 0 slots were pushed and popped,
                // the rest never reserved; a full count would have recycled it already.
                debug_assert!(popped > 0 && popped < E, "spanSet: reset found popped = {popped}");
                entry.store(ptr::null_mut(), Ordering::Relaxed);
                self.recycle(block);
            }
        }
        self.head_tail.store(0, Ordering::Relaxed);
        self.spine_len.store(0, Ordering::Relaxed);
    }

    /// Approximate number of pointers in the set (`tail - head`), for statistics. Under
    /// concurrency the value may be stale by the time it is used, and it counts pushes that have
    /// reserved a slot but not yet stored into it.
    pub fn len_hint(&self) -> usize {
        // Relaxed: a statistic; it gates no memory access.
        let ht = HeadTail(self.head_tail.load(Ordering::Relaxed));
        ht.tail().saturating_sub(ht.head()) as usize
    }

    /// Reserve the next index by bumping the tail (first half of `push`).
    fn reserve(&self) -> usize {
        // Relaxed: the increment only hands out a unique index (INV-SS-2); the pointer is
        // published by the slot store and the block by `spine_len` and the entry.
        let ht = HeadTail(self.head_tail.fetch_add(1, Ordering::Relaxed).wrapping_add(1));
        assert!(ht.tail() != 0, "spanSet: tail index overflow (2^32 pushes since last reset)");
        ht.tail() as usize - 1
    }

    /// Store `s` into the slot of `index`, which this thread reserved (second half of `push`).
    fn fill(&self, index: usize, s: NonNull<T>) {
        let (top, bottom) = (index / E, index % E);
        let block = self.block_for_push(top);
        // SAFETY: blocks are deallocated only in `Drop` (INV-SS-6), and this one cannot be
        // recycled before our index is popped, which waits for the store below.
        let slot = &unsafe { block.as_ref() }.spans[bottom];
        debug_assert!(slot.load(Ordering::Relaxed).is_null(), "spanSet: slot already filled");
        // ORDERING: Release; pairs with the Acquire load in `pop`'s wait loop, so the popper sees
        // everything the caller wrote to the span before pushing it.
        slot.store(s.as_ptr(), Ordering::Release);
    }

    /// The block for block number `top`, in which the caller holds a reserved index.
    fn block_for_push(&self, top: usize) -> NonNull<Block<T>> {
        // ORDERING: Acquire; pairs with the Release `spine_len` store in `install_blocks`: seeing
        // `top < spine_len` means entry `top` and a spine at least that long are visible.
        if top < self.spine_len.load(Ordering::Acquire) {
            // SAFETY: `top < spine_len` via the Acquire load above; we hold an unfilled index in
            // block `top`, so it is not recycled.
            let entry = unsafe { self.entry(top) };
            // ORDERING: Acquire; pairs with the Release entry store in `install_blocks`.
            return NonNull::new(entry.load(Ordering::Acquire)).expect("spanSet: block missing");
        }
        self.install_blocks(top)
    }

    /// Slow path of `push`: under the spine lock, install every missing block up to and
    /// including `top` (growing the spine as needed) and return block `top`.
    #[cold]
    fn install_blocks(&self, top: usize) -> NonNull<Block<T>> {
        let mut st = sync::lock(&self.spine_lock);
        // Relaxed: `spine_len` and `spine` are written only under the spine lock (which we hold)
        // or with exclusive access, so these loads see the latest values.
        let old_len = self.spine_len.load(Ordering::Relaxed);
        let mut spine = self.spine.load(Ordering::Relaxed);
        let mut len = old_len;
        while len <= top {
            if len == st.cap {
                spine = self.grow_spine(&mut st, spine, len);
            }
            let block = match st.free.pop() {
                Some(b) => b,
                None => {
                    let b = Block::alloc();
                    st.blocks.push(b);
                    b
                }
            };
            // SAFETY: `len < st.cap`, the capacity of the current spine `spine`, which stays
            // allocated until `Drop` (INV-SS-6).
            let entry = unsafe { &*spine.add(len) };
            // ORDERING: Release; pairs with the Acquire entry loads in `block_for_push` and `pop`:
            // publishes the block's clean state (fresh, or recycled under this mutex).
            entry.store(block.as_ptr(), Ordering::Release);
            len += 1;
        }
        if len != old_len {
            // ORDERING: Release; pairs with the Acquire `spine_len` loads in `block_for_push` and
            // `claim`: a thread that sees `k < spine_len` also sees entry `k` and the spine.
            self.spine_len.store(len, Ordering::Release);
        }
        // SAFETY: `top < len <= st.cap`, the capacity of `spine`.
        let entry = unsafe { &*spine.add(top) };
        // Relaxed: entry `top` was stored under this lock, by us or an earlier holder; it is not
        // recycled since we hold an unfilled index in it.
        NonNull::new(entry.load(Ordering::Relaxed)).expect("spanSet: block missing")
    }

    /// Replace the full spine `old` (holding `len` entries) by one twice as large, keep the old
    /// array for `Drop`, and return the new one. Caller holds the spine lock (`st`).
    fn grow_spine(
        &self,
        st: &mut SpineLocked<T>,
        old: *mut SpineEntry<T>,
        len: usize,
    ) -> *mut SpineEntry<T> {
        let new_cap = if st.cap == 0 { SPAN_SET_INIT_SPINE_CAP } else { st.cap * 2 };
        let new: Box<[SpineEntry<T>]> = (0..new_cap)
            .map(|k| {
                let p = if k < len {
                    // SAFETY: `k < len == st.cap`, the capacity of `old`, still allocated.
                    let e = unsafe { &*old.add(k) };
                    // Relaxed: entries are stored under this lock, except the null stored by a
                    // concurrent last popper; copying either value is fine ("Stale entries").
                    e.load(Ordering::Relaxed)
                } else {
                    ptr::null_mut()
                };
                AtomicPtr::new(p)
            })
            .collect();
        let new = NonNull::from(Box::leak(new)).cast::<SpineEntry<T>>();
        st.spines.push((new, new_cap));
        st.cap = new_cap;
        // ORDERING: Release; pairs with the Acquire load in `entry`: a thread that loads the new
        // spine sees the entries copied into it.
        self.spine.store(new.as_ptr(), Ordering::Release);
        new.as_ptr()
    }

    /// Claim the index at the head (first half of `pop`), or `None` if there is nothing to claim
    /// yet.
    fn claim(&self) -> Option<usize> {
        let backoff = Backoff::new();
        'reload: loop {
            // Relaxed: head/tail only arbitrate index ownership (INV-SS-2); the block is
            // published by `spine_len`, the pointer by its slot.
            let mut ht = HeadTail(self.head_tail.load(Ordering::Relaxed));
            let head = ht.head();
            if head >= ht.tail() {
                return None;
            }
            // ORDERING: Acquire; pairs with the Release `spine_len` store in `install_blocks`, so
            // once we own `head`, its block's entry and spine are visible to `pop`.
            if self.spine_len.load(Ordering::Acquire) <= head as usize / E {
                // The index is reserved but its block is still being installed; report empty
                // rather than wait on the pusher's lock (Go does the same).
                return None;
            }
            // Advance the head by one. The CAS can fail because a push moved the tail (then the
            // head is unchanged and we retry with the new tail) or because another popper took
            // this index (then start over: the set may now be empty).
            loop {
                let want = HeadTail::new(head + 1, ht.tail());
                // Relaxed: as the load above.
                match self.head_tail.compare_exchange_weak(
                    ht.0,
                    want.0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(head as usize),
                    Err(now) => {
                        ht = HeadTail(now);
                        if ht.head() != head {
                            continue 'reload;
                        }
                        backoff.spin();
                    }
                }
            }
        }
    }

    /// Entry `top` of the current spine.
    ///
    /// # Safety
    ///
    /// * `top < spine_len` as read by this thread with an Acquire load (or under the spine lock,
    ///   or with exclusive access), so a spine of capacity `> top` was published before.
    unsafe fn entry(&self, top: usize) -> &SpineEntry<T> {
        // ORDERING: Acquire; pairs with the Release store in `grow_spine`: the array we get (the
        // one we were shown `spine_len` with, or a newer one) has its entries visible.
        let spine = self.spine.load(Ordering::Acquire);
        debug_assert!(!spine.is_null());
        // SAFETY: spines only grow, and the caller saw `top < spine_len`, which was stored after a
        // spine of capacity `> top` was; the array we loaded is that one or a larger successor,
        // and no spine array is freed before `Drop` (INV-SS-6).
        unsafe { &*spine.add(top) }
    }

    /// Put a block whose every slot has been popped (or never reserved) on the free list.
    fn recycle(&self, block: NonNull<Block<T>>) {
        // SAFETY: blocks are deallocated only in `Drop` (INV-SS-6); the caller is the block's last
        // user, so no other thread touches it.
        let b = unsafe { block.as_ref() };
        debug_assert!(b.spans.iter().all(|s| s.load(Ordering::Relaxed).is_null()));
        // Relaxed: published to the next user by the mutex below.
        b.popped.store(0, Ordering::Relaxed);
        sync::lock(&self.spine_lock).free.push(block);
    }
}

impl<T> Drop for SpanSet<T> {
    /// Free every block and spine array the set allocated. Pointers still in the set are simply
    /// forgotten: the set does not own what they point to.
    fn drop(&mut self) {
        let mut st = sync::lock(&self.spine_lock);
        for block in st.blocks.drain(..) {
            // SAFETY: `block` came from `Box::leak` in `Block::alloc`, is listed exactly once, and
            // `&mut self` means no other thread can reach it.
            drop(unsafe { Box::from_raw(block.as_ptr()) });
        }
        for (spine, cap) in st.spines.drain(..) {
            let slice = ptr::slice_from_raw_parts_mut(spine.as_ptr(), cap);
            // SAFETY: `spine` came from `Box::leak` of a `cap`-entry boxed slice in `grow_spine`,
            // is listed exactly once, and `&mut self` means no other thread can reach it.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

impl<T> fmt::Debug for SpanSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: diagnostics only.
        let ht = HeadTail(self.head_tail.load(Ordering::Relaxed));
        f.debug_struct("SpanSet")
            .field("head", &ht.head())
            .field("tail", &ht.tail())
            .field("spine_len", &self.spine_len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// Waiting in the set's two loops: a popper whose CAS lost (`spin`) and a popper waiting for its
// index's pusher to store (`snooze`). Normal builds spin, then yield to the OS; under loom,
// waiting on another thread must yield to the model scheduler or the model never ends.
#[cfg(not(loom))]
use crossbeam_utils::Backoff;

/// Loom stand-in for `crossbeam_utils::Backoff` (see the normal build's import).
#[cfg(loom)]
struct Backoff;

#[cfg(loom)]
impl Backoff {
    fn new() -> Self {
        Backoff
    }
    /// A lost CAS retries at once: the model already explores the interleavings.
    fn spin(&self) {}
    /// Let the pusher we wait for run.
    fn snooze(&self) {
        sync::thread::yield_now();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A distinct, aligned, never-dereferenced pointer for id `i`.
    fn fake(i: usize) -> NonNull<u64> {
        NonNull::new(ptr::without_provenance_mut((i + 1) * 8)).unwrap()
    }

    fn id(p: NonNull<u64>) -> usize {
        p.as_ptr().addr() / 8 - 1
    }

    fn blocks_allocated<T>(set: &SpanSet<T>) -> usize {
        sync::lock(&set.spine_lock).blocks.len()
    }

    fn blocks_free<T>(set: &SpanSet<T>) -> usize {
        sync::lock(&set.spine_lock).free.len()
    }

    #[test]
    fn spanset_is_send_and_sync() {
        fn assert_send_sync<S: Send + Sync>() {}
        assert_send_sync::<SpanSet<u64>>();
    }

    #[test]
    fn spanset_empty_pops_none() {
        let set = SpanSet::<u64>::new();
        assert_eq!(set.pop(), None);
        assert_eq!(set.len_hint(), 0);
        assert_eq!(blocks_allocated(&set), 0);
        assert!(format!("{set:?}").starts_with("SpanSet"));
    }

    #[test]
    fn spanset_fifo_across_many_blocks_then_reset_reuses_blocks() {
        const N: usize = 5000;
        let nblocks = N.div_ceil(E);
        let mut set = SpanSet::<u64>::new();
        for i in 0..N {
            set.push(fake(i));
        }
        assert_eq!(set.len_hint(), N);
        assert_eq!(blocks_allocated(&set), nblocks);
        for i in 0..N {
            assert_eq!(set.pop().map(id), Some(i));
        }
        assert_eq!(set.pop(), None);
        assert_eq!(set.len_hint(), 0);
        // Every full block was recycled by its last popper; the last, partly used one is not.
        assert_eq!(blocks_free(&set), N / E);

        set.reset();
        assert_eq!(blocks_free(&set), nblocks);
        assert_eq!(set.head_tail.load(Ordering::Relaxed), 0);
        assert_eq!(set.spine_len.load(Ordering::Relaxed), 0);

        // A second round runs entirely on recycled blocks and the kept spine.
        for i in 0..N {
            set.push(fake(i + N));
        }
        assert_eq!(blocks_allocated(&set), nblocks);
        for i in 0..N {
            assert_eq!(set.pop().map(id), Some(i + N));
        }
        assert_eq!(set.pop(), None);
        set.reset();
        set.reset(); // Resetting an already reset set is a no-op.
        assert_eq!(blocks_free(&set), nblocks);
    }

    #[test]
    fn spanset_steady_state_recycles_blocks() {
        let set = SpanSet::<u64>::new();
        for i in 0..100 {
            set.push(fake(i));
        }
        for i in 100..50_000 {
            set.push(fake(i));
            assert_eq!(set.pop().map(id), Some(i - 100));
        }
        // A backlog of 100 never spans more than two blocks, plus one being recycled.
        assert!(blocks_allocated(&set) <= 3, "{} blocks", blocks_allocated(&set));
    }

    #[test]
    fn spanset_pusher_ahead_of_missing_block_installs_all() {
        // Reserve indices 0..=E (block 1 starts at E) before any is filled, then fill the one in
        // block 1 first, as if every pusher of block 0 were preempted after reserving.
        let set = SpanSet::<u64>::new();
        let reserved: Vec<usize> = (0..=E).map(|_| set.reserve()).collect();
        assert_eq!(reserved, (0..=E).collect::<Vec<_>>());
        set.fill(E, fake(E));
        assert_eq!(set.spine_len.load(Ordering::Relaxed), 2);
        for i in 0..E {
            set.fill(i, fake(i));
        }
        for i in 0..=E {
            assert_eq!(set.pop().map(id), Some(i));
        }
        assert_eq!(set.pop(), None);
        assert_eq!(blocks_allocated(&set), 2);
    }

    #[test]
    #[should_panic(expected = "non-empty")]
    fn spanset_reset_nonempty_panics() {
        let mut set = SpanSet::<u64>::new();
        set.push(fake(0));
        set.reset();
    }

    #[test]
    fn spanset_concurrent_push_pop_exactly_once() {
        const PUSHERS: usize = 4;
        const POPPERS: usize = 4;
        const PER_PUSHER: usize = 20_000;
        const TOTAL: usize = PUSHERS * PER_PUSHER;
        let mut set = SpanSet::<u64>::new();
        // Several rounds on one set, reset in between, so later rounds run on recycled blocks.
        for round in 0..3 {
            let popped = AtomicUsize::new(0);
            let results: Vec<Vec<usize>> = std::thread::scope(|scope| {
                for t in 0..PUSHERS {
                    let set = &set;
                    scope.spawn(move || {
                        for i in 0..PER_PUSHER {
                            set.push(fake(t * PER_PUSHER + i));
                        }
                    });
                }
                let poppers: Vec<_> = (0..POPPERS)
                    .map(|_| {
                        let (set, popped) = (&set, &popped);
                        scope.spawn(move || {
                            let mut got = Vec::new();
                            loop {
                                if let Some(p) = set.pop() {
                                    got.push(id(p));
                                    popped.fetch_add(1, Ordering::Relaxed);
                                } else if popped.load(Ordering::Relaxed) == TOTAL {
                                    return got;
                                } else {
                                    std::thread::yield_now();
                                }
                            }
                        })
                    })
                    .collect();
                poppers.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut seen = HashSet::with_capacity(TOTAL);
            for got in &results {
                // Each popper claims increasing indices, and each pusher's items sit at
                // increasing indices, so a popper sees any one pusher's items in push order.
                let mut last = [None; PUSHERS];
                for &v in got {
                    assert!(seen.insert(v), "round {round}: {v} popped twice");
                    let (t, i) = (v / PER_PUSHER, v % PER_PUSHER);
                    assert!(last[t] < Some(i), "round {round}: pusher {t}'s items out of order");
                    last[t] = Some(i);
                }
            }
            assert_eq!(seen.len(), TOTAL, "round {round}");
            assert_eq!(set.pop(), None);
            assert_eq!(set.len_hint(), 0);
            set.reset();
        }
    }
}
