//! Integration tests of the allocator: allocation paths, lookup, zeroing, sweeping, statistics,
//! errors. (Random and concurrent tests are in `concurrent.rs`.)
#![cfg(not(loom))]

mod common;
use common::*;
use gomem_allocator::consts::*;
use gomem_allocator::error::AllocError;
use gomem_allocator::sizeclass::{SizeClass, SpanClass};
use gomem_allocator::sync::Ordering;
use gomem_allocator::typedesc::{TypeDesc, POINTER};

static NODE: TypeDesc = TypeDesc::new(24, 16, &[0b11], "node"); // two pointers and a word
static BIG_PTRS: TypeDesc = TypeDesc::new(1024, 1024, &[!0; 2], "[128]*T");
static MIXED_600: TypeDesc = TypeDesc::new(600, 584, &[0x5555_5555_5555_5555, 0x155], "mixed600");

#[test]
fn small_allocations_are_zeroed_aligned_and_distinct() {
    let h = heap();
    let mut c = h.new_cache();
    for size in [1usize, 7, 8, 9, 16, 24, 33, 100, 512, 1000, 4096, 9000, 32760] {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let p = c.alloc_noscan(size).unwrap().as_ptr() as usize;
            assert!(seen.insert(p), "duplicate address for size {size}");
            // SAFETY: `size` bytes at p were just allocated.
            let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
            assert!(bytes.iter().all(|&b| b == 0), "not zeroed, size {size}");
            let align = if size < 16 {
                // Tiny: aligned by the size's low bits.
                if size % 8 == 0 {
                    8
                } else if size % 4 == 0 {
                    4
                } else if size % 2 == 0 {
                    2
                } else {
                    1
                }
            } else {
                SizeClass::for_size(size).unwrap().slot_alignment()
            };
            assert_eq!(p % align, 0, "size {size} misaligned at {p:#x}");
            // SAFETY: fill our own object so a reuse bug would show as non-zero memory.
            unsafe { std::ptr::write_bytes(p as *mut u8, 0xAB, size) };
        }
    }
    assert_ledger(&h, &[&c]);
}

#[test]
fn tiny_allocations_share_blocks() {
    let h = heap();
    let mut c = h.new_cache();
    // 16 one-byte objects need only one 16-byte block (Go's TestTinyAlloc).
    let ps: Vec<usize> = (0..16).map(|_| c.alloc_noscan(1).unwrap().as_ptr() as usize).collect();
    let blocks: std::collections::HashSet<usize> = ps.iter().map(|p| p & !15).collect();
    assert_eq!(blocks.len(), 1, "16 bytes of tiny objects should share one block");
    // An 8-byte tiny object after a 1-byte one is 8-aligned (Go's TestTinyAllocIssue37262).
    let _ = c.alloc_noscan(1).unwrap();
    let p8 = c.alloc_noscan(8).unwrap().as_ptr() as usize;
    assert_eq!(p8 % 8, 0);
    let p4 = c.alloc_noscan(12).unwrap().as_ptr() as usize;
    assert_eq!(p4 % 4, 0);
    assert_ledger(&h, &[&c]);
}

#[test]
fn zero_size_returns_zerobase() {
    let h = heap();
    let mut c = h.new_cache();
    let a = c.alloc_noscan(0).unwrap();
    let b = c.alloc_array(&NODE, 0).unwrap();
    assert_eq!(a, b);
    assert!(h.span_of(a.as_ptr() as usize).is_none());
}

#[test]
fn span_lookup_base_interior_and_foreign() {
    let h = heap();
    let mut c = h.new_cache();
    let p = c.alloc(&NODE).unwrap().as_ptr() as usize;
    let (s, i, base) = h.find_object(p).unwrap();
    assert_eq!(base, p);
    assert_eq!(s.obj_base(i), p);
    assert_eq!(s.spanclass(), SpanClass::new(SizeClass::for_size(24).unwrap(), false));
    // Interior pointers map to their object.
    for off in [1, 8, 23] {
        let (_, _, b) = h.find_object(p + off).unwrap();
        assert_eq!(b, p);
    }
    // A large object: every interior page maps to the one span.
    let big = c.alloc_noscan(1 << 20).unwrap().as_ptr() as usize;
    for off in [0usize, 4096, 8192 * 7 + 3, (1 << 20) - 1] {
        let (s, i, b) = h.find_object(big + off).unwrap();
        assert_eq!((b, i), (big, 0));
        assert!(s.is_large());
    }
    // Past the large object's size: still in its last page but outside the object → None.
    let odd = c.alloc_noscan(40_000).unwrap().as_ptr() as usize;
    assert!(h.find_object(odd + 40_000 + 8).is_none());
    assert!(h.span_of(odd + 40_000 + 8).is_some());
    // Foreign addresses.
    let stack = 0u64;
    assert!(h.find_object(&stack as *const u64 as usize).is_none());
    let boxed = Box::new(1u64);
    assert!(h.find_object(&*boxed as *const u64 as usize).is_none());
    assert!(h.find_object(0).is_none());
    assert!(h.find_object(usize::MAX).is_none());
    assert!(h.find_object(1 << 50).is_none());
    // Another heap's objects are foreign to this one.
    let h2 = heap();
    assert!(h2.find_object(p).is_none());
}

#[test]
fn pointer_metadata_small_header_and_large() {
    let h = heap();
    let mut c = h.new_cache();
    // Headerless: 24-byte node with pointers in words 0 and 1.
    let p = c.alloc(&NODE).unwrap().as_ptr() as usize;
    assert_eq!(ptr_slots(&h, p), vec![p, p + 8]);
    // Array of nodes tiles the mask every 24 bytes: 4 nodes = 96 bytes (class 96).
    let a = c.alloc_array(&NODE, 4).unwrap().as_ptr() as usize;
    let want: Vec<usize> = (0..4).flat_map(|k| [a + 24 * k, a + 24 * k + 8]).collect();
    assert_eq!(ptr_slots(&h, a), want);
    // A single pointer in the 8-byte scan class.
    let q = c.alloc(&POINTER).unwrap().as_ptr() as usize;
    assert_eq!(ptr_slots(&h, q), vec![q]);
    // Header object: 600 bytes > 512, so the slot starts with a type word and data at +8.
    let m = c.alloc(&MIXED_600).unwrap().as_ptr() as usize;
    let (s, _, slot) = h.find_object(m).unwrap();
    assert_eq!(slot + 8, m);
    assert!(s.elemsize() >= 608);
    let slots = ptr_slots(&h, m);
    // As in Go, the mask is tiled from the data start to the end of the slot, so the 32 bytes
    // after the 600-byte value (zeroed, never handed out) are scanned as a second element.
    let mut want: Vec<usize> = (0..73).filter(|w| w % 2 == 0).map(|w| m + 8 * w).collect();
    want.extend([m + 600, m + 616]);
    assert_eq!(slots, want);
    // Large pointer array: 64 × 1024 bytes, every word a pointer.
    let l = c.alloc_array(&BIG_PTRS, 64).unwrap().as_ptr() as usize;
    let slots = ptr_slots(&h, l);
    assert_eq!(slots.len(), 64 * 128);
    assert_eq!(slots[0], l);
    assert_eq!(*slots.last().unwrap(), l + 64 * 1024 - 8);
    // Oblet restriction: only offsets [8192, 16384).
    let (s, _, b) = h.find_object(l).unwrap();
    let mut n = 0;
    // SAFETY: as in ptr_slots.
    unsafe {
        s.for_each_ptr_slot(b, 8192, 16384, |a| {
            assert!(a >= l + 8192 && a < l + 16384);
            n += 1
        })
    };
    assert_eq!(n, 1024);
    // Noscan objects have no pointer slots.
    let z = c.alloc_noscan(64).unwrap().as_ptr() as usize;
    assert!(ptr_slots(&h, z).is_empty());
}

#[test]
fn heap_bits_of_neighbours_do_not_clobber_each_other() {
    let h = heap();
    let mut c = h.new_cache();
    // Mixed types in one class (32 bytes): a 4-word type with pointers at 0 and 3, and a
    // 3-word node; interleave and check each keeps its bits, across bitmap word boundaries.
    static T4: TypeDesc = TypeDesc::new(32, 32, &[0b1001], "t4");
    let mut objs = Vec::new();
    for k in 0..200 {
        let p = if k % 2 == 0 { c.alloc(&T4) } else { c.alloc_array(&NODE, 1) };
        objs.push((k % 2, p.unwrap().as_ptr() as usize));
    }
    for (kind, p) in objs {
        let got = ptr_slots(&h, p);
        if kind == 0 {
            assert_eq!(got, vec![p, p + 24]);
        } else {
            assert_eq!(got, vec![p, p + 8]);
        }
    }
}

#[test]
fn sweep_frees_unmarked_and_keeps_marked() {
    let h = heap();
    let mut c = h.new_cache();
    let objs: Vec<usize> = (0..1000).map(|_| c.alloc(&NODE).unwrap().as_ptr() as usize).collect();
    let keep: Vec<usize> = objs.iter().copied().step_by(3).collect();
    for &p in &objs {
        // SAFETY: our own objects; write a recognisable value into the scalar word.
        unsafe { *((p + 16) as *mut u64) = p as u64 };
    }
    let before = h.ledger(&[&c]);
    cycle(&h, &mut [&mut c], &keep);
    let after = h.ledger(&[&c]);
    assert_eq!(after.frees - before.frees, (objs.len() - keep.len()) as u64);
    for &p in &keep {
        assert!(h.find_object(p).is_some());
        // SAFETY: kept objects are still allocated.
        assert_eq!(unsafe { *((p + 16) as *const u64) }, p as u64, "live object changed");
    }
    assert_ledger(&h, &[&c]);
    // New allocations reuse freed slots and come back zeroed.
    let keep_set: std::collections::HashSet<usize> = keep.iter().copied().collect();
    let mut reused = 0;
    for _ in 0..(objs.len() - keep.len()) {
        let p = c.alloc(&NODE).unwrap().as_ptr() as usize;
        assert!(!keep_set.contains(&p), "handed out a live object");
        // SAFETY: 24 fresh bytes.
        let w = unsafe { std::slice::from_raw_parts(p as *const u64, 3) };
        assert_eq!(w, &[0, 0, 0], "reused slot not zeroed");
        reused += 1;
    }
    assert!(reused > 0);
    verify(&h);
}

/// After a sweep keeps a scattered pattern (single slots, runs across 64-slot group
/// boundaries, whole groups), allocation hands out exactly the freed slots: each once, none
/// that is live, none past a span's last slot. Sizes whose spans end in a partial group (48
/// and 24 bytes) and one whose spans are whole groups (16 bytes) cover both ends of the
/// allocation window. The freed slots were clobbered by the sweep and come back zeroed; the
/// live slots between them keep their contents (a P clears a span's free slots, and only
/// those, when it caches the span).
#[test]
fn reuse_hands_out_exactly_the_freed_slots() {
    enum How {
        Noscan(usize),
        Typed(&'static TypeDesc),
    }
    for how in [How::Noscan(48), How::Noscan(16), How::Typed(&NODE)] {
        // The word of each object that carries a tag, and the object's size.
        let (tag_at, size) = match how {
            How::Noscan(n) => (n - 8, n),
            How::Typed(t) => (16, t.size),
        };
        let h = clobber_heap();
        let mut c = h.new_cache();
        let alloc = |c: &mut gomem_allocator::mcache::MCache| {
            match how {
                How::Noscan(n) => c.alloc_noscan(n),
                How::Typed(t) => c.alloc(t),
            }
            .unwrap()
            .as_ptr() as usize
        };
        // Whole spans only: a partly used last span would have free slots that were never
        // allocated, which new allocations may take too.
        let first = alloc(&mut c);
        let per_span = h.find_object(first).unwrap().0.nelems();
        let mut objs = vec![first];
        objs.extend((1..per_span * 5000usize.div_ceil(per_span)).map(|_| alloc(&mut c)));
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut keep = Vec::new();
        let mut freed = std::collections::HashSet::new();
        for (i, &p) in objs.iter().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Every 50th object keeps its span alive, so no span goes back to the page heap
            // and the new allocations must all come from the freed slots.
            let kept = i % 50 == 0 || (100..200).contains(&(i % 512)) || rng % 3 == 0;
            if kept {
                keep.push(p);
            } else {
                freed.insert(p);
            }
        }
        for &p in &objs {
            // SAFETY: our own object; the tagged word holds no pointer.
            unsafe { *((p + tag_at) as *mut u64) = p as u64 };
        }
        let before = h.ledger(&[&c]).frees;
        let pages = cycle(&h, &mut [&mut c], &keep);
        assert_eq!(pages, 0, "no span emptied");
        assert_eq!(h.ledger(&[&c]).frees - before, freed.len() as u64, "objects freed");
        for _ in 0..freed.len() {
            let p = alloc(&mut c);
            assert!(freed.remove(&p), "{p:#x} is not a freed slot (or was handed out twice)");
            // SAFETY: `size` bytes just allocated at p.
            let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
            assert!(bytes.iter().all(|&b| b == 0), "reused slot {p:#x} not zeroed");
        }
        assert!(freed.is_empty());
        for &p in &keep {
            // SAFETY: kept objects are still allocated.
            assert_eq!(unsafe { *((p + tag_at) as *const u64) }, p as u64, "live object changed");
        }
        assert_ledger(&h, &[&c]);
        verify(&h);
    }
}

#[test]
fn empty_spans_return_to_the_page_heap() {
    let h = heap();
    let mut c = h.new_cache();
    for _ in 0..10_000 {
        c.alloc_noscan(256).unwrap();
    }
    let big: Vec<usize> =
        (0..8).map(|_| c.alloc_noscan(100_000).unwrap().as_ptr() as usize).collect();
    let l0 = h.ledger(&[&c]);
    assert!(l0.in_use >= 10_000 * 256 + 8 * 100_000);
    let freed = cycle(&h, &mut [&mut c], &big[..1]);
    assert!(freed > 0);
    let l1 = h.ledger(&[&c]);
    // Only one large object (13 pages) remains.
    assert_eq!(l1.in_use, 13 * PAGE_SIZE);
    assert_eq!(l1.span_overhead, 0);
    assert_eq!(l1.central_free, 0);
    assert!(l1.heap_free > l0.heap_free);
    assert!(l1.balances(), "{l1}");
    verify(&h);
}

#[test]
fn large_objects_zeroed_after_reuse() {
    let h = heap();
    let mut c = h.new_cache();
    let a = c.alloc_noscan(3 << 20).unwrap().as_ptr() as usize;
    // SAFETY: our own 3 MiB object.
    unsafe { std::ptr::write_bytes(a as *mut u8, 0xCD, 3 << 20) };
    cycle(&h, &mut [&mut c], &[]);
    let b = c.alloc_noscan(3 << 20).unwrap().as_ptr() as usize;
    assert_eq!(a, b, "address-ordered first fit reuses the freed run");
    // SAFETY: our own 3 MiB object.
    let s = unsafe { std::slice::from_raw_parts(b as *const u64, (3 << 20) / 8) };
    assert!(s.iter().all(|&w| w == 0));
}

#[test]
#[cfg_attr(
    gomem_asan,
    ignore = "reads freed memory on purpose: ASan reports it, which shows the poisoning works"
)]
fn clobberfree_fills_freed_objects() {
    let h = clobber_heap();
    let mut c = h.new_cache();
    let keep = c.alloc_noscan(64).unwrap().as_ptr() as usize;
    let dead = c.alloc_noscan(64).unwrap().as_ptr() as usize;
    let dead_large = c.alloc_noscan(50_000).unwrap().as_ptr() as usize;
    cycle(&h, &mut [&mut c], &[keep]);
    // The freed slot still sits in a live span's memory: it reads as the pattern.
    // SAFETY: the span stays InUse (it holds `keep`), so its pages are mapped.
    let w = unsafe { *(dead as *const u64) };
    assert_eq!(w, gomem_allocator::mspan::CLOBBER_PATTERN);
    // SAFETY: as above for the live object.
    assert_eq!(unsafe { *(keep as *const u64) }, 0);
    // The large object's pages went back to the page heap (still mapped: our arena).
    // SAFETY: arena memory stays mapped for the heap's life.
    assert_eq!(unsafe { *(dead_large as *const u64) }, gomem_allocator::mspan::CLOBBER_PATTERN);
}

#[test]
fn growth_beyond_one_arena() {
    let h = heap();
    let mut c = h.new_cache();
    let mut ps = Vec::new();
    // 160 MiB of 1 MiB objects and 16 MiB of small ones: at least three arenas.
    for _ in 0..160 {
        ps.push(c.alloc_noscan(1 << 20).unwrap().as_ptr() as usize);
    }
    for _ in 0..(16 << 20) / 512 {
        ps.push(c.alloc_noscan(512).unwrap().as_ptr() as usize);
    }
    let arenas: std::collections::HashSet<usize> = ps.iter().map(|p| p / ARENA_SIZE).collect();
    assert!(arenas.len() >= 3, "only {} arenas", arenas.len());
    for &p in ps.iter().step_by(97) {
        assert!(h.find_object(p).is_some());
    }
    let l = h.ledger(&[&c]);
    assert!(l.heap_mapped >= 176 << 20);
    assert!(l.balances(), "{l}");
    verify(&h);
}

#[test]
fn bad_sizes_are_errors() {
    let h = heap();
    let mut c = h.new_cache();
    let e = c.alloc_array(&NODE, usize::MAX / 8).unwrap_err();
    assert!(matches!(e, AllocError::SizeOverflow { .. }), "{e}");
    assert!(e.to_string().contains("overflows"));
    let e = c.alloc_noscan(usize::MAX).unwrap_err();
    assert!(matches!(e, AllocError::TooLarge { .. }), "{e}");
    let e = c.alloc_noscan(1 << 60).unwrap_err();
    assert!(matches!(e, AllocError::TooLarge { .. }), "{e}");
    // The address space is 2^47: a 2^46-byte request is representable but the OS refuses it.
    let e = c.alloc_noscan(1 << 46).unwrap_err();
    assert!(matches!(e, AllocError::Os(_)), "{e}");
    // The heap is still usable and consistent.
    let p = c.alloc_noscan(100).unwrap();
    assert!(h.find_object(p.as_ptr() as usize).is_some());
    assert_ledger(&h, &[&c]);
}

#[test]
fn injected_mmap_failure_is_an_error_and_heap_stays_usable() {
    let h = heap();
    let mut c = h.new_cache();
    let a = c.alloc_noscan(64).unwrap();
    // The next reservation fails: a large allocation that needs a new arena reports it.
    h.os().inject_failures(1);
    let e = c.alloc_noscan(200 << 20).unwrap_err();
    assert!(matches!(e, AllocError::Os(_)), "{e}");
    assert!(e.to_string().contains("injected"), "{e}");
    // A failure while mapping a chunk is reported the same way.
    h.os().inject_failures(3);
    let mut failures = 0;
    for _ in 0..3 {
        if c.alloc_noscan(100 << 20).is_err() {
            failures += 1;
        }
    }
    assert!(failures >= 1);
    h.os().inject_failures(0);
    let b = c.alloc_noscan(200 << 20).unwrap();
    assert!(h.find_object(b.as_ptr() as usize).is_some());
    assert!(h.find_object(a.as_ptr() as usize).is_some());
    assert_ledger(&h, &[&c]);
    verify(&h);
}

#[test]
fn allocate_black_marks_new_objects() {
    let h = heap();
    let mut c = h.new_cache();
    // SAFETY: no other thread uses this heap, and the test plays a mark phase from here to
    // the switch back, followed by the sweep of `cycle`.
    unsafe { h.set_alloc_black(true) };
    let p = c.alloc(&NODE).unwrap().as_ptr() as usize;
    let t = c.alloc_noscan(3).unwrap().as_ptr() as usize;
    let l = c.alloc_noscan(100_000).unwrap().as_ptr() as usize;
    // SAFETY: as above: the "mark phase" ends.
    unsafe { h.set_alloc_black(false) };
    for a in [p, t, l] {
        let (s, i, _) = h.find_object(a).unwrap();
        assert!(s.is_marked(i), "object allocated during marking must be black");
    }
    // Black objects survive the cycle that allocated them.
    cycle(&h, &mut [&mut c], &[]);
    for a in [p, t, l] {
        assert!(h.find_object(a).is_some());
    }
}

#[test]
fn scavenge_releases_free_pages_and_ledger_follows() {
    let h = heap();
    let mut c = h.new_cache();
    let big: Vec<usize> =
        (0..16).map(|_| c.alloc_noscan(1 << 20).unwrap().as_ptr() as usize).collect();
    for &b in &big {
        // SAFETY: touch our objects so they are backed.
        unsafe { std::ptr::write_bytes(b as *mut u8, 1, 1 << 20) };
    }
    cycle(&h, &mut [&mut c], &[]);
    let l0 = h.ledger(&[&c]);
    assert!(l0.heap_free >= 16 << 20);
    let got = h.scavenge(usize::MAX);
    assert!(got >= 16 << 20, "released {got}");
    let l1 = h.ledger(&[&c]);
    assert!(l1.released >= l0.released + (16 << 20));
    assert!(l1.balances(), "{l1}");
    // Released pages are reused and read as zero.
    let b = c.alloc_noscan(1 << 20).unwrap().as_ptr() as usize;
    // SAFETY: our fresh object.
    assert!(unsafe { std::slice::from_raw_parts(b as *const u64, 1 << 17) }
        .iter()
        .all(|&w| w == 0));
}

#[test]
fn object_counts_per_span_follow_the_layout() {
    let h = heap();
    let mut c = h.new_cache();
    for (size, noscan, want) in
        [(8, false, 1008), (16, true, 512), (16, false, 504), (512, false, 15), (512, true, 16)]
    {
        let p = if noscan { c.alloc_noscan(size) } else { c.alloc_array(&POINTER, size / 8) };
        let p = p.unwrap().as_ptr() as usize;
        let (s, _, _) = h.find_object(p).unwrap();
        assert_eq!(s.nelems(), want, "size {size} noscan {noscan}");
        assert!(
            s.limit() <= s.base() + s.span_bytes() - if noscan { 0 } else { SPAN_HEAP_BITS_SIZE }
        );
    }
}

#[test]
fn heap_live_counts_cached_spans_up_front_and_settles_on_release() {
    let h = heap();
    let mut c = h.new_cache();
    assert_eq!(h.heap_live(), 0);
    for _ in 0..1000 {
        c.alloc_noscan(64).unwrap();
    }
    // While cached, the whole free part of the current span counts as live.
    assert!(h.heap_live() >= 1000 * 64);
    let big = c.alloc_noscan(100_000).unwrap();
    let _ = big;
    c.release_all();
    // Released: exactly the objects handed out (64-byte class) plus the large object's pages.
    assert_eq!(h.heap_live(), 1000 * 64 + 13 * PAGE_SIZE as u64);
    // Mark termination resets it to what was marked.
    h.reset_heap_live(4096);
    assert_eq!(h.heap_live(), 4096);
}

/// The pacer's expected scan work (Go's `heapScan`) grows by the pointer-bearing prefix of
/// every scan object allocated, not by its size, and not at all for pointer-free objects.
#[test]
fn heap_scan_counts_pointer_prefixes_of_scan_objects() {
    let heap = heap();
    let mut c = heap.new_cache();
    heap.reset_heap_scan(0);
    for _ in 0..1000 {
        c.alloc(&NODE).unwrap(); // 24 bytes, pointers in the first 16
        c.alloc_noscan(48).unwrap();
    }
    c.alloc(&MIXED_600).unwrap(); // a header object: 584 bytes of prefix
    c.alloc_array(&NODE, 3).unwrap(); // 2 whole elements and the last one's prefix
    c.alloc_array(&BIG_PTRS, 64).unwrap(); // large: flushes everything counted so far
    let expect = (1000 * 16 + 584 + (2 * 24 + 16) + 64 * 1024) as u64;
    assert_eq!(heap.heap_scan(), expect);
    c.release_all();
    assert_eq!(heap.heap_scan(), expect, "nothing was left behind in the cache");
    heap.reset_heap_scan(7);
    assert_eq!(heap.heap_scan(), 7, "mark termination resets it to the work measured");
}

/// A sweep that empties a span keeps it on its central list for one cycle (counted as free
/// heap memory, not in use), the next allocations of that class reuse it without going to the
/// page heap, and a span still unused at the following sweep goes back to the page heap. No
/// span is kept while a memory limit is set, while the scavenger's retained-heap goal is
/// unmet, when keeping is turned off, or inside `without_keeping_empty_spans`.
#[test]
fn empty_spans_are_kept_for_one_cycle_then_freed() {
    let h = clobber_heap();
    let mut c = h.new_cache();
    let spans = 10;
    let per_span = SpanClass::new(SizeClass::for_size(64).unwrap(), true).objects();
    let n = spans * per_span;
    let fill = |c: &mut gomem_allocator::mcache::MCache| -> std::collections::BTreeSet<usize> {
        let objs: Vec<usize> =
            (0..n).map(|_| c.alloc_noscan(64).unwrap().as_ptr() as usize).collect();
        for &p in &objs {
            // SAFETY: a live 64-byte object just allocated.
            let zero =
                unsafe { std::slice::from_raw_parts(p as *const u8, 64) }.iter().all(|&b| b == 0);
            assert!(zero, "object {p:#x} not zeroed");
            // SAFETY: as above; dirty it so that reuse must clear it.
            unsafe { (p as *mut u64).write(0x5555) };
        }
        objs.iter().map(|&p| h.find_object(p).unwrap().0.base()).collect()
    };
    let first = fill(&mut c);
    assert_eq!(first.len(), spans);
    let span_bytes = spans * PAGE_SIZE;

    // First sweep: every span is empty and kept.
    assert_eq!(cycle(&h, &mut [&mut c], &[]), 0, "no page goes back to the page heap");
    assert_eq!(h.stats.kept_empty.load(Ordering::Relaxed), span_bytes);
    assert_ledger(&h, &[&c]);
    let l = h.ledger(&[&c]);
    assert!(l.heap_free >= span_bytes, "kept spans count as free heap memory\n{l}");

    // The same class reuses exactly those spans, cleared.
    let second = fill(&mut c);
    assert_eq!(second, first, "the kept spans are reused");
    assert_eq!(h.stats.kept_empty.load(Ordering::Relaxed), 0);
    assert_ledger(&h, &[&c]);

    // Emptied again: kept; a cycle with no allocation in between frees them.
    assert_eq!(cycle(&h, &mut [&mut c], &[]), 0);
    assert_eq!(cycle(&h, &mut [&mut c], &[]), spans, "unused kept spans are freed");
    assert_eq!(h.stats.kept_empty.load(Ordering::Relaxed), 0);
    assert_ledger(&h, &[&c]);

    // Whenever the heap should shrink, an emptied span goes straight back.
    let no_goal = gomem_allocator::scavenge::NO_GOAL;
    let scav = h.scavenge_state();
    let settings: [(&str, &dyn Fn(bool)); 3] = [
        ("memory limit", &|on| scav.set_memory_limit(if on { 64 << 20 } else { no_goal })),
        ("retained goal unmet", &|on| scav.set_goals(if on { 1 << 20 } else { no_goal }, no_goal)),
        ("keeping off", &|on| {
            h.set_keep_empty_spans(!on);
        }),
    ];
    for (what, set) in settings {
        fill(&mut c);
        set(true);
        // (The span the cache held is swept and freed when the cache gives it back, so
        // `cycle` counts one span fewer.)
        assert_eq!(cycle(&h, &mut [&mut c], &[]), spans - 1, "{what}: emptied spans are freed");
        assert_eq!(h.stats.kept_empty.load(Ordering::Relaxed), 0, "{what}");
        assert_eq!(h.stats.heap_inuse(), 0, "{what}: no span in use");
        assert_ledger(&h, &[&c]);
        set(false);
    }

    // Inside `without_keeping_empty_spans` (nested calls too) nothing is kept; after the
    // outermost returns, keeping resumes.
    fill(&mut c);
    let freed = h.without_keeping_empty_spans(|| {
        h.without_keeping_empty_spans(|| ());
        cycle(&h, &mut [&mut c], &[])
    });
    assert_eq!(freed, spans - 1, "suppressed: emptied spans are freed");
    assert_eq!(h.stats.kept_empty.load(Ordering::Relaxed), 0);
    fill(&mut c);
    assert_eq!(cycle(&h, &mut [&mut c], &[]), 0, "keeping resumes");
    assert_ledger(&h, &[&c]);
}

/// `alloc_noscan_uninit` leaves a reused slot as it was (here: clobbered by the sweep), while
/// zeroed allocations of the same class, made alongside or later from spans that served
/// uncleared ones, still get zeroed memory; so do large ones.
#[test]
fn uninit_allocations_skip_clearing_and_zeroed_ones_still_get_zero() {
    let h = clobber_heap();
    let mut c = h.new_cache();
    let per_span = SpanClass::new(SizeClass::for_size(64).unwrap(), true).objects();
    let dirty = |c: &mut gomem_allocator::mcache::MCache, n: usize| {
        for _ in 0..n {
            let p = c.alloc_noscan(64).unwrap().as_ptr() as *mut u64;
            // SAFETY: a live 64-byte object.
            unsafe { p.write_bytes(0x77, 1) };
        }
    };
    let is_zero = |p: usize, n: usize| {
        // SAFETY: callers pass live objects of at least `n` bytes.
        unsafe { std::slice::from_raw_parts(p as *const u8, n) }.iter().all(|&b| b == 0)
    };
    dirty(&mut c, 4 * per_span);
    cycle(&h, &mut [&mut c], &[]);

    // The first uncleared allocation takes a reused span without clearing it.
    let u = c.alloc_noscan_uninit(64).unwrap().as_ptr() as usize;
    // SAFETY: a live 64-byte object.
    let word = unsafe { (u as *const u64).read() };
    assert_eq!(word, gomem_allocator::mspan::CLOBBER_PATTERN, "the slot was not cleared");
    // Zeroed allocations of the class meanwhile are zero.
    for i in 0..2 * per_span {
        let p = c.alloc_noscan(64).unwrap().as_ptr() as usize;
        assert!(is_zero(p, 64), "zeroed allocation {i} at {p:#x} is dirty");
    }
    // Interleaved in one class, after another cycle (the spans the uncleared allocations
    // used, dirty, are back on the central list for zeroed allocations to take).
    dirty(&mut c, 4 * per_span);
    cycle(&h, &mut [&mut c], &[]);
    for i in 0..4 * per_span {
        if i % 3 == 0 {
            c.alloc_noscan_uninit(64).unwrap();
        } else {
            let p = c.alloc_noscan(64).unwrap().as_ptr() as usize;
            assert!(is_zero(p, 64), "interleaved zeroed allocation {i} is dirty");
        }
    }
    // Large objects: an uncleared one may be dirty, a zeroed one never is.
    for _ in 0..4 {
        let p = c.alloc_noscan_uninit(100_000).unwrap().as_ptr();
        // SAFETY: a live 100 000-byte object.
        unsafe { p.write_bytes(0x55, 100_000) };
        cycle(&h, &mut [&mut c], &[]);
        let q = c.alloc_noscan(100_000).unwrap().as_ptr() as usize;
        assert!(is_zero(q, 100_000), "large zeroed allocation is dirty");
        cycle(&h, &mut [&mut c], &[]);
    }
    assert_ledger(&h, &[&c]);
}
