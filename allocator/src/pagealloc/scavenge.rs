//! Returning free pages to the OS (the page-allocator half of Go's `mgcscavenge.go`).
//!
//! The scavenger takes free, unscavenged pages from the highest addresses down: first-fit
//! allocation prefers low addresses, so high free pages are the least likely to be reused soon.
//! The chunk map's dirty index (`chunks.rs`) names the highest chunk with such pages in a
//! bounded number of word scans, so a call costs O(runs released), not O(heap), even when almost
//! everything is scavenged already. Pacing, goals and the memory limit are the collector's
//! business; this only performs a request.
//!
//! # Which chunks the background scavenger leaves alone
//!
//! Releasing a page the program is about to reuse costs a page fault and a zeroing on reuse, for
//! nothing. Go's heuristic, restated here: a chunk whose in-use page count reached
//! [`SCAV_CHUNK_HI_OCC_PAGES`] (496 of 512, 96.875 %) is *dense*, and a chunk that was dense at
//! the start of the current scavenge generation or is dense now is skipped by background and
//! heap-growth scavenging ([`ScavChunkData::should_scavenge`] with `force = false`). The
//! generation advances once per GC cycle, at mark termination ([`PageAlloc::next_gen`]). So when
//! a dense chunk's pages are freed by the sweep that follows a cycle, they become eligible one
//! full cycle later: pages freed in the current cycle are not released by the background
//! scavenger. Forced scavenging (the memory limit, `free_os_memory`) ignores density.
//!
//! # Two ways to scavenge
//!
//! - [`PageAlloc::scavenge`] / [`PageAlloc::scavenge_with`] find a run, call `release` and mark
//!   the run scavenged, all in one call: the caller holds its lock throughout (tests, and the
//!   heap when it needs no concurrency).
//! - [`PageAlloc::find_scavenge_candidate`], [`PageAlloc::take_for_scavenge`] and
//!   [`PageAlloc::return_scavenged`] split that in three, as Go's `scavengeOne` does, so the heap
//!   can drop its lock around the `madvise`: the run is marked in use (without touching the
//!   density records or the counters of allocations), released, then freed back scavenged.
//!   While taken, the pages are "in use" as far as every search is concerned (PA-6 of the module
//!   docs counts them).

use super::{chunk_base, chunk_index, chunk_page_index, PageAlloc};
use crate::consts::{PAGE_SIZE, PALLOC_CHUNK_PAGES};

/// Pages in use at or above which a chunk counts as dense (Go's `scavChunkHiOccPages`:
/// `0.96875 * 512` = 496).
pub const SCAV_CHUNK_HI_OCC_PAGES: u16 = (PALLOC_CHUNK_PAGES as u16 / 32) * 31;

/// What the scavenger knows about one chunk (Go's `scavChunkData`): pages in use now, pages in
/// use when the current generation began for this chunk, and the generation of the last update.
///
/// All-zero is a freshly grown chunk. Stored packed in 64 bits ([`ScavChunkData::pack`]) in the
/// chunk map; changed only under the heap lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[doc(alias = "scavChunkData")]
pub struct ScavChunkData {
    /// Pages of the chunk currently allocated (Go's `inUse`).
    pub in_use: u16,
    /// Pages allocated when the chunk was first updated in generation `gen` (Go's `lastInUse`).
    pub last_in_use: u16,
    /// The scavenge generation of the last update (Go's `gen`).
    pub gen: u32,
}

impl ScavChunkData {
    /// The packed form: `in_use` in bits 0..16, `last_in_use` in 16..32, `gen` in 32..64.
    pub const fn pack(self) -> u64 {
        self.in_use as u64 | (self.last_in_use as u64) << 16 | (self.gen as u64) << 32
    }

    /// The inverse of [`ScavChunkData::pack`].
    pub const fn unpack(v: u64) -> ScavChunkData {
        ScavChunkData { in_use: v as u16, last_in_use: (v >> 16) as u16, gen: (v >> 32) as u32 }
    }

    /// Record `npages` more pages allocated, in generation `gen` (Go's `scavChunkData.alloc`).
    pub fn alloc(&mut self, npages: usize, gen: u32) {
        assert!(
            self.in_use as usize + npages <= PALLOC_CHUNK_PAGES,
            "page allocator: {} + {npages} pages in use in one chunk",
            self.in_use
        );
        self.roll(gen);
        self.in_use += npages as u16;
    }

    /// Record `npages` pages freed, in generation `gen` (Go's `scavChunkData.free`).
    pub fn free(&mut self, npages: usize, gen: u32) {
        assert!(
            self.in_use as usize >= npages,
            "page allocator: freeing {npages} pages of a chunk with {} in use",
            self.in_use
        );
        self.roll(gen);
        self.in_use -= npages as u16;
    }

    /// The first update in a new generation remembers the occupancy it started from.
    fn roll(&mut self, gen: u32) {
        if self.gen != gen {
            self.last_in_use = self.in_use;
            self.gen = gen;
        }
    }

    /// Whether the scavenger may take pages from this chunk in generation `gen` (Go's
    /// `shouldScavenge`, minus its emptiness test, which the dirty bit answers). Forced
    /// scavenging may always; otherwise the chunk must not be dense now, nor, if it was updated
    /// this generation, at the generation's start.
    pub fn should_scavenge(self, gen: u32, force: bool) -> bool {
        if force {
            return true;
        }
        if self.gen == gen {
            self.in_use < SCAV_CHUNK_HI_OCC_PAGES && self.last_in_use < SCAV_CHUNK_HI_OCC_PAGES
        } else {
            // Not touched since an earlier generation: `in_use` is the occupancy all along.
            self.in_use < SCAV_CHUNK_HI_OCC_PAGES
        }
    }
}

impl PageAlloc {
    /// Release at least `nbytes` of free, unscavenged memory to the OS, highest addresses first
    /// (Go's `pageAlloc.scavenge` with `force`), or all of it if there is less; `usize::MAX`
    /// releases everything. For each run `release(addr, len)` is called (`len` a multiple of
    /// [`PAGE_SIZE`], the run inside one chunk); when it returns `true` the pages become
    /// scavenged, when it returns `false` (the OS refused) scavenging stops there. Returns the
    /// bytes released, rounded up to whole pages.
    pub fn scavenge(
        &mut self,
        nbytes: usize,
        release: &mut dyn FnMut(usize, usize) -> bool,
    ) -> usize {
        self.scavenge_with(nbytes, true, release)
    }

    /// [`PageAlloc::scavenge`], choosing whether dense chunks are skipped (`force = false`, the
    /// background scavenger's rule) or not.
    pub fn scavenge_with(
        &mut self,
        nbytes: usize,
        force: bool,
        release: &mut dyn FnMut(usize, usize) -> bool,
    ) -> usize {
        let mut released = 0;
        while released < nbytes {
            let want = (nbytes - released).div_ceil(PAGE_SIZE);
            let Some((addr, npages)) = self.find_scavenge_candidate(want, force) else {
                break;
            };
            let len = npages * PAGE_SIZE;
            if !release(addr, len) {
                break;
            }
            let (ci, first) = (chunk_index(addr), chunk_page_index(addr));
            self.chunks.get_mut(ci).scavenged.set_range(first, npages);
            self.chunks.refresh_dirty(ci);
            self.scav_pages += npages;
            released += len;
        }
        released
    }

    /// The next run to release (Go's `scavengeIndex.find` plus `findScavengeCandidate`): the top
    /// `min(run, max_pages)` pages of the highest run of free, unscavenged pages, in the highest
    /// chunk that has one and, unless `force`, is not dense (see the module docs). Returns its
    /// address and length in pages (at least 1, all inside one chunk).
    pub fn find_scavenge_candidate(&self, max_pages: usize, force: bool) -> Option<(usize, usize)> {
        let max_pages = max_pages.max(1);
        let mut limit = self.end; // chunks at or above this index hold nothing to release
        while let Some(ci) = self.chunks.highest_dirty_below(limit) {
            if self.chunks.scav_data(ci).should_scavenge(self.scav_gen, force) {
                let Some((lo, hi)) = self.chunks.get(ci).highest_unscavenged_free_run() else {
                    panic!("page allocator: dirty chunk {ci} has no unscavenged free page")
                };
                let take = (hi - lo).min(max_pages);
                return Some((chunk_base(ci) + (hi - take) * PAGE_SIZE, take));
            }
            limit = ci;
        }
        None
    }

    /// Mark a run returned by [`PageAlloc::find_scavenge_candidate`] in use while the caller
    /// releases it with the heap lock dropped (the first half of Go's `scavengeOne`). The
    /// density records do not change: the pages are not allocated, only held.
    pub fn take_for_scavenge(&mut self, addr: usize, npages: usize) {
        let (ci, first) = (chunk_index(addr), chunk_page_index(addr));
        assert!(
            npages > 0 && first + npages <= PALLOC_CHUNK_PAGES && addr % PAGE_SIZE == 0,
            "page allocator: scavenge run {addr:#x}+{npages} leaves its chunk"
        );
        let chunk = self.chunks.get_mut(ci);
        debug_assert_eq!(chunk.alloc.0.popcnt_range(first, npages), 0, "taking in-use pages");
        debug_assert_eq!(chunk.scavenged.popcnt_range(first, npages), 0, "taking scavenged pages");
        chunk.alloc.alloc_range(first, npages);
        self.chunks.refresh_dirty(ci);
        self.free_pages -= npages;
        self.scavenging += npages;
        self.update(addr, npages, true, true);
    }

    /// Give back a run taken by [`PageAlloc::take_for_scavenge`]: free again, and scavenged if
    /// `released` (the OS accepted the release). The second half of Go's `scavengeOne`.
    pub fn return_scavenged(&mut self, addr: usize, npages: usize, released: bool) {
        let (ci, first) = (chunk_index(addr), chunk_page_index(addr));
        assert!(self.scavenging >= npages, "page allocator: returning pages never taken");
        let chunk = self.chunks.get_mut(ci);
        debug_assert_eq!(chunk.alloc.0.popcnt_range(first, npages), npages, "returning free pages");
        chunk.alloc.free(first, npages);
        if released {
            chunk.scavenged.set_range(first, npages);
            self.scav_pages += npages;
        }
        self.chunks.refresh_dirty(ci);
        self.free_pages += npages;
        self.scavenging -= npages;
        if addr < self.search_addr {
            self.search_addr = addr;
        }
        self.update(addr, npages, true, false);
    }

    /// Start a new scavenge generation (Go's `scavengeIndex.nextGen`), once per GC cycle at mark
    /// termination: chunks that were dense only in the generation before last become eligible
    /// for background scavenging again.
    pub fn next_gen(&mut self) {
        self.scav_gen = self.scav_gen.wrapping_add(1);
    }

    /// The current scavenge generation.
    pub fn scav_gen(&self) -> u32 {
        self.scav_gen
    }

    /// Chunk `ci`'s scavenger record (for tests and heap verification).
    pub fn scav_chunk_data(&self, ci: usize) -> ScavChunkData {
        self.chunks.scav_data(ci)
    }

    /// Pages currently held by [`PageAlloc::take_for_scavenge`].
    pub fn scavenging_pages(&self) -> usize {
        self.scavenging
    }
}
