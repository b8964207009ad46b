//! Per-chunk page bitmaps (Go's `mpallocbits.go`): one bit per 8 KiB page of a 4 MiB chunk.
//!
//! [`PageBits`] is the plain 512-bit set with range operations. [`PallocBits`] reads it as an
//! allocation bitmap (1 = page in use, 0 = free) and adds the searches the page allocator needs:
//! the first free page ([`PallocBits::find1`]), the first run of up to 64 free pages
//! ([`PallocBits::find_small_n`]) and the first longer run ([`PallocBits::find_large_n`]), plus
//! [`PallocBits::summarize`], which condenses the bitmap into the leaf entry of the summary tree.
//! [`PallocData`] pairs the allocation bitmap with the scavenged bitmap (1 = page returned to the
//! OS).
//!
//! All searches work a 64-bit word at a time: a full word is skipped with one comparison, and runs
//! inside a word are found with trailing/leading-zero counts or [`find_bit_range64`]'s
//! shift-and-AND doubling, so a chunk costs at most 8 word steps plus O(log n) per word.
//!
//! Invariant kept by the page allocator (not by these types, which are plain data): in an in-use
//! chunk every scavenged page is free, `scavenged ⊆ !alloc`.

use super::summary::PallocSum;
use crate::consts::PALLOC_CHUNK_PAGES;

/// 64-bit words in one chunk bitmap (8).
pub const CHUNK_WORDS: usize = PALLOC_CHUNK_PAGES / 64;

/// Mask of bits `[lo, hi)` of one word, for `0 <= lo < hi <= 64`.
#[inline]
fn word_mask(lo: usize, hi: usize) -> u64 {
    debug_assert!(lo < hi && hi <= 64);
    (!0u64 >> (64 - (hi - lo))) << lo
}

/// Mask of bits `0..=k` of one word.
#[inline]
pub(crate) fn mask_through(k: usize) -> u64 {
    !0u64 >> (63 - k)
}

/// Calls `f(word, mask)` for every word that bits `[i, i+n)` touch, lowest word first.
#[inline]
fn for_each_word(i: usize, n: usize, mut f: impl FnMut(usize, u64)) {
    if n == 0 {
        return;
    }
    let end = i + n;
    debug_assert!(end <= PALLOC_CHUNK_PAGES);
    let mut w = i / 64;
    while w * 64 < end {
        let lo = i.max(w * 64) - w * 64;
        let hi = end.min(w * 64 + 64) - w * 64;
        f(w, word_mask(lo, hi));
        w += 1;
    }
}

/// A 512-bit set, one bit per page of a chunk (Go's `pageBits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[doc(alias = "pageBits")]
pub struct PageBits(pub [u64; CHUNK_WORDS]);

impl PageBits {
    /// Whether bit `i` is set (Go's `pageBits.get`).
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        (self.0[i / 64] >> (i % 64)) & 1 != 0
    }

    /// The 64-bit word holding bit `i` (Go's `pageBits.block64`).
    #[inline]
    pub fn block64(&self, i: usize) -> u64 {
        self.0[i / 64]
    }

    /// Set bit `i` (Go's `pageBits.set`).
    #[inline]
    pub fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    /// Set bits `[i, i+n)` (Go's `pageBits.setRange`).
    pub fn set_range(&mut self, i: usize, n: usize) {
        for_each_word(i, n, |w, m| self.0[w] |= m);
    }

    /// Set every bit (Go's `pageBits.setAll`).
    pub fn set_all(&mut self) {
        self.0 = [!0; CHUNK_WORDS];
    }

    /// OR `v` into the word holding bit `i` (Go's `pageBits.setBlock64`).
    #[inline]
    pub fn set_block64(&mut self, i: usize, v: u64) {
        self.0[i / 64] |= v;
    }

    /// Clear bit `i` (Go's `pageBits.clear`).
    #[inline]
    pub fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }

    /// Clear bits `[i, i+n)` (Go's `pageBits.clearRange`).
    pub fn clear_range(&mut self, i: usize, n: usize) {
        for_each_word(i, n, |w, m| self.0[w] &= !m);
    }

    /// Clear every bit (Go's `pageBits.clearAll`).
    pub fn clear_all(&mut self) {
        self.0 = [0; CHUNK_WORDS];
    }

    /// Clear the bits of `v` in the word holding bit `i` (Go's `pageBits.clearBlock64`).
    #[inline]
    pub fn clear_block64(&mut self, i: usize, v: u64) {
        self.0[i / 64] &= !v;
    }

    /// Number of set bits in `[i, i+n)` (Go's `pageBits.popcntRange`).
    pub fn popcnt_range(&self, i: usize, n: usize) -> usize {
        let mut s = 0;
        for_each_word(i, n, |w, m| s += (self.0[w] & m).count_ones() as usize);
        s
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// First index of `n` consecutive 1 bits in `c`, or 64 if there is none (Go's
/// `findBitRange64`). `n` must be in `1..=64`.
///
/// After a step, bit `i` of the working value says "bits `i..i+have` of `c` are all 1". ANDing
/// the value with itself shifted right by `step <= have` extends every such run to
/// `have + step`, so `have` doubles each step and n bits take O(log n) steps.
#[doc(alias = "findBitRange64")]
pub fn find_bit_range64(c: u64, n: usize) -> usize {
    debug_assert!((1..=64).contains(&n));
    let mut c = c;
    let mut have = 1;
    while have < n && c != 0 {
        let step = (n - have).min(have);
        c &= c >> step;
        have += step;
    }
    c.trailing_zeros() as usize
}

/// Length of the longest run of 1 bits in `y`. Each step shortens every run by one bit, so the
/// loop runs as many times as the longest run is long (at most 64).
fn longest_ones(mut y: u64) -> usize {
    let mut n = 0;
    while y != 0 {
        y &= y << 1;
        n += 1;
    }
    n
}

/// A chunk's allocation bitmap: bit set = page in use (Go's `pallocBits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
#[doc(alias = "pallocBits")]
pub struct PallocBits(pub PageBits);

impl PallocBits {
    /// The words of the bitmap, with the pages below `search_idx` forced to "in use" so that
    /// searches start there.
    #[inline]
    fn word_from(&self, w: usize, search_idx: usize) -> u64 {
        let x = self.0 .0[w];
        if w == search_idx / 64 && search_idx % 64 != 0 {
            x | word_mask(0, search_idx % 64)
        } else {
            x
        }
    }

    /// The (start, max, end) free-page summary of this chunk (Go's `pallocBits.summarize`).
    ///
    /// One pass over the words finds the free run at the start, the run at the end and every run
    /// that crosses a word boundary or fills words. Runs strictly inside one word are looked for
    /// only in words with more free bits than the best run so far.
    pub fn summarize(&self) -> PallocSum {
        let words = &self.0 .0;
        let mut start = None;
        let mut most = 0;
        let mut cur = 0;
        for &x in words {
            if x == 0 {
                cur += 64;
                continue;
            }
            cur += x.trailing_zeros() as usize;
            start.get_or_insert(cur);
            most = most.max(cur);
            cur = x.leading_zeros() as usize;
        }
        let Some(start) = start else {
            return PallocSum::pack(PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES);
        };
        most = most.max(cur);
        for &x in words {
            if x == 0 || x == !0 {
                continue;
            }
            let inner_free =
                64 - (x.count_ones() + x.trailing_zeros() + x.leading_zeros()) as usize;
            if inner_free > most {
                // The edge runs of the word were counted above, so the longest run of free
                // bits anywhere in the word is either one of them or an interior one.
                most = most.max(longest_ones(!x));
            }
        }
        PallocSum::pack(start, most, cur)
    }

    /// First run of `npages` free pages at or after page `search_idx` (Go's `pallocBits.find`).
    /// Returns the run's first page and the first free page at or after `search_idx` (the next
    /// search hint), or `None` if there is no such run.
    pub fn find(&self, npages: usize, search_idx: usize) -> Option<(usize, usize)> {
        match npages {
            0 => None,
            1 => self.find1(search_idx).map(|i| (i, i)),
            2..=64 => self.find_small_n(npages, search_idx),
            _ => self.find_large_n(npages, search_idx),
        }
    }

    /// First free page at or after `search_idx` (Go's `pallocBits.find1`).
    pub fn find1(&self, search_idx: usize) -> Option<usize> {
        (search_idx / 64..CHUNK_WORDS).find_map(|w| {
            let x = self.word_from(w, search_idx);
            (x != !0).then(|| w * 64 + (!x).trailing_zeros() as usize)
        })
    }

    /// First run of `npages <= 64` free pages at or after `search_idx`; such a run lies in one
    /// word or straddles one word boundary (Go's `pallocBits.findSmallN`). Returns the run and
    /// the first free page seen, as [`PallocBits::find`].
    pub fn find_small_n(&self, npages: usize, search_idx: usize) -> Option<(usize, usize)> {
        debug_assert!((1..=64).contains(&npages));
        let mut tail = 0; // free pages at the top of the previous word
        let mut first_free = None;
        for w in search_idx / 64..CHUNK_WORDS {
            let x = self.word_from(w, search_idx);
            if x == !0 {
                tail = 0;
                continue;
            }
            let first = *first_free.get_or_insert(w * 64 + (!x).trailing_zeros() as usize);
            let head = x.trailing_zeros() as usize;
            if tail + head >= npages {
                return Some((w * 64 - tail, first));
            }
            let j = find_bit_range64(!x, npages);
            if j < 64 {
                return Some((w * 64 + j, first));
            }
            tail = x.leading_zeros() as usize;
        }
        None
    }

    /// First run of `npages > 64` free pages at or after `search_idx`; such a run always starts
    /// with the free top of some word (Go's `pallocBits.findLargeN`). Returns the run and the
    /// first free page seen, as [`PallocBits::find`].
    pub fn find_large_n(&self, npages: usize, search_idx: usize) -> Option<(usize, usize)> {
        let mut run_start = 0;
        let mut size = 0;
        let mut first_free = None;
        for w in search_idx / 64..CHUNK_WORDS {
            let x = self.word_from(w, search_idx);
            if x == !0 {
                size = 0;
                continue;
            }
            let first = *first_free.get_or_insert(w * 64 + (!x).trailing_zeros() as usize);
            if size > 0 {
                let head = x.trailing_zeros() as usize;
                if size + head >= npages {
                    return Some((run_start, first));
                }
                if head == 64 {
                    size += 64;
                    continue;
                }
            }
            // Start a new candidate run with this word's free top.
            size = x.leading_zeros() as usize;
            run_start = w * 64 + 64 - size;
        }
        match first_free {
            Some(first) if size >= npages => Some((run_start, first)),
            _ => None,
        }
    }

    /// Mark pages `[i, i+n)` in use (Go's `pallocBits.allocRange`).
    pub fn alloc_range(&mut self, i: usize, n: usize) {
        self.0.set_range(i, n);
    }

    /// Mark every page in use (Go's `pallocBits.allocAll`).
    pub fn alloc_all(&mut self) {
        self.0.set_all();
    }

    /// Mark page `i` free (Go's `pallocBits.free1`).
    pub fn free1(&mut self, i: usize) {
        self.0.clear(i);
    }

    /// Mark pages `[i, i+n)` free (Go's `pallocBits.free`).
    pub fn free(&mut self, i: usize, n: usize) {
        self.0.clear_range(i, n);
    }

    /// Mark every page free (Go's `pallocBits.freeAll`).
    pub fn free_all(&mut self) {
        self.0.clear_all();
    }

    /// The 64-page word holding page `i` (Go's `pallocBits.pages64`).
    pub fn pages64(&self, i: usize) -> u64 {
        self.0.block64(i)
    }

    /// Mark the pages of `alloc` in use in the word holding page `i` (Go's
    /// `pallocBits.allocPages64`).
    pub fn alloc_pages64(&mut self, i: usize, alloc: u64) {
        self.0.set_block64(i, alloc);
    }

    /// Mark the pages of `free` free in the word holding page `i`.
    pub fn free_pages64(&mut self, i: usize, free: u64) {
        self.0.clear_block64(i, free);
    }
}

/// A chunk's allocation and scavenged bitmaps (Go's `pallocData`). All-zero is a chunk whose
/// pages are free and unscavenged; the page allocator stores these in zero-filled OS memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[doc(alias = "pallocData")]
pub struct PallocData {
    /// Bit set = page in use.
    pub alloc: PallocBits,
    /// Bit set = page returned to the OS (only ever set on free pages).
    pub scavenged: PageBits,
}

impl PallocData {
    /// Mark pages `[i, i+n)` in use and no longer scavenged (Go's `pallocData.allocRange`).
    pub fn alloc_range(&mut self, i: usize, n: usize) {
        self.alloc.alloc_range(i, n);
        self.scavenged.clear_range(i, n);
    }

    /// Mark every page in use and none scavenged (Go's `pallocData.allocAll`).
    pub fn alloc_all(&mut self) {
        self.alloc.alloc_all();
        self.scavenged.clear_all();
    }

    /// The word of pages that are free and not scavenged, for word `w`.
    #[inline]
    fn unscavenged_free_word(&self, w: usize) -> u64 {
        !self.alloc.0 .0[w] & !self.scavenged.0[w]
    }

    /// Whether some page is free and not scavenged (a scavenging candidate).
    pub fn has_unscavenged_free(&self) -> bool {
        (0..CHUNK_WORDS).any(|w| self.unscavenged_free_word(w) != 0)
    }

    /// Number of free pages.
    pub fn free_count(&self) -> usize {
        PALLOC_CHUNK_PAGES - self.alloc.0.count()
    }

    /// The highest run of free, unscavenged pages as page indices `[lo, hi)` (the scavenger's
    /// candidate, Go's `pallocData.findScavengeCandidate` without its alignment rules, which
    /// matter only when the OS page is larger than ours).
    pub fn highest_unscavenged_free_run(&self) -> Option<(usize, usize)> {
        let mut w = (0..CHUNK_WORDS).rev().find(|&w| self.unscavenged_free_word(w) != 0)?;
        let x = self.unscavenged_free_word(w);
        let top = 63 - x.leading_zeros() as usize; // highest candidate bit in word w
        let hi = w * 64 + top + 1;
        // Run length downward from `top` inside word w.
        let run = (x << (63 - top)).leading_ones() as usize;
        let mut lo = hi - run;
        if run == top + 1 {
            // The run reaches bit 0: continue through lower words.
            while w > 0 {
                w -= 1;
                let ones = self.unscavenged_free_word(w).leading_ones() as usize;
                lo -= ones;
                if ones < 64 {
                    break;
                }
            }
        }
        Some((lo, hi))
    }
}
