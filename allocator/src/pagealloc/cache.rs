//! The per-P page cache (Go's `mpagecache.go`): a 64-page aligned window of free pages that a P
//! takes from the page allocator under the heap lock in one go, then allocates small spans from
//! with no lock at all.
//!
//! Small spans (under 16 pages) are most span allocations; taking the heap lock for each would
//! serialise every P's mcache refills. [`PageAlloc::alloc_to_cache`] instead marks all free pages
//! of the window holding the lowest free page as in use and hands them over as two bitmaps, free
//! and scavenged; the P then finds runs with a count of trailing zeros or [`find_bit_range64`].
//! The pages stay "in use" for the page allocator until [`PageCache::flush`] gives the unused
//! ones back with their scavenged bits, which Go does for idle Ps at mark termination and when a
//! P is destroyed.

use super::bits::find_bit_range64;
use super::{chunk_index, chunk_page_index, PageAlloc, LEAF, MAX_SEARCH_ADDR};
use crate::consts::{PAGE_SIZE, PALLOC_CHUNK_PAGES};

/// Pages a [`PageCache`] covers (Go's `pageCachePages`): one 64-bit word of a chunk bitmap.
pub const PAGE_CACHE_PAGES: usize = 64;

/// A P's private window of free pages (Go's `pageCache`).
///
/// Deliberately neither `Clone` nor `Copy`: a copy would hand out the same pages twice.
#[derive(Debug, Default, PartialEq, Eq)]
#[doc(alias = "pageCache")]
pub struct PageCache {
    /// Address of the window's first page (64-page aligned).
    base: usize,
    /// Bit `i` set = page `i` of the window is free for this cache to hand out.
    cache: u64,
    /// Bit `i` set = page `i` is free here and scavenged (a subset of `cache`).
    scav: u64,
}

impl PageCache {
    /// A cache holding no pages.
    pub const fn empty() -> PageCache {
        PageCache { base: 0, cache: 0, scav: 0 }
    }

    /// Whether no page is left (Go's `pageCache.empty`).
    pub fn is_empty(&self) -> bool {
        self.cache == 0
    }

    /// Address of the window's first page.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Pages still free in the cache.
    pub fn free_pages(&self) -> usize {
        self.cache.count_ones() as usize
    }

    /// Pages still in the cache that are scavenged.
    pub fn scavenged_pages(&self) -> usize {
        self.scav.count_ones() as usize
    }

    /// Allocate the lowest run of `npages` pages of the window (Go's `pageCache.alloc` and
    /// `allocN`): returns its address and how many of its bytes were scavenged, or `None` if no
    /// run fits. The heap uses the cache for `npages < 16`; any `npages` in `1..=64` works.
    pub fn alloc(&mut self, npages: usize) -> Option<(usize, usize)> {
        if self.cache == 0 || !(1..=PAGE_CACHE_PAGES).contains(&npages) {
            return None;
        }
        let i = if npages == 1 {
            self.cache.trailing_zeros() as usize
        } else {
            find_bit_range64(self.cache, npages)
        };
        if i >= 64 {
            return None;
        }
        let mask = (!0u64 >> (64 - npages)) << i;
        let scav = (self.scav & mask).count_ones() as usize;
        self.cache &= !mask;
        self.scav &= !mask;
        Some((self.base + i * PAGE_SIZE, scav * PAGE_SIZE))
    }

    /// Give the pages still in the cache back to `pa`, free and with their scavenged bits
    /// restored, and leave the cache empty (Go's `pageCache.flush`).
    pub fn flush(&mut self, pa: &mut PageAlloc) {
        if self.cache == 0 {
            *self = PageCache::empty();
            return;
        }
        let ci = chunk_index(self.base);
        let pi = chunk_page_index(self.base);
        let chunk = pa.chunks.get_mut(ci);
        debug_assert_eq!(chunk.alloc.pages64(pi) & self.cache, self.cache, "flushing free pages");
        debug_assert_eq!(self.scav & !self.cache, 0, "cache scavenged bits outside its free pages");
        chunk.alloc.free_pages64(pi, self.cache);
        chunk.scavenged.set_block64(pi, self.scav);
        pa.chunks.refresh_dirty(ci);
        let (n, gen) = (self.cache.count_ones() as usize, pa.scav_gen);
        pa.chunks.update_scav_data(ci, |d| d.free(n, gen));
        pa.free_pages += self.cache.count_ones() as usize;
        pa.scav_pages += self.scav.count_ones() as usize;
        if self.base < pa.search_addr {
            pa.search_addr = self.base;
        }
        pa.update(self.base, PAGE_CACHE_PAGES, false, false);
        *self = PageCache::empty();
    }
}

impl PageAlloc {
    /// Take the 64-page aligned window holding the lowest free page for a P's cache (Go's
    /// `pageAlloc.allocToCache`): every free page of the window becomes in use here and free in
    /// the returned cache. Returns an empty cache if the heap has no free page.
    pub fn alloc_to_cache(&mut self) -> PageCache {
        if chunk_index(self.search_addr) >= self.end {
            return PageCache::empty();
        }
        let sci = chunk_index(self.search_addr);
        let (ci, page) = if !self.summary.get(LEAF, sci).is_empty() {
            // The chunk at the search address has a free page, necessarily at or after it.
            let Some(j) = self.chunks.get(sci).alloc.find1(chunk_page_index(self.search_addr))
            else {
                panic!("page allocator: chunk {sci} summary promised a free page")
            };
            (sci, j)
        } else {
            match self.find(1) {
                Some((addr, _)) => (chunk_index(addr), chunk_page_index(addr)),
                None => {
                    self.search_addr = MAX_SEARCH_ADDR;
                    return PageCache::empty();
                }
            }
        };
        let window = page & !(PAGE_CACHE_PAGES - 1);
        debug_assert!(window + PAGE_CACHE_PAGES <= PALLOC_CHUNK_PAGES);
        let chunk = self.chunks.get_mut(ci);
        let cache = !chunk.alloc.pages64(window);
        let scav = chunk.scavenged.block64(window) & cache;
        chunk.alloc.alloc_pages64(window, cache);
        chunk.scavenged.clear_block64(window, scav);
        self.chunks.refresh_dirty(ci);
        let (n, gen) = (cache.count_ones() as usize, self.scav_gen);
        self.chunks.update_scav_data(ci, |d| d.alloc(n, gen));
        self.free_pages -= cache.count_ones() as usize;
        self.scav_pages -= scav.count_ones() as usize;
        let base = super::chunk_base(ci) + window * PAGE_SIZE;
        self.update(base, PAGE_CACHE_PAGES, false, true);
        // The window's free pages are all taken now, and none lay below it (PA-1).
        self.search_addr = base + (PAGE_CACHE_PAGES - 1) * PAGE_SIZE;
        PageCache { base, cache, scav }
    }
}
