//! Heap arenas and the arena index (Go's `heapArena` and `mheap.arenas` in `mheap.go`).
//!
//! Address space is reserved in 64 MiB arenas. Each arena has off-heap metadata, a
//! [`HeapArena`]: the span that owns each of its 8192 pages, an "in use" bit per page (only a
//! span's first page matters), one "has an inline mark block" bit per page (Green Tea's spans,
//! [`crate::spaninline`]), and `zeroed_base`, the high-water mark of memory ever handed out
//! (everything above it is fresh from the OS and reads as zero).
//!
//! Go's `heapArena` also has `pageMarks`, a bit per span that holds a marked object, which its
//! page reclaimer (`mheap.reclaim`) reads to free whole unmarked spans without sweeping them.
//! gomem has no such reclaimer (every span is swept, and the sweep reads the mark bits), so it
//! keeps no page marks: they would be one more arena line written per greyed object, read by
//! no one.
//!
//! The index maps any address to its arena in O(1): a flat array of `2^47 / 64 MiB = 2^21`
//! pointers (16 MiB of address space, of which only the pages holding live entries are ever
//! touched, so a real heap commits a few KiB). Go splits it in two levels only on Windows; on
//! Linux it is one flat array too. `span_of(addr)` is then two loads: the arena pointer, then
//! the page's span pointer.
//!
//! Invariants:
//! - An index entry, once set, never changes and its `HeapArena` is never freed while the heap
//!   lives (arenas are never returned), so a reader that loaded a non-null pointer may use it.
//! - `HeapArena::spans[i]` is written (release) after the span is initialised and published; it
//!   may point to a span that has since died, so readers check the span's state
//!   (see [`crate::mspan`]).

use crate::consts::{ARENA_INDEX_LEN, ARENA_SHIFT, ARENA_SIZE, HEAP_ADDR_BITS, PAGES_PER_ARENA};
use crate::consts::{PAGE_SHIFT, PAGE_SIZE};
use crate::mspan::MSpan;
use crate::os::{Os, OsError, OS_PAGE_SIZE};
use crate::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Per-arena metadata (Go's `heapArena`).
#[doc(alias = "heapArena")]
pub struct HeapArena {
    /// Span of each page; only meaningful for pages of InUse spans.
    spans: [AtomicPtr<MSpan>; PAGES_PER_ARENA],
    /// Bit per page: set on a span's first page while the span is InUse (`pageInUse`).
    page_in_use: [AtomicU8; PAGES_PER_ARENA / 8],
    /// Offset in the arena below which memory has been used (`zeroedBase`).
    zeroed_base: AtomicUsize,
    /// Bit per page: set on the page of an InUse one-page span that keeps Green Tea's inline
    /// mark block (`pageUseSpanInlineMarkBits`; see [`crate::spaninline`]). Set in `init_span`
    /// before the span's objects are handed out, cleared when the span is freed.
    page_inline_marks: [AtomicU8; PAGES_PER_ARENA / 8],
}

impl HeapArena {
    /// The span recorded for the page holding `addr` (may be stale: check its state).
    #[inline(always)]
    pub fn span_at(&self, addr: usize) -> *mut MSpan {
        // ORDERING: Acquire; pairs with the Release in `set_span`, so the span's geometry and
        // state written before it was recorded are visible.
        self.spans[(addr >> PAGE_SHIFT) % PAGES_PER_ARENA].load(Ordering::Acquire)
    }

    pub(crate) fn set_span(&self, addr: usize, s: *mut MSpan) {
        // ORDERING: Release; pairs with the Acquire in `span_at`.
        self.spans[(addr >> PAGE_SHIFT) % PAGES_PER_ARENA].store(s, Ordering::Release);
    }

    fn bit(arr: &[AtomicU8; PAGES_PER_ARENA / 8], addr: usize) -> (&AtomicU8, u8) {
        let p = (addr >> PAGE_SHIFT) % PAGES_PER_ARENA;
        (&arr[p / 8], 1 << (p % 8))
    }

    pub(crate) fn set_in_use(&self, addr: usize, on: bool) {
        let (b, m) = Self::bit(&self.page_in_use, addr);
        // Relaxed: these bits are read under the heap lock or while the world is stopped.
        if on {
            b.fetch_or(m, Ordering::Relaxed);
        } else {
            b.fetch_and(!m, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_inline_marks(&self, addr: usize, on: bool) {
        let (b, m) = Self::bit(&self.page_inline_marks, addr);
        // ORDERING: Relaxed; set before the span's first object is handed out, so a marker that
        // got a pointer into the span (through the acquire chain that published the object)
        // sees it; cleared when the span is freed, after marking (no marker can hold a pointer
        // into a free span).
        if on {
            b.fetch_or(m, Ordering::Relaxed);
        } else {
            b.fetch_and(!m, Ordering::Relaxed);
        }
    }

    /// Whether the page at `addr` belongs to a span with Green Tea's inline mark block (Go's
    /// `pageUseSpanInlineMarkBits` test in `tryDeferToSpanScan`).
    #[inline(always)]
    pub fn uses_inline_marks(&self, addr: usize) -> bool {
        let (b, m) = Self::bit(&self.page_inline_marks, addr);
        b.load(Ordering::Relaxed) & m != 0
    }

    /// Whether the page at `addr` starts an InUse span.
    pub fn page_in_use(&self, addr: usize) -> bool {
        let (b, m) = Self::bit(&self.page_in_use, addr);
        b.load(Ordering::Relaxed) & m != 0
    }

    /// Raise the zeroed watermark to cover `[addr, addr+len)` and report whether any of it was
    /// below the old watermark, i.e. possibly dirty (Go's `allocNeedsZero` for one arena).
    pub(crate) fn bump_zeroed(&self, addr: usize, len: usize) -> bool {
        let off = addr % ARENA_SIZE;
        let end = off + len;
        let mut cur = self.zeroed_base.load(Ordering::Relaxed);
        loop {
            if end <= cur {
                return true; // wholly below: used before
            }
            // ORDERING: Relaxed; the watermark guards no other memory, only this decision, and
            // allocation of these pages is serialized by the page allocator.
            match self.zeroed_base.compare_exchange_weak(
                cur,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return off < cur,
                Err(v) => cur = v,
            }
        }
    }
}

/// The address → arena index (Go's `mheap.arenas` on 64-bit Linux: one flat level).
pub struct ArenaIndex {
    base: usize,
    len_bytes: usize,
}

// SAFETY: the index is an array of atomics in memory owned by this struct.
unsafe impl Sync for ArenaIndex {}
// SAFETY: as above.
unsafe impl Send for ArenaIndex {}

impl ArenaIndex {
    /// Reserve and map the index (demand-paged: only touched pages cost memory).
    pub fn new(os: &Os) -> Result<ArenaIndex, OsError> {
        let len_bytes = ARENA_INDEX_LEN * core::mem::size_of::<AtomicPtr<HeapArena>>();
        let base = os.reserve(len_bytes, OS_PAGE_SIZE, None)?;
        // SAFETY: the reservation just made by `os`.
        if let Err(e) = unsafe { os.map(base, len_bytes) } {
            // SAFETY: just reserved, unused.
            unsafe { os.unmap(base, len_bytes) };
            return Err(e);
        }
        Ok(ArenaIndex { base, len_bytes })
    }

    /// Index of the arena holding `addr`, or `None` outside the 47-bit user space.
    #[inline(always)]
    pub fn arena_index(addr: usize) -> Option<usize> {
        let i = addr >> ARENA_SHIFT;
        (addr >> HEAP_ADDR_BITS == 0).then_some(i)
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> &AtomicPtr<HeapArena> {
        debug_assert!(i < ARENA_INDEX_LEN);
        // SAFETY: `base` maps ARENA_INDEX_LEN zero-initialised pointer-sized words read-write for
        // the index's lifetime; an all-zero AtomicPtr is a valid null pointer; `i` is in range.
        unsafe { &*((self.base as *const AtomicPtr<HeapArena>).add(i)) }
    }

    /// The arena metadata for `addr`, if `addr` is in a heap arena.
    #[inline(always)]
    pub fn arena_of(&self, addr: usize) -> Option<&HeapArena> {
        let i = Self::arena_index(addr)?;
        // ORDERING: Acquire; pairs with the Release in `register`, so the metadata is
        // initialised when seen.
        let p = self.slot(i).load(Ordering::Acquire);
        // SAFETY: non-null entries point at HeapArena metadata that lives as long as the index
        // (module invariant: never freed while the heap lives).
        unsafe { p.as_ref() }
    }

    /// Record `meta` for the arena at `arena_base`.
    pub(crate) fn register(&self, arena_base: usize, meta: *mut HeapArena) {
        if let Some(i) = Self::arena_index(arena_base) {
            // ORDERING: Release; pairs with the Acquire in `arena_of`.
            self.slot(i).store(meta, Ordering::Release);
        }
    }

    /// Allocate zeroed metadata for one arena from the OS (off-heap, counted as metadata).
    pub(crate) fn new_arena_meta(os: &Os) -> Result<(*mut HeapArena, usize), OsError> {
        let len = core::mem::size_of::<HeapArena>().next_multiple_of(OS_PAGE_SIZE);
        let p = os.reserve(len, OS_PAGE_SIZE, None)?;
        // SAFETY: the reservation just made by `os`.
        if let Err(e) = unsafe { os.map(p, len) } {
            // SAFETY: just reserved, unused.
            unsafe { os.unmap(p, len) };
            return Err(e);
        }
        // Zeroed memory is a valid HeapArena: null span pointers, clear bits, watermark 0.
        Ok((p as *mut HeapArena, len))
    }

    /// Bytes of address space the index reserves.
    pub fn reserved_bytes(&self) -> usize {
        self.len_bytes
    }

    /// Release the index's memory.
    ///
    /// # Safety
    /// - No reader will use the index again.
    pub(crate) unsafe fn destroy(&mut self, os: &Os) {
        // SAFETY: the caller promises no further use.
        unsafe { os.unmap(self.base, self.len_bytes) };
    }
}

/// Size of one arena's metadata as mapped.
pub(crate) fn arena_meta_bytes() -> usize {
    core::mem::size_of::<HeapArena>().next_multiple_of(OS_PAGE_SIZE)
}

const _: () = assert!(PAGES_PER_ARENA * PAGE_SIZE == ARENA_SIZE);
