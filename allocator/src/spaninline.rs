//! Green Tea's inline mark block (Go's `spanInlineMarkBits` in `mgcmark_greenteagc.go`): 128
//! bytes at the end of the page of every one-page span of 16..=512-byte objects, when the heap
//! uses the Green Tea layout (`HeapConfig::span_inline_marks`, `GODEBUG=greenteagc=1`).
//!
//! # Layout
//!
//! ```text
//! page end - 128: scans[0..8]  (AtomicU64 × 8; the top byte of scans[7] is `owned`)
//! page end -  64: marks[0..8]  (AtomicU64 × 8; the top byte of marks[7] is the span class)
//! ```
//!
//! Bit `i` of word `i / 64` stands for object `i`; the top byte of word 7 is not an object bit,
//! so a block covers 7 × 64 + 56 = 504 objects, the most any such span holds (noscan 16-byte
//! objects: (8192 − 128) / 16). Go uses `[63]uint8` arrays and mixes `Or8` on single bytes with
//! `Or64` on whole words of the same memory; Rust sanctions no racing mixed-size atomics, so
//! every access here is to a whole `AtomicU64` and `owned` and the class are bit fields of the
//! last words. The heap bitmap of a scan span sits in the 128 bytes before the block
//! (`PAGE_SIZE - 256`, Go's `spanHeapBitsRange`).
//!
//! - **marks** are set by markers the first time they find an object (a pre-mark: "reached").
//! - **scans** are set by the one who scans the object (or by allocate-black, which sets both):
//!   `marks & !scans` is the set of grey objects of the span.
//! - **owned** (Go's `spanScanOwnership`) says whether the span is queued for a span scan:
//!   [`UNOWNED`], [`ONE_MARK`] (one object was marked since it was queued) or with
//!   [`MANY_MARK`] set (possibly more). Only the marker that moves it from [`UNOWNED`] queues
//!   the span ([`SpanInlineMarkBits::try_acquire`]); the scanner moves it back first
//!   ([`SpanInlineMarkBits::release`]), then reads the marks.
//!
//! # Invariants
//!
//! - The block is written non-atomically only by `init_span` while the span is unpublished
//!   (or, here, with relaxed atomic stores before the span's objects are handed out), and
//!   reset by the sweep owner ([`SpanInlineMarkBits::move_marks`]) when no marker runs.
//! - The class byte never changes while the span is in use.
//! - The ownership handshake: a marker sets the object's mark bit *and then* performs a
//!   read-modify-write with release ordering on the `owned` word; a scanner performs its
//!   release as a read-modify-write with acquire ordering *and then* reads the marks. Both sides
//!   are RMWs of one location, so they are totally ordered: either the marker's RMW comes after
//!   the release (it finds [`UNOWNED`] and queues the span itself), or before (the release
//!   reads from it or a later RMW in its release sequence, so the scanner sees the mark). Go
//!   gets the same from sequentially consistent `Or8`/`Load8`/`Xchg8`; the form with a plain
//!   load of `owned` on the marker's side would be a store-buffering race that loses marks
//!   (`collector/tests/loom_greentea.rs` shows both).

use crate::consts::PAGE_SIZE;
use crate::mheap::MHeap;
use crate::mspan::MSpan;
use crate::sizeclass::SpanClass;
use crate::sync::{AtomicU64, Ordering};

/// Bytes of the inline block (Go's `unsafe.Sizeof(spanInlineMarkBits{})`).
pub const SPAN_INLINE_MARK_BITS_SIZE: usize = 128;
/// Words of marks (and of scans) in the block.
pub const INLINE_WORDS: usize = 8;
/// Object bits a block can hold (the top byte of the last word is not one).
pub const INLINE_MAX_OBJS: usize = INLINE_WORDS * 64 - 8;
/// Shift of `owned` in `scans[7]` and of the class in `marks[7]`.
const TOP_SHIFT: u32 = 56;
/// The top byte of the last word.
const TOP_MASK: u64 = 0xff << TOP_SHIFT;

/// `owned`: no one holds the span queued (Go's `spanScanUnowned`).
pub const UNOWNED: u8 = 0;
/// `owned`: queued, and one object marked since (Go's `spanScanOneMark`).
pub const ONE_MARK: u8 = 1;
/// `owned` bit: queued, and possibly several objects marked since (Go's `spanScanManyMark`).
pub const MANY_MARK: u8 = 2;

/// The block (Go's `spanInlineMarkBits`). See the module docs.
#[doc(alias = "spanInlineMarkBits")]
#[derive(Debug)]
#[repr(C, align(64))]
pub struct SpanInlineMarkBits {
    scans: [AtomicU64; INLINE_WORDS],
    marks: [AtomicU64; INLINE_WORDS],
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<SpanInlineMarkBits>() == SPAN_INLINE_MARK_BITS_SIZE);
const _: () = assert!(INLINE_MAX_OBJS >= (PAGE_SIZE - SPAN_INLINE_MARK_BITS_SIZE) / 16);

impl Default for SpanInlineMarkBits {
    fn default() -> Self {
        Self::new()
    }
}

/// The bits of word `w` that stand for objects `< nelems` (never the top byte of word 7).
#[inline(always)]
pub fn valid_mask(nelems: usize, w: usize) -> u64 {
    let left = nelems.saturating_sub(w * 64);
    let m = if left >= 64 { !0 } else { (1u64 << left) - 1 };
    if w == INLINE_WORDS - 1 {
        m & !TOP_MASK
    } else {
        m
    }
}

impl SpanInlineMarkBits {
    /// A zeroed block outside any span (for models and tests; real blocks live in the page).
    pub fn new() -> Self {
        SpanInlineMarkBits {
            scans: core::array::from_fn(|_| AtomicU64::new(0)),
            marks: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The block of the one-page span at `base` (Go's `spanInlineMarkBitsFromBase`).
    ///
    /// # Safety
    /// - `base` is the first byte of a mapped one-page span whose last 128 bytes are this
    ///   block (a span of [`SpanClass::uses_inline_marks`] in a heap with the Green Tea layout),
    ///   and the span stays mapped for `'a` (heap pages are never unmapped while the heap
    ///   lives).
    #[cfg(not(loom))]
    #[inline(always)]
    pub unsafe fn from_base<'a>(base: usize) -> &'a SpanInlineMarkBits {
        // SAFETY: the caller's guarantee; the block is 64-aligned (the page is) and an array of
        // AtomicU64, which has u64's layout, so any bit pattern is a valid value.
        unsafe { &*((base + PAGE_SIZE - SPAN_INLINE_MARK_BITS_SIZE) as *const SpanInlineMarkBits) }
    }

    /// Under loom there are no heap pages to hold blocks (loom's atomics cannot live in mapped
    /// memory), and no model reaches a heap page: the collector's models shade only words
    /// outside every arena. Reaching this is a bug in a model.
    ///
    /// # Safety
    /// - None needed; it panics.
    #[cfg(loom)]
    pub unsafe fn from_base<'a>(base: usize) -> &'a SpanInlineMarkBits {
        panic!("SpanInlineMarkBits::from_base({base:#x}) under loom: models have no heap pages")
    }

    /// Clear every bit and write `class` (Go's `spanInlineMarkBits.init`). Relaxed stores: the
    /// span is not yet published to markers, or marking is over (module invariants).
    pub fn init(&self, class: SpanClass) {
        for w in 0..INLINE_WORDS {
            self.scans[w].store(0, Ordering::Relaxed);
            self.marks[w].store(0, Ordering::Relaxed);
        }
        self.marks[INLINE_WORDS - 1].store((class.index() as u64) << TOP_SHIFT, Ordering::Relaxed);
    }

    /// The span class written by [`SpanInlineMarkBits::init`].
    #[inline(always)]
    pub fn class(&self) -> SpanClass {
        let i = (self.marks[INLINE_WORDS - 1].load(Ordering::Relaxed) >> TOP_SHIFT) as usize;
        SpanClass::from_index(i).unwrap_or(SpanClass::new(crate::sizeclass::SizeClass::LARGE, true))
    }

    /// Set object `i`'s mark bit; true if this call set it (Go's `Load8` test, then `Or8`).
    ///
    /// # Safety
    /// - As for [`MSpan::try_mark`](crate::mspan::MSpan::try_mark): the heap is being marked,
    ///   and a caller that gets true makes the object reach a scan (through
    ///   [`SpanInlineMarkBits::try_acquire`] and a queue), unless the span is noscan.
    #[inline(always)]
    pub unsafe fn try_mark(&self, i: usize) -> bool {
        debug_assert!(i < INLINE_MAX_OBJS);
        let bit = 1u64 << (i % 64);
        let w = &self.marks[i / 64];
        // Relaxed: a stale "clear" only sends us to the RMW.
        if w.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        // ORDERING: Relaxed; the mark is published to a scanner by the Release RMW on `owned`
        // that follows it in `try_acquire` (module invariants, the handshake).
        w.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Whether object `i` is marked.
    #[inline]
    pub fn is_marked(&self, i: usize) -> bool {
        self.marks[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Whether object `i` is scanned (or was allocated black).
    #[inline]
    pub fn is_scanned(&self, i: usize) -> bool {
        self.scans[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Word `w` of the marks, restricted to objects `< nelems`.
    #[inline]
    pub fn mark_word(&self, w: usize, nelems: usize) -> u64 {
        self.marks[w].load(Ordering::Relaxed) & valid_mask(nelems, w)
    }

    /// OR `bits` (objects `64 * w ..`) into the marks: [`SpanInlineMarkBits::try_mark`] of
    /// each, without queueing. Bits of the class byte are dropped.
    ///
    /// # Safety
    /// - As for [`MSpan::set_mark_bits`](crate::mspan::MSpan::set_mark_bits).
    pub unsafe fn set_mark_bits(&self, w: usize, bits: u64) {
        let bits = if w == INLINE_WORDS - 1 { bits & !TOP_MASK } else { bits };
        // ORDERING: Relaxed, as in `try_mark`.
        self.marks[w].fetch_or(bits, Ordering::Relaxed);
    }

    /// Allocate-black object `i` (Go's `gcmarknewobject` for such spans): scanned first, then
    /// marked, so that no span scan ever takes it for grey ("No need to scan the new object").
    ///
    /// # Safety
    /// - The heap is being marked and `i` is an object just allocated (it holds no pointers).
    #[inline]
    pub unsafe fn set_marked_and_scanned(&self, i: usize) {
        let bit = 1u64 << (i % 64);
        // Relaxed: allocate-black orders no memory; the object is empty.
        self.scans[i / 64].fetch_or(bit, Ordering::Relaxed);
        self.marks[i / 64].fetch_or(bit, Ordering::Relaxed);
    }

    /// The current `owned` value.
    #[inline]
    pub fn owned(&self) -> u8 {
        (self.scans[INLINE_WORDS - 1].load(Ordering::Relaxed) >> TOP_SHIFT) as u8
    }

    /// OR `v` into `owned` and return the old `owned`.
    #[inline(always)]
    fn owned_or(&self, v: u8) -> u8 {
        // ORDERING: AcqRel; the Release half publishes the mark this marker set just before
        // to the scanner whose `release` reads from this RMW (module invariants, the
        // handshake); Acquire keeps the RMW chain a clean hand-over both ways.
        (self.scans[INLINE_WORDS - 1].fetch_or((v as u64) << TOP_SHIFT, Ordering::AcqRel)
            >> TOP_SHIFT) as u8
    }

    /// After setting a mark, try to take the span for queueing (Go's `tryAcquire`): true only
    /// for the caller that moves `owned` from [`UNOWNED`], which must then queue the span.
    /// Always an RMW, even when the span is already owned by someone (Go loads first and skips
    /// the RMW when it sees [`MANY_MARK`], which is sound only with sequentially consistent
    /// accesses on both sides; see the module docs).
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let old = self.owned_or(ONE_MARK);
        if old == UNOWNED {
            return true;
        }
        if old & MANY_MARK == 0 {
            // It was ONE_MARK: say "many". If the scanner released in between, this RMW finds
            // the span unowned and this caller owns it now.
            return self.owned_or(MANY_MARK) == UNOWNED;
        }
        false
    }

    /// Loom-only: [`SpanInlineMarkBits::try_acquire`] done wrongly, with a load and a store of
    /// `owned` instead of read-modify-writes (what Go's `ManyMark` fast path amounts to without
    /// sequentially consistent atomics), for the model that shows the handshake then loses a
    /// mark (`collector/tests/loom_greentea.rs`). Not compiled outside `--cfg loom`.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn try_acquire_load_store(&self) -> bool {
        let w = &self.scans[INLINE_WORDS - 1];
        // ORDERING: Acquire/Release, the strongest a load and a store can have; still not
        // enough (that is what the model shows).
        let old = w.load(Ordering::Acquire);
        w.store(old | ((ONE_MARK | MANY_MARK) as u64) << TOP_SHIFT, Ordering::Release);
        (old >> TOP_SHIFT) as u8 == UNOWNED
    }

    /// Give up ownership before scanning (Go's `release`, an `Xchg8`): returns the old `owned`.
    /// From here on a new mark re-queues the span.
    #[inline]
    pub fn release(&self) -> u8 {
        // ORDERING: AcqRel; the Acquire half pairs with the Release of every marker's
        // `try_acquire` RMW before it, so the marks those markers set are visible to the
        // loads of `set_scans` that follow (module invariants, the handshake).
        (self.scans[INLINE_WORDS - 1].fetch_and(!TOP_MASK, Ordering::AcqRel) >> TOP_SHIFT) as u8
    }

    /// Set the scan bit of object `i`; true if this call set it.
    #[inline]
    pub fn try_set_scanned(&self, i: usize) -> bool {
        let bit = 1u64 << (i % 64);
        let w = &self.scans[i / 64];
        if w.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        // ORDERING: Relaxed; the scan bit only arbitrates which scanner scans the object.
        w.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Take the grey objects of the span (Go's `spanSetScans`): for each word, `marks & !scans`
    /// is ORed into the scans and written to `to_scan`; returns how many objects that is.
    /// Objects another scanner took in the meantime (whose scan bit the OR found set) are left
    /// out, so every object is scanned and counted once.
    pub fn set_scans(&self, nelems: usize, to_scan: &mut [u64; INLINE_WORDS]) -> usize {
        let mut n = 0;
        for (w, out) in to_scan.iter_mut().enumerate() {
            if w * 64 >= nelems {
                *out = 0;
                continue;
            }
            let valid = valid_mask(nelems, w);
            let marks = self.marks[w].load(Ordering::Relaxed) & valid;
            let scans = self.scans[w].load(Ordering::Relaxed);
            let mut grey = marks & !scans;
            if grey != 0 {
                // ORDERING: Relaxed, as in `try_set_scanned`.
                grey &= !self.scans[w].fetch_or(grey, Ordering::Relaxed);
            }
            *out = grey;
            n += grey.count_ones() as usize;
        }
        n
    }

    /// OR the marks of objects `< nelems` into `dst` (bit `i` of word `i / 64` is object `i`)
    /// and reset the block for the next cycle (Go's `moveInlineMarks`). Called by the sweep.
    ///
    /// # Safety
    /// - No marker runs on this span (marking is over) and the caller owns it for sweeping.
    pub unsafe fn move_marks(&self, dst: &[AtomicU64], nelems: usize, class: SpanClass) {
        for (w, d) in dst.iter().enumerate().take(INLINE_WORDS) {
            let m = self.mark_word(w, nelems);
            if m != 0 {
                // Relaxed: the sweep owner is the only one touching these bits now.
                d.fetch_or(m, Ordering::Relaxed);
            }
        }
        self.init(class);
    }
}

impl MSpan {
    /// Whether the span keeps Green Tea's inline mark block (Go's
    /// `gcUsesSpanInlineMarkBits(s.elemsize)` in a Green Tea build, decided per heap here).
    #[inline(always)]
    pub fn has_inline_marks(&self) -> bool {
        self.inline_marks.load(Ordering::Relaxed)
    }

    /// The inline mark block of a span with [`MSpan::has_inline_marks`] (Go's
    /// `inlineMarkBits`). Meaningless for other spans (debug builds assert).
    #[inline(always)]
    pub fn inline_mark_bits(&self) -> &SpanInlineMarkBits {
        debug_assert!(self.has_inline_marks());
        // SAFETY: the span has the block (the heap reserved it in `init_span`) in its one
        // mapped page; heap pages stay mapped while the heap, which owns `self`, lives.
        #[cfg(not(loom))]
        return unsafe { SpanInlineMarkBits::from_base(self.base()) };
        #[cfg(loom)]
        return &self.loom_inline;
    }

    /// Write the class and clear the block of a span being initialised, if it has one (Go's
    /// `initInlineMarkBits`, called by `initSpan`).
    pub(crate) fn init_inline_mark_bits(&self, class: SpanClass) {
        if self.has_inline_marks() {
            self.inline_mark_bits().init(class);
        }
    }

    /// Allocate slot `i` black (Go's `gcmarknewobject`): its mark bit, and for a span with an
    /// inline block also its scan bit, so that no span scan takes it for grey.
    ///
    /// # Safety
    /// - The heap is being marked (allocate-black is on) and slot `i` was just allocated: it
    ///   holds no pointers yet, so it is black at once and needs no queueing.
    #[inline]
    pub unsafe fn mark_allocated(&self, i: usize) {
        if self.has_inline_marks() {
            // SAFETY: the caller's contract.
            unsafe { self.inline_mark_bits().set_marked_and_scanned(i) };
        } else {
            // SAFETY: the caller's contract; a new object needs no scan.
            unsafe { self.try_mark(i) };
        }
    }

    /// At the start of a sweep, fold this cycle's inline marks into the span's mark bits and
    /// reset the block for the next cycle (Go's `moveInlineMarks`); nothing for other spans.
    ///
    /// # Safety
    /// - As for [`MSpan::sweep`]: marking is over and the caller owns the span for sweeping.
    pub(crate) unsafe fn move_inline_marks(&self) {
        if self.has_inline_marks() {
            // SAFETY: the caller's contract.
            unsafe {
                self.inline_mark_bits().move_marks(
                    &self.gcmark_bits,
                    self.nelems(),
                    self.spanclass(),
                )
            };
        }
    }
}

impl MHeap {
    /// Whether this heap's small spans use Green Tea's layout
    /// ([`HeapConfig::span_inline_marks`](crate::mheap::HeapConfig::span_inline_marks)).
    #[inline(always)]
    pub fn span_inline_marks(&self) -> bool {
        self.span_inline_marks
    }
}

/// Whether any word of `objs` has a bit set.
#[inline]
pub fn any(objs: &[u64; INLINE_WORDS]) -> bool {
    objs.iter().any(|&w| w != 0)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sizeclass::SizeClass;

    fn class16() -> SpanClass {
        SpanClass::new(SizeClass::for_size(16).unwrap(), false)
    }

    #[test]
    fn class_and_owned_live_in_the_top_bytes_and_are_not_objects() {
        let b = SpanInlineMarkBits::new();
        b.init(class16());
        assert_eq!(b.class(), class16());
        assert!(b.try_acquire());
        assert_eq!(b.owned(), ONE_MARK);
        let mut to = [0; INLINE_WORDS];
        // No object is marked: the class and owned bytes are not taken for marks.
        assert_eq!(b.set_scans(INLINE_MAX_OBJS, &mut to), 0);
        assert!(!any(&to));
        assert_eq!(b.release(), ONE_MARK);
        assert_eq!(b.class(), class16(), "release keeps the class");
    }

    #[test]
    fn ownership_goes_unowned_one_many() {
        let b = SpanInlineMarkBits::new();
        assert!(b.try_acquire(), "the first finder owns it");
        assert!(!b.try_acquire(), "the second does not");
        assert_eq!(b.owned() & MANY_MARK, MANY_MARK);
        assert!(!b.try_acquire());
        assert_ne!(b.release(), ONE_MARK, "several marks: a full span scan");
        assert_eq!(b.owned(), UNOWNED);
        assert!(b.try_acquire(), "after release the next finder queues it again");
        assert_eq!(b.release(), ONE_MARK);
    }

    #[test]
    fn set_scans_takes_marked_but_unscanned_once() {
        let b = SpanInlineMarkBits::new();
        b.init(class16());
        let n = 496;
        // SAFETY: a block of our own; no collector.
        unsafe {
            for i in [0, 1, 63, 64, 200, 447, 448, 495] {
                assert!(b.try_mark(i));
                assert!(!b.try_mark(i));
            }
            b.set_marked_and_scanned(5);
        }
        assert!(b.try_set_scanned(1));
        assert!(!b.try_set_scanned(1));
        let mut to = [0; INLINE_WORDS];
        assert_eq!(b.set_scans(n, &mut to), 7);
        let got: Vec<usize> =
            (0..n).filter(|&i| to[i / 64] & (1 << (i % 64)) != 0).collect::<Vec<_>>();
        assert_eq!(got, vec![0, 63, 64, 200, 447, 448, 495]);
        assert_eq!(b.set_scans(n, &mut to), 0, "nothing is grey twice");
        // The sweep folds the marks (with the black allocation) and resets the block.
        let dst: Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
        // SAFETY: no marker runs.
        unsafe { b.move_marks(&dst, n, class16()) };
        let folded: Vec<usize> = (0..n)
            .filter(|&i| dst[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
            .collect();
        assert_eq!(folded, vec![0, 1, 5, 63, 64, 200, 447, 448, 495]);
        assert!((0..n).all(|i| !b.is_marked(i) && !b.is_scanned(i)));
        assert_eq!(b.class(), class16());
    }

    #[test]
    fn valid_mask_stops_at_nelems_and_before_the_top_byte() {
        assert_eq!(valid_mask(496, 0), !0);
        assert_eq!(valid_mask(496, 7), (1 << 48) - 1);
        assert_eq!(valid_mask(504, 7), (1 << 56) - 1);
        assert_eq!(valid_mask(10, 1), 0);
        assert_eq!(valid_mask(15, 0), (1 << 15) - 1);
    }
}
