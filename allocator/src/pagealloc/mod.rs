//! The page allocator (Go's `mpagealloc.go`, `mpagealloc_64bit.go`): which 8 KiB pages of the
//! heap are free, which of those were returned to the OS, and where the lowest run of N free
//! pages is. The heap (`mheap.rs`) calls it with its lock held; nothing here locks.
//!
//! # Why a radix tree of summaries
//!
//! The heap wants address-ordered first fit: the lowest run of `npages` free pages. Lowest-first
//! keeps the heap dense at low addresses, which bounds fragmentation and leaves the high end
//! cold, which is exactly where the scavenger returns memory to the OS. A bitmap of all pages
//! answers first-fit only by scanning it, O(heap pages) per call, and a sorted free-run
//! structure (Go's old treap) costs O(log runs) per call plus an allocation per run.
//!
//! Instead, every aligned region of 4 MiB × 8^k (k = 0..=4) of the address space carries a summary of its free pages:
//! `start` (free pages at its low end), `max` (longest free run inside) and `end` (free pages at
//! its high end), see [`summary::PallocSum`]. A region's summary follows from its 8 children's by
//! one left-to-right pass ([`summary::merge`]), and runs that cross child boundaries are
//! `end` of one child plus whole free children plus `start` of the next. So:
//!
//! - **find** walks from the root (2^13 entries of 16 GiB) down four levels of 8 entries
//!   (2 GiB, 256 MiB, 32 MiB, 4 MiB chunks), entering the first entry whose `max` fits or
//!   stopping early when a boundary-crossing run fits, then scans one chunk's 512-bit bitmap.
//!   The cost is bounded by the tree's shape, not by the heap's size: at most 2^13 + 4·8 entries
//!   and 8 bitmap words, and the search address hint (below) usually skips most of that.
//! - **alloc/free** set bits in the touched chunks and re-merge their ancestors: O(8) per level
//!   per touched chunk, stopping as soon as a level's entries come out unchanged.
//! - **memory** is one 8-byte summary per 4 MiB chunk, plus 1/8 of that for the level above and
//!   so on, plus 128 bytes of bitmaps per chunk: about 0.003% of the heap. Because every level is
//!   an array indexed by address, the arrays for the whole 2^47-byte address space are reserved
//!   up front (`PROT_NONE`, no memory) and only the pages covering grown parts are mapped, so a
//!   lookup is an index computation with no indirection and discontiguous heaps cost nothing in
//!   between.
//!
//! The search address (`search_addr`) records that every page below it is in use, so searches
//! start there; first-fit allocation only pushes it up, frees push it down. In the common case
//! (the chunk at the hint has a fitting run) `alloc` looks at one leaf summary and one bitmap.
//!
//! Chunks are reached through a sparse two-level array (`chunks.rs`); the per-P page cache lives
//! in `cache.rs` ([`PageCache`]); returning pages to the OS in `scavenge.rs`.
//!
//! # Invariants
//!
//! - PA-1 (search hint): no free page lies below `search_addr`, and `search_addr` lies inside an
//!   in-use range or equals [`MAX_SEARCH_ADDR`].
//! - PA-2 (summaries): for every in-use chunk the leaf entry equals its bitmap's
//!   [`PallocBits::summarize`]; every entry above the leaves equals the [`summary::merge`] of its
//!   8 children; entries of regions with no in-use chunk are zero.
//! - PA-3 (mapping): for every in-use chunk, its chunk block exists and, at every level, the OS
//!   pages holding the whole sibling group (8 entries; the entire root) of its ancestor are mapped.
//!   So every entry `find` and `update` read is mapped; the summary accessors also check it.
//! - PA-4 (scavenged): in an in-use chunk, every scavenged page is free.
//! - PA-5 (counters): `free_pages` and `scav_pages` equal the free and scavenged page counts of
//!   the in-use chunks, not counting pages handed to a [`PageCache`] or held by the scavenger
//!   (those are in use).
//! - PA-6 (density records): for every in-use chunk, its [`ScavChunkData::in_use`] equals its
//!   allocated pages minus the pages the scavenger holds in it ([`PageAlloc::take_for_scavenge`]);
//!   `scavenging` is the total the scavenger holds.
//! - Chunks' dirty bits follow CH-2 of `chunks.rs`; summary memory follows SUM-1..3 of
//!   [`summary`].
//!
//! [`PageAlloc::verify`] checks them over the in-use ranges in O(heap pages / 64).
//!
//! `PageAlloc` owns its metadata mappings exclusively and hands out no references into them
//! beyond `&self`/`&mut self` borrows, so it is `Send` and `Sync` like any owned data.

pub mod bits;
mod cache;
mod chunks;
mod scavenge;
pub mod summary;
#[cfg(all(test, not(loom)))]
mod tests;

use core::fmt;

pub use bits::{find_bit_range64, PageBits, PallocBits, PallocData};
pub use cache::{PageCache, PAGE_CACHE_PAGES};
use chunks::ChunkMap;
pub use scavenge::{ScavChunkData, SCAV_CHUNK_HI_OCC_PAGES};
pub use summary::PallocSum;
use summary::{merge, Summaries, LEAF, LEVEL_BITS, LEVEL_LOG_PAGES, LEVEL_SHIFT, SUMMARY_LEVELS};

use crate::consts::{HEAP_ADDR_BITS, PAGE_SIZE, PALLOC_CHUNK_BYTES, PALLOC_CHUNK_PAGES};
use crate::os::{Os, OsError};

/// The search address meaning "no free page anywhere" (Go's `maxSearchAddr`): the last byte of
/// the address space.
pub const MAX_SEARCH_ADDR: usize = (1 << HEAP_ADDR_BITS) - 1;

/// Index of the chunk holding `addr` (Go's `chunkIndex`).
#[inline]
pub const fn chunk_index(addr: usize) -> usize {
    addr / PALLOC_CHUNK_BYTES
}

/// Base address of chunk `ci` (Go's `chunkBase`).
#[inline]
pub const fn chunk_base(ci: usize) -> usize {
    ci * PALLOC_CHUNK_BYTES
}

/// Index within its chunk of the page holding `addr` (Go's `chunkPageIndex`).
#[inline]
pub const fn chunk_page_index(addr: usize) -> usize {
    addr % PALLOC_CHUNK_BYTES / PAGE_SIZE
}

/// Index at `level` of the entry covering `addr` (Go's `offAddrToLevelIndex`).
#[inline]
const fn level_index(level: usize, addr: usize) -> usize {
    addr >> LEVEL_SHIFT[level]
}

/// First address covered by entry `idx` of `level` (Go's `levelIndexToOffAddr`).
#[inline]
const fn level_entry_addr(level: usize, idx: usize) -> usize {
    idx << LEVEL_SHIFT[level]
}

/// Entries `[lo, hi)` of `level` that cover addresses `[base, limit)` (Go's
/// `addrsToSummaryRange`).
#[inline]
const fn addrs_to_summary_range(level: usize, base: usize, limit: usize) -> (usize, usize) {
    (base >> LEVEL_SHIFT[level], ((limit - 1) >> LEVEL_SHIFT[level]) + 1)
}

/// `[lo, hi)` widened to whole sibling groups of `level` (Go's `blockAlignSummaryRange`).
#[inline]
const fn block_align_summary_range(level: usize, lo: usize, hi: usize) -> (usize, usize) {
    let e = 1 << LEVEL_BITS[level];
    (lo & !(e - 1), (hi + e - 1) & !(e - 1))
}

/// The pieces `(chunk index, first page in chunk, pages)` of the run `[base, base + npages)`.
fn chunk_spans(base: usize, npages: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let first = base / PAGE_SIZE;
    let last = first + npages; // exclusive, in pages
    let (sc, ec) = (chunk_index(base), chunk_index(base + npages * PAGE_SIZE - 1));
    (sc..=ec).map(move |ci| {
        let cs = ci * PALLOC_CHUNK_PAGES;
        let lo = first.max(cs);
        let hi = last.min(cs + PALLOC_CHUNK_PAGES);
        (ci, lo - cs, hi - lo)
    })
}

/// Go's `pageAlloc`: the heap's free-page index.
///
/// All methods take `&mut self`; the caller (the heap) serialises access with its lock.
#[doc(alias = "pageAlloc")]
pub struct PageAlloc {
    /// The radix tree's level arrays (PA-2, PA-3).
    summary: Summaries,
    /// Per-chunk bitmaps (Go's `chunks`).
    chunks: ChunkMap,
    /// PA-1 (Go's `searchAddr`).
    search_addr: usize,
    /// Lowest in-use chunk index (Go's `start`); meaningless before the first growth.
    start: usize,
    /// One past the highest in-use chunk index (Go's `end`); 0 before the first growth.
    end: usize,
    /// Address ranges grown into, sorted, disjoint and non-adjacent (Go's `inUse`).
    in_use: Vec<(usize, usize)>,
    /// Free pages in the heap (PA-5).
    free_pages: usize,
    /// Free pages that are scavenged (PA-5).
    scav_pages: usize,
    /// Pages held by the scavenger between `take_for_scavenge` and `return_scavenged` (PA-6).
    scavenging: usize,
    /// The scavenge generation (Go's `scavengeIndex.gen`), advanced once per GC cycle.
    scav_gen: u32,
}

impl fmt::Debug for PageAlloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageAlloc")
            .field("search_addr", &format_args!("{:#x}", self.search_addr))
            .field("start", &self.start)
            .field("end", &self.end)
            .field("in_use", &self.in_use)
            .field("free_pages", &self.free_pages)
            .field("scav_pages", &self.scav_pages)
            .field("scavenging", &self.scavenging)
            .field("scav_gen", &self.scav_gen)
            .finish_non_exhaustive()
    }
}

impl PageAlloc {
    /// An empty page allocator (Go's `pageAlloc.init`): reserves, inaccessible, the summary
    /// arrays for the whole address space. Nothing is mapped until [`PageAlloc::grow`].
    pub fn new(os: &Os) -> Result<PageAlloc, OsError> {
        Ok(PageAlloc {
            summary: Summaries::reserve(os)?,
            chunks: ChunkMap::new(),
            search_addr: MAX_SEARCH_ADDR,
            start: 0,
            end: 0,
            in_use: Vec::new(),
            free_pages: 0,
            scav_pages: 0,
            scavenging: 0,
            scav_gen: 0,
        })
    }

    /// Add `[base, base + size)` to the heap, all pages free and scavenged (Go's
    /// `pageAlloc.grow` and `sysGrow`). Maps the chunk blocks and summary pages the range needs
    /// first; if that fails, the allocator is unchanged (pages mapped before the failure stay
    /// mapped and are reused by the next attempt).
    ///
    /// `base` and `size` must be multiples of [`PALLOC_CHUNK_BYTES`], `size > 0`, the range below
    /// 2^47 and disjoint from the ranges already grown; otherwise this panics.
    pub fn grow(&mut self, os: &Os, base: usize, size: usize) -> Result<(), OsError> {
        assert!(
            size > 0 && base % PALLOC_CHUNK_BYTES == 0 && size % PALLOC_CHUNK_BYTES == 0,
            "page allocator: grow({base:#x}, {size:#x}) is not whole chunks"
        );
        let limit = base.checked_add(size).filter(|&l| l <= 1 << HEAP_ADDR_BITS);
        let Some(limit) = limit else {
            panic!("page allocator: grow({base:#x}, {size:#x}) leaves the address space")
        };
        let i = self.in_use.partition_point(|&(_, l)| l <= base);
        assert!(
            self.in_use.get(i).is_none_or(|&(b, _)| b >= limit),
            "page allocator: grow({base:#x}, {size:#x}) overlaps the heap"
        );

        // 1. Metadata, fallibly, before any visible change.
        let (sc, ec) = (chunk_index(base), chunk_index(limit));
        let mut ci = sc;
        while ci < ec {
            self.chunks.ensure(os, ci)?;
            ci = ((ci >> chunks::CHUNKS_L2_BITS) + 1) << chunks::CHUNKS_L2_BITS;
        }
        for l in 0..SUMMARY_LEVELS {
            let (lo, hi) = addrs_to_summary_range(l, base, limit);
            let (lo, hi) = block_align_summary_range(l, lo, hi);
            self.summary.ensure_mapped(os, l, lo, hi)?;
        }

        // 2. Register the range.
        if self.end == 0 || sc < self.start {
            self.start = sc;
        }
        self.end = self.end.max(ec);
        self.add_in_use(base, limit);
        if base < self.search_addr {
            self.search_addr = base;
        }
        for ci in sc..ec {
            let chunk = self.chunks.get_mut(ci);
            debug_assert!(chunk.alloc.0.count() == 0, "fresh chunk has allocated pages");
            chunk.scavenged.set_all();
            self.chunks.refresh_dirty(ci);
        }
        let npages = size / PAGE_SIZE;
        self.free_pages += npages;
        self.scav_pages += npages;
        self.update(base, npages, true, false);
        Ok(())
    }

    /// Insert `[base, limit)` into `in_use`, merging with neighbours it touches.
    fn add_in_use(&mut self, base: usize, limit: usize) {
        // The first range not wholly below `base`: it either ends exactly at `base` or starts at
        // or above `limit` (ranges never overlap).
        let i = self.in_use.partition_point(|&(_, l)| l < base);
        let prev = self.in_use.get(i).is_some_and(|r| r.1 == base);
        let n = if prev { i + 1 } else { i };
        let next = self.in_use.get(n).is_some_and(|r| r.0 == limit);
        match (prev, next) {
            (true, true) => {
                self.in_use[i].1 = self.in_use[n].1;
                self.in_use.remove(n);
            }
            (true, false) => self.in_use[i].1 = limit,
            (false, true) => self.in_use[n].0 = base,
            (false, false) => self.in_use.insert(i, (base, limit)),
        }
    }

    /// Lowest in-use address at or above `addr`, or [`MAX_SEARCH_ADDR`] (Go's
    /// `findMappedAddr` / `addrRanges.findAddrGreaterEqual`).
    fn find_mapped_addr(&self, addr: usize) -> usize {
        let i = self.in_use.partition_point(|&(_, l)| l <= addr);
        match self.in_use.get(i) {
            Some(&(b, _)) => addr.max(b),
            None => MAX_SEARCH_ADDR,
        }
    }

    /// Recompute the summaries of the chunks `[base, base + npages)` touches and of their
    /// ancestors (Go's `pageAlloc.update`). `contig` says the pages were changed as one run, all
    /// allocated (`alloc`) or all freed, so the chunks strictly inside are known to be entirely
    /// in use or entirely free without reading their bitmaps.
    fn update(&mut self, base: usize, npages: usize, contig: bool, alloc: bool) {
        let limit = base + npages * PAGE_SIZE; // exclusive
        let (sc, ec) = (chunk_index(base), chunk_index(limit - 1));
        if sc == ec {
            let s = self.chunks.get(sc).alloc.summarize();
            if self.summary.get(LEAF, sc) == s {
                return;
            }
            self.summary.set(LEAF, sc, s);
        } else if contig {
            let first = self.chunks.get(sc).alloc.summarize();
            self.summary.set(LEAF, sc, first);
            let whole = if alloc { PallocSum::EMPTY } else { PallocSum::FREE_CHUNK };
            if ec > sc + 1 {
                self.summary.block_mut(LEAF, sc + 1, ec - sc - 1).fill(whole);
            }
            let last = self.chunks.get(ec).alloc.summarize();
            self.summary.set(LEAF, ec, last);
        } else {
            for ci in sc..=ec {
                let s = self.chunks.get(ci).alloc.summarize();
                self.summary.set(LEAF, ci, s);
            }
        }
        for l in (0..LEAF).rev() {
            let fan = 1 << LEVEL_BITS[l + 1];
            let (lo, hi) = addrs_to_summary_range(l, base, limit);
            let mut changed = false;
            for i in lo..hi {
                let s = merge(self.summary.block(l + 1, i * fan, fan), LEVEL_LOG_PAGES[l + 1]);
                if self.summary.get(l, i) != s {
                    self.summary.set(l, i, s);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Mark `[base, base + npages)` in use, returning how many of its bytes were scavenged (Go's
    /// `pageAlloc.allocRange`).
    fn alloc_range(&mut self, base: usize, npages: usize) -> usize {
        let mut scav = 0;
        for (ci, si, n) in chunk_spans(base, npages) {
            let chunk = self.chunks.get_mut(ci);
            debug_assert_eq!(chunk.alloc.0.popcnt_range(si, n), 0, "allocating in-use pages");
            scav += chunk.scavenged.popcnt_range(si, n);
            chunk.alloc_range(si, n);
            self.chunks.refresh_dirty(ci);
            let gen = self.scav_gen;
            self.chunks.update_scav_data(ci, |d| d.alloc(n, gen));
        }
        self.free_pages -= npages;
        self.scav_pages -= scav;
        self.update(base, npages, true, true);
        scav * PAGE_SIZE
    }

    /// The lowest run of `npages` free pages at or above the search address, walking the
    /// summary tree from the root (Go's `pageAlloc.find`). Returns the run's address and a new
    /// search address: the lowest address where a free page may remain, moved into an in-use
    /// range (PA-1).
    fn find(&self, npages: usize) -> Option<(usize, usize)> {
        // The narrowest address range known to hold the lowest free page (Go's `firstFree`).
        let mut lowest = (0usize, usize::MAX);
        fn saw_free(lowest: &mut (usize, usize), addr: usize, size: usize) {
            let last = addr + (size - 1);
            if lowest.0 <= addr && last <= lowest.1 {
                *lowest = (addr, last);
            } else {
                assert!(last < lowest.0 || lowest.1 < addr, "page allocator: bad summary nesting");
            }
        }

        let mut i = 0; // first entry of the sibling group searched at this level
        for l in 0..SUMMARY_LEVELS {
            let fan = 1usize << LEVEL_BITS[l];
            let log_pages = LEVEL_LOG_PAGES[l];
            let entry_pages = 1usize << log_pages;
            i <<= LEVEL_BITS[l];
            let entries = self.summary.block(l, i, fan);

            // Below the search address everything is in use: skip those entries.
            let search_idx = level_index(l, self.search_addr);
            let j0 = if search_idx & !(fan - 1) == i { search_idx & (fan - 1) } else { 0 };

            // A free run being extended across entries: first page (relative to entry i) and
            // length.
            let mut run_base = 0;
            let mut run = 0;
            let mut descend = None;
            for (j, s) in entries.iter().enumerate().skip(j0) {
                if s.is_empty() {
                    run = 0;
                    continue;
                }
                saw_free(&mut lowest, level_entry_addr(l, i + j), entry_pages * PAGE_SIZE);
                let (start, max, end) = s.unpack();
                if run + start >= npages {
                    // The run reaching into this entry (or its own start) is long enough.
                    if run == 0 {
                        run_base = j << log_pages;
                    }
                    run += start;
                    break;
                }
                if max >= npages {
                    descend = Some(j);
                    break;
                }
                if run == 0 || start < entry_pages {
                    // The run is broken inside this entry; a new one begins at its end.
                    run = end;
                    run_base = ((j + 1) << log_pages) - end;
                } else {
                    run += entry_pages;
                }
            }
            if let Some(j) = descend {
                i += j;
                continue;
            }
            if run >= npages {
                let addr = level_entry_addr(l, i) + run_base * PAGE_SIZE;
                return Some((addr, self.find_mapped_addr(lowest.0)));
            }
            assert!(
                l == 0,
                "page allocator: summary at level {} promised a fit",
                l.wrapping_sub(1)
            );
            return None;
        }

        // Leaf: `i` is the chunk whose summary says the run is inside it.
        let chunk = self.chunks.get(i);
        let Some((j, first_free)) = chunk.alloc.find(npages, 0) else {
            panic!("page allocator: chunk {i} summary promised {npages} free pages")
        };
        let free_addr = chunk_base(i) + first_free * PAGE_SIZE;
        saw_free(&mut lowest, free_addr, chunk_base(i + 1) - free_addr);
        Some((chunk_base(i) + j * PAGE_SIZE, self.find_mapped_addr(lowest.0)))
    }

    /// Allocate the lowest run of `npages` free pages (Go's `pageAlloc.alloc`). Returns its base
    /// address and how many of its bytes were scavenged (the heap must count those as reused
    /// memory), or `None` if no run is long enough. The pages' scavenged bits are cleared.
    pub fn alloc(&mut self, npages: usize) -> Option<(usize, usize)> {
        if npages == 0 || chunk_index(self.search_addr) >= self.end {
            return None;
        }
        let (addr, new_search) = match self.alloc_in_search_chunk(npages) {
            Some(found) => found,
            None => match self.find(npages) {
                Some(found) => found,
                None => {
                    if npages == 1 {
                        // Not even one free page: the heap is full.
                        self.search_addr = MAX_SEARCH_ADDR;
                    }
                    return None;
                }
            },
        };
        let scav = self.alloc_range(addr, npages);
        self.search_addr = self.search_addr.max(new_search);
        Some((addr, scav))
    }

    /// Go's `alloc` fast path: if the chunk at the search address has a fitting run after the
    /// address, the lowest fit is in that chunk (a run starting lower and crossing into the next
    /// chunk would itself fit inside the chunk), so only its bitmap is searched.
    fn alloc_in_search_chunk(&self, npages: usize) -> Option<(usize, usize)> {
        let ci = chunk_index(self.search_addr);
        let pi = chunk_page_index(self.search_addr);
        if PALLOC_CHUNK_PAGES - pi < npages || self.summary.get(LEAF, ci).max() < npages {
            return None;
        }
        let Some((j, first_free)) = self.chunks.get(ci).alloc.find(npages, pi) else {
            panic!("page allocator: chunk {ci} summary promised {npages} free pages")
        };
        Some((chunk_base(ci) + j * PAGE_SIZE, chunk_base(ci) + first_free * PAGE_SIZE))
    }

    /// Return `[base, base + npages)` to the free pages (Go's `pageAlloc.free`). The pages are
    /// free but not scavenged: their memory is still backed.
    ///
    /// The pages must be in use (allocated by [`PageAlloc::alloc`] and not freed since);
    /// debug builds check this.
    pub fn free(&mut self, base: usize, npages: usize) {
        if npages == 0 {
            return;
        }
        debug_assert!(base % PAGE_SIZE == 0, "page allocator: free of unaligned {base:#x}");
        if base < self.search_addr {
            self.search_addr = base;
        }
        for (ci, si, n) in chunk_spans(base, npages) {
            let chunk = self.chunks.get_mut(ci);
            debug_assert_eq!(chunk.alloc.0.popcnt_range(si, n), n, "freeing free pages");
            if n == 1 {
                chunk.alloc.free1(si);
            } else {
                chunk.alloc.free(si, n);
            }
            self.chunks.refresh_dirty(ci);
            let gen = self.scav_gen;
            self.chunks.update_scav_data(ci, |d| d.free(n, gen));
        }
        self.free_pages += npages;
        self.update(base, npages, true, false);
    }

    /// Free pages in the heap, scavenged or not (Go's `heapFree + heapReleased`, in pages).
    pub fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Free pages that are scavenged, i.e. returned to the OS (Go's `heapReleased`, in pages).
    pub fn scavenged_pages(&self) -> usize {
        self.scav_pages
    }

    /// The address ranges grown into, as `(base, limit)`, sorted and merged when contiguous
    /// (Go's `pageAlloc.inUse`).
    pub fn in_use_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.in_use.iter().copied()
    }

    /// Bytes of OS memory mapped for metadata (summaries and chunk bitmaps), for the heap's
    /// `GCSys`-style accounting (Go's `summaryMappedReady` plus the chunk blocks).
    pub fn metadata_bytes(&self) -> usize {
        self.summary.mapped_bytes() + self.chunks.mapped_bytes()
    }

    /// Check every invariant of the module documentation (PA-1..6, CH-2), panicking on the first
    /// violation. O(heap pages / 64); meant for tests and heap verification.
    pub fn verify(&self) {
        let (mut free, mut scav, mut held) = (0, 0, 0);
        for &(base, limit) in &self.in_use {
            for ci in chunk_index(base)..chunk_index(limit) {
                let c = self.chunks.get(ci);
                free += c.free_count();
                scav += c.scavenged.count();
                let in_use = self.chunks.scav_data(ci).in_use as usize;
                let allocated = PALLOC_CHUNK_PAGES - c.free_count();
                assert!(in_use <= allocated, "PA-6: chunk {ci} records {in_use} pages in use");
                held += allocated - in_use;
                for w in 0..bits::CHUNK_WORDS {
                    assert_eq!(
                        c.scavenged.0[w] & c.alloc.0 .0[w],
                        0,
                        "PA-4: chunk {ci} has scavenged pages in use"
                    );
                }
                assert_eq!(
                    self.summary.get(LEAF, ci),
                    c.alloc.summarize(),
                    "PA-2: leaf summary of chunk {ci}"
                );
                assert_eq!(
                    self.chunks.is_dirty(ci),
                    c.has_unscavenged_free(),
                    "CH-2: dirty bit of chunk {ci}"
                );
                let (ndirty, bits, l1) = self.chunks.block_dirty_state(ci).expect("PA-3: block");
                assert!(ndirty == bits && l1 == (ndirty > 0), "CH-2: block counts of chunk {ci}");
                let cb = chunk_base(ci);
                if cb < self.search_addr {
                    let below = ((self.search_addr - cb) / PAGE_SIZE).min(PALLOC_CHUNK_PAGES);
                    assert_eq!(
                        c.alloc.0.popcnt_range(0, below),
                        below,
                        "PA-1: free page below search address {:#x} in chunk {ci}",
                        self.search_addr
                    );
                }
            }
            for l in (0..LEAF).rev() {
                let fan = 1 << LEVEL_BITS[l + 1];
                let (lo, hi) = addrs_to_summary_range(l, base, limit);
                for i in lo..hi {
                    let want =
                        merge(self.summary.block(l + 1, i * fan, fan), LEVEL_LOG_PAGES[l + 1]);
                    assert_eq!(self.summary.get(l, i), want, "PA-2: summary[{l}][{i}]");
                }
            }
            for l in 0..SUMMARY_LEVELS {
                let (lo, hi) = addrs_to_summary_range(l, base, limit);
                let (lo, hi) = block_align_summary_range(l, lo, hi);
                assert!(self.summary.is_mapped(l, lo, hi), "PA-3: summary level {l} mapping");
            }
        }
        assert_eq!(free, self.free_pages, "PA-5: free page count");
        assert_eq!(held, self.scavenging, "PA-6: pages held by the scavenger");
        assert_eq!(scav, self.scav_pages, "PA-5: scavenged page count");
        assert!(
            self.search_addr == MAX_SEARCH_ADDR
                || self.in_use.iter().any(|&(b, l)| (b..l).contains(&self.search_addr)),
            "PA-1: search address {:#x} outside the heap",
            self.search_addr
        );
        assert!(
            self.in_use.windows(2).all(|w| w[0].1 < w[1].0),
            "in-use ranges not sorted and merged"
        );
    }

    /// Return all metadata memory to the OS. The page allocator otherwise lives as long as the
    /// process, as Go's does; dropping it without this leaks its reservations.
    ///
    /// # Safety
    /// - `os` is the [`Os`] passed to [`PageAlloc::new`] and every [`PageAlloc::grow`] (so it
    ///   made the reservations being unmapped).
    pub unsafe fn destroy(self, os: &Os) {
        // SAFETY: the caller promises `os` made the summary reservation.
        unsafe { self.summary.unmap(os) };
        // SAFETY: the caller promises `os` made every chunk block reservation.
        unsafe { self.chunks.unmap(os) };
    }
}
