//! Mark work: per-P work buffers and the global pool (Go's `mgcwork.go`). See the crate docs for
//! the overview.
//!
//! Marking is a producer/consumer problem over grey objects. Greying ([`crate::mark::shade`])
//! produces the address of a marked but unscanned object; scanning consumes one and may produce
//! more. Each P keeps its grey objects in a [`GcWork`] and shares them through one [`WorkPool`].
//!
//! - **Buffers, not single objects, move between Ps.** A [`WorkBuf`] holds
//!   [`WORKBUF_ENTRIES`] addresses (Go's 2048-byte `workbuf`). A P pushes and pops inside its own
//!   buffers with no synchronisation at all, and touches the pool only once per buffer's worth
//!   of work, so pool traffic is a few hundred times lower than object traffic.
//! - **Two buffers per P give hysteresis.** Think of `wbuf1` and `wbuf2` as one stack of two
//!   buffers' height. When both are full the P hands one full buffer to the pool; when both are
//!   empty it fetches one. After either exchange a whole buffer of slack remains in both
//!   directions, so a P oscillating around a buffer boundary (push, pop, push, ...) never
//!   ping-pongs buffers through the pool: at least one buffer of work separates two exchanges.
//! - **LIFO everywhere.** Local buffers are stacks and the pool's full list is a stack too.
//!   The most recently greyed object is the one most likely still in cache (its parent was just
//!   scanned), and depth-first order keeps the amount of queued work small: a linked list of a
//!   million nodes never has more than a couple of entries queued, where breadth-first order
//!   could queue a whole level of a wide tree.
//! - **Balance.** A P with cached work checks whether the pool is dry and, if so, gives some of
//!   its work away so idle markers have something to steal ([`GcWork::balance`]).
//! - **Spans.** With Green Tea (`crate::mark::greentea`) a `GcWork` also holds a FIFO ring of
//!   queued spans, and the pool a list of published span batches (work buffers whose entries
//!   are span entries). Both are work for every termination check: [`GcWork::is_empty`] and
//!   [`WorkPool::is_empty`] count them.
//! - **Termination.** [`GcWork::take_flushed_work`] tells the termination check (Go's
//!   `gcMarkDone`) whether a P published work since it last asked; see [`WorkPool`] for the
//!   ordering such a check needs.
//!
//! Divergence from Go: buffers come from the Rust allocator (`Box`) instead of manually managed
//! 32 KiB heap spans, so they are outside the heap's ledger; [`WorkPool::free_empty`] plays the
//! part of Go's `freeSomeWbufs` between cycles.
//!
//! **Out of memory.** Go's `getempty` throws "out of memory" when it cannot get a span for
//! buffers. Here a failed allocation ([`WorkBuf::try_new`]) first degrades: the pool keeps
//! [`EMERGENCY_BUFS`] buffers, allocated when it is made, that it hands out only when an
//! allocation fails, and refills from returned buffers before recycling them. Only when that
//! reserve is gone too does it throw, as Go does, with a message that says so. A pool made with
//! [`WorkPool::for_heap`] counts each allocation as one of the heap's OS calls for failure
//! injection ([`gomem_allocator::os::Os::injected_failure`]), so tests reach these paths.

use crate::mark::greentea::{SpanBuf, SpanQueue};
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use gomem_allocator::MHeap;
use std::alloc::Layout;
use std::sync::Arc;

/// Buffers a [`WorkPool`] holds back for when allocating one fails (16 buffers, 32 KiB: what
/// marking needs to make progress with a few Ps, each holding two).
#[cfg(not(loom))]
pub const EMERGENCY_BUFS: usize = 16;
/// Buffers a [`WorkPool`] holds back for when allocating one fails; none under loom, so the
/// models explore the pool's protocol without the reserve's lock.
#[cfg(loom)]
pub const EMERGENCY_BUFS: usize = 0;

/// Object addresses per work buffer: Go's `workbuf` is 2048 bytes, 253 pointers after its
/// header. Larger buffers mean less pool traffic but more work hidden from idle Ps.
#[cfg(not(loom))]
pub const WORKBUF_ENTRIES: usize = 253;
/// Object addresses per work buffer; shrunk under loom so a few operations cross buffer
/// boundaries.
#[cfg(loom)]
pub const WORKBUF_ENTRIES: usize = 4;

/// [`GcWork::balance`] splits the current buffer only when it holds more than this many entries
/// (Go's constant in `balance`): splitting a nearly empty buffer helps nobody.
const BALANCE_SPLIT_MIN: usize = 4;

/// Make room for one more element of `v` without aborting on out of memory: `false` when the
/// allocator, or `heap`'s failure injection (as an OS call named `what`), refuses. Growth
/// doubles as `Vec::push` would; only a growth consults the allocator. The collector's own
/// lists (the root list, the checkmark stack) grow through this so that they can degrade.
pub fn try_room<T>(heap: &MHeap, v: &mut Vec<T>, what: &'static str) -> bool {
    if v.len() < v.capacity() {
        return true;
    }
    let extra = v.capacity().max(16);
    if heap.os().injected_failure(what, extra * core::mem::size_of::<T>()).is_err() {
        return false;
    }
    v.try_reserve(extra).is_ok()
}

/// A fixed-size stack of grey-object addresses (Go's `workbuf`).
///
/// Each entry is the base of a marked object awaiting scanning, or the start of one of a large
/// object's oblets (see [`crate::mark`]). A buffer is owned by exactly one party at a time: a
/// [`GcWork`] or one of the [`WorkPool`]'s lists.
#[doc(alias = "workbuf")]
pub struct WorkBuf {
    /// Entries `0..nobj` are valid (Go's `nobj`).
    nobj: usize,
    obj: [usize; WORKBUF_ENTRIES],
}

impl WorkBuf {
    /// A new, empty buffer. Aborts if the Rust allocator fails (see [`WorkBuf::try_new`]).
    pub fn new() -> Box<WorkBuf> {
        Box::new(WorkBuf { nobj: 0, obj: [0; WORKBUF_ENTRIES] })
    }

    /// A new, empty buffer, or `None` if the allocator has no memory for it.
    pub fn try_new() -> Option<Box<WorkBuf>> {
        let layout = Layout::new::<WorkBuf>();
        // SAFETY: the layout has non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut WorkBuf;
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is a fresh allocation of WorkBuf's layout from the global allocator, and
        // all zero bytes are a valid WorkBuf (no entries, `nobj == 0`).
        Some(unsafe { Box::from_raw(p) })
    }

    /// Number of entries.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.nobj
    }

    /// Whether the buffer holds no entries.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.nobj == 0
    }

    /// Whether the buffer has no room left.
    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.nobj == WORKBUF_ENTRIES
    }

    /// Push an entry. Panics if the buffer is full.
    #[inline(always)]
    pub fn push(&mut self, obj: usize) {
        self.obj[self.nobj] = obj;
        self.nobj += 1;
    }

    /// Pop the most recently pushed entry.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<usize> {
        self.nobj = self.nobj.checked_sub(1)?;
        Some(self.obj[self.nobj])
    }

    /// Move the newest `n` entries into the empty buffer `dst` (keeping their order).
    fn move_top_to(&mut self, dst: &mut WorkBuf, n: usize) {
        debug_assert!(dst.is_empty() && n <= self.nobj);
        let from = self.nobj - n;
        dst.obj[..n].copy_from_slice(&self.obj[from..self.nobj]);
        dst.nobj = n;
        self.nobj = from;
    }
}

impl core::fmt::Debug for WorkBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkBuf").field("nobj", &self.nobj).finish_non_exhaustive()
    }
}

/// The global work pool (Go's `work.full` and `work.empty`): buffers with work that any P may
/// take, and empty buffers for reuse.
///
/// Go keeps both lists in lock-free stacks. Here each is a `Vec` behind a mutex, following
/// HACKING.md's "don't be clever": a buffer carries 253 objects, so the pool is touched once per
/// few hundred greyings and a short critical section costs nothing measurable next to scanning
/// 253 objects. The lock-free part is only `nfull`, a count of full buffers kept so that
/// [`WorkPool::is_empty`] (asked on every drain iteration, like Go's `work.full == 0`) and the
/// fast miss in [`WorkPool::get_full`] never take the lock.
///
/// `nfull` is exact with respect to the list: it changes only under the list's lock, together
/// with the push or pop. Every access to it is `Relaxed`. The lock orders the buffers'
/// contents; the count only decides whether to take the lock. A termination check built on top
/// (Go's `nwait` protocol: the last worker to go idle finds the pool empty) needs nothing more
/// from it than coherence on this one location: a P that published a buffer reads at least its
/// own increment until someone takes the buffer, and a taker announces itself busy (on the
/// idle count, with acquire-release) before taking. `tests/loom_work.rs` models the protocol on
/// this code.
///
/// Green Tea's span batches have a list and a count of their own, `nspans`, kept the same way;
/// [`WorkPool::is_empty`] reads both counts. The argument holds for each location alone: a P
/// publishes to either list before it announces itself idle, and takes from either only after
/// it announced itself busy, so a checker that acquired the idle count and finds every P idle
/// reads both counts no older than every publication and every take before those
/// announcements. `tests/loom_greentea.rs` models termination with spans queued.
pub struct WorkPool {
    /// Buffers holding at least one entry, newest last (LIFO). Boxed: buffers move between
    /// a P and the pool as one pointer, not as a 2 KiB copy.
    #[allow(clippy::vec_box)]
    full: Mutex<Vec<Box<WorkBuf>>>,
    /// Number of buffers in `full`; written only with `full` locked.
    nfull: AtomicUsize,
    /// Published span batches (Green Tea's shared span queue; see `crate::mark::greentea`),
    /// newest last. Boxed, as `full`.
    #[allow(clippy::vec_box)]
    spans: Mutex<Vec<Box<WorkBuf>>>,
    /// Number of batches in `spans`; written only with `spans` locked, exact as `nfull` is.
    nspans: AtomicUsize,
    /// Empty buffers for reuse (boxed, as `full`).
    #[allow(clippy::vec_box)]
    empty: Mutex<Vec<Box<WorkBuf>>>,
    /// The emergency reserve (see the module docs), at most [`EMERGENCY_BUFS`].
    #[allow(clippy::vec_box)]
    reserve: Mutex<Vec<Box<WorkBuf>>>,
    /// Buffer allocations that failed and were served from the reserve.
    reserve_uses: AtomicUsize,
    /// The heap whose OS failure injection buffer allocations consult, if any.
    heap: Option<Arc<MHeap>>,
}

impl core::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkPool")
            .field("nfull", &self.full_count())
            .field("reserve_uses", &self.reserve_uses())
            .finish_non_exhaustive()
    }
}

impl Default for WorkPool {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkPool {
    /// An empty pool with its emergency reserve.
    pub fn new() -> Self {
        WorkPool {
            full: Mutex::new(Vec::new()),
            nfull: AtomicUsize::new(0),
            spans: Mutex::new(Vec::new()),
            nspans: AtomicUsize::new(0),
            empty: Mutex::new(Vec::new()),
            reserve: Mutex::new((0..EMERGENCY_BUFS).map(|_| WorkBuf::new()).collect()),
            reserve_uses: AtomicUsize::new(0),
            heap: None,
        }
    }

    /// An empty pool whose buffer allocations also fail when `heap`'s OS calls are made to
    /// fail ([`gomem_allocator::os::Os::inject_failures`]).
    pub fn for_heap(heap: Arc<MHeap>) -> Self {
        WorkPool { heap: Some(heap), ..Self::new() }
    }

    /// How many times a buffer allocation failed and the emergency reserve served instead.
    pub fn reserve_uses(&self) -> usize {
        // Relaxed: a statistic.
        self.reserve_uses.load(Ordering::Relaxed)
    }

    /// Whether no buffer with work and no span batch is in the pool (Go's `work.full == 0`
    /// and no `spanqMask` bit). Lock-free and instantly stale: work held in Ps' local buffers
    /// and rings is not counted.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.full_count() == 0 && !self.has_spans()
    }

    /// Number of buffers with object work in the pool (span batches are not counted).
    #[inline]
    pub fn full_count(&self) -> usize {
        // Relaxed: it gates only whether to take the lock, which orders the buffers (type docs).
        self.nfull.load(Ordering::Relaxed)
    }

    /// Whether the pool holds a span batch (exact as [`WorkPool::full_count`] is).
    #[inline]
    pub fn has_spans(&self) -> bool {
        // Relaxed: as in `full_count`.
        self.nspans.load(Ordering::Relaxed) != 0
    }

    /// Publish a batch of span entries (Green Tea's shared queue).
    pub fn put_spans(&self, b: Box<WorkBuf>) {
        debug_assert!(!b.is_empty(), "put_spans of an empty batch");
        let mut spans = lock(&self.spans);
        spans.push(b);
        // Relaxed: changed under the lock together with the push (type docs).
        self.nspans.fetch_add(1, Ordering::Relaxed);
    }

    /// Take the most recently published span batch, if any.
    pub fn get_spans(&self) -> Option<Box<WorkBuf>> {
        if !self.has_spans() {
            return None;
        }
        let mut spans = lock(&self.spans);
        let b = spans.pop()?;
        // Relaxed: changed under the lock together with the pop (type docs).
        self.nspans.fetch_sub(1, Ordering::Relaxed);
        Some(b)
    }

    /// Publish a buffer with work (Go's `putfull`); it need not be completely full. Panics in
    /// debug builds if `b` is empty (an empty buffer in the full list would make `is_empty`
    /// lie).
    pub fn put_full(&self, b: Box<WorkBuf>) {
        debug_assert!(!b.is_empty(), "put_full of an empty work buffer");
        let mut full = lock(&self.full);
        full.push(b);
        // Relaxed: changed under the lock together with the push (type docs).
        self.nfull.fetch_add(1, Ordering::Relaxed);
    }

    /// Take the most recently published buffer with work, if any (Go's `trygetfull`).
    pub fn get_full(&self) -> Option<Box<WorkBuf>> {
        if self.full_count() == 0 {
            // A stale zero only makes us miss work published a moment ago; callers that must
            // not miss work (termination) re-check under their own protocol.
            return None;
        }
        let mut full = lock(&self.full);
        let b = full.pop()?;
        // Relaxed: changed under the lock together with the pop (type docs).
        self.nfull.fetch_sub(1, Ordering::Relaxed);
        Some(b)
    }

    /// An empty buffer: a recycled one, or a new allocation (Go's `getempty`); if allocating
    /// fails, one from the emergency reserve. Throws (aborts, as Go's `getempty` does) when
    /// the reserve is empty too.
    pub fn get_empty(&self) -> Box<WorkBuf> {
        if let Some(b) = lock(&self.empty).pop() {
            return b;
        }
        let bytes = core::mem::size_of::<WorkBuf>();
        let injected = self
            .heap
            .as_ref()
            .is_some_and(|h| h.os().injected_failure("GC work buffer allocation", bytes).is_err());
        if let Some(b) = (!injected).then(WorkBuf::try_new).flatten() {
            return b;
        }
        // Relaxed: a statistic.
        self.reserve_uses.fetch_add(1, Ordering::Relaxed);
        match lock(&self.reserve).pop() {
            Some(b) => b,
            None => gomem_allocator::throw(&format!(
                "out of memory: cannot allocate a {bytes}-byte GC work buffer and the {} \
                 emergency buffers are in use",
                EMERGENCY_BUFS
            )),
        }
    }

    /// Return an empty buffer for reuse (Go's `putempty`), refilling the emergency reserve
    /// first. Panics in debug builds if `b` holds work, which would be lost.
    // Under loom the reserve is 0, which makes these comparisons constant.
    #[allow(clippy::absurd_extreme_comparisons)]
    pub fn put_empty(&self, b: Box<WorkBuf>) {
        debug_assert!(b.is_empty(), "put_empty of a work buffer holding work");
        if EMERGENCY_BUFS > 0 {
            let mut r = lock(&self.reserve);
            if r.len() < EMERGENCY_BUFS {
                r.push(b);
                return;
            }
        }
        lock(&self.empty).push(b);
    }

    /// Free every cached empty buffer (Go's `freeSomeWbufs`, between cycles); returns how many
    /// were freed.
    pub fn free_empty(&self) -> usize {
        let bufs = core::mem::take(&mut *lock(&self.empty));
        bufs.len()
    }
}

/// A P's mark work cache (Go's `gcWork`): two work buffers and the P's marking counters.
///
/// Owned by one P (hence `&mut self` everywhere); it reaches the shared [`WorkPool`] only when
/// a buffer fills or runs dry, and in [`GcWork::balance`] and [`GcWork::dispose`].
///
/// Invariant (Go's): `wbuf1` and `wbuf2` are both present or both absent. `wbuf1` is the buffer
/// pushed to and popped from; `wbuf2` is the one exchanged with the pool next.
#[doc(alias = "gcWork")]
#[derive(Debug, Default)]
pub struct GcWork {
    wbuf1: Option<Box<WorkBuf>>,
    wbuf2: Option<Box<WorkBuf>>,
    /// Bytes of objects this P marked (Go's `bytesMarked`), whole slots (`elemsize`) as counted
    /// by [`crate::mark::shade`]. Harvested with [`GcWork::take_counters`].
    pub bytes_marked: u64,
    /// Heap scan work this P performed (Go's `heapScanWork`): for each object or oblet
    /// scanned, the offset just past its last pointer slot. Harvested with
    /// [`GcWork::take_counters`].
    pub heap_scan_work: u64,
    /// Go's `flushedWork`: work went from this P into the pool since the last
    /// [`GcWork::take_flushed_work`].
    flushed_work: bool,
    /// Green Tea's span queue of this P (Go's `gcWork.spanq`, local part).
    spanq: SpanQueue,
}

impl GcWork {
    /// A gcWork holding no buffers (they are taken on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Take the two buffers (Go's `gcWork.init`): an empty one to work in, and as the second a
    /// full one from the pool if there is one, so a P that starts producing also has work to
    /// consume.
    #[cold]
    fn init(&mut self, pool: &WorkPool) {
        debug_assert!(self.wbuf1.is_none() && self.wbuf2.is_none());
        self.wbuf1 = Some(pool.get_empty());
        self.wbuf2 = Some(pool.get_full().unwrap_or_else(|| pool.get_empty()));
    }

    /// Queue a grey object (or an oblet) for scanning (Go's `putObj`). Into `wbuf1`; if it is
    /// full, swap in `wbuf2`; if that is full too, publish it to the pool and start a fresh
    /// empty buffer.
    #[inline]
    pub fn put(&mut self, pool: &WorkPool, obj: usize) {
        // Fast path (Go's `putObjFast`): room in the current buffer.
        if let Some(b) = self.wbuf1.as_deref_mut() {
            if !b.is_full() {
                b.push(obj);
                return;
            }
        }
        self.put_slow(pool, obj);
    }

    #[inline(never)]
    fn put_slow(&mut self, pool: &WorkPool, obj: usize) {
        if self.wbuf1.is_none() {
            self.init(pool);
        } else {
            core::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            if self.wbuf1.as_deref().is_some_and(WorkBuf::is_full) {
                let full = self.wbuf1.replace(pool.get_empty());
                pool.put_full(full.expect("wbuf1 present"));
                self.flushed_work = true;
            }
        }
        self.wbuf1.as_deref_mut().expect("wbuf1 present").push(obj);
    }

    /// Take the next object to scan (Go's `tryGetObj`): from `wbuf1`; if it is empty, from
    /// `wbuf2`; if that is empty too, from a buffer taken from the pool. `None` when this P and
    /// the pool have no work (other Ps may still have some).
    #[inline]
    pub fn try_get(&mut self, pool: &WorkPool) -> Option<usize> {
        // Fast path (Go's `tryGetObjFast`).
        if let Some(x) = self.wbuf1.as_deref_mut().and_then(WorkBuf::pop) {
            return Some(x);
        }
        self.try_get_slow(pool)
    }

    #[inline(never)]
    fn try_get_slow(&mut self, pool: &WorkPool) -> Option<usize> {
        if self.wbuf1.is_none() {
            self.init(pool);
        }
        if self.wbuf1.as_deref().is_some_and(WorkBuf::is_empty) {
            core::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            if self.wbuf1.as_deref().is_some_and(WorkBuf::is_empty) {
                let got = pool.get_full()?;
                let old = self.wbuf1.replace(got);
                pool.put_empty(old.expect("wbuf1 present"));
            }
        }
        self.wbuf1.as_deref_mut().and_then(WorkBuf::pop)
    }

    /// Queue a span entry (Green Tea: see `crate::mark::greentea`) in this P's ring, which
    /// spills to the pool by Go's rule.
    #[inline]
    pub fn put_span(&mut self, pool: &WorkPool, entry: usize) {
        if self.spanq.put(pool, entry) {
            self.flushed_work = true;
        }
    }

    /// Take the oldest queued span of this P, else a batch of spans from the pool.
    #[inline]
    pub fn try_get_span(&mut self, pool: &WorkPool) -> Option<usize> {
        self.spanq.pop().or_else(|| self.spanq.refill(pool))
    }

    pub(crate) fn take_span_buf(&mut self) -> SpanBuf {
        self.spanq.take_buf()
    }

    pub(crate) fn put_span_buf(&mut self, b: SpanBuf) {
        self.spanq.put_buf(b)
    }

    /// If the pool has no work, give some of ours away (Go's `balance`, with the caller's
    /// `work.full == 0` test folded in): all of `wbuf2` if it has work, else the older half of
    /// `wbuf1` if that holds more than four entries. The newer half stays here, hot in cache.
    /// If no object work was given, the older half of the span ring goes when it holds more
    /// than four spans.
    pub fn balance(&mut self, pool: &WorkPool) {
        if !pool.is_empty() {
            return;
        }
        self.balance_objects(pool);
        if pool.is_empty() && self.spanq.len() > BALANCE_SPLIT_MIN {
            let half = self.spanq.len() / 2;
            self.flushed_work |= self.spanq.spill(pool, half);
        }
    }

    fn balance_objects(&mut self, pool: &WorkPool) {
        if self.wbuf1.is_none() {
            return;
        }
        if self.wbuf2.as_deref().is_some_and(|b| !b.is_empty()) {
            let b2 = self.wbuf2.replace(pool.get_empty());
            pool.put_full(b2.expect("wbuf2 present"));
            self.flushed_work = true;
        } else if self.wbuf1.as_deref().is_some_and(|b| b.len() > BALANCE_SPLIT_MIN) {
            // Go's `handoff`: keep the newest half in a fresh buffer, publish the rest.
            let mut fresh = pool.get_empty();
            let mut old = self.wbuf1.take().expect("wbuf1 present");
            let keep = old.len() - old.len() / 2;
            old.move_top_to(&mut fresh, keep);
            pool.put_full(old);
            self.wbuf1 = Some(fresh);
            self.flushed_work = true;
        }
    }

    /// Give every local buffer back to the pool (Go's `dispose`): buffers with work to the full
    /// list (setting the flushed-work flag), empty ones to the empty list. The counters stay;
    /// the caller harvests them with [`GcWork::take_counters`].
    pub fn dispose(&mut self, pool: &WorkPool) {
        let n = self.spanq.len();
        self.flushed_work |= self.spanq.spill(pool, n);
        for b in [self.wbuf1.take(), self.wbuf2.take()].into_iter().flatten() {
            if b.is_empty() {
                pool.put_empty(b);
            } else {
                pool.put_full(b);
                self.flushed_work = true;
            }
        }
    }

    /// Whether this P holds no mark work (Go's `gcWork.empty`), spans included.
    pub fn is_empty(&self) -> bool {
        self.spanq.is_empty()
            && self.wbuf1.as_deref().is_none_or(WorkBuf::is_empty)
            && self.wbuf2.as_deref().is_none_or(WorkBuf::is_empty)
    }

    /// Number of entries held locally (for tests and statistics).
    pub fn local_len(&self) -> usize {
        self.spanq.len()
            + self.wbuf1.as_deref().map_or(0, WorkBuf::len)
            + self.wbuf2.as_deref().map_or(0, WorkBuf::len)
    }

    /// Whether this P put work into the pool since the last call, clearing the flag (Go's
    /// `flushedWork`, read and reset by `gcMarkDone`'s ragged barrier: a P that published work
    /// may have handed it to another P, so marking cannot be declared finished yet).
    pub fn take_flushed_work(&mut self) -> bool {
        core::mem::take(&mut self.flushed_work)
    }

    /// Return and zero `(bytes_marked, heap_scan_work)` (what Go's `dispose` adds to
    /// `work.bytesMarked` and `gcController.heapScanWork`).
    pub fn take_counters(&mut self) -> (u64, u64) {
        (core::mem::take(&mut self.bytes_marked), core::mem::take(&mut self.heap_scan_work))
    }
}

impl Drop for GcWork {
    fn drop(&mut self) {
        // Grey objects dropped here would never be scanned: whatever they reach could be freed
        // while still live. Dispose first.
        debug_assert!(
            self.is_empty() || std::thread::panicking(),
            "GcWork dropped holding {} grey objects",
            self.local_len()
        );
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn drain_all(w: &mut GcWork, pool: &WorkPool) -> Vec<usize> {
        core::iter::from_fn(|| w.try_get(pool)).collect()
    }

    #[test]
    fn put_get_is_lifo_within_a_p() {
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        assert!(w.is_empty());
        assert_eq!(w.try_get(&pool), None);
        for i in 1..=10 {
            w.put(&pool, i * 8);
        }
        assert_eq!(w.local_len(), 10);
        assert_eq!(drain_all(&mut w, &pool), (1..=10).rev().map(|i| i * 8).collect::<Vec<_>>());
        assert!(w.is_empty());
        assert!(!w.take_flushed_work());
        w.dispose(&pool);
    }

    #[test]
    fn two_buffers_fill_before_the_pool_is_touched() {
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        for i in 0..2 * WORKBUF_ENTRIES {
            w.put(&pool, i);
        }
        assert!(pool.is_empty(), "two buffers' worth stays local");
        assert!(!w.take_flushed_work());
        w.put(&pool, 99_999);
        assert_eq!(pool.full_count(), 1, "the third buffer's first entry flushes one");
        assert!(w.take_flushed_work());
        assert!(!w.take_flushed_work(), "the flag clears when read");
        let mut got = drain_all(&mut w, &pool);
        assert_eq!(got.len(), 2 * WORKBUF_ENTRIES + 1);
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 2 * WORKBUF_ENTRIES + 1, "every entry exactly once");
        assert!(pool.is_empty());
        w.dispose(&pool);
    }

    #[test]
    fn hysteresis_at_a_buffer_boundary() {
        // Oscillating around a full buffer must not move buffers through the pool.
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        for i in 0..WORKBUF_ENTRIES {
            w.put(&pool, i);
        }
        for k in 0..1000 {
            w.put(&pool, k);
            assert!(w.try_get(&pool).is_some());
        }
        assert!(pool.is_empty());
        assert!(!w.take_flushed_work());
        drain_all(&mut w, &pool);
        w.dispose(&pool);
    }

    #[test]
    fn another_p_takes_published_work() {
        let pool = WorkPool::new();
        let (mut a, mut b) = (GcWork::new(), GcWork::new());
        let n = 3 * WORKBUF_ENTRIES + 7;
        for i in 0..n {
            a.put(&pool, i);
        }
        let mut seen = vec![false; n];
        while let Some(x) = b.try_get(&pool) {
            assert!(!std::mem::replace(&mut seen[x], true));
        }
        let stolen = seen.iter().filter(|&&s| s).count();
        assert!(stolen > 0 && stolen < n);
        for x in drain_all(&mut a, &pool) {
            assert!(!std::mem::replace(&mut seen[x], true));
        }
        assert!(seen.iter().all(|&s| s));
        a.dispose(&pool);
        b.dispose(&pool);
    }

    #[test]
    fn balance_gives_away_wbuf2_then_half_of_wbuf1() {
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        // Fill wbuf1, overflow into the second buffer: wbuf2 is then the full one.
        for i in 0..WORKBUF_ENTRIES + 10 {
            w.put(&pool, i);
        }
        w.balance(&pool);
        assert_eq!(pool.full_count(), 1);
        assert!(w.take_flushed_work());
        // The pool has work: balance does nothing.
        w.balance(&pool);
        assert_eq!(pool.full_count(), 1);
        assert_eq!(w.local_len(), 10);
        // Take the published buffer elsewhere, so the pool is dry again.
        let given = pool.get_full().unwrap();
        assert_eq!(given.len(), WORKBUF_ENTRIES, "wbuf2 went as a whole");
        pool.put_empty({
            let mut g = given;
            while g.pop().is_some() {}
            g
        });
        // wbuf2 is now empty; wbuf1 has 10 entries: the older 5 go.
        w.balance(&pool);
        assert_eq!(pool.full_count(), 1);
        assert!(w.take_flushed_work());
        let half = pool.get_full().unwrap();
        assert_eq!(half.len(), 5);
        let kept = drain_all(&mut w, &pool);
        let want: Vec<usize> = (WORKBUF_ENTRIES + 5..WORKBUF_ENTRIES + 10).rev().collect();
        assert_eq!(kept, want, "the newest half stays local");
        // Four or fewer entries are not split.
        for i in 0..4 {
            w.put(&pool, i);
        }
        w.balance(&pool);
        assert!(pool.is_empty());
        assert!(!w.take_flushed_work());
        drain_all(&mut w, &pool);
        w.dispose(&pool);
    }

    #[test]
    fn dispose_publishes_everything_and_keeps_counters() {
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        for i in 0..WORKBUF_ENTRIES + 3 {
            w.put(&pool, i);
        }
        w.bytes_marked = 48;
        w.heap_scan_work = 16;
        w.dispose(&pool);
        assert!(w.is_empty());
        assert!(w.take_flushed_work());
        assert_eq!(pool.full_count(), 2);
        assert_eq!(w.take_counters(), (48, 16));
        assert_eq!(w.take_counters(), (0, 0));
        // Another P finds all of it.
        let mut v = GcWork::new();
        let mut got = drain_all(&mut v, &pool);
        got.sort_unstable();
        assert_eq!(got, (0..WORKBUF_ENTRIES + 3).collect::<Vec<_>>());
        // Disposing an empty gcWork publishes nothing and leaves the flag clear.
        v.dispose(&pool);
        assert!(!v.take_flushed_work());
        assert!(pool.is_empty());
        assert!(pool.free_empty() >= 2);
    }

    #[test]
    fn buffers_are_recycled() {
        let pool = WorkPool::new();
        let mut w = GcWork::new();
        for round in 0..10 {
            for i in 0..5 * WORKBUF_ENTRIES {
                w.put(&pool, i + round);
            }
            assert_eq!(drain_all(&mut w, &pool).len(), 5 * WORKBUF_ENTRIES);
        }
        w.dispose(&pool);
        // Five buffers' worth in flight at most: the pool holds about that many, not 50.
        let n = pool.free_empty();
        assert!((2..=8).contains(&n), "{n} buffers allocated");
    }
}
