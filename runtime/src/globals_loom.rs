//! Loom model of registering globals while the collector scans them: the real [`Globals`]
//! (`register`, `for_each_root`) and the real barriered store of `Mutator::set_global`
//! ([`write_pointer`]), on a real collector whose heap is never allocated from.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test
//! -p gomem --release --lib loom_models`.
//!
//! Under loom a chunk holds two slots, so the model's third global starts a new chunk while the
//! scanner may be walking the first. The model touches a global only through
//! `Globals::register`, `Global::slot_in` and the store and load of its slot, so a change of
//! `Global`'s representation only needs those three lines adapted.

use super::Globals;
use crate::barrier::{read_pointer, write_pointer};
use crate::state::PState;
use crate::sync::{thread, Arc};
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_collector::cycle::{Collector, CollectorConfig, DebugModes};

/// Values stored in the globals: never heap pointers (the barrier buffer is never flushed in
/// the model, so nothing is shaded).
const A: usize = 0xa000;
const B: usize = 0xb000;
const C: usize = 0xc000;

/// A P of the collector `c`.
fn p_state(c: &std::sync::Arc<Collector>) -> PState {
    // SAFETY: no cycle runs in the model, so the cache is never flushed while it holds spans
    // (and it never allocates).
    PState::new(unsafe { c.heap().new_cache_unchecked() }, c.clone())
}

/// Store `v` in the global slot `slot` through the write barrier, as `Mutator::set_global`
/// does, and return what the P's barrier buffer recorded.
fn set_global(p: &mut PState, slot: usize, v: usize) -> Vec<usize> {
    // SAFETY: `slot` is a registered global slot of a `Globals` that outlives the call; no
    // sweep runs (the heap is empty and never swept).
    unsafe { write_pointer(p, slot, v) };
    let mut recorded = Vec::new();
    p.gc.wbbuf.flush_with(|x| recorded.push(x));
    recorded
}

/// A global registered before the scan is seen by it; a global registered and stored into by
/// two goroutines while the collector scans the globals (write barrier on, as during mark) is
/// either seen by the scan or recorded by the storing P's barrier, so the object it points to
/// is marked either way; the two goroutines get distinct slots, and each slot keeps its value.
///
/// Deliberate bugs seen caught: with `register` writing `count` after releasing the lock,
/// loom reported "two registrations got one slot"; with `write_pointer` not recording while
/// the barrier is on, loom reported "a global stored during the scan was neither scanned nor
/// recorded by the barrier".
#[test]
fn loom_models_globals_registered_while_scanned() {
    gomem_allocator::sync::model(3, || {
        let heap = MHeap::new(HeapConfig::default()).expect("heap");
        let c = Collector::new(
            heap,
            CollectorConfig {
                gc_percent: 100,
                memory_limit: u64::MAX,
                gomaxprocs: 2,
                debug: DebugModes::default(),
                force_gc_period: None,
            },
        );
        let globals = Arc::new(Globals::default());
        let mut p1 = p_state(&c);
        let g0 = globals.register::<()>();
        set_global(&mut p1, g0.slot_in(&globals), A);
        // Mark starts (with the world stopped: the spawns below order it before the threads).
        // SAFETY: a stand-in for mark start; the model's "mark" is the scanner below.
        unsafe { c.write_barrier().set_enabled(true) };
        let scanner = {
            let globals = globals.clone();
            thread::spawn(move || {
                let mut seen = Vec::new();
                globals.for_each_root(|r| seen.push(r));
                seen
            })
        };
        let other = {
            let (globals, c) = (globals.clone(), c.clone());
            thread::spawn(move || {
                let mut p2 = p_state(&c);
                let g = globals.register::<()>();
                (g.slot_in(&globals), set_global(&mut p2, g.slot_in(&globals), C))
            })
        };
        let g1 = globals.register::<()>();
        let rec1 = set_global(&mut p1, g1.slot_in(&globals), B);
        let (slot2, rec2) = other.join().unwrap();
        let seen = scanner.join().unwrap();
        assert_ne!(g1.slot_in(&globals), slot2, "two registrations got one slot");
        // SAFETY: both are registered slots of `globals`, alive here.
        let (v1, v2) = unsafe { (read_pointer(g1.slot_in(&globals)), read_pointer(slot2)) };
        assert_eq!((v1, v2), (B, C), "a global lost its value");
        assert!(seen.contains(&A), "a global registered before the scan was not scanned");
        for (v, rec) in [(B, &rec1), (C, &rec2)] {
            assert!(
                seen.contains(&v) || rec.contains(&v),
                "a global stored during the scan was neither scanned nor recorded by the barrier"
            );
        }
        assert!(seen.iter().all(|r| [A, B, C].contains(r)), "the scan saw a value never stored");
        assert_eq!(globals.len(), 3);
    });
}
