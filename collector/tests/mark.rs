//! Marking on a real heap: shading, scanning (headerless, header and large objects, oblets),
//! draining without recursion, the sweep that follows, and two Ps marking one graph.
//!
//! There is no mutator yet, so the tests write pointer words with plain stores into objects
//! they just allocated, before any marking starts.
#![cfg(not(loom))]

use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::mspan::CLOBBER_PATTERN;
use gomem_allocator::sync::{AtomicUsize, Ordering};
use gomem_allocator::typedesc::{TypeDesc, POINTER};
use gomem_collector::mark::OBLET_BYTES;
use gomem_collector::work::{GcWork, WorkPool};
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::*;

/// A list node: `{ next: *Node, val: u64 }` (16-byte class, pointer bits in the span).
static NODE: TypeDesc = TypeDesc::new(16, 8, &[1], "node");
/// `[128]*T`: 1024 bytes of pointers, so a malloc header (1152-byte class).
static BIG_PTRS: TypeDesc = TypeDesc::new(1024, 1024, &[!0; 2], "[128]*T");
/// 600 bytes, pointers in even words up to byte 584 (640-byte class, with header).
static MIXED_600: TypeDesc = TypeDesc::new(600, 584, &[0x5555_5555_5555_5555, 0x155], "mixed600");

// The marking entry points are `unsafe` (a mark set outside the collector's protocol frees
// live objects). These tests play the collector themselves: each heap is the test's own, no
// collector runs on it, every mark phase is followed by the sweep or check the test makes,
// and pointer words are written before marking starts. So they call them through these.

/// `gomem_collector::shade`, as the collector of the test's own heap.
fn shade(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, ptr: usize) -> bool {
    // SAFETY: see above.
    unsafe { gomem_collector::shade(heap, gcw, pool, ptr) }
}

/// `gomem_collector::scan_object`, as the collector of the test's own heap.
fn scan_object(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, b: usize) {
    // SAFETY: see above; `b` is an object the test shaded (or an oblet of one).
    unsafe { gomem_collector::scan_object(heap, gcw, pool, b) }
}

/// `gomem_collector::drain`, as the collector of the test's own heap.
fn drain(
    heap: &MHeap,
    gcw: &mut GcWork,
    pool: &WorkPool,
    budget: Option<u64>,
    should_stop: &dyn Fn() -> bool,
) -> u64 {
    // SAFETY: see above; the work was queued by `shade` on `heap`.
    unsafe { gomem_collector::drain(heap, gcw, pool, budget, should_stop) }
}

fn heap() -> Arc<MHeap> {
    MHeap::new(HeapConfig::default()).expect("heap")
}

/// Mark everything reachable from `roots` on one P. Returns (bytes_marked, heap_scan_work).
fn mark_from(heap: &MHeap, roots: &[usize]) -> (u64, u64) {
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    for &r in roots {
        shade(heap, &mut gcw, &pool, r);
    }
    let work = drain(heap, &mut gcw, &pool, None, &|| false);
    assert!(gcw.is_empty() && pool.is_empty(), "drain left work behind");
    gcw.dispose(&pool);
    let (bytes, scan) = gcw.take_counters();
    assert_eq!(work, scan, "drain reports the scan work it did");
    (bytes, scan)
}

fn list(c: &mut MCache, n: usize) -> Vec<usize> {
    let nodes: Vec<usize> = (0..n).map(|_| alloc(c, &NODE)).collect();
    for (i, &p) in nodes.iter().enumerate() {
        set(p, 0, nodes.get(i + 1).copied().unwrap_or(0));
        set(p, 1, i);
    }
    nodes
}

/// Go's TestGcDeepNesting idea: a million-deep structure marks without recursion.
#[test]
fn million_node_list_marks_from_its_head() {
    const N: usize = 1_000_000;
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let nodes = list(&mut c, N);
    let t = Instant::now();
    let (bytes, scan) = mark_from(&h, &nodes[..1]);
    let dt = t.elapsed();
    eprintln!("marked {N} list nodes in {dt:?} ({:.1} ns/node)", dt.as_nanos() as f64 / N as f64);
    assert_eq!(elemsize(&h, nodes[0]), 16);
    assert_eq!(bytes, 16 * N as u64, "each node counted exactly once");
    assert_eq!(scan, 8 * N as u64, "one pointer word per node");
    assert!(nodes.iter().all(|&p| is_marked(&h, p)));
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 0, "nothing unreachable");
    for (i, &p) in nodes.iter().enumerate().step_by(9973) {
        assert_eq!(get(p, 1), i);
    }
}

#[test]
fn tree_marks_reachable_subtrees_only() {
    // A complete binary tree of depth 15, built breadth-first; node i's children are 2i+1, 2i+2.
    const N: usize = (1 << 15) - 1;
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let t = cut_tree(&mut c, N);
    let reachable = (0..N).filter(|&i| in_left(i)).count();
    assert_eq!(reachable, (N - 1) / 2 + 1);
    let (bytes, scan) = mark_from(&h, &[t[0]]);
    assert_eq!(bytes, 24 * reachable as u64);
    assert_eq!(scan, 16 * reachable as u64, "two pointer words per node, nil or not");
    for (i, &p) in t.iter().enumerate() {
        assert_eq!(is_marked(&h, p), in_left(i), "node {i}");
    }
    assert_eq!(finish_cycle(&h, &mut [&mut c]), (N - reachable) as u64);
    // A second cycle over the survivors finds the same live set and frees nothing.
    h.sweep_all();
    let (bytes2, _) = mark_from(&h, &[t[0]]);
    assert_eq!(bytes2, bytes);
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 0);
    for (i, &p) in t.iter().enumerate().filter(|&(i, _)| in_left(i)) {
        assert_eq!(get(p, 2), i, "live node {i} intact");
    }
}

#[test]
fn cycles_and_self_pointers_terminate() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let ring = list(&mut c, 1000);
    set(ring[999], 0, ring[0]);
    let me = alloc(&mut c, &NODE);
    set(me, 0, me);
    let (bytes, scan) = mark_from(&h, &[ring[500], me, ring[3]]);
    assert_eq!(bytes, 16 * 1001);
    assert_eq!(scan, 8 * 1001);
}

#[test]
fn large_pointer_array_is_scanned_in_oblets() {
    // 4 MiB of pointers: N oblets. Element i points to a 16-byte noscan object; the last
    // element instead points to a two-node list reachable from nowhere else.
    const LEN: usize = (4 << 20) / 8;
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let arr = c.alloc_array(&POINTER, LEN).unwrap().as_ptr() as usize;
    assert_eq!(elemsize(&h, arr), 4 << 20);
    let leaves: Vec<usize> =
        (0..LEN - 1).map(|_| c.alloc_noscan(16).unwrap().as_ptr() as usize).collect();
    for (i, &l) in leaves.iter().enumerate() {
        set(arr, i, l);
    }
    let tail = list(&mut c, 2);
    set(arr, LEN - 1, tail[0]);

    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    assert!(shade(&h, &mut gcw, &pool, arr));
    assert_eq!(gcw.take_counters(), (4 << 20, 0));
    let n = (4 << 20) / OBLET_BYTES;
    assert!(n >= 4, "a 4 MiB array spans several oblets");
    // The first visit queues the n-1 other oblets and scans only the first.
    let b = gcw.try_get(&pool).unwrap();
    assert_eq!(b, arr);
    scan_object(&h, &mut gcw, &pool, b);
    let per_oblet = (OBLET_BYTES / 8) as u64;
    assert_eq!(gcw.take_counters(), (16 * per_oblet, OBLET_BYTES as u64));
    assert_eq!(gcw.local_len() + 253 * pool.full_count(), n - 1);
    assert!(leaves[..per_oblet as usize].iter().all(|&l| is_marked(&h, l)));
    assert!(!is_marked(&h, leaves[per_oblet as usize]), "second oblet not scanned yet");
    // Every further oblet is one work item with an oblet's scan work; the list hanging off the
    // last element is found only when the last oblet is scanned.
    let mut oblets = Vec::new();
    while let Some(o) = gcw.try_get(&pool) {
        let before = gcw.heap_scan_work;
        if (arr..arr + (4 << 20)).contains(&o) {
            oblets.push(o);
            assert_eq!(is_marked(&h, tail[0]), o < arr + (n - 1) * OBLET_BYTES, "+{:#x}", o - arr);
            scan_object(&h, &mut gcw, &pool, o);
            assert_eq!(gcw.heap_scan_work - before, OBLET_BYTES as u64, "+{:#x}", o - arr);
        } else {
            scan_object(&h, &mut gcw, &pool, o);
        }
    }
    oblets.sort_unstable();
    assert_eq!(oblets, (1..n).map(|k| arr + k * OBLET_BYTES).collect::<Vec<_>>());
    assert!(pool.is_empty());
    gcw.dispose(&pool);
    assert!(is_marked(&h, tail[1]), "reachable only from the last oblet");
    assert!(leaves.iter().all(|&l| is_marked(&h, l)));

    // The whole thing again from scratch, with exact totals.
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 0);
    h.sweep_all();
    let (bytes, scan) = mark_from(&h, &[arr]);
    assert_eq!(bytes, (4 << 20) + 16 * (LEN as u64 - 1) + 2 * 16);
    assert_eq!(scan, (4 << 20) + 2 * 8, "n full oblets plus the two list nodes");
}

#[test]
fn oblets_end_at_the_object_not_the_span() {
    // K oblets and 3/8 of one, plus 8 bytes, of pointers (a large object: over 32 KiB); the span
    // ends further on (whole pages): K + 1 oblets, the last one ending at the object's end.
    const K: usize = (32 << 10) / OBLET_BYTES + 2;
    const TAIL: usize = OBLET_BYTES * 3 / 8;
    const LEN: usize = (K * OBLET_BYTES + TAIL) / 8 + 1;
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let arr = c.alloc_array(&POINTER, LEN).unwrap().as_ptr() as usize;
    let last = alloc(&mut c, &NODE);
    set(arr, LEN - 1, last);
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    shade(&h, &mut gcw, &pool, arr);
    let b = gcw.try_get(&pool).unwrap();
    scan_object(&h, &mut gcw, &pool, b);
    let mut queued: Vec<usize> = core::iter::from_fn(|| gcw.try_get(&pool)).collect();
    queued.sort_unstable();
    assert_eq!(queued, (1..=K).map(|k| arr + k * OBLET_BYTES).collect::<Vec<_>>());
    gcw.heap_scan_work = 0;
    for &o in &queued {
        scan_object(&h, &mut gcw, &pool, o);
    }
    // Whole oblets for the middle ones, then up to and including the last pointer word.
    assert_eq!(gcw.heap_scan_work, ((K - 1) * OBLET_BYTES + TAIL + 8) as u64);
    drain(&h, &mut gcw, &pool, None, &|| false);
    assert!(is_marked(&h, last));
    gcw.dispose(&pool);
}

/// `{ a, b: u64, p: *T, c: u64 }`: one pointer, in word 2 (32-byte class, bits in the span).
static PTR_IN_WORD_2: TypeDesc = TypeDesc::new(32, 24, &[0b100], "word2");

/// Scan work for an object with span heap bits runs to just past its last pointer word (Go's
/// `Len64(ptrBits) * 8`), not to the end of the object.
#[test]
fn scan_work_of_a_small_object_ends_at_its_last_pointer() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let target = alloc(&mut c, &NODE);
    let x = alloc(&mut c, &PTR_IN_WORD_2);
    set(x, 2, target);
    let t = alloc(&mut c, &TREE);
    set(t, 1, target);
    for (obj, work) in [(x, 24), (t, 16)] {
        let pool = WorkPool::new();
        let mut gcw = GcWork::new();
        scan_object(&h, &mut gcw, &pool, obj);
        assert_eq!(gcw.heap_scan_work, work, "scan work of {obj:#x}");
        assert!(is_marked(&h, target));
        gcw.dispose(&pool);
        finish_cycle(&h, &mut [&mut c]);
    }
}

/// Allocate list nodes until two consecutive ones lie in different spans; returns them.
fn nodes_across_a_span_boundary(c: &mut MCache, h: &MHeap) -> (usize, usize) {
    let mut prev = alloc(c, &NODE);
    loop {
        let next = alloc(c, &NODE);
        if h.find_object(next).unwrap().0.base() != h.find_object(prev).unwrap().0.base() {
            return (prev, next);
        }
        prev = next;
    }
}

/// The marker's span cache is keyed by page: a pointer from one span into the next is looked
/// up afresh, and a pointer into the cached span's tail (past `limit`, where its heap bits
/// are) greys nothing, as a lookup without the cache does.
#[test]
fn span_cache_stops_at_span_boundaries_and_tails() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    // A chain last-node-of-one-span -> first-node-of-the-next, scanned in one drain.
    let (a, b) = nodes_across_a_span_boundary(&mut c, &h);
    set(a, 0, b);
    set(b, 0, 0);
    let (bytes, _) = mark_from(&h, &[a]);
    assert!(is_marked(&h, a) && is_marked(&h, b));
    assert_eq!(bytes, 32, "both nodes greyed once, in their own spans");
    // A node pointing into its own span's tail: the scan of `x` fills the cache with its span,
    // and the tail word is on the same page.
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let (x, _) = nodes_across_a_span_boundary(&mut c, &h);
    let span = h.find_object(x).unwrap().0;
    let tail = span.limit() + 8;
    assert!(tail < span.base() + span.span_bytes() && h.find_object(tail).is_none());
    set(x, 0, tail);
    let (bytes, _) = mark_from(&h, &[x]);
    assert_eq!(bytes, 16, "the tail word greyed nothing");
    assert_eq!(span.count_marked(), 1);
}

#[test]
fn interior_pointers_mark_their_object() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let t = alloc(&mut c, &TREE);
    let hdr = alloc(&mut c, &BIG_PTRS); // user pointer: slot + 8
    let big = c.alloc_array(&POINTER, 100_000).unwrap().as_ptr() as usize;
    let (bytes, _) = mark_from(&h, &[t + 16, hdr + 1000, big + 3 * OBLET_BYTES + 5]);
    assert!(is_marked(&h, t) && is_marked(&h, hdr) && is_marked(&h, big));
    assert_eq!(bytes, 24 + 1152 + elemsize(&h, big));
    // The header slot's base is 8 bytes before the user pointer.
    assert_eq!(h.find_object(hdr).unwrap().2, hdr - 8);
}

#[test]
fn non_heap_words_are_ignored() {
    let h = heap();
    let other = heap();
    let mut c = h.new_cache();
    let mut oc = other.new_cache();
    h.sweep_all();
    let node = alloc(&mut c, &NODE);
    let foreign_obj = alloc(&mut oc, &NODE);
    let on_stack = 0usize;
    let boxed = Box::new(0u64);
    static GLOBAL: u64 = 0;
    let (span, _, _) = h.find_object(node).unwrap();
    let tail = span.limit(); // past the last slot: the pointer-bitmap tail of the page
    assert!(tail < span.base() + span.span_bytes());
    let large = c.alloc_noscan(40_000).unwrap().as_ptr() as usize;
    let words = [
        0,
        8,
        4095,
        &on_stack as *const usize as usize,
        &*boxed as *const u64 as usize,
        &GLOBAL as *const u64 as usize,
        foreign_obj,
        tail,
        tail + 64,
        large + 40_000,        // past the large object's end, same page
        large + 40_960 + 8192, // a page no span owns (or another span: then it is not `large`)
        usize::MAX,
        usize::MAX - 7,
        1 << 47,
    ];
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    for w in words {
        let got = shade(&h, &mut gcw, &pool, w);
        if got {
            // Only possible for the address after `large`'s pages, if another span lives there.
            assert_eq!(w, large + 40_960 + 8192, "{w:#x} was greyed");
        }
    }
    assert!(!is_marked(&h, node));
    assert!(!is_marked(&h, large));
    assert!(!is_marked(&other, foreign_obj), "another heap's object is not ours to mark");
    drain(&h, &mut gcw, &pool, None, &|| false);
    gcw.dispose(&pool);
    drop(boxed);
}

#[test]
fn noscan_objects_are_marked_but_never_scanned() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let victims: Vec<usize> = (0..64).map(|_| alloc(&mut c, &NODE)).collect();
    let buf = c.alloc_noscan(4096).unwrap().as_ptr() as usize;
    let big = c.alloc_noscan(100_000).unwrap().as_ptr() as usize;
    for (i, &v) in victims.iter().enumerate() {
        set(buf, i, v); // pointer-looking words in pointer-free memory
        set(big, i * 100, v);
    }
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    assert!(shade(&h, &mut gcw, &pool, buf));
    assert!(shade(&h, &mut gcw, &pool, big + 50_000));
    assert!(gcw.is_empty(), "noscan objects go straight to black");
    assert!(!shade(&h, &mut gcw, &pool, buf + 8), "already marked");
    drain(&h, &mut gcw, &pool, None, &|| false);
    assert!(victims.iter().all(|&v| !is_marked(&h, v)));
    assert_eq!(gcw.take_counters(), (4096 + elemsize(&h, big), 0));
    gcw.dispose(&pool);
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 64, "the victims were garbage");
}

#[test]
fn header_objects_scan_from_slot_plus_8() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let hdr = alloc(&mut c, &BIG_PTRS);
    let (a, b, cc) = (alloc(&mut c, &NODE), alloc(&mut c, &NODE), alloc(&mut c, &NODE));
    set(hdr, 0, a); // the first data word, right after the header
    set(hdr, 127, b); // the last word of the value
    set(a, 0, cc);
    set(hdr, 5, hdr + 40); // a pointer into itself: skipped
    let mixed = alloc(&mut c, &MIXED_600);
    let (m0, m1, m2, m3) =
        (alloc(&mut c, &NODE), alloc(&mut c, &NODE), alloc(&mut c, &NODE), alloc(&mut c, &NODE));
    set(mixed, 0, m0); // pointer word 0
    set(mixed, 1, m1); // scalar word: must not be followed
    set(mixed, 72, m2); // pointer word 72 (offset 576)
    set(mixed, 73, m3); // offset 584: past the pointer prefix
    let (bytes, scan) = mark_from(&h, &[hdr, mixed]);
    assert!([hdr, a, b, cc, mixed, m0, m2].iter().all(|&p| is_marked(&h, p)));
    assert!(!is_marked(&h, m1) && !is_marked(&h, m3));
    assert_eq!(bytes, 1152 + 640 + 5 * 16);
    // Scan work runs from the slot base (header included) to just past the last pointer
    // slot. The type is tiled over the whole slot, as Go's header objects are (arrays carry the
    // element type), so the zeroed slack of the slot has pointer slots too: [128]*T in a
    // 1152-byte slot ends with 15 words of a second tile, and mixed600 in a 640-byte slot with
    // a second tile whose last pointer word is at data offset 616.
    assert_eq!(scan, 1152 + (8 + 616 + 8) + 5 * 8);
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 2, "m1 and m3 were garbage");
}

#[test]
fn a_clobbered_free_header_slot_is_not_scanned() {
    // A dangling pointer to a freed header object (a mutator bug) marks a zombie; with
    // clobberfree its header is the clobber pattern, which the scanner must not follow.
    let h = MHeap::new(HeapConfig { clobberfree: true, ..HeapConfig::default() }).unwrap();
    let mut c = h.new_cache();
    h.sweep_all();
    let keep = alloc(&mut c, &BIG_PTRS);
    let dead = alloc(&mut c, &BIG_PTRS);
    mark_from(&h, &[keep]);
    assert_eq!(finish_cycle(&h, &mut [&mut c]), 1);
    assert_eq!(get(dead - 8, 0) as u64, CLOBBER_PATTERN);
    h.sweep_all();
    let (bytes, scan) = mark_from(&h, &[keep, dead]);
    assert_eq!(bytes, 2 * 1152);
    assert_eq!(scan, 1152, "only the live object was scanned");
}

#[test]
fn budget_and_stop_bound_a_drain() {
    let h = heap();
    let mut c = h.new_cache();
    h.sweep_all();
    let nodes = list(&mut c, 10_000);
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    shade(&h, &mut gcw, &pool, nodes[0]);
    // An assist's budget: at least the budget, overshooting by at most one object.
    let w = drain(&h, &mut gcw, &pool, Some(800), &|| false);
    assert_eq!(w, 800);
    assert!(!gcw.is_empty());
    // A stop request is honoured at entry and then every few dozen items.
    assert_eq!(drain(&h, &mut gcw, &pool, None, &|| true), 0);
    let calls = AtomicUsize::new(0);
    let w = drain(&h, &mut gcw, &pool, None, &|| calls.fetch_add(1, Ordering::Relaxed) == 2);
    assert!(w > 0 && w <= 8 * 64 + 8, "stopped after the second periodic check: {w}");
    // The rest.
    let rest = drain(&h, &mut gcw, &pool, None, &|| false);
    assert_eq!(800 + w + rest, 8 * 10_000);
    gcw.dispose(&pool);
    assert_eq!(gcw.take_counters(), (16 * 10_000, 8 * 10_000));
}

#[test]
fn unreachable_objects_are_swept_reachable_ones_kept() {
    let h = MHeap::new(HeapConfig { clobberfree: true, ..HeapConfig::default() }).unwrap();
    let mut c = h.new_cache();
    h.sweep_all(); // sweep termination: marking must not start before the last sweep ends
    let nodes = list(&mut c, 1000);
    set(nodes[599], 0, 0); // nodes 600.. are unreachable
    let arr = c.alloc_array(&POINTER, 40_000).unwrap().as_ptr() as usize; // large, 2 oblets
    let lost_arr = c.alloc_array(&POINTER, 40_000).unwrap().as_ptr() as usize;
    let kept_leaf = alloc(&mut c, &TREE);
    set(arr, 39_999, kept_leaf);
    set(arr, 0, nodes[0]);
    set(lost_arr, 0, nodes[700]); // garbage pointing at garbage
    let hdr = alloc(&mut c, &BIG_PTRS);
    let lost_hdr = alloc(&mut c, &BIG_PTRS);
    set(kept_leaf, 2, 0x1234);
    set(kept_leaf, 0, hdr);
    let (bytes, _) = mark_from(&h, &[arr]);
    let live_bytes = elemsize(&h, arr) + 600 * 16 + 24 + 1152;
    assert_eq!(bytes, live_bytes);
    let freed = finish_cycle(&h, &mut [&mut c]);
    assert_eq!(freed, 400 + 1 + 1, "400 nodes, the lost array, the lost header object");
    assert_eq!(get(kept_leaf, 2), 0x1234);
    assert_eq!(get(kept_leaf, 0), hdr);
    for (i, &p) in nodes.iter().enumerate() {
        if i < 600 {
            assert_eq!(get(p, 1), i, "live node {i}");
        } else {
            assert_eq!(get(p, 1) as u64, CLOBBER_PATTERN, "dead node {i} was freed");
        }
    }
    assert_eq!(get(lost_hdr - 8, 0) as u64, CLOBBER_PATTERN);
    assert!(h.find_object(lost_arr).is_none(), "the lost large object's span was freed");
    // New allocations do not reuse live memory.
    let fresh: Vec<usize> = (0..500).map(|_| alloc(&mut c, &NODE)).collect();
    assert!(fresh.iter().all(|p| !nodes[..600].contains(p)));
}

#[test]
fn two_ps_mark_one_graph_exactly_once() {
    two_ps_mark_random_graphs(heap, 200_000, 4);
}
