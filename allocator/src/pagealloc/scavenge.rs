//! Returning free pages to the OS (the page-allocator half of Go's `mgcscavenge.go`).
//!
//! The scavenger takes free, unscavenged pages from the highest addresses down: first-fit
//! allocation prefers low addresses, so high free pages are the least likely to be reused soon.
//! The chunk map's dirty index (`chunks.rs`) names the highest chunk with such pages in a
//! bounded number of word scans, so a call costs O(runs released), not O(heap), even when almost
//! everything is scavenged already. Pacing, goals and the memory limit are the collector's
//! business; this only performs a request.
//!
//! Go drops the heap lock around `madvise` and so marks the pages in use meanwhile; here the
//! caller keeps its lock for the whole call and `release` runs under it, so the pages are simply
//! marked scavenged after `release` succeeds.

use super::{chunk_base, PageAlloc};
use crate::consts::PAGE_SIZE;

impl PageAlloc {
    /// Release at least `nbytes` of free, unscavenged memory to the OS, highest addresses first
    /// (Go's `pageAlloc.scavenge`), or all of it if there is less; `usize::MAX` releases
    /// everything. For each run `release(addr, len)` is called (`len` a multiple of
    /// [`PAGE_SIZE`], the run inside one chunk); when it returns `true` the pages become
    /// scavenged, when it returns `false` (the OS refused) scavenging stops there. Returns the
    /// bytes released, rounded up to whole pages.
    pub fn scavenge(
        &mut self,
        nbytes: usize,
        release: &mut dyn FnMut(usize, usize) -> bool,
    ) -> usize {
        let mut released = 0;
        let mut limit = self.end; // chunks at or above this index hold nothing to release
        while released < nbytes {
            let Some(ci) = self.chunks.highest_dirty_below(limit) else {
                break;
            };
            while released < nbytes {
                let Some((lo, hi)) = self.chunks.get(ci).highest_unscavenged_free_run() else {
                    break;
                };
                let want = (nbytes - released).div_ceil(PAGE_SIZE);
                let take = (hi - lo).min(want);
                let first = hi - take;
                let (addr, len) = (chunk_base(ci) + first * PAGE_SIZE, take * PAGE_SIZE);
                if !release(addr, len) {
                    return released;
                }
                self.chunks.get_mut(ci).scavenged.set_range(first, take);
                self.chunks.refresh_dirty(ci);
                self.scav_pages += take;
                released += len;
            }
            limit = ci;
        }
        released
    }
}
