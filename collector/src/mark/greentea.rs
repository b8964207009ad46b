//! Green Tea span marking (Go's `mgcmark_greenteagc.go`): small objects are not queued one by
//! one but marked in their span's inline block ([`gomem_allocator::spaninline`]), and the span
//! is queued once, to be scanned later with every object marked in it meanwhile.
//!
//! # How it marks
//!
//! - **Enqueue** ([`try_defer_to_span_scan`], Go's `tryDeferToSpanScan`), the first step of
//!   [`shade`](super::shade) on a heap with the Green Tea layout: the arena's page bit says the
//!   pointer's page is such a span; the object index comes from the block's class byte and the
//!   class's division magic, with no `MSpan` read at all. The inline mark is test-and-set;
//!   noscan objects count their bytes and stop there (black at once). For scan objects the
//!   marker then tries to take the span ([`SpanInlineMarkBits::try_acquire`]); only the one that
//!   finds it unowned queues `span_base | index` on its [`GcWork`].
//! - **Queues** ([`SpanQueue`]): a local FIFO ring of [`SPAN_RING`] entries per `GcWork`, which
//!   no other worker sees. FIFO, because a span waiting in the queue accumulates more marks
//!   ("Empirically, a FIFO policy appears to work best"). Every [`SPILL_PERIOD`] puts, if the
//!   pool holds no spans, up to [`SPILL_MAX`] of the oldest go to the pool; a full ring gives
//!   half. The pool keeps published spans as batches (work buffers of span entries) that any
//!   worker takes whole when its ring runs dry: Go's stealing of half a P's ring, done by the
//!   giving side here since our workers are threads with no rings others can read.
//! - **Order**: [`drain`](super::drain) takes objects (work buffers) before spans, as Go's
//!   `gcDrain` does, so that spans accumulate objects.
//! - **Scan** ([`scan_span`], Go's `scanSpan`): release ownership first. If the span saw one
//!   mark since it was queued (`ONE_MARK`), scan just that object. Otherwise take
//!   `marks & !scans` into the scans ([`SpanInlineMarkBits::set_scans`]) and scan those objects
//!   in address order: a sparse span object by object, gathering slot addresses with prefetch
//!   first (Go's `scanObjectsSmall`), a dense one (an eighth of its objects or more) through
//!   [`scan::scan_span_packed`], the AVX-512 or scalar kernel of Go's
//!   `internal/runtime/gc/scan`, which collects every non-nil pointer of the selected objects.
//!   Every value found is shaded.
//! - **Accounting** as Go's: a noscan object's bytes count when it is marked, a scan object's
//!   when it is scanned (which is once: the scan bit arbitrates); scan work is the pointer
//!   prefix per object for a sparse scan and the whole object for a dense one.
//!
//! # Invariants
//!
//! - **Owned ⇒ queued somewhere.** A span whose `owned` is not `UNOWNED` has an entry in some
//!   [`GcWork`]'s ring or in a batch of the pool, or is held by a drainer inside [`scan_span`]
//!   before its release. Only the marker that moved `owned` from `UNOWNED` queues the span, and
//!   a ring's entries leave it only to the pool ([`GcWork::dispose`], `balance`, spills) or into
//!   [`scan_span`], which releases first. So a mark set on a scan object is followed by a scan:
//!   either the marker's RMW on `owned` finds it unowned (and it queues the span), or it comes
//!   before the release of a scanner that then sees the mark (see the handshake in
//!   [`gomem_allocator::spaninline`]). `tests/loom_greentea.rs` models both sides.
//! - **Termination sees rings.** [`GcWork::is_empty`] counts the ring and
//!   [`WorkPool::is_empty`] the published batches (in the same counter as full buffers, so the
//!   termination protocol's coherence argument on that one location carries over). A span left
//!   in a ring is therefore work like a grey object in a buffer, for every termination check.
//! - Checkmark never comes here: it walks the graph itself and reads the marks through
//!   `MSpan::is_marked`, which sees inline marks.

use super::prefetch;
use crate::scan;
use crate::sync::load_word;
use crate::work::{GcWork, WorkPool, WORKBUF_ENTRIES};
use gomem_allocator::consts::{PAGE_MASK, PAGE_SIZE, PTR_SIZE, SPAN_HEAP_BITS_SIZE};
use gomem_allocator::mheap::MHeap;
use gomem_allocator::sizeclass::SpanClass;
use gomem_allocator::spaninline::SPAN_INLINE_MARK_BITS_SIZE;
use gomem_allocator::spaninline::{SpanInlineMarkBits, INLINE_WORDS, ONE_MARK};

/// Entries of a worker's local span ring (Go's `len(spanQueue.ring)`).
pub const SPAN_RING: usize = 256;
/// Every this many puts, the ring may spill to the pool (Go's `spillPeriod`).
pub const SPILL_PERIOD: u32 = 64;
/// At most this many entries spill at a time (Go's `spillMax`).
pub const SPILL_MAX: usize = 16;
/// Words of the pointer buffer a span scan collects into (the most pointer words a page holds).
const PTR_BUF: usize = PAGE_SIZE / PTR_SIZE;

/// A worker's span queue (Go's `spanQueue`, the local part): a FIFO ring, plus the buffer a span
/// scan collects pointers in (Go's `gcWork.ptrBuf`). Both are allocated on first use.
#[derive(Default)]
pub struct SpanQueue {
    ring: Option<Box<[usize; SPAN_RING]>>,
    /// Index of the oldest entry; `tail - head` entries are queued (wrapping counters).
    head: u32,
    tail: u32,
    puts_since_spill: u32,
    ptr_buf: Option<Box<[usize; PTR_BUF]>>,
}

impl core::fmt::Debug for SpanQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpanQueue").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl SpanQueue {
    /// Entries queued here.
    #[inline]
    pub fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head) as usize
    }

    /// Whether the ring is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    #[inline]
    fn ring(&mut self) -> &mut [usize; SPAN_RING] {
        self.ring.get_or_insert_with(|| Box::new([0; SPAN_RING]))
    }

    /// Add at the tail; false if the ring is full (Go's `putFast`).
    #[inline]
    fn put_fast(&mut self, s: usize) -> bool {
        if self.len() == SPAN_RING {
            return false;
        }
        let t = self.tail as usize % SPAN_RING;
        self.ring()[t] = s;
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// Take the oldest entry (Go's `tryGetFast`).
    #[inline]
    pub fn pop(&mut self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        let h = self.head as usize % SPAN_RING;
        let s = self.ring()[h];
        self.head = self.head.wrapping_add(1);
        Some(s)
    }

    /// Publish the `n` oldest entries to `pool` as batches (Go's `spanQueue.drain`); returns
    /// whether anything went.
    pub fn spill(&mut self, pool: &WorkPool, n: usize) -> bool {
        let mut left = n.min(self.len());
        let any = left > 0;
        while left > 0 {
            let mut b = pool.get_empty();
            while left > 0 && !b.is_full() {
                b.push(self.pop().expect("counted entries"));
                left -= 1;
            }
            pool.put_spans(b);
        }
        any
    }

    /// Queue a span entry (Go's `spanQueue.put`), spilling by Go's rule; returns whether
    /// entries were published to the pool.
    pub fn put(&mut self, pool: &WorkPool, s: usize) -> bool {
        if self.put_fast(s) {
            self.puts_since_spill += 1;
            if self.puts_since_spill >= SPILL_PERIOD {
                self.puts_since_spill = 0;
                let n = (self.len() / 2).min(SPILL_MAX);
                if n > 4 && !pool.has_spans() {
                    return self.spill(pool, n);
                }
            }
            return false;
        }
        self.spill(pool, SPAN_RING / 2);
        let ok = self.put_fast(s);
        debug_assert!(ok, "a ring with room after spilling half");
        true
    }

    /// Refill the ring from a batch of the pool and take its oldest entry (Go's
    /// `tryGetSpan`'s steal, see the module docs).
    pub fn refill(&mut self, pool: &WorkPool) -> Option<usize> {
        let mut b = pool.get_spans()?;
        while let Some(s) = b.pop() {
            // A batch holds at most WORKBUF_ENTRIES < SPAN_RING entries and the ring is empty.
            let ok = self.put_fast(s);
            debug_assert!(ok);
        }
        pool.put_empty(b);
        self.pop()
    }
}

const _: () = assert!(WORKBUF_ENTRIES < SPAN_RING);

/// An entry of a span queue (Go's `objptr`): the span's base with the index of the object that
/// queued it in the low bits (a page is 8 KiB and a span holds at most 504 objects).
#[inline(always)]
fn make_entry(span_base: usize, idx: usize) -> usize {
    debug_assert!(span_base & PAGE_MASK == 0 && idx < PAGE_SIZE);
    span_base | idx
}

/// Usable bytes of a span of `class` with an inline block: the page less the block and, for
/// scan spans, the pointer bitmap.
#[inline(always)]
fn usable_bytes(class: SpanClass) -> usize {
    PAGE_SIZE - SPAN_INLINE_MARK_BITS_SIZE - if class.noscan() { 0 } else { SPAN_HEAP_BITS_SIZE }
}

/// Objects of a span with an inline block, by the class's division magic as Go's `scanSpan`
/// computes it (no division on the marking path); equal to `class.objects_in(true)` (a unit
/// test checks every class).
#[inline(always)]
fn inline_nelems(class: SpanClass) -> usize {
    ((usable_bytes(class) as u64 * class.size_class().div_magic() as u64) >> 32) as usize
}

/// Green Tea's enqueue (Go's `tryDeferToSpanScan`). `None` when `ptr` is not in a span with an
/// inline mark block (the caller goes on with the classic path); else whether this call marked
/// an object (`false` for a span tail or an object already marked).
///
/// # Safety
/// - As for [`shade`](super::shade): `heap` is being marked by the collector whose work `gcw`
///   and `pool` hold, and `ptr` is a word from a root or a pointer slot.
#[inline]
pub unsafe fn try_defer_to_span_scan(
    heap: &MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    ptr: usize,
) -> Option<bool> {
    let arena = heap.arena_of(ptr)?;
    if !arena.uses_inline_marks(ptr) {
        return None;
    }
    let base = ptr & !PAGE_MASK;
    // SAFETY: the page bit is set only while the one-page span at `base` is InUse with its
    // block (it stays InUse while marking: the marking contract); heap pages stay mapped.
    let imb = unsafe { SpanInlineMarkBits::from_base(base) };
    let class = imb.class();
    let sc = class.size_class();
    let idx = (((ptr - base) as u64 * sc.div_magic() as u64) >> 32) as usize;
    if idx >= inline_nelems(class) {
        // The span's tail (past the last slot, or the bitmap and block themselves).
        return Some(false);
    }
    // SAFETY: marking is on (our contract); the span is queued below when this caller takes it.
    match unsafe { mark_in_block(imb, idx, class.noscan()) } {
        Marked::Already => Some(false),
        Marked::Black => {
            gcw.bytes_marked += sc.size() as u64;
            Some(true)
        }
        Marked::Queue => {
            gcw.put_span(pool, make_entry(base, idx));
            Some(true)
        }
        Marked::Owned => Some(true),
    }
}

/// What [`mark_in_block`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marked {
    /// The object was marked already.
    Already,
    /// Marked a noscan object: black at once.
    Black,
    /// Marked a scan object and took the span: the caller must queue it.
    Queue,
    /// Marked a scan object of a span someone else holds queued (or is about to scan).
    Owned,
}

/// The marker's half of the ownership handshake: set object `idx`'s inline mark, then (scan
/// spans) try to take the span ([`SpanInlineMarkBits::try_acquire`]). The body of
/// [`try_defer_to_span_scan`] once the block is found; the loom model runs it.
///
/// # Safety
/// - As for [`SpanInlineMarkBits::try_mark`]: a caller that gets [`Marked::Queue`] queues the
///   span (module invariants, "owned ⇒ queued somewhere").
#[inline(always)]
pub unsafe fn mark_in_block(imb: &SpanInlineMarkBits, idx: usize, noscan: bool) -> Marked {
    // SAFETY: our contract.
    if !unsafe { imb.try_mark(idx) } {
        return Marked::Already;
    }
    if noscan {
        Marked::Black
    } else if imb.try_acquire() {
        Marked::Queue
    } else {
        Marked::Owned
    }
}

/// The scanner's half of the handshake, the start of [`scan_span`]: release the span, then take
/// its grey objects into `objs` (bit i = object i): only the queued object `idx` if the span saw
/// one mark since it was queued, else every marked-but-unscanned object. Returns how many; each
/// is the caller's to scan (its scan bit is now set, by this call alone).
pub fn take_grey(
    imb: &SpanInlineMarkBits,
    idx: usize,
    nelems: usize,
    objs: &mut [u64; INLINE_WORDS],
) -> usize {
    if imb.release() == ONE_MARK {
        *objs = [0; INLINE_WORDS];
        if !imb.try_set_scanned(idx) {
            return 0;
        }
        objs[idx / 64] = 1 << (idx % 64);
        1
    } else {
        imb.set_scans(nelems, objs)
    }
}

/// The span's pointer bitmap, loaded once (16 words; bit `w` = word `w` of the page).
///
/// # Safety
/// - `base` is an InUse one-page scan span with an inline block, mapped.
#[inline]
unsafe fn load_ptr_mask(base: usize) -> [u64; 16] {
    let bits = base + PAGE_SIZE - SPAN_INLINE_MARK_BITS_SIZE - SPAN_HEAP_BITS_SIZE;
    let mut m = [0u64; 16];
    for (w, out) in m.iter_mut().enumerate() {
        // SAFETY: the bitmap is 16 aligned words inside the span's mapped page, accessed by
        // everyone as whole atomic words (allocation writes them with atomic stores); Relaxed
        // as in the allocator's `read_span_bits`: the bits of an object reached through an
        // acquire are visible.
        *out = unsafe { load_word(bits + w * PTR_SIZE) } as u64;
    }
    m
}

/// The pointer bits of the object at word `first` with `words` words (at most 64).
#[inline(always)]
fn object_bits(mask: &[u64; 16], first: usize, words: usize) -> u64 {
    let (w, o) = (first / 64, first % 64);
    let mut v = mask[w] >> o;
    if o + words > 64 && w + 1 < 16 {
        v |= mask[w + 1] << (64 - o);
    }
    if words < 64 {
        v &= (1u64 << words) - 1;
    }
    v
}

/// Call `f(first, bits)` for each object selected by `objs`, in address order: `first` is
/// the object's first word in the page, `bits` its pointer bits from `ptrs`.
#[inline(always)]
fn for_each_selected(
    objs: &[u64; INLINE_WORDS],
    words: usize,
    ptrs: &[u64; 16],
    mut f: impl FnMut(usize, u64),
) {
    for (w, &sel) in objs.iter().enumerate() {
        for_each_bit(sel, |b| {
            let i = w * 64 + b;
            f(i * words, object_bits(ptrs, i * words, words));
        });
    }
}

/// Call `f` with the index of each set bit of `bits`, lowest first.
#[inline(always)]
fn for_each_bit(mut bits: u64, mut f: impl FnMut(usize)) {
    while bits != 0 {
        f(bits.trailing_zeros() as usize);
        bits &= bits - 1;
    }
}

/// The first pass of Go's `scanObjectsSmall`: gather the addresses of the pointer slots of the
/// objects selected by `objs` into `buf`, with a prefetch each; returns how many. Adds each
/// object's pointer prefix to `scan_work`. The caller then loads and shades them.
fn gather_slots(
    base: usize,
    elemsize: usize,
    objs: &[u64; INLINE_WORDS],
    ptrs: &[u64; 16],
    buf: &mut [usize; PTR_BUF],
    scan_work: &mut u64,
) -> usize {
    let mut n = 0;
    for_each_selected(objs, elemsize / PTR_SIZE, ptrs, |first, bits| {
        *scan_work += ((64 - bits.leading_zeros()) as usize * PTR_SIZE) as u64;
        for_each_bit(bits, |k| {
            let a = base + (first + k) * PTR_SIZE;
            prefetch(a);
            buf[n] = a;
            n += 1;
        })
    });
    n
}

/// Scan a queued span (Go's `scanSpan`); see the module docs.
///
/// # Safety
/// - `entry` came from a span queue of this cycle (queued by [`try_defer_to_span_scan`] on
///   `heap`), and as for [`shade`](super::shade).
pub unsafe fn scan_span(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, entry: usize) {
    let base = entry & !PAGE_MASK;
    // SAFETY: a queued span is InUse with its block until marking ends (module invariants).
    let imb = unsafe { SpanInlineMarkBits::from_base(base) };
    let class = imb.class();
    debug_assert!(!class.noscan(), "noscan span {base:#x} in a span queue");
    let elemsize = class.size_class().size();
    let mut objs = [0u64; INLINE_WORDS];
    let nmarked = take_grey(imb, entry & PAGE_MASK, inline_nelems(class), &mut objs);
    if nmarked == 0 {
        return;
    }
    gcw.bytes_marked += (nmarked * elemsize) as u64;
    // SAFETY: the span is an InUse scan span with a block.
    let ptrs = unsafe { load_ptr_mask(base) };
    let mut buf = gcw.take_span_buf();
    let nelems = inline_nelems(class);
    let n = if nmarked < nelems / 8 {
        let mut work = 0;
        let n = gather_slots(base, elemsize, &objs, &ptrs, &mut buf, &mut work);
        gcw.heap_scan_work += work;
        for v in buf.iter_mut().take(n) {
            // SAFETY: `*v` is a gathered pointer slot of a selected object, which is marked,
            // so allocated (the marking contract), in the span's mapped page.
            *v = unsafe { load_word(*v) };
        }
        n
    } else {
        gcw.heap_scan_work += (nmarked * elemsize) as u64;
        // SAFETY: `base` is the page of an InUse one-page scan span of `elemsize`-byte objects
        // (16 to 512 bytes: it has a block); the words both masks select are pointer slots of
        // marked, so allocated, objects, which mutators write only with atomic stores; `objs`
        // holds no bit past the span's objects (`take_grey` masks them).
        unsafe { scan::scan_span_packed(base as *const u64, &mut buf, &objs, elemsize, &ptrs) }
    };
    // Pointers found in one span often share target spans, as the objects a scan finds do
    // (see `SpanCache`); the cache lives for this scan only, inside the cycle's marking.
    let mut cache = super::SpanCache::new();
    for &v in buf.iter().take(n) {
        if v != 0 {
            // SAFETY: our contract, which is shade's; the cache holds only spans of `heap`
            // found InUse by this scan.
            unsafe { super::shade_with(heap, gcw, pool, v, &mut cache) };
        }
    }
    gcw.put_span_buf(buf);
}

/// The pointer buffer of a span scan.
pub(crate) type SpanBuf = Box<[usize; PTR_BUF]>;

impl SpanQueue {
    pub(crate) fn take_buf(&mut self) -> SpanBuf {
        self.ptr_buf.take().unwrap_or_else(|| Box::new([0; PTR_BUF]))
    }
    pub(crate) fn put_buf(&mut self, b: SpanBuf) {
        self.ptr_buf = Some(b);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use gomem_allocator::sizeclass::{SizeClass, NUM_SIZE_CLASSES};

    fn inline_classes() -> impl Iterator<Item = SpanClass> {
        (1..NUM_SIZE_CLASSES)
            .flat_map(|c| {
                let sc = SizeClass::from_index(c).unwrap();
                [SpanClass::new(sc, false), SpanClass::new(sc, true)]
            })
            .filter(|spc| spc.uses_inline_marks())
    }

    #[test]
    fn division_magic_gives_each_inline_class_its_object_count() {
        let mut n = 0;
        for spc in inline_classes() {
            assert_eq!(inline_nelems(spc), spc.objects_in(true), "{spc:?}");
            // And the magic finds the right object for every offset of the usable area.
            let size = spc.size_class().size();
            for off in (0..usable_bytes(spc)).step_by(8) {
                let idx = ((off as u64 * spc.size_class().div_magic() as u64) >> 32) as usize;
                assert_eq!(idx, off / size, "{spc:?} offset {off}");
            }
            n += 1;
        }
        assert_eq!(n, 2 * 25, "16..=512 bytes: classes 2..=26, scan and noscan");
    }

    #[test]
    fn the_ring_is_fifo_and_spills_by_gos_rule() {
        let pool = WorkPool::new();
        let mut q = SpanQueue::default();
        for k in 0..SPILL_PERIOD as usize - 1 {
            assert!(!q.put(&pool, k << 13));
        }
        // The 64th put spills min(len / 2, 16) of the oldest, as the pool has no spans.
        assert!(q.put(&pool, 63 << 13));
        assert_eq!(q.len(), 64 - SPILL_MAX);
        assert!(pool.has_spans());
        assert_eq!(q.pop(), Some(SPILL_MAX << 13), "FIFO: the oldest left first");
        // A full ring gives half to the pool.
        let mut puts = 64 - 1;
        while q.len() < SPAN_RING {
            q.put(&pool, 1 << 13);
            puts += 1;
        }
        assert!(q.put(&pool, 2 << 13));
        puts += 1;
        assert_eq!(q.len(), SPAN_RING / 2 + 1);
        // Take everything back: nothing was lost.
        let mut n = 0;
        while q.pop().or_else(|| q.refill(&pool)).is_some() {
            n += 1;
        }
        assert_eq!(n, puts, "every entry put and not yet taken comes back once");
        assert!(pool.is_empty() && !pool.has_spans());
    }
}
