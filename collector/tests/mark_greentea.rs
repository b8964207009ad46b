//! Green Tea span marking on a real heap (`HeapConfig::span_inline_marks`): the graphs of
//! `mark.rs` marked through span queues, with the same live sets and byte counts as the
//! classic marker, spans queued in a worker's ring counted as work by every emptiness check,
//! and two Ps sharing spans through the pool.
#![cfg(not(loom))]

use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::typedesc::TypeDesc;
use gomem_collector::mark::greentea::{SPAN_RING, SPILL_PERIOD};
use gomem_collector::work::{GcWork, WorkPool};
use std::sync::Arc;

mod common;
use common::*;

static NODE: TypeDesc = TypeDesc::new(16, 8, &[1], "node");

// As in mark.rs: these tests play the collector of their own heap, with no collector running,
// every mark phase followed by the sweep the test makes, pointer words written before marking.

fn shade(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, ptr: usize) -> bool {
    // SAFETY: see above.
    unsafe { gomem_collector::shade(heap, gcw, pool, ptr) }
}

fn drain(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool) -> u64 {
    // SAFETY: see above; the work was queued by `shade` on `heap`.
    unsafe { gomem_collector::drain(heap, gcw, pool, None, &|| false) }
}

fn heap(green_tea: bool) -> Arc<MHeap> {
    MHeap::new(HeapConfig { span_inline_marks: green_tea, ..HeapConfig::default() }).expect("heap")
}

fn mark_from(heap: &MHeap, roots: &[usize]) -> u64 {
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    for &r in roots {
        shade(heap, &mut gcw, &pool, r);
    }
    drain(heap, &mut gcw, &pool);
    assert!(gcw.is_empty() && pool.is_empty(), "drain left work behind");
    gcw.dispose(&pool);
    gcw.take_counters().0
}

#[test]
fn a_list_marks_through_span_queues_with_the_classic_byte_count() {
    const N: usize = 200_000;
    for gt in [false, true] {
        let h = heap(gt);
        let mut c = h.new_cache();
        h.sweep_all();
        let nodes: Vec<usize> = (0..N).map(|_| alloc(&mut c, &NODE)).collect();
        for w in nodes.windows(2) {
            set(w[0], 0, w[1]);
        }
        let garbage: Vec<usize> = (0..1000).map(|_| alloc(&mut c, &NODE)).collect();
        let (s, _, _) = h.find_object(nodes[0]).unwrap();
        assert_eq!(s.has_inline_marks(), gt);
        assert_eq!(mark_from(&h, &nodes[..1]), 16 * N as u64, "green tea {gt}");
        assert!(nodes.iter().all(|&p| is_marked(&h, p)));
        assert!(garbage.iter().all(|&p| !is_marked(&h, p)));
        assert_eq!(finish_cycle(&h, &mut [&mut c]), 1000);
        // The next cycle sees reset blocks: the same live set, counted again.
        h.sweep_all();
        assert_eq!(mark_from(&h, &nodes[..1]), 16 * N as u64);
        assert_eq!(finish_cycle(&h, &mut [&mut c]), 0);
    }
}

#[test]
fn a_tree_in_allocation_order_marks_its_reachable_half_only() {
    const N: usize = (1 << 15) - 1;
    let h = heap(true);
    let mut c = h.new_cache();
    h.sweep_all();
    let t = cut_tree(&mut c, N);
    let reachable = (0..N).filter(|&i| in_left(i)).count();
    // Interior pointers and span tails: an interior pointer marks its object, a pointer into
    // the span's tail (the bitmap and inline block) marks nothing.
    let (s, _, _) = h.find_object(t[1]).unwrap();
    let tail = s.base() + 8192 - 8;
    let pool = WorkPool::new();
    let mut gcw = GcWork::new();
    assert!(!shade(&h, &mut gcw, &pool, tail), "a span tail is no object");
    assert!(shade(&h, &mut gcw, &pool, t[0] + 8), "an interior pointer marks its object");
    assert!(!shade(&h, &mut gcw, &pool, t[0]), "already marked");
    assert!(!gcw.is_empty(), "the span is queued in the ring");
    drain(&h, &mut gcw, &pool);
    gcw.dispose(&pool);
    assert_eq!(gcw.take_counters().0, 24 * reachable as u64);
    for (i, &p) in t.iter().enumerate() {
        assert_eq!(is_marked(&h, p), in_left(i), "node {i}");
    }
    assert_eq!(finish_cycle(&h, &mut [&mut c]), (N - reachable) as u64);
}

#[test]
fn queued_spans_are_work_for_every_emptiness_check() {
    let h = heap(true);
    let mut c = h.new_cache();
    h.sweep_all();
    // One object in each of many spans: 330 tree nodes fill a span of the 24-byte class.
    let per_span = 330;
    let spans = SPAN_RING + 40;
    let objs: Vec<usize> = (0..per_span * spans).map(|_| alloc(&mut c, &TREE)).collect();
    let firsts: Vec<usize> = objs.iter().copied().step_by(per_span).collect();
    let pool = WorkPool::new();
    let mut a = GcWork::new();
    shade(&h, &mut a, &pool, firsts[0]);
    assert!(!a.is_empty(), "one span in the ring is work");
    assert_eq!(a.local_len(), 1);
    assert!(pool.is_empty(), "and stays local");
    // Dispose publishes the ring: the pool is no longer empty, and another P finds the span.
    a.dispose(&pool);
    assert!(a.is_empty() && !pool.is_empty() && a.take_flushed_work());
    let mut b = GcWork::new();
    assert!(pool.has_spans());
    drain(&h, &mut b, &pool);
    assert!(b.is_empty() && pool.is_empty());
    assert!(is_marked(&h, firsts[0]));
    // Filling the ring spills: by Go's rule every 64 puts while the pool has no spans, and
    // half the ring when it is full.
    for (k, &p) in firsts.iter().enumerate().skip(1) {
        shade(&h, &mut a, &pool, p);
        if k == SPILL_PERIOD as usize {
            assert!(pool.has_spans(), "the spill period");
        }
    }
    assert!(pool.has_spans() && a.local_len() < SPAN_RING, "a full ring gave half away");
    a.dispose(&pool);
    drain(&h, &mut b, &pool);
    assert!(b.is_empty() && pool.is_empty());
    for &p in &firsts {
        assert!(is_marked(&h, p));
    }
    a.dispose(&pool);
    b.dispose(&pool);
    let bytes = a.take_counters().0 + b.take_counters().0;
    assert_eq!(bytes, 24 * spans as u64);
}

#[test]
fn two_ps_mark_random_graphs_exactly_once() {
    two_ps_mark_random_graphs(|| heap(true), 100_000, 3);
}
