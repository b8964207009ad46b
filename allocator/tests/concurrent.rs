//! Several threads, each with its own MCache, allocate, drop, and sweep concurrently across
//! simulated GC cycles. A shadow list outside the heap records what each thread keeps and what
//! its memory must contain; after every cycle each kept object is checked, and freed memory is
//! clobbered so a premature free shows up as a changed stamp.
#![cfg(not(loom))]

mod common;
use common::*;
use gomem_allocator::mheap::MHeap;
use gomem_allocator::typedesc::TypeDesc;
use std::sync::Arc;

static PAIR: TypeDesc = TypeDesc::new(16, 8, &[1], "pair");

struct Obj {
    addr: usize,
    size: usize,
    stamp: u64,
}

fn stamp_of(addr: usize, size: usize, stamp: u64) {
    // SAFETY: writes stay within the object: its last word (size >= 8) holds the stamp.
    unsafe { *((addr + size - 8) as *mut u64) = stamp };
}

fn check(o: &Obj) {
    // SAFETY: the object is live (kept in the shadow list and marked every cycle).
    let got = unsafe { *((o.addr + o.size - 8) as *const u64) };
    assert_eq!(got, o.stamp, "object {:#x} (size {}) lost its contents", o.addr, o.size);
}

fn run(threads: usize, rounds: usize, per_round: usize, seed: u64) {
    let heap: Arc<MHeap> = clobber_heap();
    let barrier = Arc::new(SpinBarrier::new(threads));
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let heap = heap.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut cache = heap.new_cache();
                let mut live: Vec<Obj> = Vec::new();
                let mut seq = 0u64;
                for _round in 0..rounds {
                    for _ in 0..per_round {
                        let r = rng.below(1000);
                        let size = match r {
                            0..=599 => 8 + 8 * rng.below(64) as usize,
                            600..=899 => 16 + 16 * rng.below(200) as usize,
                            900..=989 => 4096 + rng.below(28_000) as usize / 8 * 8,
                            _ => 40_000 + rng.below(200_000) as usize / 8 * 8,
                        };
                        let scan = r % 3 == 0 && size % 16 == 0;
                        // Some pointer-free objects are left uncleared; the zeroed ones beside
                        // them, in the same classes, must still read as zero.
                        let uninit = !scan && r % 5 == 1;
                        let p = if scan {
                            cache.alloc_array(&PAIR, size / 16)
                        } else if uninit {
                            cache.alloc_noscan_uninit(size)
                        } else {
                            cache.alloc_noscan(size)
                        };
                        let addr = p.expect("alloc").as_ptr() as usize;
                        if !uninit {
                            // SAFETY: the object is `size` bytes and fresh: it must read as zero.
                            let z = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
                            assert!(z.iter().all(|&b| b == 0), "fresh object not zeroed");
                        }
                        seq += 1;
                        let stamp = (t as u64) << 48 | seq;
                        stamp_of(addr, size, stamp);
                        live.push(Obj { addr, size, stamp });
                        // Drop a random object now and then, keep the live set bounded.
                        if live.len() > 2000 || rng.below(3) == 0 {
                            let i = rng.below(live.len() as u64) as usize;
                            live.swap_remove(i);
                        }
                        if rng.below(16) == 0 {
                            heap.sweep_one();
                        }
                    }
                    // "Stop the world". Sweep termination first: the previous generation must
                    // be fully swept before marking, or its sweep would consume the new marks
                    // (Go finishes sweeping in gcStart before the mark phase).
                    if barrier.wait() {
                        heap.sweep_all();
                    }
                    barrier.wait();
                    for o in &live {
                        mark(&heap, o.addr);
                    }
                    if barrier.wait() {
                        // SAFETY: every thread is parked at the barrier below; no allocation or
                        // sweeping runs, and the previous cycle is fully swept.
                        unsafe { heap.advance_sweepgen() };
                    }
                    barrier.wait();
                    cache.release_all();
                    for o in &live {
                        check(o);
                    }
                }
                barrier.wait();
                for o in &live {
                    check(o);
                }
                live.len()
            })
        })
        .collect();
    let kept: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(kept > 0);
    heap.sweep_all();
    verify(&heap);
    assert_ledger(&heap, &[]);
}

#[test]
fn two_threads_allocate_and_sweep() {
    run(2, 6, 3000, 1);
}

#[test]
fn four_threads_allocate_and_sweep() {
    run(4, 5, 2000, 2);
}

#[test]
fn eight_threads_allocate_and_sweep() {
    run(8, 4, 1500, 3);
}

/// The long version, for sanitizer runs: `GOMEM_STRESS_ROUNDS=200 cargo test -- --ignored`.
#[test]
#[ignore]
fn long_allocate_and_sweep() {
    let rounds =
        std::env::var("GOMEM_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    run(6, rounds, 5000, 42);
}

#[test]
fn one_thread_allocate_and_sweep() {
    run(1, 8, 3000, 4);
}
