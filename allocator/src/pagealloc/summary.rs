//! The summary tree's entries and its memory (Go's `pallocSum`, `mergeSummaries`, and the
//! `summary` arrays of `mpagealloc_64bit.go`).
//!
//! A [`PallocSum`] describes a region of the address space by three free-page counts: `start`
//! (free pages at its low end), `max` (the longest free run anywhere in it) and `end` (free pages
//! at its high end). Level 4 has one entry per 4 MiB chunk; each level above has one entry per
//! 8 entries below ([`merge`]); level 0, the root, has 2^13 entries of 16 GiB. With 47 address
//! bits the root's entries cover 2^21 pages, and the counts are packed as three 21-bit fields,
//! the all-free root entry (three times 2^21, which does not fit) being encoded by bit 63 alone.
//!
//! Each level is an array indexed by address (`addr >> LEVEL_SHIFT[l]`), so the arrays for the
//! whole 2^47-byte space are reserved up front (292 MiB of inaccessible address space, no memory)
//! and only the OS pages that cover grown parts of the heap are mapped.
//!
//! Invariants of the level storage (`Summaries`):
//! - SUM-1: every entry read or written lies in an OS page recorded as mapped; accessors check
//!   this with `assert!`, so a wrong index panics instead of touching `PROT_NONE` memory.
//! - SUM-2: a mapped page is never unmapped before `Summaries::unmap` consumes the storage.
//! - SUM-3: entries of mapped pages that were never written are zero ("no free pages"), which is
//!   what fresh anonymous memory reads as.

use crate::consts::{HEAP_ADDR_BITS, PALLOC_CHUNK_BYTES, PALLOC_CHUNK_PAGES};
use crate::os::{Os, OsError, OS_PAGE_SIZE};

/// Number of levels of the summary tree (Go's `summaryLevels`).
pub const SUMMARY_LEVELS: usize = 5;
/// Index of the leaf level (one entry per chunk).
pub const LEAF: usize = SUMMARY_LEVELS - 1;
/// log2 of the fan-out below the root (Go's `summaryLevelBits`).
pub const SUMMARY_LEVEL_BITS: usize = 3;
/// log2 of the chunk size in bytes (Go's `logPallocChunkBytes`, 22).
pub const LOG_PALLOC_CHUNK_BYTES: usize = PALLOC_CHUNK_BYTES.trailing_zeros() as usize;
/// log2 of the pages per chunk (Go's `logPallocChunkPages`, 9).
pub const LOG_PALLOC_CHUNK_PAGES: usize = PALLOC_CHUNK_PAGES.trailing_zeros() as usize;
/// log2 of the root level's length (Go's `summaryL0Bits`): what remains of the address bits
/// once the chunk offset and the lower levels' fan-outs are taken (47 − 22 − 4·3 = 13).
pub const SUMMARY_L0_BITS: usize =
    HEAP_ADDR_BITS - LOG_PALLOC_CHUNK_BYTES - (SUMMARY_LEVELS - 1) * SUMMARY_LEVEL_BITS;

/// log2 of the number of entries of each level that share one parent; for the root, its whole
/// length (Go's `levelBits`).
pub const LEVEL_BITS: [usize; SUMMARY_LEVELS] = [
    SUMMARY_L0_BITS,
    SUMMARY_LEVEL_BITS,
    SUMMARY_LEVEL_BITS,
    SUMMARY_LEVEL_BITS,
    SUMMARY_LEVEL_BITS,
];

/// Shift from an address to its entry index at each level (Go's `levelShift`): 34, 31, 28, 25,
/// 22, i.e. entries of 16 GiB, 2 GiB, 256 MiB, 32 MiB and 4 MiB.
pub const LEVEL_SHIFT: [usize; SUMMARY_LEVELS] = [
    HEAP_ADDR_BITS - SUMMARY_L0_BITS,
    HEAP_ADDR_BITS - SUMMARY_L0_BITS - SUMMARY_LEVEL_BITS,
    HEAP_ADDR_BITS - SUMMARY_L0_BITS - 2 * SUMMARY_LEVEL_BITS,
    HEAP_ADDR_BITS - SUMMARY_L0_BITS - 3 * SUMMARY_LEVEL_BITS,
    HEAP_ADDR_BITS - SUMMARY_L0_BITS - 4 * SUMMARY_LEVEL_BITS,
];

/// log2 of the pages one entry of each level covers (Go's `levelLogPages`): 21, 18, 15, 12, 9.
pub const LEVEL_LOG_PAGES: [usize; SUMMARY_LEVELS] = [
    LOG_PALLOC_CHUNK_PAGES + 4 * SUMMARY_LEVEL_BITS,
    LOG_PALLOC_CHUNK_PAGES + 3 * SUMMARY_LEVEL_BITS,
    LOG_PALLOC_CHUNK_PAGES + 2 * SUMMARY_LEVEL_BITS,
    LOG_PALLOC_CHUNK_PAGES + SUMMARY_LEVEL_BITS,
    LOG_PALLOC_CHUNK_PAGES,
];

/// Width of each packed count (Go's `logMaxPackedValue`, 21).
pub const LOG_MAX_PACKED_VALUE: usize = LEVEL_LOG_PAGES[0];
/// The largest count an entry holds: a fully free root entry (Go's `maxPackedValue`, 2^21).
pub const MAX_PACKED_VALUE: usize = 1 << LOG_MAX_PACKED_VALUE;

const FIELD_MASK: u64 = (MAX_PACKED_VALUE as u64) - 1;
const ALL_MAX_BIT: u64 = 1 << 63;

const _: () = assert!(3 * LOG_MAX_PACKED_VALUE <= 63, "three counts and the flag fit a u64");
const _: () = assert!(LEVEL_SHIFT[LEAF] == LOG_PALLOC_CHUNK_BYTES);

/// A packed (start, max, end) free-page summary of one region (Go's `pallocSum`).
///
/// Zero means "no free page", so fresh zeroed memory is a valid level array.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
#[doc(alias = "pallocSum")]
pub struct PallocSum(u64);

impl PallocSum {
    /// The summary of a region with no free page.
    pub const EMPTY: PallocSum = PallocSum(0);
    /// The summary of a fully free chunk (Go's `freeChunkSum`).
    pub const FREE_CHUNK: PallocSum =
        PallocSum::pack(PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES);

    /// Pack three counts, each at most [`MAX_PACKED_VALUE`] (Go's `packPallocSum`). When `max`
    /// is the largest value the region is entirely free, so all three equal it and bit 63 alone
    /// stands for the triple.
    pub const fn pack(start: usize, max: usize, end: usize) -> PallocSum {
        if max == MAX_PACKED_VALUE {
            return PallocSum(ALL_MAX_BIT);
        }
        PallocSum(
            (start as u64 & FIELD_MASK)
                | ((max as u64 & FIELD_MASK) << LOG_MAX_PACKED_VALUE)
                | ((end as u64 & FIELD_MASK) << (2 * LOG_MAX_PACKED_VALUE)),
        )
    }

    /// The raw packed word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Whether the region has no free page.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Free pages at the region's low end (Go's `pallocSum.start`).
    pub const fn start(self) -> usize {
        if self.0 & ALL_MAX_BIT != 0 {
            return MAX_PACKED_VALUE;
        }
        (self.0 & FIELD_MASK) as usize
    }

    /// Longest free run in the region (Go's `pallocSum.max`).
    pub const fn max(self) -> usize {
        if self.0 & ALL_MAX_BIT != 0 {
            return MAX_PACKED_VALUE;
        }
        ((self.0 >> LOG_MAX_PACKED_VALUE) & FIELD_MASK) as usize
    }

    /// Free pages at the region's high end (Go's `pallocSum.end`).
    pub const fn end(self) -> usize {
        if self.0 & ALL_MAX_BIT != 0 {
            return MAX_PACKED_VALUE;
        }
        ((self.0 >> (2 * LOG_MAX_PACKED_VALUE)) & FIELD_MASK) as usize
    }

    /// `(start, max, end)` (Go's `pallocSum.unpack`).
    pub const fn unpack(self) -> (usize, usize, usize) {
        (self.start(), self.max(), self.end())
    }
}

/// Summary of a region made of consecutive sub-regions of `2^log_pages_per_sum` pages each,
/// from their summaries in address order (Go's `mergeSummaries`).
///
/// `start` keeps growing only while every sub-region so far is entirely free; `end` restarts at
/// each sub-region that is not entirely free; `max` is the best of the sub-regions' own maxima and
/// of each run that straddles a boundary (the running `end` plus the next `start`).
#[doc(alias = "mergeSummaries")]
pub fn merge(sums: &[PallocSum], log_pages_per_sum: usize) -> PallocSum {
    let full = 1usize << log_pages_per_sum;
    let (mut start, mut most, mut end) = sums[0].unpack();
    for (i, s) in sums.iter().enumerate().skip(1) {
        let (si, mi, ei) = s.unpack();
        if start == i * full {
            start += si;
        }
        most = most.max(end + si).max(mi);
        end = if ei == full { end + full } else { ei };
    }
    PallocSum::pack(start, most, end)
}

/// Entries of level `level` in the whole address space.
pub const fn level_len(level: usize) -> usize {
    1 << (HEAP_ADDR_BITS - LEVEL_SHIFT[level])
}

const SUM_BYTES: usize = core::mem::size_of::<PallocSum>();

/// One level's slice of the reservation.
#[derive(Debug)]
struct Level {
    /// Address of entry 0 (OS-page aligned).
    base: usize,
    /// Entries in the level.
    len: usize,
    /// One bit per OS page of the level: set once that page is mapped read-write.
    mapped: Vec<u64>,
}

impl Level {
    fn page_mapped(&self, p: usize) -> bool {
        (self.mapped[p / 64] >> (p % 64)) & 1 != 0
    }

    /// Whether every OS page holding entries `[lo, hi)` is mapped (`lo < hi <= len`).
    fn range_mapped(&self, lo: usize, hi: usize) -> bool {
        lo < hi
            && hi <= self.len
            && (lo * SUM_BYTES / OS_PAGE_SIZE..=(hi * SUM_BYTES - 1) / OS_PAGE_SIZE)
                .all(|p| self.page_mapped(p))
    }
}

/// The level arrays of the summary tree: one reservation for all five levels, mapped piecewise.
#[derive(Debug)]
pub(crate) struct Summaries {
    /// Start of the reservation.
    base: usize,
    /// Bytes reserved.
    size: usize,
    levels: [Level; SUMMARY_LEVELS],
}

impl Summaries {
    /// Reserve (`PROT_NONE`) the arrays of every level for the whole address space.
    pub(crate) fn reserve(os: &Os) -> Result<Summaries, OsError> {
        let bytes: [usize; SUMMARY_LEVELS] = core::array::from_fn(|l| level_len(l) * SUM_BYTES);
        let size: usize = bytes.iter().sum();
        let base = os.reserve(size, OS_PAGE_SIZE, None)?;
        let mut off = 0;
        let levels = core::array::from_fn(|l| {
            let level = Level {
                base: base + off,
                len: level_len(l),
                mapped: vec![0; (bytes[l] / OS_PAGE_SIZE).div_ceil(64)],
            };
            off += bytes[l];
            level
        });
        Ok(Summaries { base, size, levels })
    }

    /// Make entries `[lo, hi)` of `level` accessible, mapping whichever of their OS pages are not
    /// mapped yet. On error, the pages mapped before the failure stay mapped and recorded.
    pub(crate) fn ensure_mapped(
        &mut self,
        os: &Os,
        level: usize,
        lo: usize,
        hi: usize,
    ) -> Result<(), OsError> {
        let lvl = &mut self.levels[level];
        assert!(lo < hi && hi <= lvl.len, "summary range [{lo}, {hi}) out of level {level}");
        let first = lo * SUM_BYTES / OS_PAGE_SIZE;
        let last = (hi * SUM_BYTES - 1) / OS_PAGE_SIZE;
        let mut p = first;
        while p <= last {
            if lvl.page_mapped(p) {
                p += 1;
                continue;
            }
            let mut q = p + 1;
            while q <= last && !lvl.page_mapped(q) {
                q += 1;
            }
            // SAFETY: pages `p..q` lie in the level's own reservation, made by `os` (the
            // assertion above bounds them by the level's length).
            unsafe { os.map(lvl.base + p * OS_PAGE_SIZE, (q - p) * OS_PAGE_SIZE) }?;
            for i in p..q {
                lvl.mapped[i / 64] |= 1 << (i % 64);
            }
            p = q;
        }
        Ok(())
    }

    /// Entry `i` of `level`. Panics if its page is not mapped.
    #[inline]
    pub(crate) fn get(&self, level: usize, i: usize) -> PallocSum {
        self.block(level, i, 1)[0]
    }

    /// Set entry `i` of `level`. Panics if its page is not mapped.
    #[inline]
    pub(crate) fn set(&mut self, level: usize, i: usize, s: PallocSum) {
        self.block_mut(level, i, 1)[0] = s;
    }

    /// Entries `[lo, lo+n)` of `level`. Panics if any of their pages is not mapped.
    #[inline]
    pub(crate) fn block(&self, level: usize, lo: usize, n: usize) -> &[PallocSum] {
        let lvl = &self.levels[level];
        assert!(lvl.range_mapped(lo, lo + n), "summary[{level}][{lo}..+{n}] is not mapped");
        let ptr = (lvl.base + lo * SUM_BYTES) as *const PallocSum;
        // SAFETY: SUM-1 was just checked: the entries lie in pages of our reservation that are
        // mapped read-write, and SUM-2 keeps them mapped while `self` lives. The address is
        // 8-aligned (page-aligned base plus whole entries), any u64 is a valid `PallocSum`, and
        // no `&mut` to the level can exist while `&self` is borrowed.
        unsafe { core::slice::from_raw_parts(ptr, n) }
    }

    /// Entries `[lo, lo+n)` of `level`, writable. Panics if any of their pages is not mapped.
    #[inline]
    pub(crate) fn block_mut(&mut self, level: usize, lo: usize, n: usize) -> &mut [PallocSum] {
        let lvl = &self.levels[level];
        assert!(lvl.range_mapped(lo, lo + n), "summary[{level}][{lo}..+{n}] is not mapped");
        let ptr = (lvl.base + lo * SUM_BYTES) as *mut PallocSum;
        // SAFETY: as in `block` (SUM-1 checked, SUM-2, alignment, validity); `&mut self` makes
        // this the only reference into the reservation.
        unsafe { core::slice::from_raw_parts_mut(ptr, n) }
    }

    /// Whether entries `[lo, hi)` of `level` are mapped.
    pub(crate) fn is_mapped(&self, level: usize, lo: usize, hi: usize) -> bool {
        self.levels[level].range_mapped(lo, hi)
    }

    /// Bytes of summary memory mapped so far.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.mapped.iter().map(|w| w.count_ones() as usize).sum::<usize>())
            .sum::<usize>()
            * OS_PAGE_SIZE
    }

    /// Return the whole reservation to the OS.
    ///
    /// # Safety
    /// - `os` is the [`Os`] that [`Summaries::reserve`] was called with.
    pub(crate) unsafe fn unmap(self, os: &Os) {
        // SAFETY: the reservation was made by `os` (caller's promise) and `self` is consumed, so
        // no reference into it survives (SUM-2 ends here).
        unsafe { os.unmap(self.base, self.size) };
    }
}
