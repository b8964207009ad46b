//! Views (`gomem::view`) at run time: goroutines reading a shared structure through unrooted
//! `Ref`s while other goroutines replace its parts and cycles collect what they unlinked, with
//! `gccheckmark=1` (every cycle's marks re-verified with the world stopped) and `clobberfree=1`
//! (every freed object overwritten with a pattern, so reading one shows).
#![cfg(not(loom))]
#![allow(missing_docs)] // test-only heap types

mod common;
use common::payload;

use gomem::sync::{AtomicBool, AtomicU64, Ordering};
use gomem::{
    gc_object, Config, Gc, GcPercent, Global, Local, Mutator, PtrArray, Ref, Runtime, View,
};
use std::sync::Arc;

gc_object! {
    /// A chain cell: cell `k` of a chain has id `base + k` and `check == payload(id)`.
    pub struct Cell {
        pub next: Gc<Cell>,
        pub id: u64,
        pub check: u64,
    }
}

/// Slots of the shared table, each holding one chain.
const SLOTS: usize = 64;
/// Cells per chain.
const CHAIN: u64 = 16;
/// Chains each writer installs.
const WRITES: u64 = 10_000;
/// A writer forces a cycle once every this many chains.
const GC_EVERY: u64 = 200;
/// Times a reader walks every chain in one view.
const PASSES: usize = 512;
/// Writers and readers.
const WRITERS: u64 = 2;
const READERS: u64 = 2;

fn runtime() -> Runtime {
    let config = Config::default()
        .gomaxprocs((WRITERS + READERS) as usize)
        .gogc(GcPercent::Percent(10))
        .godebug("gccheckmark=1,clobberfree=1")
        .expect("GODEBUG");
    Runtime::new(config).expect("runtime")
}

/// Build a chain of ids `base..base + CHAIN`; the head is rooted in `m`'s scope.
fn chain<'s>(m: &mut Mutator<'s>, base: u64) -> Local<'s, Cell> {
    let mut head = None;
    for k in (0..CHAIN).rev() {
        let c = m.alloc::<Cell>().expect("alloc");
        m.write(c, Cell::id, base + k);
        m.write(c, Cell::check, payload(base + k));
        m.set(c, Cell::next, head);
        head = Some(c);
    }
    head.expect("CHAIN > 0")
}

/// Walk a chain in a view and check every cell is intact: consecutive ids from a multiple of
/// `CHAIN`, each with its payload, exactly `CHAIN` cells. Returns the chain's base id.
fn verify(v: &View<'_>, head: Ref<'_, Cell>) -> u64 {
    let base = v.read(head, Cell::id);
    assert_eq!(base % CHAIN, 0, "head {head:?}: id {base:#x} is no chain's first (freed?)");
    let mut cur = Some(head);
    let mut k = 0;
    while let Some(c) = cur {
        let (id, check) = (v.read(c, Cell::id), v.read(c, Cell::check));
        assert_eq!(id, base + k, "cell {k} of chain {base}: id {id:#x} (freed or reused?)");
        assert_eq!(check, payload(id), "cell {k} of chain {base}: payload {check:#x} (freed?)");
        cur = v.get(c, Cell::next);
        k += 1;
    }
    assert_eq!(k, CHAIN, "chain {base} has {k} cells");
    base
}

/// A writer: installs `WRITES` fresh chains into slots of the table, dropping the old ones,
/// and forces a cycle every `GC_EVERY`.
fn writer(m: &mut Mutator<'_>, table: Global<PtrArray<Cell>>, w: u64) {
    let mut seed = w + 1;
    for i in 0..WRITES {
        m.scope(|m| {
            let t = m.global(table).expect("table");
            let base = ((w * WRITES + i + 1) * CHAIN) << 8;
            let head = chain(m, base);
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            m.array_set(t, (seed >> 33) as usize % SLOTS, Some(head));
        });
        if i % GC_EVERY == GC_EVERY - 1 {
            m.gc();
        }
    }
}

/// A reader: until `done`, takes every slot's chain in one view and walks them all
/// [`PASSES`] times (a view long enough to span cycles, were a safepoint to happen in it), then
/// passes a safepoint; every few rounds it roots a head from a view, lets cycles run, and walks
/// it again.
fn reader(m: &mut Mutator<'_>, table: Global<PtrArray<Cell>>, done: &AtomicBool) -> u64 {
    let mut walks = 0;
    let mut round = 0u64;
    while !done.load(Ordering::Relaxed) {
        {
            let v = m.view();
            let t = v.global(table).expect("table");
            // A Rust vector of Refs: it cannot outlive the view either.
            let heads: Vec<_> = (0..SLOTS).filter_map(|s| v.array_get(t, s)).collect();
            for _ in 0..PASSES {
                for &head in &heads {
                    verify(&v, head);
                    walks += 1;
                }
            }
        }
        m.safepoint();
        round += 1;
        if round % 4 == 0 {
            m.scope(|m| {
                let (kept, base) = {
                    let v = m.view();
                    let t = v.global(table).expect("table");
                    let head = v.array_get(t, round as usize % SLOTS).expect("slot filled");
                    (m.root(head), verify(&v, head))
                };
                // The chain may be unlinked by a writer and its cells collected, unless the
                // root keeps them.
                m.gc();
                let v = m.view();
                assert_eq!(verify(&v, v.of(kept)), base, "a rooted Ref's chain changed");
            });
        }
    }
    walks
}

#[test]
fn views_read_only_live_intact_objects_while_others_mutate_and_collect() {
    let rt = runtime();
    let table = rt.global::<PtrArray<Cell>>();
    rt.go(move |m| {
        let t = m.alloc_array::<Cell>(SLOTS).expect("alloc");
        for s in 0..SLOTS {
            m.scope(|m| {
                let head = chain(m, s as u64 * CHAIN);
                m.array_set(t, s, Some(head));
            });
        }
        m.set_global(table, Some(t));
    })
    .join()
    .expect("setup");
    let gc0 = rt.collector().num_gc();
    let done = Arc::new(AtomicBool::new(false));
    let walks = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (done, walks) = (done.clone(), walks.clone());
            rt.go(move |m| walks.fetch_add(reader(m, table, &done), Ordering::Relaxed))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS).map(|w| rt.go(move |m| writer(m, table, w))).collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let cycles = rt.collector().num_gc() - gc0;
    // Each writer's `gc()` calls run one after another, so each gets a cycle of its own; the
    // two writers' calls may share cycles (as concurrent `runtime.GC` calls do in Go).
    assert!(cycles >= (WRITES / GC_EVERY) as u32, "only {cycles} cycles ran");
    assert!(walks.load(Ordering::Relaxed) > 0, "no reader walked a chain");
    rt.gc();
    rt.verify_heap().expect("heap consistent");
}

/// A view pushes no roots; `Mutator::root` pushes exactly one per call.
#[test]
fn a_view_pushes_no_roots() {
    let rt = runtime();
    let (before, during, after) = rt
        .go(|m| {
            let head = chain(m, 0);
            let before = m.root_count();
            let v = m.view();
            let mut cur = Some(v.of(head));
            let mut n = 0;
            while let Some(c) = cur {
                cur = v.get(c, Cell::next);
                n += 1;
            }
            assert_eq!(n, CHAIN);
            let during = m.root_count();
            let last = v.get(v.of(head), Cell::next).expect("second cell");
            let kept = m.root(last);
            assert_eq!(m.read(kept, Cell::id), 1);
            (before, during, m.root_count())
        })
        .join()
        .expect("goroutine");
    assert_eq!(during, before, "walking a view pushed roots");
    assert_eq!(after, before + 1, "Mutator::root pushes one root");
}
