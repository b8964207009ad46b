//! Tests of the dense-span scan kernels: both expansions and both kernels against the
//! one-word-at-a-time reference, for every class, on Go's boundary pattern (its `testObjs`),
//! random sparse and dense masks over pages of random words with nils, the edge cases, Go's
//! nil-filter cases, and a scan racing a mutator's atomic stores.

#[cfg(target_arch = "x86_64")]
use super::avx512::{expand_avx512, plan_size};
use super::scalar::expand_scalar;
use super::*;
use crate::sync::{thread, AtomicBool, AtomicU64, Ordering};
use gomem_allocator::sizeclass::{CLASS_TO_NPAGES, CLASS_TO_SIZE};

/// A page, aligned as a span's is.
#[repr(C, align(8192))]
struct Page([u64; PAGE_WORDS]);

fn page() -> Box<Page> {
    Box::new(Page([0; PAGE_WORDS]))
}

/// SplitMix64: a small seeded generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A word whose bits are each set with probability `num / 16`.
    fn bits(&mut self, num: u64) -> u64 {
        let mut w = 0;
        for b in 0..64 {
            if self.next() % 16 < num {
                w |= 1 << b;
            }
        }
        w
    }
}

/// The object sizes the kernels serve, from gomem's size-class table: one-page classes of
/// 16..=512 bytes.
fn classes() -> Vec<usize> {
    (1..CLASS_TO_SIZE.len())
        .filter(|&c| CLASS_TO_NPAGES[c] == 1)
        .map(|c| CLASS_TO_SIZE[c] as usize)
        .filter(|&s| (16..=512).contains(&s))
        .collect()
}

fn nobj(elemsize: usize) -> usize {
    PAGE_WORDS * 8 / elemsize
}

/// Only the objects the span has: bits past `nobj` cleared, as the callers' contract says.
fn trim(mut objs: ObjMask, elemsize: usize) -> ObjMask {
    for (i, w) in objs.iter_mut().enumerate() {
        let first = i * 64;
        let n = nobj(elemsize).saturating_sub(first).min(64);
        *w &= if n == 64 { !0 } else { (1u64 << n) - 1 };
    }
    objs
}

/// Go's `testObjs`: for each class, the pattern `0x101` at every object index where it fits.
fn go_patterns(mut f: impl FnMut(usize, &ObjMask)) {
    for elemsize in classes() {
        for i in 0..nobj(elemsize) - 8 {
            let mut objs = [0u64; 8];
            objs[i / 64] |= 1 << (i % 64);
            objs[(i + 8) / 64] |= 1 << ((i + 8) % 64);
            f(elemsize, &objs);
        }
    }
}

fn avx512() -> bool {
    let on = has_fast_scan_span_packed();
    if !on {
        eprintln!("no AVX-512 (F, BW, VBMI, GFNI, POPCNT) on this CPU: vector kernel not tested");
    }
    on
}

fn check_expand(elemsize: usize, objs: &ObjMask) {
    let want = expand_reference(objs, elemsize);
    assert_eq!(expand_scalar(objs, elemsize), want, "scalar, {elemsize} B, {objs:x?}");
    #[cfg(target_arch = "x86_64")]
    if has_fast_scan_span_packed() {
        // SAFETY: the CPU has the features (checked just above).
        let got = unsafe { expand_avx512(objs, elemsize) };
        assert_eq!(got, want, "AVX-512, {elemsize} B, {objs:x?}");
    }
}

/// Every kernel's scan of `mem` against the reference's; returns the reference's pointers.
fn check_scan(mem: &Page, objs: &ObjMask, elemsize: usize, ptrs: &PtrMask) -> Vec<usize> {
    let mut want = [0usize; PAGE_WORDS];
    // SAFETY: `mem` is a whole aligned page no other thread touches.
    let n = unsafe { scan_span_packed_reference(mem.0.as_ptr(), &mut want, objs, elemsize, ptrs) };
    let want = want[..n].to_vec();
    let mut got = [0usize; PAGE_WORDS];
    // SAFETY: as above.
    let n = unsafe { scan_span_packed_scalar(mem.0.as_ptr(), &mut got, objs, elemsize, ptrs) };
    assert_eq!(got[..n], want[..], "scalar, {elemsize} B, objs {objs:x?}");
    // SAFETY: as above.
    let n = unsafe { scan_span_packed(mem.0.as_ptr(), &mut got, objs, elemsize, ptrs) };
    assert_eq!(got[..n], want[..], "dispatch, {elemsize} B, objs {objs:x?}");
    #[cfg(target_arch = "x86_64")]
    if has_fast_scan_span_packed() {
        // SAFETY: as above, and the CPU has the features.
        let n = unsafe { scan_span_packed_avx512(mem.0.as_ptr(), &mut got, objs, elemsize, ptrs) };
        assert_eq!(got[..n], want[..], "AVX-512, {elemsize} B, objs {objs:x?}");
    }
    want
}

#[test]
fn classes_are_gomems_one_page_classes_up_to_512_bytes() {
    let words: Vec<usize> = classes().iter().map(|s| s / 8).collect();
    assert_eq!(words, SCAN_CLASS_WORDS);
}

/// Go's `TestExpandAVX512` (and the reference it checks against, `ExpandReference`).
#[test]
fn expansions_match_the_reference_on_gos_patterns() {
    avx512();
    go_patterns(check_expand);
}

#[test]
fn expansions_match_the_reference_on_random_masks() {
    let mut rng = Rng(1);
    for elemsize in classes() {
        for density in [0, 1, 8, 15, 16] {
            for _ in 0..20 {
                let objs = trim(core::array::from_fn(|_| rng.bits(density)), elemsize);
                check_expand(elemsize, &objs);
            }
        }
    }
}

/// Go's `TestScanSpanPackedAVX512` (`testScanSpanPacked`): words `PageSize + i + 1`, a random
/// heap bitmap, Go's boundary patterns.
#[test]
fn scans_match_the_reference_on_gos_patterns() {
    avx512();
    let mut mem = page();
    for (i, w) in mem.0.iter_mut().enumerate() {
        *w = (8192 + i + 1) as u64;
    }
    let mut rng = Rng(42);
    let ptrs: PtrMask = core::array::from_fn(|_| rng.next());
    go_patterns(|elemsize, objs| {
        check_scan(&mem, objs, elemsize, &ptrs);
    });
}

/// Random pages (a quarter of the words nil), random heap bitmaps of several densities, sparse
/// and dense object masks, for every class.
#[test]
fn scans_match_the_reference_on_random_pages() {
    avx512();
    let mut rng = Rng(7);
    let mut mem = page();
    for elemsize in classes() {
        for round in 0..12 {
            for w in mem.0.iter_mut() {
                *w = if rng.next() % 4 == 0 { 0 } else { rng.next() };
            }
            let ptrs: PtrMask = core::array::from_fn(|_| rng.bits([4, 8, 12, 16][round % 4]));
            for density in [1, 2, 8, 14, 15, 16] {
                let objs = trim(core::array::from_fn(|_| rng.bits(density)), elemsize);
                check_scan(&mem, &objs, elemsize, &ptrs);
            }
        }
    }
}

#[test]
fn edge_cases() {
    avx512();
    let mut mem = page();
    for (i, w) in mem.0.iter_mut().enumerate() {
        *w = 0x1_0000 + i as u64;
    }
    let all_ptrs = [!0u64; 16];
    for elemsize in classes() {
        let f = elemsize / 8;
        let n = nobj(elemsize);
        // No objects: nothing, whatever the heap bits.
        assert!(check_scan(&mem, &[0; 8], elemsize, &all_ptrs).is_empty());
        // All objects, all pointers: every word of every object, in order.
        let all = trim([!0; 8], elemsize);
        let got = check_scan(&mem, &all, elemsize, &all_ptrs);
        assert_eq!(got, mem.0[..n * f].iter().map(|&w| w as usize).collect::<Vec<_>>());
        // The last object alone: its words, up to its end.
        let mut last = [0u64; 8];
        last[(n - 1) / 64] = 1 << ((n - 1) % 64);
        let got = check_scan(&mem, &last, elemsize, &all_ptrs);
        let want: Vec<usize> = ((n - 1) * f..n * f).map(|w| mem.0[w] as usize).collect();
        assert_eq!(got, want, "{elemsize} B, last object");
        // All objects, no pointers.
        assert!(check_scan(&mem, &all, elemsize, &[0; 16]).is_empty());
    }
    // The 16-byte class with every word a non-nil pointer fills the buffer exactly.
    let got = check_scan(&mem, &[!0; 8], 16, &all_ptrs);
    assert_eq!(got.len(), PAGE_WORDS);
    // Objects that straddle 64-word blocks (and 64-byte frames): 24-byte object 21 is words
    // 63..66, 48-byte object 10 is words 60..66, 80-byte object 6 is words 60..70.
    for (elemsize, obj) in [(24, 21usize), (48, 10), (80, 6)] {
        let mut objs = [0u64; 8];
        objs[0] = 1 << obj;
        let f = elemsize / 8;
        let got = check_scan(&mem, &objs, elemsize, &all_ptrs);
        let want: Vec<usize> = (obj * f..(obj + 1) * f).map(|w| mem.0[w] as usize).collect();
        assert_eq!(got, want, "{elemsize} B, object {obj}");
        assert!(obj * f < 64 && (obj + 1) * f > 64, "the case straddles word 64");
    }
}

/// Go's `TestFilterNil` cases, as words of a page: the kernels drop exactly the nils and, unlike
/// Go's filter (which may reorder), keep the rest in address order.
#[test]
fn nils_are_dropped_and_order_kept() {
    avx512();
    let cases: &[(&[u64], &[usize])] = &[
        (&[], &[]),
        (&[4], &[4]),
        (&[0], &[]),
        (&[0, 4], &[4]),
        (&[4, 0], &[4]),
        (&[0, 0, 0, 4], &[4]),
        (&[4, 0, 0, 0], &[4]),
        (&[0, 0, 0, 4, 0], &[4]),
        (&[5, 12], &[5, 12]),
        (&[0, 5, 12], &[5, 12]),
        (&[5, 0, 12], &[5, 12]),
        (&[5, 12, 0], &[5, 12]),
        (&[0, 5, 0, 12, 0], &[5, 12]),
        (&[1, 5, 5, 0, 0, 0, 12, 0, 121, 5, 0], &[1, 5, 5, 12, 121, 5]),
    ];
    for &(words, want) in cases {
        for start in [0, 5, 60] {
            let mut mem = page();
            for (i, &w) in words.iter().enumerate() {
                mem.0[start + i] = w;
            }
            // Every word is another non-nil value; only the case's words are pointers.
            for w in mem.0.iter_mut().skip(start + words.len()) {
                *w = 99;
            }
            let mut ptrs = [0u64; 16];
            for w in start..start + words.len() {
                ptrs[w / 64] |= 1 << (w % 64);
            }
            let got = check_scan(&mem, &trim([!0; 8], 16), 16, &ptrs);
            assert_eq!(got, want, "{words:?} at word {start}");
        }
    }
}

/// The expansion tables stay as small as Go's: at most 8 `VPERMB` + `VGF2P8AFFINEQB` pairs and
/// 4 two-source permutations per output register (the limits the kernel is built for).
#[cfg(target_arch = "x86_64")]
#[test]
fn plans_are_small() {
    for f in SCAN_CLASS_WORDS {
        let (sg, parts) = plan_size(f);
        eprintln!("{:3} B: {sg} super-groups, output permutations {parts:?}", f * 8);
        assert!((1..=8).contains(&sg) && parts.iter().all(|&p| (1..=4).contains(&p)));
    }
}

/// A scan racing a mutator that stores whole words atomically: every value read is one some
/// store wrote (no torn word), of the right slot, in address order. Each slot `w` only ever
/// holds 0, `a(w)` or `b(w)`, and `a` and `b` repeat `w + 1` in both halves.
#[test]
fn a_scan_racing_atomic_stores_reads_whole_words() {
    let vector = avx512();
    let mem = page();
    let base = mem.0.as_ptr() as usize;
    let a = |w: u64| (w + 1) * 0x1_0000_0001;
    let b = |w: u64| ((w + 1) | 0x8000) * 0x1_0000_0001;
    let stop = AtomicBool::new(false);
    /// Stops the mutator however the scan ends, a failed assertion included (else the scope
    /// would wait for it forever).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng(3);
            while !stop.load(Ordering::Relaxed) {
                let w = (rng.next() % PAGE_WORDS as u64) as usize;
                let v = [0, a(w as u64), b(w as u64)][(rng.next() % 3) as usize];
                // SAFETY: `w` is a word of the page, which outlives the scope; every access to
                // the page while the scope runs is atomic.
                let slot = unsafe { &*((base + w * 8) as *const AtomicU64) };
                slot.store(v, Ordering::Relaxed);
            }
        });
        let _stop = Stop(&stop);
        let mut rng = Rng(4);
        let mut buf = [0usize; PAGE_WORDS];
        for round in 0..4000 {
            let elemsize = SCAN_CLASS_WORDS[round % SCAN_CLASS_WORDS.len()] * 8;
            let objs = trim(core::array::from_fn(|_| rng.bits(12)), elemsize);
            let ptrs: PtrMask = core::array::from_fn(|_| rng.bits(12));
            let words = expand_reference(&objs, elemsize);
            // SAFETY: the page stays alive; the mutator writes its words only atomically.
            let n = unsafe {
                if vector && round % 2 == 0 {
                    scan_span_packed(base as *const u64, &mut buf, &objs, elemsize, &ptrs)
                } else {
                    scan_span_packed_scalar(base as *const u64, &mut buf, &objs, elemsize, &ptrs)
                }
            };
            let mut last = 0;
            for &v in &buf[..n] {
                let (hi, lo) = (v >> 32, v & 0xffff_ffff);
                assert_eq!(hi, lo, "torn word {v:#x}");
                let w = (lo & 0x7fff) - 1;
                assert!(w >= last && w < PAGE_WORDS, "out of order or out of range: {v:#x}");
                assert!(words[w / 64] & ptrs[w / 64] & (1 << (w % 64)) != 0, "unselected {w}");
                last = w + 1;
            }
        }
    });
}
