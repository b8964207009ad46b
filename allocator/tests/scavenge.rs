//! The heap's half of scavenging: release steps measured against `/proc/self/pagemap`, the
//! density rule across generations, allocation-time scavenging for the memory limit and for
//! heap growth, the CPU limiter's veto, and `MADV_FREE`. The goals are set by hand here; the
//! collector's policy that computes them is tested in `gomem-collector`.
#![cfg(not(loom))]

mod common;
use common::*;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::os::ReleaseMode;
use gomem_allocator::procfs::resident_in;
use gomem_allocator::scavenge::NO_GOAL;
use gomem_allocator::MCache;

const MIB: usize = 1 << 20;

/// `n` large pointer-free objects of 1 MiB, every byte written (so resident).
fn touched_objects(c: &mut MCache, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let p = c.alloc_noscan(MIB).unwrap().as_ptr() as usize;
            // SAFETY: our fresh 1 MiB object.
            unsafe { std::ptr::write_bytes(p as *mut u8, 0xAB, MIB) };
            p
        })
        .collect()
}

/// Resident bytes of the heap's arenas, as the kernel sees them.
fn heap_rss(h: &MHeap) -> u64 {
    resident_in(&h.reservations()).expect("/proc/self/pagemap")
}

#[test]
fn release_steps_drop_resident_memory_page_for_page() {
    let h = heap();
    let mut c = h.new_cache();
    touched_objects(&mut c, 24);
    cycle(&h, &mut [&mut c], &[]); // all garbage: 24 MiB free and backed
    assert_ledger(&h, &[&c]);
    let rss0 = heap_rss(&h);
    assert!(rss0 >= 24 * MIB as u64, "heap rss {rss0}");
    // One step releases one run of at most the asked size, from the top.
    let got = h.scavenge_one(64 << 10, true);
    assert_eq!(got, 64 << 10);
    assert_eq!(heap_rss(&h), rss0 - got as u64);
    let got = h.scavenge(8 * MIB);
    assert!((8 * MIB..8 * MIB + 4 * MIB).contains(&got), "released {got}");
    assert_eq!(heap_rss(&h), rss0 - (64 << 10) - got as u64);
    assert_ledger(&h, &[&c]);
    // Everything: what stays resident is what the heap says it retains, at most.
    let all = h.scavenge_all();
    assert!(all > 0);
    assert_eq!(h.scavenge_one(usize::MAX, true), 0, "nothing left");
    let rss = heap_rss(&h);
    let retained = h.stats.heap_retained();
    assert!(rss <= retained, "rss {rss} > retained {retained}");
    assert!(rss < 2 * MIB as u64, "rss {rss} after releasing everything free");
    assert_ledger(&h, &[&c]);
    let t = h.scavenge_state().totals();
    assert_eq!(t.released_forced as usize, got + all);
}

#[test]
fn background_scavenging_waits_a_generation_after_dense_use() {
    let h = heap();
    let mut c = h.new_cache();
    touched_objects(&mut c, 16); // four dense chunks
    cycle(&h, &mut [&mut c], &[]); // freed in the generation after the one they were dense in
    assert_eq!(h.scavenge_background(usize::MAX), 0, "freed this generation: left alone");
    assert!(h.scavenge_one(64 << 10, true) > 0, "forced scavenging ignores density");
    cycle(&h, &mut [&mut c], &[]);
    let got = h.scavenge_background(usize::MAX);
    assert!(got >= 15 * MIB, "released {got} a generation later");
    let (bg, eager) = h.scavenge_state().take_trace_counters();
    assert_eq!((bg as usize, eager), (got, 0));
    assert_eq!(h.scavenge_state().take_trace_counters(), (0, 0), "taken");
    assert_ledger(&h, &[&c]);
}

#[test]
fn memory_limit_makes_allocation_release_first() {
    let h = heap();
    let mut c = h.new_cache();
    touched_objects(&mut c, 32);
    cycle(&h, &mut [&mut c], &[]);
    let ready = h.stats.mapped_ready();
    // A limit 8 MiB below what is Ready now: the next span allocation releases the excess.
    let limit = ready - 8 * MIB as u64;
    h.scavenge_state().set_memory_limit(limit);
    let rss0 = heap_rss(&h);
    let keep = touched_objects(&mut c, 1);
    assert!(h.stats.mapped_ready() <= limit, "{} > {limit}", h.stats.mapped_ready());
    let totals = h.scavenge_state().totals();
    assert!(totals.released_eager >= 8 * MIB as u64, "{totals:?}");
    assert!(heap_rss(&h) <= rss0 - 7 * MIB as u64, "the kernel saw the release");
    // Allocating the whole free heap again stays under the limit: each span first releases
    // what it is about to page in.
    let more = touched_objects(&mut c, 20);
    assert!(h.stats.mapped_ready() <= limit + MIB as u64, "{}", h.stats.mapped_ready());
    assert_ledger(&h, &[&c]);
    // While the CPU limiter limits, allocation does not scavenge: the heap may exceed the limit.
    h.scavenge_state().set_limiting(true);
    let eager0 = h.scavenge_state().totals().released_eager;
    let _over = touched_objects(&mut c, 12);
    assert_eq!(h.scavenge_state().totals().released_eager, eager0);
    assert!(h.stats.mapped_ready() > limit);
    h.scavenge_state().set_limiting(false);
    h.scavenge_state().set_memory_limit(NO_GOAL);
    let _ = (keep, more);
    assert_ledger(&h, &[&c]);
    assert!(h.scavenge_state().take_assist_ns() > 0, "assist time is reported once");
    assert_eq!(h.scavenge_state().take_assist_ns(), 0);
}

#[test]
fn growth_past_the_retained_goal_releases_old_free_memory() {
    let h = heap();
    let mut c = h.new_cache();
    let objs = touched_objects(&mut c, 8);
    // The top object stays live, so the 7 MiB freed below it cannot join the growth.
    let top = *objs.iter().max().unwrap();
    cycle(&h, &mut [&mut c], &[top]);
    cycle(&h, &mut [&mut c], &[top]); // a generation later: the free chunks are eligible
    h.scavenge_state().set_goals(4 * MIB as u64, NO_GOAL);
    let retained0 = h.stats.heap_retained();
    assert!(retained0 >= 8 * MIB as u64);
    // 40 MiB does not fit in the free 7 MiB: the heap grows, and releases old free memory.
    let big = c.alloc_noscan(40 * MIB).unwrap().as_ptr() as usize;
    let eager = h.scavenge_state().totals().released_eager;
    assert!(eager >= 7 * MIB as u64, "released {eager} on growth");
    assert_eq!(h.stats.heap_retained(), retained0 + 40 * MIB as u64 - eager);
    let _ = big;
    assert_ledger(&h, &[&c]);
    // Without growth nothing is released, goal or not.
    h.scavenge_state().set_goals(0, NO_GOAL);
    let _small = touched_objects(&mut c, 1);
    assert_eq!(h.scavenge_state().totals().released_eager, eager);
}

#[test]
fn madv_free_pages_are_not_trusted_to_be_zero() {
    let h = MHeap::new(HeapConfig { release_mode: ReleaseMode::Free, ..HeapConfig::default() })
        .unwrap();
    assert!(!h.os().released_pages_are_zero());
    let mut c = h.new_cache();
    touched_objects(&mut c, 4);
    cycle(&h, &mut [&mut c], &[]);
    assert!(h.scavenge_all() >= 4 * MIB);
    assert_ledger(&h, &[&c]);
    // The same pages come back; MADV_FREE may have left the old bytes, so they are zeroed.
    for p in (0..4).map(|_| c.alloc_noscan(MIB).unwrap().as_ptr() as usize) {
        // SAFETY: our fresh 1 MiB object.
        let words = unsafe { std::slice::from_raw_parts(p as *const u64, MIB / 8) };
        assert!(words.iter().all(|&w| w == 0), "reused MADV_FREE page not zeroed");
    }
}
