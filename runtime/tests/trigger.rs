//! Who starts a cycle and when (Go's `gcTrigger` and `gcStart`): the goroutine whose allocation
//! crosses the heap trigger starts it while others that cross meanwhile wait and start none,
//! `gc()` starts its own, sysmon's periodic cycle fires after its period and not before, and a
//! stale trigger starts nothing.
#![cfg(not(loom))]
#![allow(missing_docs)] // test-only heap types

use gomem::collector::cycle::GcTrigger;
use gomem::{gc_object, Config, Gc, GcPercent, Runtime};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

gc_object! {
    pub struct Node {
        pub next: Gc<Node>,
        pub id: u64,
    }
}

/// Wait (up to a minute, never asserted on) until every cycle started has ended.
fn wait_idle(rt: &Runtime) {
    let c = rt.collector();
    let t = Instant::now();
    while c.num_gc() != c.cycles_started() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A runtime whose heap is past the trigger with no cycle started: garbage allocated with
/// GOGC=off, then GOGC=100 (its trigger is a few MiB).
fn past_the_trigger(procs: usize) -> Runtime {
    let rt = Runtime::new(Config::default().gomaxprocs(procs).gogc(GcPercent::Off)).unwrap();
    rt.go(|m| {
        m.scope(|m| {
            for _ in 0..1_000_000 {
                m.alloc::<Node>().unwrap();
            }
        })
    })
    .join()
    .unwrap();
    rt.set_gc_percent(100);
    assert!(
        rt.heap().heap_live() >= rt.collector().heap_goal(),
        "the garbage is below the trigger"
    );
    assert_eq!(rt.collector().cycles_started(), 0);
    rt
}

#[test]
fn goroutines_that_cross_the_trigger_together_start_exactly_one_cycle_and_all_resume() {
    let rt = past_the_trigger(4);
    let n = 4;
    let barrier = Arc::new(Barrier::new(n));
    let gs: Vec<_> = (0..n)
        .map(|i| {
            let b = barrier.clone();
            rt.go(move |m| {
                // Meet without a P, then each allocate until its cache refills: every refill
                // tests the trigger, which the heap is past.
                m.without_p(|| b.wait());
                m.scope(|m| {
                    for j in 0..2_000 {
                        let x = m.alloc::<Node>().unwrap();
                        m.write(x, Node::id, j);
                    }
                });
                i
            })
        })
        .collect();
    let done: Vec<_> = gs.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(done, (0..n).collect::<Vec<_>>(), "a waiter did not resume");
    wait_idle(&rt);
    let c = rt.collector();
    assert_eq!((c.cycles_started(), c.num_gc()), (1, 1), "one crossing, one cycle");
    let s = rt.read_mem_stats();
    assert_eq!(s.num_forced_gc, 0, "a heap-triggered cycle is not a forced one");
}

#[test]
fn threads_racing_to_start_on_one_crossing_start_one_cycle() {
    let rt = past_the_trigger(2);
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let started: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let b = barrier.clone();
                let c = rt.collector().clone();
                s.spawn(move || {
                    b.wait();
                    c.gc_start(GcTrigger::Heap)
                })
            })
            .collect();
        hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
    });
    assert_eq!(started, 1, "the other starters must re-test the trigger and start nothing");
    wait_idle(&rt);
    assert_eq!((rt.collector().cycles_started(), rt.collector().num_gc()), (1, 1));
}

#[test]
fn a_stale_trigger_starts_no_cycle() {
    let rt = Runtime::new(Config::default().gomaxprocs(1)).unwrap();
    let c = rt.collector();
    // Below the trigger: a crossing seen against an older trigger is re-tested and dropped.
    assert!(rt.heap().heap_live() < 1 << 20);
    assert!(!c.gc_start(GcTrigger::Heap));
    // A runtime.GC cycle that has already started is not started again.
    rt.gc();
    assert_eq!(c.cycles_started(), 1);
    assert!(!c.gc_start(GcTrigger::Cycle(1)));
    assert_eq!((c.cycles_started(), c.num_gc()), (1, 1));
}

#[test]
fn gc_from_a_goroutine_runs_one_complete_cycle_of_its_own() {
    let rt = Runtime::new(Config::default().gomaxprocs(2).gogc(GcPercent::Off)).unwrap();
    let (before, after) = rt
        .go(|m| {
            let before = m.num_gc();
            m.gc();
            let mid = m.num_gc();
            m.gc();
            (before, (mid, m.num_gc()))
        })
        .join()
        .unwrap();
    assert_eq!((before, after), (0, (1, 2)));
    let s = rt.read_mem_stats();
    assert_eq!((s.num_gc, s.num_forced_gc), (2, 2));
    assert_eq!(rt.collector().cycles_started(), 2);
}

#[test]
fn the_periodic_cycle_fires_after_its_period_and_not_before() {
    // A period no test outlives: sysmon's ticks start nothing.
    let rt = Runtime::new(
        Config::default().gomaxprocs(1).force_gc_period(Some(Duration::from_secs(3600))),
    )
    .unwrap();
    for _ in 0..1000 {
        rt.collector().sysmon_tick();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(rt.collector().cycles_started(), 0, "a periodic cycle before its period");
    drop(rt);

    // A short period: once it has passed, one tick starts a cycle (on the controller), which is
    // not counted as forced (Go's NumForcedGC counts runtime.GC only).
    let period = Duration::from_millis(10);
    let rt = Runtime::new(Config::default().gomaxprocs(1).force_gc_period(Some(period))).unwrap();
    std::thread::sleep(period * 2);
    rt.collector().sysmon_tick();
    let t = Instant::now();
    while rt.collector().num_gc() == 0 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let s = rt.read_mem_stats();
    assert!(s.num_gc >= 1, "no periodic cycle after its period");
    assert_eq!(s.num_forced_gc, 0);
}

#[test]
fn no_periodic_cycle_with_gogc_off_or_when_turned_off() {
    for cfg in [
        Config::default().gogc(GcPercent::Off).force_gc_period(Some(Duration::from_millis(1))),
        Config::default().force_gc_period(None),
    ] {
        let rt = Runtime::new(cfg.gomaxprocs(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        for _ in 0..100 {
            rt.collector().sysmon_tick();
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(rt.collector().cycles_started(), 0);
    }
}
