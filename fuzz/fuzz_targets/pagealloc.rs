//! The page allocator (`gomem_allocator::pagealloc`) against a model: one state per page (in
//! use, free, scavenged). Each operation's answer is checked against the model, and after each
//! one the allocator's counters and `PageAlloc::verify` (its summaries, bitmaps and indexes).
//! The addresses are fake: the page allocator never touches the memory it manages.
#![no_main]

use arbitrary::Arbitrary;
use gomem_allocator::consts::{PAGE_SIZE, PALLOC_CHUNK_BYTES};
use gomem_allocator::os::Os;
use gomem_allocator::pagealloc::PageAlloc;
use libfuzzer_sys::fuzz_target;

const GIB: usize = 1 << 30;
const BASE: usize = 0x00c0_0000_0000;
/// The heap at the start, and the ranges a `Grow` may add (each once): contiguous after the
/// first range, across a summary root-entry boundary, and far away.
const START: [(usize, usize); 2] = [(BASE, 2), (BASE + 64 * GIB, 1)];
const GROWTH: [(usize, usize); 3] =
    [(BASE + 2 * PALLOC_CHUNK_BYTES, 1), (32 * GIB - PALLOC_CHUNK_BYTES, 2), (1 << 46, 1)];

#[derive(Arbitrary, Debug)]
enum Op {
    /// Allocate `1 + n % 700` pages (more than one chunk now and then).
    Alloc(u16),
    /// Free the `i % live`th live run.
    Free(u8),
    /// Release at least `bytes` (`u32::MAX`: everything); the OS refuses after `ok` runs.
    Scavenge { bytes: u32, ok: u8 },
    /// The background scavenger's way: find a run, take it, give it back released or not.
    Find { max: u16, force: bool, released: bool },
    /// A new scavenge generation.
    NextGen,
    /// Take a page cache, allocate from it (`1 + n % 16` pages each), flush it.
    Cache(Vec<u8>),
    /// Add the `i % 3`rd growth range if not yet added.
    Grow(u8),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Page {
    InUse,
    Free,
    Scavenged,
}

/// Pages by address, one vector per contiguous range, sorted by base.
#[derive(Default)]
struct Model(Vec<(usize, Vec<Page>)>);

impl Model {
    fn grow(&mut self, base: usize, size: usize) {
        let i = self.0.partition_point(|r| r.0 < base);
        self.0.insert(i, (base, vec![Page::Scavenged; size / PAGE_SIZE]));
        let mut k = 0;
        while k + 1 < self.0.len() {
            if self.0[k].0 + self.0[k].1.len() * PAGE_SIZE == self.0[k + 1].0 {
                let next = self.0.remove(k + 1);
                self.0[k].1.extend(next.1);
            } else {
                k += 1;
            }
        }
    }

    fn page(&mut self, addr: usize) -> &mut Page {
        let i = self.0.partition_point(|r| r.0 <= addr) - 1;
        let (b, v) = &mut self.0[i];
        &mut v[(addr - *b) / PAGE_SIZE]
    }

    /// Set `n` pages from `addr` to `to`, returning how many were scavenged before.
    fn set(&mut self, addr: usize, n: usize, to: Page) -> usize {
        (0..n)
            .map(|i| {
                let p = self.page(addr + i * PAGE_SIZE);
                let was = *p;
                *p = to;
                usize::from(was == Page::Scavenged)
            })
            .sum()
    }

    /// Lowest address of `n` pages not in use (the page allocator's first fit).
    fn first_fit(&self, n: usize) -> Option<usize> {
        for (b, v) in &self.0 {
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

    fn count(&self, what: Page) -> usize {
        self.0.iter().flat_map(|r| r.1.iter()).filter(|&&p| p == what).count()
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let os = Os::default();
    let mut pa = PageAlloc::new(&os).expect("page allocator metadata");
    let mut model = Model::default();
    for (base, chunks) in START {
        pa.grow(&os, base, chunks * PALLOC_CHUNK_BYTES).expect("grow");
        model.grow(base, chunks * PALLOC_CHUNK_BYTES);
    }
    let mut grown = [false; GROWTH.len()];
    let mut live: Vec<(usize, usize)> = Vec::new();
    for op in ops.into_iter().take(400) {
        match op {
            Op::Alloc(n) => {
                let n = 1 + n as usize % 700;
                let want = model.first_fit(n);
                let got = pa.alloc(n);
                assert_eq!(got.map(|g| g.0), want, "alloc({n})");
                if let Some((addr, scav)) = got {
                    let was = model.set(addr, n, Page::InUse);
                    assert_eq!(scav, was * PAGE_SIZE, "scavenged bytes of alloc({n})");
                    live.push((addr, n));
                }
            }
            Op::Free(i) => {
                if !live.is_empty() {
                    let (addr, n) = live.swap_remove(i as usize % live.len());
                    pa.free(addr, n);
                    model.set(addr, n, Page::Free);
                }
            }
            Op::Scavenge { bytes, ok } => {
                let nbytes = if bytes == u32::MAX { usize::MAX } else { bytes as usize };
                let dirty = model.count(Page::Free) * PAGE_SIZE;
                let mut runs = Vec::new();
                let got = pa.scavenge(nbytes, &mut |addr, len| {
                    if runs.len() == ok as usize {
                        return false;
                    }
                    runs.push((addr, len));
                    true
                });
                assert_eq!(got, runs.iter().map(|r| r.1).sum::<usize>());
                if runs.len() < ok as usize {
                    // Not refused: exactly enough, rounded up to a page, or everything there was.
                    if dirty >= nbytes {
                        assert!(got >= nbytes && got < nbytes.saturating_add(PAGE_SIZE));
                    } else {
                        assert_eq!(got, dirty, "scavenge everything");
                    }
                }
                for w in runs.windows(2) {
                    assert!(w[1].0 + w[1].1 <= w[0].0, "releases not highest first");
                }
                for &(addr, len) in &runs {
                    assert!(len > 0 && len % PAGE_SIZE == 0 && addr % PAGE_SIZE == 0);
                    for k in 0..len / PAGE_SIZE {
                        let p = model.page(addr + k * PAGE_SIZE);
                        assert_eq!(*p, Page::Free, "released a page that was {p:?}");
                        *p = Page::Scavenged;
                    }
                }
            }
            Op::Find { max, force, released } => {
                if let Some((addr, n)) = pa.find_scavenge_candidate(max as usize, force) {
                    assert!(n >= 1 && n <= (max as usize).max(1));
                    for k in 0..n {
                        assert_eq!(*model.page(addr + k * PAGE_SIZE), Page::Free);
                    }
                    pa.take_for_scavenge(addr, n);
                    assert_eq!(pa.scavenging_pages(), n);
                    pa.verify();
                    pa.return_scavenged(addr, n, released);
                    if released {
                        model.set(addr, n, Page::Scavenged);
                    }
                } else if force {
                    assert_eq!(model.count(Page::Free), 0, "a free unscavenged page was not found");
                }
            }
            Op::NextGen => pa.next_gen(),
            Op::Cache(sizes) => {
                let mut c = pa.alloc_to_cache();
                let first = model.first_fit(1);
                assert_eq!(c.is_empty(), first.is_none(), "cache from a heap with a free page");
                if c.is_empty() {
                    continue;
                }
                let base = c.base();
                assert_eq!(base, first.unwrap() & !(64 * PAGE_SIZE - 1), "cache base");
                // The cache owns its 64 pages' free ones: the model marks them in use, and puts
                // back what the cache did not hand out when it is flushed.
                let mut owned = [Page::InUse; 64];
                for (k, o) in owned.iter_mut().enumerate() {
                    let p = model.page(base + k * PAGE_SIZE);
                    *o = *p;
                    *p = Page::InUse;
                }
                let want_free = owned.iter().filter(|&&p| p != Page::InUse).count();
                assert_eq!(c.free_pages(), want_free);
                for s in sizes.into_iter().take(8) {
                    let n = 1 + s as usize % 16;
                    let fit =
                        (0..=64 - n).find(|&i| owned[i..i + n].iter().all(|&p| p != Page::InUse));
                    let got = c.alloc(n);
                    let Some(i) = fit else {
                        assert_eq!(got, None, "cache alloc({n})");
                        continue;
                    };
                    let scav = owned[i..i + n].iter().filter(|&&p| p == Page::Scavenged).count();
                    assert_eq!(
                        got,
                        Some((base + i * PAGE_SIZE, scav * PAGE_SIZE)),
                        "cache alloc({n})"
                    );
                    owned[i..i + n].fill(Page::InUse);
                    live.push((base + i * PAGE_SIZE, n));
                }
                c.flush(&mut pa);
                assert!(c.is_empty());
                for (k, &o) in owned.iter().enumerate() {
                    if o != Page::InUse {
                        *model.page(base + k * PAGE_SIZE) = o;
                    }
                }
            }
            Op::Grow(i) => {
                let i = i as usize % GROWTH.len();
                if !grown[i] {
                    grown[i] = true;
                    let (base, chunks) = GROWTH[i];
                    pa.grow(&os, base, chunks * PALLOC_CHUNK_BYTES).expect("grow");
                    model.grow(base, chunks * PALLOC_CHUNK_BYTES);
                }
            }
        }
        assert_eq!(pa.free_pages(), model.count(Page::Free) + model.count(Page::Scavenged));
        assert_eq!(pa.scavenged_pages(), model.count(Page::Scavenged));
        pa.verify();
    }
    // SAFETY: `os` made every reservation of `pa`, which is not used again.
    unsafe { pa.destroy(&os) };
});
