//! Tests of the page allocator (Go's `mpallocbits_test.go`, `mpagealloc_test.go`,
//! `mpagecache_test.go` and the page-allocator part of `mgcscavenge_test.go`), plus a seeded
//! random alloc/free/scavenge/cache sequence checked against a page-array model after each step.
//!
//! Heap addresses here are fake: the page allocator never touches the memory it manages, so any
//! chunk-aligned address below 2^47 will do.

use super::bits::{find_bit_range64, PageBits, PallocBits, CHUNK_WORDS};
use super::summary::{merge, PallocSum, MAX_PACKED_VALUE};
use super::MAX_SEARCH_ADDR;
use super::{chunk_index, chunk_page_index, PageAlloc, PageCache, ScavChunkData};
use crate::consts::{PAGE_SIZE, PALLOC_CHUNK_BYTES, PALLOC_CHUNK_PAGES};
use crate::os::Os;

/// Go's first arena hint, a typical heap base.
const BASE: usize = 0x00c0_0000_0000;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// xorshift64*: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
    /// A word whose bits are set with probability about `2^-k` (k = 0 gives ½, negative k
    /// gives denser words).
    fn word(&mut self, density: i32) -> u64 {
        let mut w = self.next();
        if density > 0 {
            for _ in 0..density {
                w &= self.next();
            }
        } else {
            for _ in 0..-density {
                w |= self.next();
            }
        }
        w
    }
    /// A chunk bitmap mixing sparse, dense, empty and full words.
    fn bitmap(&mut self) -> PallocBits {
        let mut b = PallocBits::default();
        for w in 0..CHUNK_WORDS {
            b.0 .0[w] = match self.range(0, 6) {
                0 => 0,
                1 => !0,
                k => self.word(k as i32 - 3),
            };
        }
        b
    }
}

fn new_pa() -> (Os, PageAlloc) {
    let os = Os::default();
    let pa = PageAlloc::new(&os).expect("reserve summaries");
    (os, pa)
}

fn pages(n: usize) -> usize {
    n * PAGE_SIZE
}

// ---------------------------------------------------------------------------------------------
// Bitmaps

fn brute_bit_range(c: u64, n: usize) -> usize {
    (0..=64 - n).find(|&i| (i..i + n).all(|b| (c >> b) & 1 == 1)).unwrap_or(64)
}

#[test]
fn find_bit_range64_matches_brute_force() {
    let mut rng = Rng::new(1);
    let mut words = vec![0, !0, 1, 1 << 63, 0x8000_0000_0000_0001, 0x0f0f_0f0f_0f0f_0f0f];
    for d in -2..=4 {
        for _ in 0..60 {
            words.push(rng.word(d));
        }
    }
    for _ in 0..60 {
        // Long runs of ones at random places.
        let (a, b) = (rng.range(0, 64), rng.range(0, 64));
        let (lo, hi) = (a.min(b), a.max(b) + 1);
        words.push(((!0u64 >> (64 - (hi - lo))) << lo) | rng.word(3));
    }
    for &c in &words {
        for n in 1..=64 {
            assert_eq!(find_bit_range64(c, n), brute_bit_range(c, n), "c={c:#x} n={n}");
        }
    }
}

#[test]
fn page_bits_range_ops_match_brute_force() {
    let mut rng = Rng::new(2);
    for _ in 0..500 {
        let mut b = PageBits(core::array::from_fn(|_| rng.word(0)));
        let mut model: Vec<bool> = (0..PALLOC_CHUNK_PAGES).map(|i| b.get(i)).collect();
        let i = rng.range(0, PALLOC_CHUNK_PAGES);
        let n = rng.range(1, PALLOC_CHUNK_PAGES - i + 1);
        let want = model[i..i + n].iter().filter(|&&x| x).count();
        assert_eq!(b.popcnt_range(i, n), want);
        if rng.range(0, 2) == 0 {
            b.set_range(i, n);
            model[i..i + n].fill(true);
        } else {
            b.clear_range(i, n);
            model[i..i + n].fill(false);
        }
        for (p, &m) in model.iter().enumerate() {
            assert_eq!(b.get(p), m, "page {p} after range op on [{i}, {})", i + n);
        }
        assert_eq!(b.count(), model.iter().filter(|&&x| x).count());
    }
}

/// Lowest run of `n` free pages at or after `search`, and the first free page at or after it.
fn brute_find(b: &PallocBits, n: usize, search: usize) -> Option<(usize, usize)> {
    let free = |i: usize| !b.0.get(i);
    let first = (search..PALLOC_CHUNK_PAGES).find(|&i| free(i))?;
    let at = (search..=PALLOC_CHUNK_PAGES.checked_sub(n)?).find(|&i| (i..i + n).all(free))?;
    Some((at, first))
}

#[test]
fn palloc_bits_find_matches_brute_force() {
    let mut rng = Rng::new(3);
    let sizes = [1, 2, 3, 7, 16, 33, 63, 64, 65, 100, 128, 200, 300, 511, 512];
    for _ in 0..300 {
        let b = rng.bitmap();
        for &n in &sizes {
            for search in [0, 1, 63, 64, 100, rng.range(0, PALLOC_CHUNK_PAGES)] {
                // Go's contract: no free page below the search index. Test the plain search
                // (which we make hold by masking) against brute force.
                let mut masked = b;
                masked.alloc_range(0, search);
                let want = brute_find(&masked, n, search);
                assert_eq!(b.find(n, search), want, "n={n} search={search} bits={:x?}", b.0 .0);
                if n == 1 {
                    assert_eq!(b.find1(search), want.map(|w| w.0));
                }
            }
        }
    }
}

#[test]
fn palloc_bits_find_on_patterns() {
    let mut b = PallocBits::default();
    assert_eq!(b.find1(0), Some(0));
    assert_eq!(b.find_small_n(64, 0), Some((0, 0)));
    assert_eq!(b.find_large_n(512, 0), Some((0, 0)));
    assert_eq!(b.find_large_n(512, 1), None);
    assert_eq!(b.find_large_n(511, 1), Some((1, 1)));
    b.alloc_all();
    assert_eq!(b.find1(0), None);
    assert_eq!(b.find_small_n(2, 0), None);
    assert_eq!(b.find_large_n(65, 0), None);
    // Only pages 100..=165 free: a 66-page run crossing two word boundaries.
    b.free(100, 66);
    assert_eq!(b.find1(0), Some(100));
    assert_eq!(b.find_small_n(64, 0), Some((100, 100)));
    assert_eq!(b.find_large_n(66, 0), Some((100, 100)));
    assert_eq!(b.find_large_n(67, 0), None);
    assert_eq!(b.find_small_n(28, 0), Some((100, 100)));
    // Pages 60..=67 free too: an 8-page run straddling words 0 and 1 comes first.
    b.free(60, 8);
    assert_eq!(b.find_small_n(8, 0), Some((60, 60)));
    assert_eq!(b.find_small_n(9, 0), Some((100, 60)));
    assert_eq!(b.find_small_n(8, 64), Some((100, 64))); // only 4 of them at or after 64
    assert_eq!(b.find_small_n(4, 64), Some((64, 64)));
    // The last page only.
    let mut c = PallocBits::default();
    c.alloc_all();
    c.free1(511);
    assert_eq!(c.find1(0), Some(511));
    assert_eq!(c.find_small_n(2, 0), None);
    c.free(448, 64);
    assert_eq!(c.find_large_n(64, 0), Some((448, 448)));
    assert_eq!(c.find_large_n(65, 0), None);
}

/// (start, max, end) of a free-page vector.
fn brute_summary(free: &[bool]) -> (usize, usize, usize) {
    let start = free.iter().take_while(|&&f| f).count();
    let end = free.iter().rev().take_while(|&&f| f).count();
    let (mut most, mut cur) = (0, 0);
    for &f in free {
        cur = if f { cur + 1 } else { 0 };
        most = most.max(cur);
    }
    (start, most, end)
}

fn free_vec(b: &PallocBits) -> Vec<bool> {
    (0..PALLOC_CHUNK_PAGES).map(|i| !b.0.get(i)).collect()
}

#[test]
fn summarize_matches_brute_force() {
    let mut rng = Rng::new(4);
    let mut cases = vec![PallocBits::default(), PallocBits(PageBits([!0; CHUNK_WORDS]))];
    for i in [0, 1, 63, 64, 255, 511] {
        let mut one_free = PallocBits(PageBits([!0; CHUNK_WORDS]));
        one_free.free1(i);
        let mut one_used = PallocBits::default();
        one_used.alloc_range(i, 1);
        cases.push(one_free);
        cases.push(one_used);
    }
    for _ in 0..2000 {
        cases.push(rng.bitmap());
    }
    for b in &cases {
        assert_eq!(b.summarize().unpack(), brute_summary(&free_vec(b)), "bits={:x?}", b.0 .0);
    }
}

#[test]
fn pack_unpack_round_trips() {
    let mut rng = Rng::new(5);
    for _ in 0..10_000 {
        let max = rng.range(0, MAX_PACKED_VALUE);
        let start = rng.range(0, max + 1);
        let end = rng.range(0, max + 1);
        assert_eq!(PallocSum::pack(start, max, end).unpack(), (start, max, end));
    }
    let m = MAX_PACKED_VALUE;
    let all = PallocSum::pack(m, m, m);
    assert_eq!(all.unpack(), (m, m, m));
    assert_eq!(all.raw(), 1 << 63);
    assert!(PallocSum::pack(0, 0, 0).is_empty());
    assert_eq!(PallocSum::FREE_CHUNK.unpack(), (512, 512, 512));
}

#[test]
fn merge_matches_brute_force() {
    let mut rng = Rng::new(6);
    for round in 0..60 {
        // 64 chunks; every chunk's bitmap random, fully free or fully used.
        let chunks: Vec<PallocBits> = (0..64)
            .map(|_| match rng.range(0, 4) {
                0 => PallocBits::default(),
                1 if round % 2 == 0 => PallocBits::default(),
                1 => PallocBits(PageBits([!0; CHUNK_WORDS])),
                _ => rng.bitmap(),
            })
            .collect();
        let free: Vec<bool> = chunks.iter().flat_map(free_vec).collect();
        let leaves: Vec<PallocSum> = chunks.iter().map(|c| c.summarize()).collect();
        let level3: Vec<PallocSum> = leaves.chunks(8).map(|g| merge(g, 9)).collect();
        for (k, s) in level3.iter().enumerate() {
            let want = brute_summary(&free[k * 4096..(k + 1) * 4096]);
            assert_eq!(s.unpack(), want, "round {round} group {k}");
        }
        assert_eq!(merge(&level3, 12).unpack(), brute_summary(&free));
    }
    // A fully free root entry (2^21 pages) takes the bit-63 encoding.
    let full = PallocSum::pack(1 << 18, 1 << 18, 1 << 18);
    assert_eq!(merge(&[full; 8], 18).unpack(), (1 << 21, 1 << 21, 1 << 21));
}

// ---------------------------------------------------------------------------------------------
// The allocator

#[test]
fn empty_allocator_has_nothing() {
    let (_os, mut pa) = new_pa();
    assert_eq!(pa.alloc(1), None);
    assert!(pa.alloc_to_cache().is_empty());
    assert_eq!(pa.scavenge(usize::MAX, &mut |_, _| panic!("nothing to release")), 0);
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (0, 0));
    assert_eq!(pa.in_use_ranges().count(), 0);
    pa.verify();
}

#[test]
fn alloc_is_lowest_address_first_fit() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(1), Some((BASE, pages(1))));
    assert_eq!(pa.alloc(2), Some((BASE + pages(1), pages(2))));
    assert_eq!(pa.alloc(5), Some((BASE + pages(3), pages(5))));
    pa.free(BASE + pages(1), 2); // hole of 2 at page 1
    assert_eq!(pa.alloc(3), Some((BASE + pages(8), pages(3)))); // does not fit the hole
    assert_eq!(pa.alloc(1), Some((BASE + pages(1), 0))); // freed, so not scavenged
    assert_eq!(pa.alloc(1), Some((BASE + pages(2), 0)));
    assert_eq!(pa.alloc(1), Some((BASE + pages(11), pages(1))));
    // Runs cross the chunk boundary freely.
    assert_eq!(pa.alloc(505), Some((BASE + pages(12), pages(505))));
    assert_eq!(pa.alloc(500), Some((BASE + pages(517), pages(500))));
    assert_eq!(pa.alloc(8), None);
    assert_eq!(pa.alloc(7), Some((BASE + pages(1017), pages(7))));
    assert_eq!(pa.alloc(1), None);
    assert_eq!(pa.free_pages(), 0);
    pa.verify();
}

#[test]
fn alloc_spans_chunks() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 8 * PALLOC_CHUNK_BYTES).unwrap(); // 4096 pages
    assert_eq!(pa.alloc(1), Some((BASE, pages(1))));
    assert_eq!(pa.alloc(600), Some((BASE + pages(1), pages(600))));
    assert_eq!(pa.alloc(2000), Some((BASE + pages(601), pages(2000))));
    pa.verify();
    pa.free(BASE + pages(1), 600);
    assert_eq!(pa.alloc(700), Some((BASE + pages(2601), pages(700))));
    assert_eq!(pa.alloc(599), Some((BASE + pages(1), 0)));
    assert_eq!(pa.alloc(2), Some((BASE + pages(3301), pages(2))));
    assert_eq!(pa.alloc(1), Some((BASE + pages(600), 0)));
    // Whole chunks inside a run.
    pa.free(BASE + pages(601), 2000);
    assert_eq!(pa.alloc(1800), Some((BASE + pages(601), 0)));
    pa.verify();
    assert_eq!(pa.free_pages(), 4096 - 1 - 600 - 1800 - 700 - 2);
}

#[test]
fn exhausting_the_heap_returns_none() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(1025), None);
    for i in 0..1024 {
        assert_eq!(pa.alloc(1), Some((BASE + pages(i), pages(1))));
    }
    assert_eq!(pa.alloc(1), None);
    assert_eq!(pa.search_addr, MAX_SEARCH_ADDR); // a failed 1-page request: the heap is full
    assert_eq!(pa.alloc(3), None);
    assert_eq!(pa.free_pages(), 0);
    assert!(pa.alloc_to_cache().is_empty());
    pa.free(BASE + pages(700), 1);
    assert_eq!(pa.alloc(2), None);
    assert_eq!(pa.alloc(1), Some((BASE + pages(700), 0)));
    assert_eq!(pa.alloc(1), None);
    pa.verify();
}

#[test]
fn free_then_realloc_coalesces() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 4 * PALLOC_CHUNK_BYTES).unwrap();
    let runs: Vec<usize> = (0..5).map(|_| pa.alloc(300).unwrap().0).collect();
    assert_eq!(runs, (0..5).map(|i| BASE + pages(300 * i)).collect::<Vec<_>>());
    // Free two neighbours on either side of the chunk boundary at page 512.
    pa.free(runs[1], 300);
    pa.free(runs[2], 300);
    assert_eq!(pa.alloc(601), None); // 600-page hole, 548 pages at the end
    assert_eq!(pa.alloc(600), Some((runs[1], 0)));
    // Free everything: one run of the whole heap again; only the never-used tail is scavenged.
    pa.free(runs[0], 300);
    pa.free(runs[1], 600);
    pa.free(runs[3], 300);
    pa.free(runs[4], 300);
    assert_eq!(pa.free_pages(), 2048);
    assert_eq!(pa.alloc(2048), Some((BASE, pages(548))));
    pa.verify();
}

#[test]
fn alloc_reports_scavenged_bytes() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.scavenged_pages(), 512);
    assert_eq!(pa.alloc(10), Some((BASE, pages(10)))); // fresh: all scavenged
    pa.free(BASE, 10);
    assert_eq!(pa.scavenged_pages(), 502);
    assert_eq!(pa.alloc(10), Some((BASE, 0))); // freed: still backed
    pa.free(BASE, 10);
    assert_eq!(pa.alloc(25), Some((BASE, pages(15)))); // 10 backed + 15 fresh
    pa.free(BASE, 25);
    assert_eq!(pa.scavenge(usize::MAX, &mut |_, _| true), pages(25));
    assert_eq!(pa.alloc(30), Some((BASE, pages(30))));
    pa.verify();
}

#[test]
fn free_and_scavenged_counts() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * PALLOC_CHUNK_BYTES).unwrap();
    pa.grow(&os, BASE + 4 * GIB, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (1536, 1536));
    let (a, _) = pa.alloc(100).unwrap();
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (1436, 1436));
    pa.free(a, 40);
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (1476, 1436));
    assert_eq!(pa.scavenge(pages(1), &mut |_, _| true), pages(1));
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (1476, 1437));
    assert_eq!(pa.scavenge(usize::MAX, &mut |_, _| true), pages(39));
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (1476, 1476));
    pa.verify();
}

#[test]
fn scavenge_releases_highest_addresses_first() {
    let (os, mut pa) = new_pa();
    let hi = BASE + 8 * GIB;
    pa.grow(&os, BASE, 4 * PALLOC_CHUNK_BYTES).unwrap();
    pa.grow(&os, hi, 2 * PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(2048), Some((BASE, pages(2048))));
    assert_eq!(pa.alloc(1024), Some((hi, pages(1024))));
    // Free runs: low [10, 20), low [500, 530) (crosses a chunk), high [100, 103), high [1000, 1024).
    pa.free(BASE + pages(10), 10);
    pa.free(BASE + pages(500), 30);
    pa.free(hi + pages(100), 3);
    pa.free(hi + pages(1000), 24);
    let mut seen = Vec::new();
    // 5 pages: the top 5 of the highest run.
    let got = pa.scavenge(pages(5), &mut |a, l| {
        seen.push((a, l));
        true
    });
    assert_eq!(got, pages(5));
    assert_eq!(seen, vec![(hi + pages(1019), pages(5))]);
    // 30 more bytes than 20 pages: the rest of that run, the 3-page run, then one page more.
    seen.clear();
    let got = pa.scavenge(pages(22) + 30, &mut |a, l| {
        seen.push((a, l));
        true
    });
    assert_eq!(got, pages(23));
    assert_eq!(
        seen,
        vec![
            (hi + pages(1000), pages(19)),
            (hi + pages(100), pages(3)),
            (BASE + pages(529), pages(1)),
        ]
    );
    // Everything else, highest first; runs are split at chunk boundaries.
    seen.clear();
    let got = pa.scavenge(usize::MAX, &mut |a, l| {
        seen.push((a, l));
        true
    });
    assert_eq!(got, pages(17 + 12 + 10));
    assert_eq!(
        seen,
        vec![
            (BASE + pages(512), pages(17)),
            (BASE + pages(500), pages(12)),
            (BASE + pages(10), pages(10)),
        ]
    );
    assert_eq!(pa.scavenge(usize::MAX, &mut |_, _| panic!("nothing left")), 0);
    assert_eq!(pa.scavenged_pages(), pa.free_pages());
    pa.verify();
}

#[test]
fn scavenge_stops_when_release_refuses() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    pa.alloc(512).unwrap();
    pa.free(BASE + pages(10), 5);
    pa.free(BASE + pages(100), 5);
    let mut calls = 0;
    let got = pa.scavenge(usize::MAX, &mut |a, _| {
        calls += 1;
        a == BASE + pages(100)
    });
    assert_eq!((got, calls), (pages(5), 2));
    assert_eq!(pa.scavenged_pages(), 5);
    // The refused run is still a candidate.
    let mut seen = Vec::new();
    assert_eq!(
        pa.scavenge(usize::MAX, &mut |a, l| {
            seen.push((a, l));
            true
        }),
        pages(5)
    );
    assert_eq!(seen, vec![(BASE + pages(10), pages(5))]);
    pa.verify();
}

#[test]
fn page_cache_alloc_and_flush_round_trip() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * PALLOC_CHUNK_BYTES).unwrap();
    pa.alloc(3).unwrap(); // pages 0..3
    let (b, _) = pa.alloc(4).unwrap(); // pages 3..7, then freed: free but not scavenged
    pa.free(b, 4);
    pa.alloc(3).unwrap(); // pages 3..6 again; page 6 free unscavenged
    let (free0, scav0) = (pa.free_pages(), pa.scavenged_pages());

    let mut c = pa.alloc_to_cache();
    assert_eq!(c.base(), BASE);
    assert_eq!((c.free_pages(), c.scavenged_pages()), (58, 57));
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (free0 - 58, scav0 - 57));
    // The whole window is in use for the allocator now.
    assert_eq!(pa.alloc(1), Some((BASE + pages(64), pages(1))));
    pa.verify();

    assert_eq!(c.alloc(1), Some((BASE + pages(6), 0)));
    assert_eq!(c.alloc(1), Some((BASE + pages(7), pages(1))));
    assert_eq!(c.alloc(15), Some((BASE + pages(8), pages(15))));
    assert_eq!(c.alloc(64), None);
    assert_eq!(c.alloc(0), None);
    assert_eq!(c.free_pages(), 58 - 17);
    c.flush(&mut pa);
    assert!(c.is_empty() && c == PageCache::empty());
    assert_eq!(pa.free_pages(), free0 - 17 - 1);
    assert_eq!(pa.scavenged_pages(), scav0 - 16 - 1);
    pa.verify();
    // Flushed pages come back scavenged; a second flush of an empty cache does nothing.
    assert_eq!(pa.alloc(2), Some((BASE + pages(23), pages(2))));
    c.flush(&mut pa);
    pa.verify();
}

#[test]
fn alloc_to_cache_takes_the_first_free_window() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    pa.grow(&os, BASE + GIB, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(512 + 70), None); // the two chunks are not contiguous
    assert_eq!(pa.alloc(512), Some((BASE, pages(512))));
    pa.alloc(70).unwrap(); // pages 0..70 of the second range
    let mut c = pa.alloc_to_cache();
    assert_eq!(c.base(), BASE + GIB + pages(64));
    assert_eq!(c.free_pages(), 58);
    let mut others = Vec::new();
    while !pa.alloc_to_cache().is_empty() {
        others.push(());
    }
    assert_eq!(others.len(), 6); // the remaining 6 windows of the second chunk
    assert_eq!(pa.free_pages(), 0);
    assert_eq!(pa.alloc(1), None);
    c.flush(&mut pa);
    assert_eq!(pa.alloc(58), Some((BASE + GIB + pages(70), pages(58))));
    pa.verify();
}

#[test]
fn runs_never_cross_gaps_between_ranges() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    pa.grow(&os, BASE + 2 * PALLOC_CHUNK_BYTES, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(600), None);
    pa.grow(&os, BASE + PALLOC_CHUNK_BYTES, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.in_use_ranges().collect::<Vec<_>>(), vec![(BASE, BASE + 3 * PALLOC_CHUNK_BYTES)]);
    assert_eq!(pa.alloc(1536), Some((BASE, pages(1536))));
    pa.verify();
}

#[test]
fn in_use_ranges_are_sorted_and_merged() {
    let (os, mut pa) = new_pa();
    let c = PALLOC_CHUNK_BYTES;
    pa.grow(&os, BASE + 10 * c, c).unwrap();
    pa.grow(&os, BASE, c).unwrap();
    pa.grow(&os, BASE + 20 * c, 2 * c).unwrap();
    pa.grow(&os, BASE + 11 * c, c).unwrap(); // joins the range below it
    pa.grow(&os, BASE + 19 * c, c).unwrap(); // joins the range above it
    pa.grow(&os, BASE + c, 9 * c).unwrap(); // fills the gap: joins both sides
    assert_eq!(
        pa.in_use_ranges().collect::<Vec<_>>(),
        vec![(BASE, BASE + 12 * c), (BASE + 19 * c, BASE + 22 * c)]
    );
    assert_eq!(pa.free_pages(), 15 * 512);
    pa.verify();
}

#[test]
fn runs_cross_root_entries_and_the_top_of_the_address_space_works() {
    let (os, mut pa) = new_pa();
    // Straddles the boundary between root entries 1 and 2 (16 GiB each).
    let mid = 32 * GIB - 8 * MIB;
    pa.grow(&os, mid, 16 * MIB).unwrap();
    assert_eq!(pa.alloc(1), Some((mid, pages(1))));
    assert_eq!(pa.alloc(2046), Some((mid + pages(1), pages(2046))));
    pa.free(mid + pages(1), 2046);
    assert_eq!(pa.alloc(2047), Some((mid + pages(1), pages(1)))); // page 2047 was never used
                                                                  // The last 64 MiB of the address space.
    let top = (1 << 47) - 64 * MIB;
    pa.grow(&os, top, 64 * MIB).unwrap();
    assert_eq!(pa.alloc(8192), Some((top, pages(8192))));
    assert_eq!(pa.alloc(1), None);
    pa.free(top + 64 * MIB - pages(1), 1);
    assert_eq!(pa.alloc(1), Some((top + 64 * MIB - pages(1), 0)));
    pa.verify();
}

#[test]
fn large_growth_and_whole_heap_allocation() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * GIB).unwrap(); // 512 chunks, crossing level-1 entries
    let n = 2 * GIB / PAGE_SIZE;
    assert_eq!(pa.free_pages(), n);
    assert_eq!(pa.alloc(n), Some((BASE, 2 * GIB)));
    assert_eq!(pa.alloc(1), None);
    pa.free(BASE + GIB, n / 2);
    assert_eq!(pa.alloc(n / 2 + 1), None);
    assert_eq!(pa.alloc(n / 2), Some((BASE + GIB, 0)));
    pa.verify();
    assert!(pa.metadata_bytes() > 0);
}

#[test]
fn grow_failure_is_reported_and_harmless() {
    let (os, mut pa) = new_pa();
    os.inject_failures(1);
    let e = pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap_err();
    assert_eq!(e.errno, 0);
    assert_eq!(pa.in_use_ranges().count(), 0);
    assert_eq!(pa.alloc(1), None);
    pa.verify();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    assert_eq!(pa.alloc(1), Some((BASE, pages(1))));
    // Fail each of the first few OS calls a growth into a fresh region makes.
    for (k, n) in (1..=4).enumerate() {
        let far = BASE + (k + 1) * 64 * GIB;
        os.inject_failures(n);
        let before: Vec<_> = pa.in_use_ranges().collect();
        let (free, scav) = (pa.free_pages(), pa.scavenged_pages());
        assert!(pa.grow(&os, far, PALLOC_CHUNK_BYTES).is_err());
        os.inject_failures(0);
        assert_eq!(pa.in_use_ranges().collect::<Vec<_>>(), before);
        assert_eq!((pa.free_pages(), pa.scavenged_pages()), (free, scav));
        pa.verify();
        assert_eq!(pa.alloc(1), Some((BASE + pages(1 + k), pages(1))));
        pa.grow(&os, far, PALLOC_CHUNK_BYTES).unwrap();
        pa.verify();
    }
    assert_eq!(pa.alloc(512), Some((BASE + 64 * GIB, pages(512))));
}

#[test]
fn destroy_returns_the_metadata() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 8 * MIB).unwrap();
    pa.alloc(3).unwrap();
    // SAFETY: `os` created and grew `pa`.
    unsafe { pa.destroy(&os) };
}

#[test]
#[should_panic(expected = "overlaps")]
fn overlapping_growth_panics() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 8 * MIB).unwrap();
    let _ = pa.grow(&os, BASE + 4 * MIB, 8 * MIB);
}

// ---------------------------------------------------------------------------------------------
// Random sequence against a model

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Page {
    InUse,
    Free,
    Scavenged,
}

/// The heap as a flat array of pages per contiguous range.
struct Model {
    ranges: Vec<(usize, Vec<Page>)>, // sorted by base, merged when contiguous
}

impl Model {
    fn grow(&mut self, base: usize, size: usize) {
        let fresh = vec![Page::Scavenged; size / PAGE_SIZE];
        let i = self.ranges.partition_point(|r| r.0 < base);
        self.ranges.insert(i, (base, fresh));
        // Merge neighbours.
        let mut k = 0;
        while k + 1 < self.ranges.len() {
            if self.ranges[k].0 + self.ranges[k].1.len() * PAGE_SIZE == self.ranges[k + 1].0 {
                let next = self.ranges.remove(k + 1);
                self.ranges[k].1.extend(next.1);
            } else {
                k += 1;
            }
        }
    }

    fn page_mut(&mut self, addr: usize) -> &mut Page {
        let i = self.ranges.partition_point(|r| r.0 <= addr) - 1;
        let (b, v) = &mut self.ranges[i];
        &mut v[(addr - *b) / PAGE_SIZE]
    }

    fn lowest_fit(&self, n: usize) -> Option<usize> {
        for (b, v) in &self.ranges {
            let mut run = 0;
            for (i, p) in v.iter().enumerate() {
                run = if *p == Page::InUse { 0 } else { run + 1 };
                if run == n {
                    return Some(b + (i + 1 - n) * PAGE_SIZE);
                }
            }
        }
        None
    }

    fn count(&self, what: &[Page]) -> usize {
        self.ranges.iter().flat_map(|r| r.1.iter()).filter(|p| what.contains(p)).count()
    }

    fn pages_where(&self, what: Page) -> Vec<usize> {
        let mut out = Vec::new();
        for (b, v) in &self.ranges {
            out.extend(
                v.iter().enumerate().filter(|(_, p)| **p == what).map(|(i, _)| b + i * PAGE_SIZE),
            );
        }
        out
    }
}

/// A page cache the test holds, with the model's copy of its bitmaps.
struct HeldCache {
    cache: PageCache,
    free: u64,
    scav: u64,
}

fn random_npages(rng: &mut Rng) -> usize {
    match rng.range(0, 100) {
        0..=59 => rng.range(1, 9),
        60..=84 => rng.range(9, 130),
        _ => rng.range(130, 1101),
    }
}

#[test]
fn random_operations_match_model() {
    random_run(0x5eed);
}

/// More seeds of the same sequence; run with `--ignored` when changing the allocator.
#[test]
#[ignore]
fn random_operations_match_model_many_seeds() {
    for seed in 1..=40 {
        random_run(seed);
    }
}

/// One seeded sequence of several thousand operations over five ranges (88 MiB), checked
/// against [`Model`] after every operation and with [`PageAlloc::verify`] every tenth.
fn random_run(seed: u64) {
    let (os, mut pa) = new_pa();
    let mut model = Model { ranges: Vec::new() };
    let mut rng = Rng::new(seed);
    let a = BASE;
    let b = BASE + 3 * GIB + 12 * MIB;
    let c = 32 * GIB - 8 * MIB; // straddles a root-entry boundary
    for &(base, size) in &[(a, 24 * MIB), (b, 16 * MIB), (c, 24 * MIB)] {
        pa.grow(&os, base, size).unwrap();
        model.grow(base, size);
    }
    let mut live: Vec<(usize, usize)> = Vec::new();
    let mut held: Option<HeldCache> = None;
    let (mut allocs, mut fails, mut scavs, mut caches) = (0, 0, 0, 0);

    for op in 0..6000 {
        match op {
            2000 => {
                // Extend range a contiguously: runs may now cross the old limit.
                pa.grow(&os, a + 24 * MIB, 16 * MIB).unwrap();
                model.grow(a + 24 * MIB, 16 * MIB);
            }
            3500 => {
                pa.grow(&os, 100 * GIB, 8 * MIB).unwrap();
                model.grow(100 * GIB, 8 * MIB);
            }
            _ => {}
        }
        let free_frac = model.count(&[Page::Free, Page::Scavenged]) as f64
            / model.ranges.iter().map(|r| r.1.len()).sum::<usize>() as f64;
        let p_alloc = if free_frac > 0.4 { 62 } else { 45 };
        let r = rng.range(0, 100);
        if r < p_alloc {
            let n = random_npages(&mut rng);
            let want = model.lowest_fit(n);
            let got = pa.alloc(n);
            assert_eq!(got.map(|g| g.0), want, "op {op}: alloc({n})");
            if let Some((addr, scav)) = got {
                let mut want_scav = 0;
                for i in 0..n {
                    let p = model.page_mut(addr + i * PAGE_SIZE);
                    want_scav += usize::from(*p == Page::Scavenged);
                    *p = Page::InUse;
                }
                assert_eq!(scav, want_scav * PAGE_SIZE, "op {op}: scavenged bytes of alloc({n})");
                live.push((addr, n));
                allocs += 1;
            } else {
                fails += 1;
            }
        } else if r < 93 {
            if !live.is_empty() {
                let (addr, n) = live.swap_remove(rng.range(0, live.len()));
                pa.free(addr, n);
                for i in 0..n {
                    *model.page_mut(addr + i * PAGE_SIZE) = Page::Free;
                }
            }
        } else if r < 97 {
            scavs += 1;
            let nbytes = if rng.range(0, 10) == 0 { usize::MAX } else { rng.range(1, 4 * MIB) };
            let dirty_before = model.count(&[Page::Free]) * PAGE_SIZE;
            let mut released = Vec::new();
            let got = if rng.range(0, 2) == 0 {
                pa.scavenge(nbytes, &mut |addr, len| {
                    released.push((addr, len));
                    true
                })
            } else {
                // The heap's way: take each run, release it unlocked, give it back.
                let mut got = 0;
                while got < nbytes {
                    let want = (nbytes - got).div_ceil(PAGE_SIZE);
                    let Some((addr, n)) = pa.find_scavenge_candidate(want, true) else { break };
                    pa.take_for_scavenge(addr, n);
                    assert_eq!(pa.scavenging_pages(), n);
                    if rng.range(0, 4) == 0 {
                        pa.verify();
                    }
                    pa.return_scavenged(addr, n, true);
                    released.push((addr, n * PAGE_SIZE));
                    got += n * PAGE_SIZE;
                }
                got
            };
            assert_eq!(got, released.iter().map(|r| r.1).sum::<usize>());
            if dirty_before >= nbytes {
                assert!(got >= nbytes && got < nbytes + PAGE_SIZE, "op {op}: scavenged {got}");
            } else {
                assert_eq!(got, dirty_before, "op {op}: scavenge everything");
            }
            let mut lowest = usize::MAX;
            for w in released.windows(2) {
                assert!(w[1].0 + w[1].1 <= w[0].0, "op {op}: releases not descending");
            }
            for &(addr, len) in &released {
                assert!(len > 0 && len % PAGE_SIZE == 0);
                lowest = lowest.min(addr);
                for i in 0..len / PAGE_SIZE {
                    let p = model.page_mut(addr + i * PAGE_SIZE);
                    assert_eq!(*p, Page::Free, "op {op}: released a page that was {p:?}");
                    *p = Page::Scavenged;
                }
            }
            if let Some(&top) = model.pages_where(Page::Free).last() {
                assert!(released.is_empty() || top < lowest, "op {op}: not highest first");
            }
        } else if let Some(mut h) = held.take() {
            // Use the held cache a little, then flush it.
            for _ in 0..rng.range(0, 4) {
                let n = rng.range(1, 16);
                let i = find_bit_range64(h.free, n);
                let got = h.cache.alloc(n);
                if i == 64 {
                    assert_eq!(got, None);
                    continue;
                }
                let mask = (!0u64 >> (64 - n)) << i;
                let addr = h.cache.base() + i * PAGE_SIZE;
                let scav = (h.scav & mask).count_ones() as usize * PAGE_SIZE;
                assert_eq!(got, Some((addr, scav)), "op {op}: cache alloc({n})");
                h.free &= !mask;
                h.scav &= !mask;
                live.push((addr, n));
            }
            if rng.range(0, 2) == 0 {
                let base = h.cache.base();
                h.cache.flush(&mut pa);
                for i in 0..64 {
                    if h.free >> i & 1 != 0 {
                        let p = model.page_mut(base + i * PAGE_SIZE);
                        *p = if h.scav >> i & 1 != 0 { Page::Scavenged } else { Page::Free };
                    }
                }
                assert!(h.cache.is_empty());
            } else {
                held = Some(h);
            }
        } else {
            caches += 1;
            let first = model.lowest_fit(1);
            let cache = pa.alloc_to_cache();
            match first {
                None => assert!(cache.is_empty(), "op {op}: cache from a full heap"),
                Some(addr) => {
                    let base = addr & !(64 * PAGE_SIZE - 1);
                    assert_eq!(cache.base(), base, "op {op}: cache window");
                    let (mut free, mut scav) = (0u64, 0u64);
                    for i in 0..64 {
                        let p = model.page_mut(base + i * PAGE_SIZE);
                        if *p != Page::InUse {
                            free |= 1 << i;
                            scav |= u64::from(*p == Page::Scavenged) << i;
                            *p = Page::InUse;
                        }
                    }
                    assert_eq!(cache.free_pages(), free.count_ones() as usize);
                    assert_eq!(cache.scavenged_pages(), scav.count_ones() as usize);
                    held = Some(HeldCache { cache, free, scav });
                }
            }
        }
        assert_eq!(pa.free_pages(), model.count(&[Page::Free, Page::Scavenged]), "op {op}");
        assert_eq!(pa.scavenged_pages(), model.count(&[Page::Scavenged]), "op {op}");
        if op % 10 == 0 {
            pa.verify();
        }
    }
    if let Some(mut h) = held.take() {
        h.cache.flush(&mut pa);
    }
    for (addr, n) in live.drain(..) {
        pa.free(addr, n);
    }
    pa.verify();
    let total: usize = model.ranges.iter().map(|r| r.1.len()).sum();
    assert_eq!(total * PAGE_SIZE, 88 * MIB);
    assert_eq!(pa.free_pages(), total);
    assert_eq!(pa.alloc(total), None); // the ranges are not contiguous
    assert!(pa.alloc(5120).is_some()); // range a is 40 MiB = 5120 pages

    // The sequence exercised every path.
    assert!(
        allocs > 1500 && fails > 20 && scavs > 50 && caches > 20,
        "seed {seed}: {allocs} allocs, {fails} failures, {scavs} scavenges, {caches} caches"
    );
}

// ---------------------------------------------------------------------------------------------
// Scavenging: density records, generations, the two-phase step (Go's `TestScavChunkDataPack`
// and `TestScavengeIndex`, restated on the page allocator itself)

#[test]
fn scav_chunk_data_packs_and_unpacks() {
    for d in [
        ScavChunkData { in_use: 512, last_in_use: 512, gen: 1_918_237_402 },
        ScavChunkData { in_use: 12, last_in_use: 0, gen: u32::MAX },
        ScavChunkData::default(),
    ] {
        assert_eq!(ScavChunkData::unpack(d.pack()), d);
    }
    assert_eq!(ScavChunkData::default().pack(), 0, "zero is a freshly grown chunk");
}

#[test]
fn scav_chunk_data_density_by_generation() {
    use super::SCAV_CHUNK_HI_OCC_PAGES as DENSE;
    assert_eq!(DENSE, 496);
    let mut d = ScavChunkData::default();
    d.alloc(512, 0);
    assert!(!d.should_scavenge(0, false), "dense now");
    assert!(d.should_scavenge(0, true), "forced ignores density");
    // Freed in the next generation: dense at its start, so not yet.
    d.free(500, 1);
    assert_eq!((d.in_use, d.last_in_use, d.gen), (12, 512, 1));
    assert!(!d.should_scavenge(1, false));
    // A generation later it is eligible without being touched.
    assert!(d.should_scavenge(2, false));
    // Becoming dense again makes it ineligible at once, and for the next generation.
    d.alloc(DENSE as usize - 12, 2);
    assert!(!d.should_scavenge(2, false));
    d.free(100, 3);
    assert!(!d.should_scavenge(3, false), "dense when generation 3 began");
    assert!(d.should_scavenge(4, false));
    // Just under the threshold is never dense.
    let mut e = ScavChunkData::default();
    e.alloc(DENSE as usize - 1, 5);
    assert!(e.should_scavenge(5, false) && e.should_scavenge(6, false));
}

/// Go's `TestScavengeIndex` set-up: 64 chunks, all dense in the previous generation, then freed
/// in the current one and fully scavenged, so nothing is a candidate. `mark` makes pages free
/// and unscavenged in the current generation; `find` expects the next candidate's top page and
/// then scavenges that whole chunk (Go's `setEmpty`).
struct IndexTest {
    _os: Os,
    pa: PageAlloc,
    force: bool,
    name: &'static str,
}

const BASE_CI: usize = BASE / PALLOC_CHUNK_BYTES;

fn page_base(ci: usize, page: usize) -> usize {
    ci * PALLOC_CHUNK_BYTES + page * PAGE_SIZE
}

impl IndexTest {
    fn new(name: &'static str, force: bool) -> IndexTest {
        let (os, mut pa) = new_pa();
        pa.grow(&os, BASE, 64 * PALLOC_CHUNK_BYTES).unwrap();
        pa.alloc_range(BASE, 64 * PALLOC_CHUNK_PAGES);
        pa.next_gen();
        pa.free(BASE, 64 * PALLOC_CHUNK_PAGES);
        pa.scavenge(usize::MAX, &mut |_, _| true);
        assert_eq!(pa.find_scavenge_candidate(1, true), None);
        IndexTest { _os: os, pa, force, name }
    }

    fn mark(&mut self, base: usize, limit: usize) {
        let n = (limit - base) / PAGE_SIZE;
        self.pa.alloc_range(base, n);
        self.pa.free(base, n);
    }

    fn find(&mut self, want: Option<(usize, usize)>) {
        let got = self.pa.find_scavenge_candidate(1, self.force);
        let got_at = got.map(|(addr, n)| {
            assert_eq!(n, 1);
            (chunk_index(addr), chunk_page_index(addr))
        });
        assert_eq!(got_at, want, "{}: force={}", self.name, self.force);
        if let Some((ci, _)) = got_at {
            // Go's setEmpty: this chunk is done for now.
            while let Some((addr, n)) = self.pa.find_scavenge_candidate(512, self.force) {
                if chunk_index(addr) != ci {
                    break;
                }
                self.pa.take_for_scavenge(addr, n);
                self.pa.return_scavenged(addr, n, true);
            }
        }
        self.pa.verify();
    }
}

type Marks = fn(&mut IndexTest);
type Finds = fn(&mut IndexTest);

fn index_cases() -> Vec<(&'static str, Marks, Finds)> {
    vec![
        ("Uninitialized", |_| {}, |_| {}),
        (
            "OnePage",
            |t| t.mark(page_base(BASE_CI, 3), page_base(BASE_CI, 4)),
            |t| t.find(Some((BASE_CI, 3))),
        ),
        (
            "FirstPage",
            |t| t.mark(page_base(BASE_CI, 0), page_base(BASE_CI, 1)),
            |t| t.find(Some((BASE_CI, 0))),
        ),
        (
            "SeveralPages",
            |t| t.mark(page_base(BASE_CI, 9), page_base(BASE_CI, 14)),
            |t| t.find(Some((BASE_CI, 13))),
        ),
        (
            "WholeChunk",
            |t| t.mark(page_base(BASE_CI, 0), page_base(BASE_CI + 1, 0)),
            |t| t.find(Some((BASE_CI, PALLOC_CHUNK_PAGES - 1))),
        ),
        (
            "LastPage",
            |t| t.mark(page_base(BASE_CI, PALLOC_CHUNK_PAGES - 1), page_base(BASE_CI + 1, 0)),
            |t| t.find(Some((BASE_CI, PALLOC_CHUNK_PAGES - 1))),
        ),
        (
            "SevenChunksOffset",
            |t| t.mark(page_base(BASE_CI + 6, 11), page_base(BASE_CI + 13, 15)),
            |t| {
                t.find(Some((BASE_CI + 13, 14)));
                for i in (BASE_CI + 6..=BASE_CI + 12).rev() {
                    t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
                }
            },
        ),
        (
            "ThirtyTwoChunks",
            |t| t.mark(page_base(BASE_CI, 0), page_base(BASE_CI + 32, 0)),
            |t| {
                for i in (BASE_CI..BASE_CI + 32).rev() {
                    t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
                }
            },
        ),
        (
            "ThirtyTwoChunksOffset",
            |t| t.mark(page_base(BASE_CI + 3, 0), page_base(BASE_CI + 35, 0)),
            |t| {
                for i in (BASE_CI + 3..BASE_CI + 35).rev() {
                    t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
                }
            },
        ),
        (
            "Mark",
            |t| {
                for i in BASE_CI..BASE_CI + 32 {
                    t.mark(page_base(i, 0), page_base(i + 1, 0));
                }
            },
            |t| {
                for i in (BASE_CI..BASE_CI + 32).rev() {
                    t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
                }
            },
        ),
        (
            "MarkIdempotentOneChunk",
            |t| {
                t.mark(page_base(BASE_CI, 0), page_base(BASE_CI + 1, 0));
                t.mark(page_base(BASE_CI, 0), page_base(BASE_CI + 1, 0));
            },
            |t| t.find(Some((BASE_CI, PALLOC_CHUNK_PAGES - 1))),
        ),
        (
            "MarkIdempotentThirtyTwoChunksOffset",
            |t| {
                t.mark(page_base(BASE_CI + 4, 0), page_base(BASE_CI + 31, 0));
                t.mark(page_base(BASE_CI + 5, 0), page_base(BASE_CI + 36, 0));
            },
            |t| {
                for i in (BASE_CI + 4..BASE_CI + 36).rev() {
                    t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
                }
            },
        ),
        (
            "TwoChunks",
            |t| t.mark(page_base(BASE_CI, 128), page_base(BASE_CI + 1, 128)),
            |t| {
                t.find(Some((BASE_CI + 1, 127)));
                t.find(Some((BASE_CI, PALLOC_CHUNK_PAGES - 1)));
            },
        ),
        (
            "TwoChunksOffset",
            |t| t.mark(page_base(BASE_CI + 7, 128), page_base(BASE_CI + 8, 129)),
            |t| {
                t.find(Some((BASE_CI + 8, 128)));
                t.find(Some((BASE_CI + 7, PALLOC_CHUNK_PAGES - 1)));
            },
        ),
    ]
}

#[test]
fn scavenge_index_background_waits_a_generation() {
    for (name, mark, find) in index_cases() {
        let mut t = IndexTest::new(name, false);
        mark(&mut t);
        // Pages freed in chunks that were dense when this generation began are not candidates.
        t.find(None);
        t.pa.next_gen();
        find(&mut t);
        t.find(None);
    }
}

#[test]
fn scavenge_index_forced_finds_at_once() {
    for (name, mark, find) in index_cases() {
        let mut t = IndexTest::new(name, true);
        mark(&mut t);
        find(&mut t);
        t.find(None);
    }
}

#[test]
fn scavenge_index_mark_interleaved() {
    for force in [false, true] {
        let mut t = IndexTest::new("MarkInterleaved", force);
        for i in BASE_CI..BASE_CI + 32 {
            t.mark(page_base(i, 0), page_base(i + 1, 0));
            if !force {
                t.pa.next_gen();
            }
            t.find(Some((i, PALLOC_CHUNK_PAGES - 1)));
        }
        t.find(None);
    }
}

#[test]
fn pages_held_by_the_scavenger_are_not_allocated() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, PALLOC_CHUNK_BYTES).unwrap();
    pa.alloc(512).unwrap();
    pa.free(BASE + pages(100), 20);
    let (addr, n) = pa.find_scavenge_candidate(8, true).unwrap();
    assert_eq!((addr, n), (BASE + pages(112), 8), "the top 8 pages of the run");
    pa.take_for_scavenge(addr, n);
    assert_eq!((pa.free_pages(), pa.scavenging_pages()), (12, 8));
    pa.verify();
    // Only the 12 pages not held can be allocated meanwhile.
    assert_eq!(pa.alloc(13), None);
    let (a, scav) = pa.alloc(12).unwrap();
    assert_eq!((a, scav), (BASE + pages(100), 0));
    // A refused release gives the pages back unscavenged; an accepted one, scavenged.
    pa.return_scavenged(addr, n, false);
    assert_eq!((pa.free_pages(), pa.scavenged_pages()), (8, 0));
    let (addr, n) = pa.find_scavenge_candidate(usize::MAX, true).unwrap();
    pa.take_for_scavenge(addr, n);
    pa.return_scavenged(addr, n, true);
    assert_eq!((pa.free_pages(), pa.scavenged_pages(), pa.scavenging_pages()), (8, 8, 0));
    assert_eq!(pa.alloc(8), Some((BASE + pages(112), pages(8))));
    pa.verify();
}

#[test]
fn density_records_follow_allocation_paths() {
    let (os, mut pa) = new_pa();
    pa.grow(&os, BASE, 2 * PALLOC_CHUNK_BYTES).unwrap();
    let ci = BASE_CI;
    pa.alloc(300).unwrap();
    assert_eq!(pa.scav_chunk_data(ci).in_use, 300);
    let mut cache = pa.alloc_to_cache(); // the window holding page 300: pages 300..320 free
    assert_eq!(pa.scav_chunk_data(ci).in_use, 320);
    cache.alloc(3).unwrap();
    cache.flush(&mut pa);
    assert_eq!(pa.scav_chunk_data(ci).in_use, 303);
    // A run crossing into the second chunk counts in both.
    pa.alloc(400).unwrap();
    assert_eq!(pa.scav_chunk_data(ci).in_use, 512);
    assert_eq!(pa.scav_chunk_data(ci + 1).in_use, 191);
    pa.next_gen();
    pa.free(BASE, 256);
    let d = pa.scav_chunk_data(ci);
    assert_eq!((d.in_use, d.last_in_use, d.gen), (256, 512, 1));
    pa.verify();
}
