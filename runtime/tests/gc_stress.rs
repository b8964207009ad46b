//! The collector's stress test: several goroutines (more than GOMAXPROCS) build, mutate and drop
//! random object graphs while collections run back to back on another thread. Each goroutine
//! keeps a shadow graph outside the heap (ids and edges) saying what must be alive and how it is
//! linked; it checks every reachable object's identity, payload and pointers against the shadow
//! after every cycle it observes and at the end. `clobberfree` and `gccheckmark` are on, so a
//! premature free shows as a clobbered payload and a missed mark panics at mark termination.
//! Each test runs with Green Tea (`greenteagc=1`, the default) and with the classic marker.
//!
//! Seeded. The short run is part of the suite; the long one is `#[ignore]`d:
//! `GOMEM_GC_STRESS_OPS=2000000 cargo test -p gomem --release --test gc_stress -- --ignored`.
#![allow(missing_docs)] // test-only heap types

mod common;
use common::{payload, Rng};

use gomem::sync::{AtomicBool, Ordering};
use gomem::{gc_object, Config, Gc, Local, Mutator, PtrArray, Runtime};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

gc_object! {
    /// A graph node: two edges, an id and a payload derived from the id.
    pub struct Obj {
        pub a: Gc<Obj>,
        pub b: Gc<Obj>,
        pub id: u64,
        pub check: u64,
    }
}

const SLOTS: usize = 1024;
/// Cycles each mutator must overlap.
const MIN_CYCLES: u32 = 5;

/// The shadow graph: what each root slot holds and each node's edges.
#[derive(Default)]
struct Shadow {
    slots: Vec<Option<u64>>,
    edges: HashMap<u64, [Option<u64>; 2]>,
}

fn field(i: usize) -> gomem::Field<Obj, Gc<Obj>> {
    if i == 0 {
        Obj::a
    } else {
        Obj::b
    }
}

/// Walk the heap graph from the roots and compare it with the shadow.
fn verify(m: &mut Mutator<'_>, table: Local<'_, PtrArray<Obj>>, sh: &Shadow) -> usize {
    m.scope(|m| {
        let mut seen = HashSet::new();
        let mut stack: Vec<(Local<'_, Obj>, u64)> = Vec::new();
        for (s, want) in sh.slots.iter().enumerate() {
            let got = m.array_get(table, s);
            match (got, want) {
                (None, None) => {}
                (Some(o), Some(id)) => stack.push((o, *id)),
                _ => panic!(
                    "slot {s}: heap {:?} vs shadow {want:?}",
                    got.map(|o| m.read(o, Obj::id))
                ),
            }
        }
        while let Some((o, id)) = stack.pop() {
            let got_id = m.read(o, Obj::id);
            assert_eq!(got_id, id, "object {:#x}: id {got_id:#x}, shadow says {id}", o.addr());
            assert_eq!(m.read(o, Obj::check), payload(id), "object {id} payload clobbered");
            if !seen.insert(id) {
                continue;
            }
            let edges = sh.edges[&id];
            for (k, e) in edges.iter().enumerate() {
                let child = m.get(o, field(k));
                match (child, e) {
                    (None, None) => {}
                    (Some(c), Some(cid)) => stack.push((c, *cid)),
                    _ => panic!("object {id} edge {k}: heap and shadow disagree"),
                }
            }
        }
        seen.len()
    })
}

/// Drop shadow edges of nodes no longer reachable (keeps the shadow small).
fn prune(sh: &mut Shadow) {
    let mut live = HashSet::new();
    let mut stack: Vec<u64> = sh.slots.iter().flatten().copied().collect();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(sh.edges[&id].iter().flatten().copied());
        }
    }
    sh.edges.retain(|id, _| live.contains(id));
}

fn mutator(m: &mut Mutator<'_>, seed: u64, ops: u64, gid: u64) -> usize {
    let mut rng = Rng(seed | 1);
    let table = m.alloc_array::<Obj>(SLOTS).unwrap();
    let mut sh = Shadow { slots: vec![None; SLOTS], edges: HashMap::new() };
    let mut next_id = gid << 40;
    let mut checked = 0;
    let mut last_cycle = 0;
    // Run at least `ops` operations and until this goroutine has seen MIN_CYCLES cycles, so
    // mutation overlaps collection however slow or loaded the machine is.
    let first_cycle = m.num_gc();
    let mut op = 0u64;
    while op < ops || m.num_gc() < first_cycle + MIN_CYCLES {
        op += 1;
        m.scope(|m| {
            let s = rng.below(SLOTS as u64) as usize;
            match rng.below(10) {
                0..=3 => {
                    // New node into a slot, sometimes linked to an existing one.
                    next_id += 1;
                    let o = m.alloc::<Obj>().unwrap();
                    m.write(o, Obj::id, next_id);
                    m.write(o, Obj::check, payload(next_id));
                    let mut e = [None, None];
                    let t = rng.below(SLOTS as u64) as usize;
                    if let (Some(tid), Some(to)) = (sh.slots[t], m.array_get(table, t)) {
                        m.set(o, Obj::a, Some(to));
                        e[0] = Some(tid);
                    }
                    m.array_set(table, s, Some(o));
                    sh.slots[s] = Some(next_id);
                    sh.edges.insert(next_id, e);
                }
                4..=6 => {
                    // Link slot s's node to slot t's node (or to what t's node points at).
                    let t = rng.below(SLOTS as u64) as usize;
                    let k = rng.below(2) as usize;
                    if let (Some(sid), Some(so)) = (sh.slots[s], m.array_get(table, s)) {
                        let (target, tid) = match (sh.slots[t], m.array_get(table, t)) {
                            (Some(tid), Some(to)) if rng.below(2) == 0 => {
                                match (sh.edges[&tid][1], m.get(to, Obj::b)) {
                                    (Some(gid2), Some(g)) => (Some(g), Some(gid2)),
                                    _ => (Some(to), Some(tid)),
                                }
                            }
                            (Some(tid), Some(to)) => (Some(to), Some(tid)),
                            _ => (None, None),
                        };
                        m.set(so, field(k), target);
                        sh.edges.get_mut(&sid).unwrap()[k] = tid;
                    }
                }
                7 => {
                    // Unlink.
                    if let (Some(sid), Some(so)) = (sh.slots[s], m.array_get(table, s)) {
                        let k = rng.below(2) as usize;
                        m.set(so, field(k), None);
                        sh.edges.get_mut(&sid).unwrap()[k] = None;
                    }
                }
                _ => {
                    // Drop a root: its node lives on only if linked from elsewhere.
                    m.array_set(table, s, None);
                    sh.slots[s] = None;
                }
            }
        });
        if op % 2048 == 0 {
            prune(&mut sh);
        }
        // After every cycle this goroutine sees, check the whole graph.
        let cycles = m.num_gc();
        if cycles != last_cycle {
            last_cycle = cycles;
            checked += verify(m, table, &sh);
        }
    }
    checked + verify(m, table, &sh)
}

fn run(goroutines: u64, procs: usize, ops: u64, seed: u64, greenteagc: u8) {
    let debug = format!("clobberfree=1,gccheckmark=1,greenteagc={greenteagc}");
    let cfg = Config::default().gomaxprocs(procs).godebug(&debug).unwrap();
    let rt = Arc::new(Runtime::new(cfg).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (rt, done) = (rt.clone(), done.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                rt.gc();
                n += 1;
            }
            n
        })
    };
    let hs: Vec<_> = (0..goroutines)
        .map(|g| {
            rt.go(move |m| {
                mutator(m, seed ^ (g + 1).wrapping_mul(0x2545_f491_4f6c_dd1d), ops, g + 1)
            })
        })
        .collect();
    let checked: usize = hs.into_iter().map(|h| h.join().expect("mutator")).sum();
    done.store(true, Ordering::Relaxed);
    let forced = collector.join().unwrap();
    // Every cycle that ran, heap-triggered ones included: with many Ps the forced ones wait
    // behind those, and the mutators ran until each had seen MIN_CYCLES.
    let st = rt.collector().stats();
    let cycles = u64::from(st.num_gc);
    eprintln!("gc_stress [greenteagc={greenteagc}]: {goroutines} goroutines x {ops} ops on {procs} Ps: {cycles} cycles ({forced} forced), {checked} objects verified; GC CPU fraction {:.3}, mark workers dedicated {} ms, fractional {} ms, idle {} ms, assists {} ms", st.gc_cpu_fraction, st.gc_dedicated_ns / 1_000_000, st.gc_fractional_ns / 1_000_000, st.gc_idle_ns / 1_000_000, st.gc_assist_ns / 1_000_000);
    assert!(cycles >= MIN_CYCLES as u64, "only {cycles} cycles ran");
    assert!(checked > 0);
    let l = rt.ledger();
    assert!(l.balances(), "{l}");
}

#[test]
fn graphs_survive_back_to_back_cycles() {
    run(4, 2, 20_000, 7, 1);
}

#[test]
fn graphs_survive_back_to_back_cycles_classic_marker() {
    run(4, 2, 20_000, 8, 0);
}

/// Simulated scale: more Ps than the machine has cores, with the workers on the Ps (2 and 4
/// dedicated workers, idle workers on the rest).
#[test]
fn graphs_survive_back_to_back_cycles_on_8_and_16_ps() {
    run(10, 8, 40_000, 11, 1);
    run(18, 16, 20_000, 12, 0);
}

#[test]
#[ignore]
fn long_stress() {
    let ops =
        std::env::var("GOMEM_GC_STRESS_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    run(6, 2, ops, 99, 1);
    run(6, 2, ops, 98, 0);
}
