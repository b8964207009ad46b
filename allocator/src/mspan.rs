// This file is long because a span's bitmaps, its sweep and its heap bits are one
// ownership protocol (see the invariants below) that reads best in one place; Go spreads it
// over `mheap.go`, `mbitmap.go` and `mgcsweep.go`.

//! Spans: runs of pages holding objects of one span class (Go's `mspan` in `mheap.go`, its
//! bitmap helpers in `mbitmap.go`, and `sweepLocked.sweep` in `mgcsweep.go`). See the crate docs
//! for the overview.
//!
//! A small-object span is an array of `nelems` equal slots. Which slots are free is known from
//! three things together:
//! - `alloc_bits`: one bit per slot, 1 = allocated *as of the last sweep*;
//! - `freeindex`: every slot below it is allocated (allocation only moves forward);
//! - `alloc_cache`: the complement of the 64 alloc bits of the 64-slot group holding `freeindex`,
//!   shifted so bit 0 is `freeindex`. The fast path ([`MSpan::next_free_fast`]) is one
//!   count-trailing-zeros on it: no lock, no atomic read-modify-write.
//!
//! Sweeping makes the mark bits the new alloc bits, clears the marks and resets `freeindex`, so
//! freeing costs nothing per object.
//!
//! # Ownership (who may touch what)
//!
//! - Geometry (`start_addr`, `npages`, `elemsize`, `nelems`, `limit`, `spanclass`, `div_mul`)
//!   is written only by the heap while the span is not visible (state `Dead`), then published by
//!   the release store of `state`. Anyone may read it; it is stored in relaxed atomics so a
//!   reader holding a stale span pointer races with nothing undefined.
//! - The allocation state in [`SpanLocal`] belongs to exactly one party at a time: the P whose
//!   [`MCache`](crate::mcache::MCache) caches the span, the sweeper that won the sweepgen CAS,
//!   or the heap under its lock while the span is `Dead`. Hand-over between them always passes
//!   through an acquire/release pair (span-set push/pop, the sweepgen CAS, or the heap lock).
//! - `alloc_bits` change only during sweeping; the collector may read them at any other time.
//! - `gcmark_bits` are set by markers with atomic OR and read/cleared by the sweep owner.
//!
//! # sweepgen (Go's table, relative to the heap's `sweepgen` `sg`, which grows by 2 per cycle)
//!
//! | span sweepgen | meaning                                               |
//! |---------------|-------------------------------------------------------|
//! | `sg - 2`      | needs sweeping                                        |
//! | `sg - 1`      | being swept (someone won the CAS)                     |
//! | `sg`          | swept and ready to use                                |
//! | `sg + 1`      | cached by a P before this sweep began; needs sweeping |
//! | `sg + 3`      | swept, then cached by a P                             |

#[cfg(loom)]
use crate::consts::SPAN_HEAP_BITS_SIZE;
use crate::consts::{PAGE_SIZE, PTR_SIZE};
use crate::sizeclass::SpanClass;
#[cfg(loom)]
use crate::spaninline::SpanInlineMarkBits;
use crate::spaninline::INLINE_WORDS;
use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
use crate::sync::{Ordering, UnsafeCell};
use crate::typedesc::TypeDesc;
use core::ptr::NonNull;

mod geom;
pub use geom::{HeapObject, SpanGeom};

/// Words of alloc/mark bitmap kept per span: enough for the largest `nelems` (1024).
pub const SPAN_BITMAP_WORDS: usize = crate::consts::MAX_OBJS_PER_SPAN / 64;

/// The pattern `clobberfree` writes over freed objects (Go's `0xdeadbeef`, in every word).
pub const CLOBBER_PATTERN: u64 = 0xdead_beef_dead_beef;

/// A span's state (Go's `mSpanState`), published with release ordering after every other field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum SpanState {
    /// Not in use: free pages, or a span struct waiting in the free list (`mSpanDead`).
    Dead = 0,
    /// Holds heap objects (`mSpanInUse`).
    InUse = 1,
    /// Manually managed memory, e.g. collector work buffers (`mSpanManual`).
    Manual = 2,
}

/// The allocation state of a span, owned by one party at a time (see the module docs).
///
/// The fast path reads and writes only the first four fields, which share one cache line
/// (the span's fourth; see [`MSpan`]).
#[derive(Debug, Default)]
#[repr(C)]
pub struct SpanLocal {
    /// Next slot to consider (Go's `freeindex`); all slots below it are allocated.
    pub freeindex: usize,
    /// Complemented alloc bits from `freeindex` on (Go's `allocCache`).
    pub alloc_cache: u64,
    /// Allocated slots (Go's `allocCount`).
    pub alloc_count: usize,
    /// The span's first byte: a copy of its `start_addr` (which never changes while the span
    /// is in use), so that the fast path finds a slot's address without reading the span's
    /// first line.
    pub base: usize,
    /// Whether free slots may hold old data and must be zeroed when handed out (`needzero`).
    pub needzero: bool,
    /// `alloc_count` when the span was given to an mcache (`allocCountBeforeCache`).
    pub alloc_count_before_cache: usize,
    /// The span was found empty by a sweep and kept on its central list instead of going back
    /// to the page heap, and no P has cached it since (gomem's; Go has no such state). The next
    /// sweep that finds it still empty frees it. See "Keeping empty spans" in the crate docs.
    pub kept_empty: bool,
    /// Link in the span-struct free list or a P's span-struct cache (heap lock or owner P).
    pub next: Option<NonNull<MSpan>>,
}

/// A run of pages (Go's `mspan`).
///
/// The layout is fixed (`repr(C)`, cache-line aligned) so that marking touches as few lines as
/// possible: finding an object and setting its mark bit reads `start_addr`, `limit`,
/// `elemsize`, `div_mul`, `spanclass` and `state`, which share the first 64-byte line with the
/// first two words of `gcmark_bits` (all the mark bits of a span of 128 or fewer objects, i.e.
/// every size class from 64 bytes up). Left to itself the compiler put the bitmaps first and
/// these fields four lines further on. The allocation state (`local`) starts the fourth line,
/// so the allocation fast path touches that one line of the span and no other.
#[doc(alias = "mspan")]
#[derive(Debug)]
#[repr(C, align(64))]
pub struct MSpan {
    start_addr: AtomicUsize,
    limit: AtomicUsize,
    elemsize: AtomicUsize,
    nelems: AtomicUsize,
    div_mul: AtomicU32,
    spanclass: AtomicU8,
    state: AtomicU8,
    /// Green Tea's inline mark block is at the end of the page ([`crate::spaninline`]; its
    /// marks are folded into `gcmark_bits` by the sweep). Geometry (written by `init`).
    pub(crate) inline_marks: AtomicBool,
    /// See the module's sweepgen table.
    sweepgen: AtomicU32,
    pub(crate) gcmark_bits: [AtomicU64; SPAN_BITMAP_WORDS],
    npages: AtomicUsize,
    /// Type of a large object's value (Go's `largeType`); null for small spans and noscan.
    large_type: AtomicPtr<TypeDesc>,
    local: UnsafeCell<SpanLocal>,
    alloc_bits: [AtomicU64; SPAN_BITMAP_WORDS],
    /// Under loom, a one-page scan span's pointer bitmap lives here instead of in the last 128
    /// bytes of its page: loom's atomics cannot live in mapped memory, and the loom models'
    /// spans have none.
    #[cfg(loom)]
    loom_heap_bits: [AtomicU64; SPAN_HEAP_BITS_SIZE / 8],
    /// Under loom, the inline mark block, for the same reason as `loom_heap_bits`.
    #[cfg(loom)]
    pub(crate) loom_inline: SpanInlineMarkBits,
}

// The first line holds the lookup fields and the first two mark words; the fast path's fields
// lie in one line of their own (see above).
#[cfg(not(loom))]
const _: () = assert!(core::mem::offset_of!(MSpan, gcmark_bits) == 48);
#[cfg(not(loom))]
const _: () = assert!(
    core::mem::offset_of!(MSpan, local) == 192
        && core::mem::offset_of!(SpanLocal, base) + 8 <= 64
        && core::mem::size_of::<MSpan>() == 384
);

// SAFETY: all shared fields are atomics; `local` is accessed only by its current owner under the
// hand-over protocol in the module docs.
unsafe impl Sync for MSpan {}
// SAFETY: as above; a span carries no thread-bound state.
unsafe impl Send for MSpan {}

/// What sweeping one span found (the mechanism's report; the heap acts on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Objects still allocated (marked).
    pub live: usize,
    /// Objects freed by this sweep.
    pub freed: usize,
    /// Marked slots that were not allocated: a pointer to a free object reached the collector
    /// (Go's "found pointer to free object"). Non-zero means heap corruption.
    pub zombies: usize,
}

/// Geometry of a span being initialised.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanInit {
    pub base: usize,
    pub npages: usize,
    pub spanclass: SpanClass,
    pub elemsize: usize,
    pub nelems: usize,
    pub limit: usize,
    pub div_mul: u32,
    pub sweepgen: u32,
    pub needzero: bool,
    /// Keep Green Tea's inline mark block (the heap's layout and the class allow it).
    pub inline_marks: bool,
}

/// The bits of 64-slot group `who` that stand for real slots of a span of `nelems` slots.
#[inline(always)]
fn group_mask(nelems: usize, who: usize) -> u64 {
    let left = nelems.saturating_sub(who * 64);
    if left >= 64 {
        !0
    } else {
        (1u64 << left) - 1
    }
}

#[inline(always)]
fn shr(x: u64, n: usize) -> u64 {
    if n >= 64 {
        0
    } else {
        x >> n
    }
}

impl Default for MSpan {
    fn default() -> Self {
        Self::new()
    }
}

/// Loom-only: spans for the models of other crates (`collector/tests/loom_sweep.rs`), which
/// cannot build one ([`SpanInit`] and `init` are crate-private). Not compiled outside
/// `--cfg loom`, so no program can reach it.
#[cfg(loom)]
impl MSpan {
    /// A one-page span of 16-byte scan objects (64 of them share a mark word), `InUse`, at
    /// sweepgen 4, with no memory behind it, at an address no arena can hold; leaked.
    #[doc(hidden)]
    pub fn loom_toy_span() -> &'static MSpan {
        use crate::sizeclass::SizeClass;
        let s: &'static MSpan = Box::leak(Box::new(MSpan::new()));
        let spc = SpanClass::new(SizeClass::for_size(16).expect("class"), false);
        let sc = spc.size_class();
        let base = 1usize << 50;
        // SAFETY: the span is new and ours alone.
        unsafe {
            s.init(SpanInit {
                base,
                npages: 1,
                spanclass: spc,
                elemsize: sc.size(),
                nelems: spc.objects(),
                limit: base + spc.objects() * sc.size(),
                div_mul: sc.div_magic(),
                sweepgen: 4,
                needzero: false,
                inline_marks: false,
            });
        }
        s.publish(SpanState::InUse);
        s
    }
}

impl MSpan {
    /// A dead span struct with no pages.
    pub fn new() -> MSpan {
        MSpan {
            start_addr: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            elemsize: AtomicUsize::new(0),
            nelems: AtomicUsize::new(0),
            div_mul: AtomicU32::new(0),
            spanclass: AtomicU8::new(0),
            state: AtomicU8::new(SpanState::Dead as u8),
            inline_marks: AtomicBool::new(false),
            sweepgen: AtomicU32::new(0),
            large_type: AtomicPtr::new(core::ptr::null_mut()),
            alloc_bits: core::array::from_fn(|_| AtomicU64::new(0)),
            gcmark_bits: core::array::from_fn(|_| AtomicU64::new(0)),
            local: UnsafeCell::new(SpanLocal::default()),
            #[cfg(loom)]
            loom_heap_bits: core::array::from_fn(|_| AtomicU64::new(0)),
            #[cfg(loom)]
            loom_inline: SpanInlineMarkBits::new(),
        }
    }

    /// Set the geometry and reset every bitmap of a span that nobody else can see yet
    /// (Go's `mheap.initSpan` minus the arena map, which the heap writes). The state is left
    /// `Dead`; [`MSpan::publish`] makes it visible.
    ///
    /// # Safety
    /// - The caller exclusively owns this span struct (it is `Dead` and reachable by no one
    ///   else except stale readers of geometry, which only ever load atomics).
    pub(crate) unsafe fn init(&self, i: SpanInit) {
        self.start_addr.store(i.base, Ordering::Relaxed);
        self.npages.store(i.npages, Ordering::Relaxed);
        self.limit.store(i.limit, Ordering::Relaxed);
        self.elemsize.store(i.elemsize, Ordering::Relaxed);
        self.nelems.store(i.nelems, Ordering::Relaxed);
        self.div_mul.store(i.div_mul, Ordering::Relaxed);
        self.spanclass.store(i.spanclass.index() as u8, Ordering::Relaxed);
        self.sweepgen.store(i.sweepgen, Ordering::Relaxed);
        self.inline_marks.store(i.inline_marks, Ordering::Relaxed);
        self.large_type.store(core::ptr::null_mut(), Ordering::Relaxed);
        for w in 0..SPAN_BITMAP_WORDS {
            self.alloc_bits[w].store(0, Ordering::Relaxed);
            self.gcmark_bits[w].store(0, Ordering::Relaxed);
        }
        // SAFETY: the caller owns the span exclusively.
        unsafe {
            self.with_local(|l| {
                l.freeindex = 0;
                l.base = i.base;
                l.alloc_cache = group_mask(i.nelems, 0);
                l.alloc_count = 0;
                l.needzero = i.needzero;
                l.alloc_count_before_cache = 0;
                l.kept_empty = false;
                l.next = None;
            })
        };
    }

    /// Publish the span with `state` (Go's `state.set` after `initSpan`). Pairs with the
    /// acquire load in [`MSpan::state`].
    pub(crate) fn publish(&self, state: SpanState) {
        // ORDERING: Release; pairs with the Acquire in `MSpan::state`, so a reader that sees
        // InUse also sees the geometry written by `init`.
        self.state.store(state as u8, Ordering::Release);
    }

    /// The span's state. Load this first when holding a pointer that may be stale.
    #[inline]
    pub fn state(&self) -> SpanState {
        // ORDERING: Acquire; pairs with the Release in `MSpan::publish`.
        match self.state.load(Ordering::Acquire) {
            1 => SpanState::InUse,
            2 => SpanState::Manual,
            _ => SpanState::Dead,
        }
    }

    /// Run `f` on the owner-only allocation state.
    ///
    /// # Safety
    /// - The caller is the span's current owner (module docs, "Ownership"), and `f` does not
    ///   re-enter `with_local` on the same span.
    #[inline(always)]
    pub unsafe fn with_local<R>(&self, f: impl FnOnce(&mut SpanLocal) -> R) -> R {
        // SAFETY: the caller is the only party touching `local` right now.
        self.local.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// First byte of the span (Go's `base()`).
    #[inline(always)]
    pub fn base(&self) -> usize {
        self.start_addr.load(Ordering::Relaxed)
    }
    /// Pages in the span.
    #[inline(always)]
    pub fn npages(&self) -> usize {
        self.npages.load(Ordering::Relaxed)
    }
    /// Bytes covered by the span's pages.
    #[inline(always)]
    pub fn span_bytes(&self) -> usize {
        self.npages() * PAGE_SIZE
    }
    /// End of the object area (Go's `limit`): `base + nelems * elemsize`, or `base + size` for
    /// a large object.
    #[inline(always)]
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
    /// Set the end of a large object's area (its requested size, rounded to a word).
    pub(crate) fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }
    /// Slot size (Go's `elemsize`); for a large span, its whole length in bytes.
    #[inline(always)]
    pub fn elemsize(&self) -> usize {
        self.elemsize.load(Ordering::Relaxed)
    }
    /// Slot count (Go's `nelems`).
    #[inline(always)]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Ordering::Relaxed)
    }
    /// The span class.
    #[inline(always)]
    pub fn spanclass(&self) -> SpanClass {
        // The stored value always came from a valid SpanClass.
        SpanClass::from_index(self.spanclass.load(Ordering::Relaxed) as usize)
            .unwrap_or(SpanClass::new(crate::sizeclass::SizeClass::LARGE, true))
    }
    /// Whether this is a large-object span (size class 0).
    #[inline(always)]
    pub fn is_large(&self) -> bool {
        self.spanclass.load(Ordering::Relaxed) >> 1 == 0
    }
    /// The span's sweepgen (see the module's table).
    #[inline(always)]
    pub fn sweepgen(&self) -> u32 {
        // ORDERING: Acquire; pairs with the Release stores in `set_sweepgen` so that whoever
        // sees a "swept" value also sees the sweep's writes to the bitmaps.
        self.sweepgen.load(Ordering::Acquire)
    }
    /// Set the sweepgen (end of a sweep, caching, uncaching).
    #[inline(always)]
    pub(crate) fn set_sweepgen(&self, v: u32) {
        // ORDERING: Release; pairs with the Acquire in `sweepgen` / `try_acquire_sweep`.
        self.sweepgen.store(v, Ordering::Release);
    }
    /// Try to take sweep ownership: CAS sweepgen from `sg - 2` (needs sweeping) to `sg - 1`
    /// (being swept). Exactly one caller wins per span per cycle.
    ///
    /// # Safety
    /// - `sg` is the heap's current sweepgen, and a caller that wins sweeps the span
    ///   ([`MSpan::sweep`]) and hands it on (to its central list or the page heap) before the
    ///   next cycle's mark starts. A span claimed and left unswept keeps the last cycle's mark
    ///   bits, so the next mark takes its objects as already scanned and frees what they
    ///   reach; marking also waits for in-flight sweeps to finish.
    pub unsafe fn try_acquire_sweep(&self, sg: u32) -> bool {
        // ORDERING: AcqRel on success: Acquire pairs with the Release that last set the
        // sweepgen (the previous owner's writes to `local` are visible); Release orders nothing
        // before it that others need but keeps the CAS a clean hand-over point.
        self.sweepgen
            .compare_exchange(
                sg.wrapping_sub(2),
                sg.wrapping_sub(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }
    /// Whether the span is swept for heap sweepgen `sg` (`sg` or `sg + 3`).
    pub fn is_swept(&self, sg: u32) -> bool {
        let s = self.sweepgen();
        s == sg || s == sg.wrapping_add(3)
    }
    /// The magic for exact object-index division (Go's `divMul`).
    #[inline(always)]
    pub fn div_mul(&self) -> u32 {
        self.div_mul.load(Ordering::Relaxed)
    }
    /// A large object's type, if published.
    pub fn large_type(&self) -> Option<&'static TypeDesc> {
        // ORDERING: Acquire; pairs with the Release in `set_large_type`, so the object's
        // contents (zeroed before publication) are visible to a scanner that sees the type.
        let p = self.large_type.load(Ordering::Acquire);
        // SAFETY: only `&'static TypeDesc` values are ever stored.
        unsafe { p.as_ref() }
    }
    /// Publish a large object's type after its memory is zeroed (Go stores `largeType`
    /// atomically after zeroing, so a scanner never sees a type over junk).
    pub(crate) fn set_large_type(&self, t: Option<&'static TypeDesc>) {
        let p = t.map_or(core::ptr::null_mut(), |t| t as *const TypeDesc as *mut TypeDesc);
        // ORDERING: Release; pairs with the Acquire in `large_type`.
        self.large_type.store(p, Ordering::Release);
    }

    /// Index of the object holding `addr` (Go's `objIndex`): `(addr - base) * divMul >> 32`.
    #[inline(always)]
    pub fn obj_index(&self, addr: usize) -> usize {
        if self.is_large() {
            return 0;
        }
        (((addr - self.base()) as u64 * self.div_mul() as u64) >> 32) as usize
    }

    /// Base address of slot `i`.
    #[inline(always)]
    pub fn obj_base(&self, i: usize) -> usize {
        self.base() + i * self.elemsize()
    }

    /// Whether `addr` lies in the object area `[base, limit)`.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.base() && addr < self.limit()
    }

    // ---- mark bits (the collector's side) ----

    /// Set the mark bit of slot `i`; true if it was clear (this caller greyed the object).
    ///
    /// # Safety
    /// - The mark is the collector's: the heap is being marked (or the span is owned by the
    ///   caller, unpublished or claimed for sweeping, as in tests), and when this returns true
    ///   the caller queues the object for scanning unless its span is noscan. A mark set
    ///   outside that protocol (between cycles, or without queueing the object) tells the
    ///   marker the object was already scanned, so what it points to is freed while live.
    ///
    /// For a span with an inline mark block this sets the inline mark (the collector's Green
    /// Tea path sets it directly; see `collector/src/mark/greentea.rs`).
    #[inline]
    pub unsafe fn try_mark(&self, i: usize) -> bool {
        if self.has_inline_marks() {
            // SAFETY: the caller's contract, which is the block's.
            return unsafe { self.inline_mark_bits().try_mark(i) };
        }
        let bit = 1u64 << (i % 64);
        let w = &self.gcmark_bits[i / 64];
        // Cheap check first: most marks in a busy heap hit already-marked objects.
        // Relaxed: a stale "not marked" only sends us to the RMW below.
        if w.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        // ORDERING: Relaxed; the mark bit orders no other memory. The object's contents were
        // published to this thread by whatever gave it the pointer.
        w.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Set the mark bits of slots `64 * word .. 64 * word + 64` that are set in `bits` (bit `k`
    /// is slot `64 * word + k`): what [`MSpan::try_mark`] on each of those slots does, in one
    /// atomic OR. Bits for slots at or past `nelems` are ignored by every reader.
    ///
    /// The collector marks object by object with `try_mark`; this is for tests and benchmarks
    /// that need a given mark pattern on a span (`benches/benches/gc.rs` sets one up before
    /// each sweep it times). Panics if `word >= SPAN_BITMAP_WORDS`.
    ///
    /// # Safety
    /// - As for [`MSpan::try_mark`], for every slot whose bit is set in `bits`.
    pub unsafe fn set_mark_bits(&self, word: usize, bits: u64) {
        if self.has_inline_marks() {
            if word < INLINE_WORDS {
                // SAFETY: the caller's contract, which is the block's.
                unsafe { self.inline_mark_bits().set_mark_bits(word, bits) };
            }
            return;
        }
        // ORDERING: Relaxed, as in `try_mark`: the mark bits order no other memory.
        self.gcmark_bits[word].fetch_or(bits, Ordering::Relaxed);
    }

    /// Whether slot `i` is marked (in the inline block while marking for a span that has one;
    /// the sweep folds those into the span's mark bits).
    #[inline]
    pub fn is_marked(&self, i: usize) -> bool {
        if self.has_inline_marks() && self.inline_mark_bits().is_marked(i) {
            return true;
        }
        self.gcmark_bits[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Whether slot `i` was allocated as of the last sweep (its alloc bit).
    #[inline]
    pub fn alloc_bit(&self, i: usize) -> bool {
        self.alloc_bits[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    /// Number of marked slots.
    pub fn count_marked(&self) -> usize {
        let n = self.nelems();
        let mut c = 0;
        let inline = self.has_inline_marks();
        for w in 0..n.div_ceil(64) {
            let mut bits = self.gcmark_bits[w].load(Ordering::Relaxed);
            if inline && w < INLINE_WORDS {
                bits |= self.inline_mark_bits().mark_word(w, n);
            }
            if (w + 1) * 64 > n {
                bits &= (1u64 << (n - w * 64)) - 1;
            }
            c += bits.count_ones() as usize;
        }
        c
    }

    // ---- the allocation fast and slow paths (owner only) ----

    /// Load `alloc_cache` for the 64-slot group `who` from the alloc bits (Go's
    /// `refillAllocCache`).
    ///
    /// Unlike Go, the slots past `nelems` in the last group are left out of the window (Go
    /// leaves them set and tests every candidate against `nelems`): every set bit of
    /// `alloc_cache` is then a free slot, and the fast path needs no bounds test.
    #[inline]
    fn refill_alloc_cache(&self, l: &mut SpanLocal, who: usize) {
        l.alloc_cache =
            !self.alloc_bits[who].load(Ordering::Relaxed) & group_mask(self.nelems(), who);
    }

    /// Point `alloc_cache` at `freeindex` (after sweeping, or when a span is cached).
    pub(crate) fn load_alloc_cache(&self, l: &mut SpanLocal) {
        let fi = l.freeindex;
        self.refill_alloc_cache(l, fi / 64);
        l.alloc_cache = shr(l.alloc_cache, fi % 64);
    }

    /// The fast path (Go's `nextFreeFast`): the index of the next free slot from the cached
    /// window, or `None` if the window is exhausted and the slow path must reload it. (Go
    /// returns the address; the caller here multiplies by a slot size it already knows, often
    /// as a constant, instead of loading `elemsize` again.)
    ///
    /// Two tests of Go's version are gone. The window never shows slots past `nelems` (see
    /// `refill_alloc_cache`), so a set bit needs no bounds test. And the last slot of a 64-slot
    /// group is taken here too, leaving an empty window with `freeindex` on the next group's
    /// first slot: Go hands that slot to the slow path so that it reloads the window, while
    /// [`next_free_index`](Self::next_free_index) here reloads an empty window found at a
    /// group boundary before it skips ahead.
    #[inline(always)]
    pub fn next_free_fast(&self, l: &mut SpanLocal) -> Option<usize> {
        let c = l.alloc_cache;
        if c == 0 {
            return None;
        }
        let b = c.trailing_zeros() as usize;
        let result = l.freeindex + b;
        // Two shifts: `b + 1` may be 64, which one shift cannot take.
        l.alloc_cache = (c >> b) >> 1;
        l.freeindex = result + 1;
        l.alloc_count += 1;
        Some(result)
    }

    /// The slow path (Go's `nextFreeIndex`): index of the next free slot, walking 64-slot groups
    /// and reloading `alloc_cache`; `nelems` when the span is full. Does not bump `alloc_count`.
    pub fn next_free_index(&self, l: &mut SpanLocal) -> usize {
        let nelems = self.nelems();
        let mut fi = l.freeindex;
        if fi >= nelems {
            return nelems;
        }
        if l.alloc_cache == 0 && fi % 64 == 0 {
            // The fast path took the last slot of the previous group and stopped on this
            // group's first slot without loading its bits (see `next_free_fast`).
            self.refill_alloc_cache(l, fi / 64);
        }
        let mut bit = l.alloc_cache.trailing_zeros() as usize;
        while bit == 64 {
            fi = (fi + 64) & !63;
            if fi >= nelems {
                l.freeindex = nelems;
                return nelems;
            }
            self.refill_alloc_cache(l, fi / 64);
            bit = l.alloc_cache.trailing_zeros() as usize;
        }
        let result = fi + bit;
        if result >= nelems {
            l.freeindex = nelems;
            return nelems;
        }
        l.alloc_cache = shr(l.alloc_cache, bit + 1);
        fi = result + 1;
        if fi % 64 == 0 && fi != nelems {
            self.refill_alloc_cache(l, fi / 64);
        }
        l.freeindex = fi;
        result
    }

    /// Clear every free slot of a span whose `needzero` is set, then clear the flag: the
    /// zeroing a P does when it takes the span into its cache (see "Zeroing" in the crate
    /// docs). Runs of free slots that are next to each other, across 64-slot groups too, are
    /// cleared by one `memset`; a span with no live object is one `memset` of its slots. The
    /// pointer bitmap at the end of a one-page scan span lies past the last slot and is left
    /// alone.
    ///
    /// # Safety
    /// - The caller owns the span's allocation state (module docs, "Ownership") and the span
    ///   is `InUse`; its free slots are reachable by no one.
    pub(crate) unsafe fn zero_free_slots(&self) {
        // SAFETY: the caller owns the allocation state.
        let (needzero, fi) = unsafe { self.with_local(|l| (l.needzero, l.freeindex)) };
        if !needzero {
            return;
        }
        let nelems = self.nelems();
        let elem = self.elemsize();
        let base = self.base();
        let clear = |from: usize, to: usize| {
            // SAFETY: slots `from..to` are free slots of this span (below `nelems`), owned by
            // the caller and referenced by no one.
            unsafe { crate::memclr::memclr((base + from * elem) as *mut u8, (to - from) * elem) }
        };
        // The run of free slots being gathered, `start..end`.
        let (mut start, mut end) = (0, 0);
        for w in fi / 64..nelems.div_ceil(64) {
            let below_fi = if fi > w * 64 { (1u64 << (fi - w * 64)) - 1 } else { 0 };
            let mut free =
                !self.alloc_bits[w].load(Ordering::Relaxed) & group_mask(nelems, w) & !below_fi;
            while free != 0 {
                let lo = free.trailing_zeros() as usize;
                let len = (!(free >> lo)).trailing_zeros() as usize;
                let (a, b) = (w * 64 + lo, w * 64 + lo + len);
                if a == end {
                    end = b;
                } else {
                    if end > start {
                        clear(start, end);
                    }
                    (start, end) = (a, b);
                }
                free = if lo + len >= 64 { 0 } else { free & !((1u64 << (lo + len)) - 1) };
            }
        }
        if end > start {
            clear(start, end);
        }
        // SAFETY: as above.
        unsafe { self.with_local(|l| l.needzero = false) };
    }

    /// Whether slot `i` is allocated right now, from the owner's view: below `freeindex` or
    /// alloc bit set (Go's `isFree` negated).
    pub fn is_allocated(&self, l: &SpanLocal, i: usize) -> bool {
        i < l.freeindex || self.alloc_bit(i)
    }

    /// Sweep this span given its mark bits (the mechanism of Go's `sweepLocked.sweep` for one
    /// span): unmarked allocated objects become free, the mark bits become the alloc bits, the
    /// marks are cleared and the free index rewinds. With `clobber`, freed objects are filled
    /// with [`CLOBBER_PATTERN`] (`GODEBUG=clobberfree=1`). Whether the span returns to the page
    /// heap is the caller's decision, from the report.
    ///
    /// # Safety
    /// - The caller owns the span for sweeping (won [`MSpan::try_acquire_sweep`], or owns it as
    ///   the heap does for a span nobody else can reach), and the span is `InUse`.
    /// - No marker is setting mark bits on this span (marking is over).
    pub unsafe fn sweep(&self, clobber: bool) -> SweepReport {
        let nelems = self.nelems();
        let words = nelems.div_ceil(64);
        // SAFETY: marking is over and we own the span for sweeping (our contract).
        unsafe { self.move_inline_marks() };
        // SAFETY: the caller owns the span's allocation state for the sweep.
        unsafe {
            self.with_local(|l| {
                let mut rep = SweepReport::default();
                for w in 0..words {
                    let mut marks = self.gcmark_bits[w].load(Ordering::Relaxed);
                    let valid =
                        if (w + 1) * 64 > nelems { (1u64 << (nelems - w * 64)) - 1 } else { !0 };
                    marks &= valid;
                    let old_alloc = self.alloc_bits[w].load(Ordering::Relaxed);
                    // Slots below freeindex count as allocated even if their alloc bit is 0.
                    let below_fi = if l.freeindex >= (w + 1) * 64 {
                        !0
                    } else if l.freeindex <= w * 64 {
                        0
                    } else {
                        (1u64 << (l.freeindex - w * 64)) - 1
                    };
                    let allocated = (old_alloc | below_fi) & valid;
                    rep.zombies += (marks & !allocated).count_ones() as usize;
                    let dead = allocated & !marks;
                    // Visiting each dead slot is only for clobbering and ASan poisoning; a
                    // plain sweep is just the bitmap arithmetic (the loop's `obj_base` and
                    // `elemsize` are atomic loads the compiler cannot drop).
                    let visit = clobber || crate::poison::ENABLED;
                    let mut d = if visit { dead } else { 0 };
                    while d != 0 {
                        let i = w * 64 + d.trailing_zeros() as usize;
                        d &= d - 1;
                        if clobber {
                            self.clobber_slot(i);
                        }
                        crate::poison::poison(self.obj_base(i), self.elemsize());
                    }
                    rep.live += marks.count_ones() as usize;
                    self.alloc_bits[w].store(marks, Ordering::Relaxed);
                    self.gcmark_bits[w].store(0, Ordering::Relaxed);
                }
                rep.freed = l.alloc_count.saturating_sub(rep.live);
                l.alloc_count = rep.live;
                l.freeindex = 0;
                if rep.freed > 0 {
                    l.needzero = true;
                }
                self.load_alloc_cache(l);
                rep
            })
        }
    }

    fn clobber_slot(&self, i: usize) {
        let start = self.obj_base(i);
        let len = if self.is_large() { self.limit() - self.base() } else { self.elemsize() };
        let mut p = start;
        while p + 8 <= start + len {
            // SAFETY: the slot lies inside this InUse span's mapped pages, and it is dead: no
            // mutator can reach it, and the sweeper owns the span.
            unsafe { (p as *mut u64).write(CLOBBER_PATTERN) };
            p += 8;
        }
    }

    // ---- pointer metadata ----

    /// Address of this one-page scan span's pointer bitmap: the last 128 bytes of the page, or
    /// the 128 bytes before the inline mark block of a span that has one (Go's
    /// `spanHeapBitsRange`).
    #[inline(always)]
    pub fn heap_bits_addr(&self) -> usize {
        self.heap_bits_addr_at(self.base())
    }

    /// Call `f` with the address of every pointer slot of the object whose slot starts at
    /// `obj`, restricted to byte offsets `[from, to)` of the object's data (for oblets; pass
    /// `0..usize::MAX` for the whole object). This is what the collector scans: it never guesses.
    ///
    /// The data of a header object starts 8 bytes into its slot, after the type word; offsets
    /// are relative to the data.
    ///
    /// # Safety
    /// - The span is `InUse`, `obj` is the base of an allocated slot of it, and the slot's
    ///   pointer metadata was written by an allocation that happened-before this call.
    pub unsafe fn for_each_ptr_slot(
        &self,
        obj: usize,
        from: usize,
        to: usize,
        mut f: impl FnMut(usize),
    ) {
        let spc = self.spanclass();
        if spc.noscan() {
            return;
        }
        if spc.size_class().has_span_heap_bits() {
            let g = self.geom();
            let elem = g.elemsize;
            // SAFETY: the caller's guarantee (InUse span with heap bits, allocated slot).
            let mut mask = unsafe { self.heap_bits_small(&g, obj) };
            let lo = from.min(elem) / PTR_SIZE;
            let hi = to.min(elem).div_ceil(PTR_SIZE);
            if hi < 64 {
                mask &= (1u64 << hi) - 1;
            }
            mask &= !0u64 << lo.min(63);
            if lo >= 64 {
                mask = 0;
            }
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                f(obj + i * PTR_SIZE);
            }
            return;
        }
        let (data, end, ty) = if self.is_large() {
            match self.large_type() {
                Some(t) => (obj, self.limit(), t),
                None => return,
            }
        } else {
            // SAFETY: header objects store a `&'static TypeDesc` in their first word, written at
            // allocation before the object was published (caller's guarantee).
            let t = unsafe { *(obj as *const *const TypeDesc) };
            // SAFETY: only `&'static TypeDesc` values are stored in headers.
            match unsafe { t.as_ref() } {
                Some(t) => (obj + PTR_SIZE, obj + self.elemsize(), t),
                None => return,
            }
        };
        tile_type_ptrs(ty, data, end, from, to, &mut f);
    }
}

/// Call `f` for every pointer word of values of type `ty` laid end to end in `[data, end)`,
/// restricted to data offsets `[from, to)`.
fn tile_type_ptrs(
    ty: &TypeDesc,
    data: usize,
    end: usize,
    from: usize,
    to: usize,
    f: &mut impl FnMut(usize),
) {
    if ty.ptr_bytes == 0 || ty.size == 0 {
        return;
    }
    let len = end - data;
    let to = to.min(len);
    if from >= to {
        return;
    }
    let mut elem = from / ty.size * ty.size;
    while elem < to {
        for (wi, &word) in ty.gcmask.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let off = elem + (wi * 64 + b) * PTR_SIZE;
                if off >= to {
                    break;
                }
                if off >= from {
                    f(data + off);
                }
            }
        }
        elem += ty.size;
    }
}

/// Word `w` of a span's pointer bitmap, as an atomic.
///
/// Neighbouring objects share bitmap words, so the P writing a new object's bits (the only
/// writer: it owns the span) can run while a marker reads a neighbour's bits from the same word.
/// Go tolerates that race; in Rust it must be atomic. Relaxed suffices: a marker only reads the
/// bits of an object whose address it obtained through an acquire (a root scan or a pointer
/// load), which orders the owner's write of those bits before the read; bits of other objects in
/// the word are not used.
///
/// # Safety
/// - `bits` is the 8-aligned bitmap of a mapped one-page scan span and `w < 16`.
#[inline(always)]
unsafe fn bitmap_word<'a>(bits: usize, w: usize) -> &'a AtomicU64 {
    // SAFETY: the caller's guarantee; AtomicU64 is a transparent u64 wrapper with its alignment
    // (under loom, `bits` is the span's array of loom atomics, so typed indexing is needed).
    unsafe { &*(bits as *const AtomicU64).add(w) }
}

/// Read `n <= 64` bits starting at bit `first` of the span bitmap at `bits`.
#[inline]
fn read_span_bits(bits: usize, first: usize, n: usize) -> u64 {
    let w = first / 64;
    let o = first % 64;
    // SAFETY: `bits` is the 128-byte bitmap at the end of a one-page scan span; `first + n` is at
    // most 1024 bits (the page's words), so words `w` and `w+1` (when read) are inside it. The
    // words are accessed atomically by everyone (see `bitmap_word`).
    let lo = unsafe { bitmap_word(bits, w) }.load(Ordering::Relaxed) >> o;
    let mut v = lo;
    if o + n > 64 {
        // SAFETY: as above; o + n > 64 implies word w+1 exists within the 16-word bitmap.
        let hi = unsafe { bitmap_word(bits, w + 1) }.load(Ordering::Relaxed);
        v |= hi << (64 - o);
    }
    if n < 64 {
        v &= (1u64 << n) - 1;
    }
    v
}

/// Write the pointer bits of a new object in a one-page scan span (Go's `writeHeapBitsSmall`):
/// the type's mask tiled every `ty.size` bytes over the first `data_size` bytes, zero for the
/// rest of the slot.
///
/// # Safety
/// - `span` is an `InUse` scan span with in-span heap bits, owned by the calling P's cache, and
///   `obj` is the base of a slot just allocated from it.
#[inline]
pub(crate) unsafe fn write_heap_bits_small(
    span: &MSpan,
    elem: usize,
    obj: usize,
    data_size: usize,
    ty: &TypeDesc,
) {
    debug_assert_eq!(elem, span.elemsize());
    if elem == PTR_SIZE {
        // The 8-byte scan class holds one pointer per slot; its bitmap was set to all ones when
        // the span was initialised.
        return;
    }
    let words = elem / PTR_SIZE;
    let mut src = ty.small_mask();
    let tw = ty.size / PTR_SIZE;
    if data_size > ty.size && tw > 0 {
        // Tile: double the pattern until it covers the data.
        let mut have = tw;
        let data_words = data_size / PTR_SIZE;
        while have < data_words {
            src |= src << have;
            have *= 2;
        }
        if data_words < 64 {
            src &= (1u64 << data_words) - 1;
        }
    }
    if words < 64 {
        src &= (1u64 << words) - 1;
    }
    let first = (obj - span.base()) / PTR_SIZE;
    let w = first / 64;
    let o = first % 64;
    let bits = span.heap_bits_addr();
    let wmask = if words == 64 { !0u64 } else { (1u64 << words) - 1 };
    // SAFETY: the bitmap occupies the span's last 128 bytes, which no slot overlaps (nelems was
    // computed with the reservation); `w` (and `w + 1` when used) are below 16. The owning P is
    // the only writer, so a load-then-store cannot lose another writer's bits.
    let p0 = unsafe { bitmap_word(bits, w) };
    p0.store((p0.load(Ordering::Relaxed) & !(wmask << o)) | (src << o), Ordering::Relaxed);
    if o + words > 64 {
        // SAFETY: as above.
        let p1 = unsafe { bitmap_word(bits, w + 1) };
        let sh = 64 - o;
        p1.store((p1.load(Ordering::Relaxed) & !(wmask >> sh)) | (src >> sh), Ordering::Relaxed);
    }
}
