//! Helpers shared by the collector's marking tests (`mark.rs`, `mark_greentea.rs`).
#![allow(dead_code)]

use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::MHeap;
use gomem_allocator::sync::{AtomicBool, AtomicUsize, Ordering};
use gomem_allocator::typedesc::{TypeDesc, POINTER};
use gomem_collector::work::{GcWork, WorkPool};
use std::sync::Arc;

/// Mark from `roots` on `threads` Ps, each shading its share of the roots and draining, with
/// an idle count for termination (the last P to go idle with the pool empty ends marking).
/// Returns the summed (bytes_marked, heap_scan_work).
///
/// The marking entry points are `unsafe`; callers play the collector of their own heap: no
/// collector runs on it, every mark phase is followed by the sweep or check the test makes,
/// and pointer words are written before marking starts.
pub fn mark_parallel(heap: &MHeap, roots: &[usize], threads: usize) -> (u64, u64) {
    let pool = WorkPool::new();
    let idle = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let totals: Vec<(u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (pool, idle, done) = (&pool, &idle, &done);
                s.spawn(move || {
                    let mut gcw = GcWork::new();
                    for &r in roots.iter().skip(t).step_by(threads) {
                        // SAFETY: see the function's docs.
                        unsafe { gomem_collector::shade(heap, &mut gcw, pool, r) };
                    }
                    'work: loop {
                        // SAFETY: as above; the work was queued by `shade` on `heap`.
                        unsafe { gomem_collector::drain(heap, &mut gcw, pool, None, &|| false) };
                        assert!(gcw.is_empty());
                        if idle.fetch_add(1, Ordering::AcqRel) + 1 == threads
                            && pool.is_empty()
                            && idle.load(Ordering::Acquire) == threads
                        {
                            done.store(true, Ordering::Release);
                            break;
                        }
                        loop {
                            if done.load(Ordering::Acquire) {
                                break 'work;
                            }
                            if !pool.is_empty() {
                                idle.fetch_sub(1, Ordering::AcqRel);
                                continue 'work;
                            }
                            std::thread::yield_now();
                        }
                    }
                    gcw.dispose(pool);
                    gcw.take_counters()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(pool.is_empty());
    totals.iter().fold((0, 0), |(a, b), &(x, y)| (a + x, b + y))
}

pub fn alloc(c: &mut MCache, ty: &'static TypeDesc) -> usize {
    c.alloc(ty).expect("alloc").as_ptr() as usize
}

/// Store `v` in word `i` of the object at `obj`.
pub fn set(obj: usize, i: usize, v: usize) {
    // SAFETY: tests only call this on objects they allocated with at least `i + 1` words, before
    // any marker runs.
    unsafe { ((obj + 8 * i) as *mut usize).write(v) }
}

/// Word `i` of the object at `obj`.
pub fn get(obj: usize, i: usize) -> usize {
    // SAFETY: as for `set`; the object is live (or a freed but mapped slot, read after sweeping).
    unsafe { ((obj + 8 * i) as *const usize).read() }
}

pub fn is_marked(heap: &MHeap, p: usize) -> bool {
    let (s, i, _) = heap.find_object(p).expect("heap object");
    s.is_marked(i)
}

pub fn elemsize(heap: &MHeap, p: usize) -> u64 {
    heap.find_object(p).expect("heap object").0.elemsize() as u64
}

/// The allocator's sweep protocol after marking (docs/allocator.md): new sweep generation,
/// caches give their spans back, sweep everything. Returns objects freed (ledger frees delta).
pub fn finish_cycle(heap: &MHeap, caches: &mut [&mut MCache]) -> u64 {
    let before = heap.ledger(&[]).frees;
    // SAFETY: no other thread allocates or sweeps and every cache of the heap is released
    // below before it allocates again.
    unsafe { heap.advance_sweepgen() };
    for c in caches.iter_mut() {
        c.release_all();
    }
    heap.sweep_all();
    let refs: Vec<&MCache> = caches.iter().map(|c| &**c).collect();
    let l = heap.ledger(&refs);
    assert!(l.balances(), "ledger does not add up\n{l}");
    l.frees - before
}

/// A tree node: `{ left, right: *Tree, val: u64 }` (24-byte class).
pub static TREE: TypeDesc = TypeDesc::new(24, 16, &[0b11], "tree");

/// Mark random graphs of tree nodes (two random edges each) plus a pointer array over a random
/// subset (so oblets are shared too) on two Ps, `rounds` times with `n` nodes, on heaps from
/// `heap`, and check the live set and byte count against one computed outside the heap.
pub fn two_ps_mark_random_graphs(heap: fn() -> Arc<MHeap>, n: usize, rounds: u64) {
    for round in 0..rounds {
        let h = heap();
        let mut c = h.new_cache();
        h.sweep_all();
        // A random graph of tree nodes (two random edges each), plus a pointer array over a
        // random subset so oblets are shared too.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ round;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let nodes: Vec<usize> = (0..n).map(|_| alloc(&mut c, &TREE)).collect();
        let mut edges = vec![[usize::MAX; 2]; n];
        for i in 0..n {
            for (k, e) in edges[i].iter_mut().enumerate() {
                if next() % 4 != 0 {
                    *e = (next() % n as u64) as usize;
                    set(nodes[i], k, nodes[*e]);
                }
            }
        }
        const ALEN: usize = 70_000; // 560 KiB: 5 oblets
        let arr = c.alloc_array(&POINTER, ALEN).unwrap().as_ptr() as usize;
        let mut arr_targets = Vec::new();
        for i in 0..ALEN {
            if next() % 3 == 0 {
                let t = (next() % n as u64) as usize;
                set(arr, i, nodes[t]);
                arr_targets.push(t);
            }
        }
        let root_ids: Vec<usize> = (0..16).map(|_| (next() % n as u64) as usize).collect();
        // The expected live set, computed outside the heap.
        let mut seen = vec![false; n];
        let mut stack: Vec<usize> = root_ids.iter().chain(&arr_targets).copied().collect();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(edges[i].iter().filter(|&&e| e != usize::MAX));
            }
        }
        let live = seen.iter().filter(|&&s| s).count() as u64;
        let mut roots: Vec<usize> = root_ids.iter().map(|&i| nodes[i]).collect();
        roots.push(arr);
        let (bytes, scan) = mark_parallel(&h, &roots, 2);
        assert_eq!(bytes, 24 * live + elemsize(&h, arr), "round {round}");
        assert!(scan > 0);
        for (i, &p) in nodes.iter().enumerate() {
            assert_eq!(is_marked(&h, p), seen[i], "round {round}, node {i}");
        }
        let freed = finish_cycle(&h, &mut [&mut c]);
        assert_eq!(freed, n as u64 - live, "round {round}");
    }
}

/// A complete binary tree of `n` tree nodes built breadth-first (node i's children are 2i+1
/// and 2i+2, word 2 holds i), with the root's right subtree cut off: node i is reachable from
/// the root iff [`in_left`]`(i)`.
pub fn cut_tree(c: &mut MCache, n: usize) -> Vec<usize> {
    let t: Vec<usize> = (0..n).map(|_| alloc(c, &TREE)).collect();
    for i in 0..n {
        set(t[i], 0, t.get(2 * i + 1).copied().unwrap_or(0));
        set(t[i], 1, t.get(2 * i + 2).copied().unwrap_or(0));
        set(t[i], 2, i);
    }
    set(t[0], 1, 0);
    t
}

/// Whether node `i` of [`cut_tree`] is reachable (not under the root's right child, node 2).
pub fn in_left(mut i: usize) -> bool {
    while i > 2 {
        i = (i - 1) / 2;
    }
    i != 2
}
