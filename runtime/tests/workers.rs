//! The mark workers on the Ps (Go's `gcBgMarkWorker` scheduled by `findRunnableGCWorker`): how
//! many run in each mode for GOMAXPROCS 1 to 16, that a worker drains only while it holds a P,
//! and that a cycle completes at GOMAXPROCS=1 while a goroutine spins allocating (the
//! fractional worker and the root marking get the P by preempting it).
#![allow(missing_docs)] // test-only heap types

use gomem::sync::{AtomicBool, AtomicUsize, Ordering};
use gomem::{gc_object, Config, Gc, Mutator, Runtime};
use std::sync::Arc;

gc_object! {
    /// A list node.
    pub struct Node {
        pub next: Gc<Node>,
        pub id: u64,
    }
}

/// Go's `gcControllerState.startCycle`: dedicated workers and the fractional goal for `procs`.
fn go_workers(procs: usize) -> (usize, f64) {
    let total = procs as f64 * 0.25;
    let mut dedicated = (total + 0.5) as usize;
    let err = dedicated as f64 / total - 1.0;
    if !(-0.3..=0.3).contains(&err) {
        if dedicated as f64 > total {
            dedicated -= 1;
        }
        (dedicated, (total - dedicated as f64) / procs as f64)
    } else {
        (dedicated, 0.0)
    }
}

/// Build and drop lists of `n` nodes until `stop` says so, with a safepoint every 256 nodes.
fn churn(m: &mut Mutator<'_>, n: u64, stop: &dyn Fn() -> bool) {
    let holder = m.alloc_array::<Node>(1).unwrap();
    let mut i = 0u64;
    while !stop() {
        m.scope(|m| {
            let c = m.alloc::<Node>().unwrap();
            m.write(c, Node::id, i);
            if i % n != 0 {
                let head = m.array_get(holder, 0);
                m.set(c, Node::next, head);
            }
            m.array_set(holder, 0, Some(c));
        });
        i += 1;
        if i % 256 == 0 {
            m.safepoint();
        }
    }
}

/// Run `procs` churning goroutines on `procs` Ps for `cycles` cycles while a thread samples the
/// mark workers' modes; returns the most seen at once in each mode and the statistics.
fn sample_modes(procs: usize, cycles: u32) -> ([usize; 3], gomem::collector::cycle::GcStats) {
    let rt = Arc::new(Runtime::new(Config::default().gomaxprocs(procs)).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (rt, done) = (rt.clone(), done.clone());
        std::thread::spawn(move || {
            let mut max = [0usize; 3];
            while !done.load(Ordering::Relaxed) {
                let r = rt.collector().running_mark_workers();
                let on_p = rt.collector().mark_workers_on_p();
                assert!(on_p <= procs, "{on_p} mark workers on {procs} Ps");
                for k in 0..3 {
                    max[k] = max[k].max(r[k]);
                }
                std::thread::yield_now();
            }
            max
        })
    };
    let hs: Vec<_> = (0..procs)
        .map(|_| {
            let rt2 = rt.clone();
            rt.go(move |m| churn(m, 20_000, &|| rt2.collector().num_gc() >= cycles))
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let max = sampler.join().unwrap();
    (max, rt.collector().stats())
}

#[test]
fn worker_modes_follow_gos_formulas_for_gomaxprocs_1_to_16() {
    for procs in [1, 2, 3, 4, 8, 16] {
        let (dedicated, goal) = go_workers(procs);
        let (max, st) = sample_modes(procs, 12);
        eprintln!(
            "GOMAXPROCS={procs}: Go's dedicated={dedicated} fractional goal={goal:.4}; seen at \
             most dedicated={} fractional={} idle={}; GC CPU fraction {:.3} (dedicated {} µs, \
             fractional {} µs, idle {} µs, assist {} µs)",
            max[0],
            max[1],
            max[2],
            st.gc_cpu_fraction,
            st.gc_dedicated_ns / 1000,
            st.gc_fractional_ns / 1000,
            st.gc_idle_ns / 1000,
            st.gc_assist_ns / 1000,
        );
        assert_eq!(max[0], dedicated, "GOMAXPROCS={procs}: dedicated workers");
        if goal == 0.0 {
            assert_eq!(max[1], 0, "GOMAXPROCS={procs}: a fractional worker with no goal");
        }
        assert!(max[2] <= procs - dedicated, "GOMAXPROCS={procs}: {} idle workers", max[2]);
        assert!(st.gc_cpu_fraction > 0.0 && st.gc_cpu_fraction < 1.0);
    }
}

#[test]
fn at_gomaxprocs_1_a_cycle_completes_while_a_goroutine_spins_allocating() {
    let rt = Arc::new(Runtime::new(Config::default().gomaxprocs(1)).unwrap());
    // With one P, whenever the goroutine runs no mark worker may hold a P: a worker seen
    // draining then would be draining without one.
    let unbound = Arc::new(AtomicUsize::new(0));
    let (rt2, unbound2) = (rt.clone(), unbound.clone());
    rt.go(move |m| {
        let c = rt2.collector();
        churn(m, 50_000, &|| {
            if c.mark_workers_on_p() != 0 {
                unbound2.fetch_add(1, Ordering::Relaxed);
            }
            c.num_gc() >= 5
        })
    })
    .join()
    .unwrap();
    let c = rt.collector();
    let st = c.stats();
    assert_eq!(unbound.load(Ordering::Relaxed), 0, "a mark worker drained beside the goroutine");
    assert!(c.worker_drains() > 0, "no mark worker ever got the P");
    assert!(st.gc_fractional_ns > 0, "the fractional worker never ran: {st:?}");
    assert_eq!(go_workers(1), (0, 0.25));
}
