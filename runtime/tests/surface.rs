//! Run-time checks of the public surface (`docs/safety.md`): what cannot be a compile error
//! is a clear panic. Compile-time ones are in `surface_ui.rs`.
#![cfg(not(loom))]

use gomem::collector::cycle::{Collector, CollectorConfig, DebugModes};
use gomem::{Config, Runtime};

fn runtime() -> Runtime {
    Runtime::new(Config::default().gomaxprocs(1)).expect("runtime")
}

/// A cache outside the runtime's Ps is never flushed by its collector: it would allocate from
/// spans the sweeper frees under it.
#[test]
#[should_panic(expected = "a collector is attached to this heap")]
fn a_runtime_heap_makes_no_cache_outside_its_ps() {
    let rt = runtime();
    let _stray = rt.heap().new_cache();
}

/// A second collector on the runtime's heap would advance its sweep generation and sweep its
/// spans on its own schedule, in the middle of the first one's mark.
#[test]
#[should_panic(expected = "this heap already has a collector")]
fn a_heap_takes_one_collector() {
    let rt = runtime();
    let cfg = CollectorConfig {
        gc_percent: 100,
        memory_limit: u64::MAX,
        gomaxprocs: 1,
        debug: DebugModes::default(),
        force_gc_period: None,
    };
    let _second = Collector::new(rt.heap().clone(), cfg);
}

/// A sweep the collector does not know of could still be resetting mark bits when its next
/// mark starts (issue 12, S5): a collected heap refuses sweeps from outside.
#[test]
#[should_panic(expected = "this heap has a collector, which sweeps it")]
fn a_collected_heap_refuses_outside_sweeps() {
    let rt = runtime();
    rt.heap().sweep_one();
}

/// The read-only views that replace the scheduler accessor.
#[test]
fn a_stopped_world_shows_every_p() {
    let rt = Runtime::new(Config::default().gomaxprocs(3)).expect("runtime");
    assert_eq!(rt.gomaxprocs(), 3);
    let mut w = rt.stop_the_world("surface test");
    let mut seen = Vec::new();
    w.each_p(|i, p| {
        assert!(std::sync::Arc::ptr_eq(p.cache().heap(), rt.heap()));
        assert!(std::sync::Arc::ptr_eq(p.collector(), rt.collector()));
        seen.push(i);
    });
    assert_eq!(w.reason(), "surface test");
    w.start_the_world();
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(rt.num_goroutines(), 0);
}
