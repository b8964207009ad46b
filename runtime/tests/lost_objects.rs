//! Live objects must survive cycles that goroutines start themselves (issue 12, "live objects
//! are lost when goroutines start cycles", and S5). `Mutator::gc` runs the cycle's trailing
//! sweep on a goroutine that has given up its P, so the world's stop does not stop it: a cycle
//! started by another goroutine meanwhile must wait for that sweep to finish before it marks,
//! or the sweep clears marks the new cycle has set and live objects are freed.
//!
//! Two programs, each a few seconds:
//! - lists: every goroutine keeps a list of `LIST` nodes in a [`Global`], replaces its head
//!   with a fresh node, allocates a little garbage and calls `m.gc()` every 64 operations.
//!   Each node carries its list's id, its index and a check word, so the walk after each cycle
//!   tells a cut list (too short) from a node freed and reused (wrong id, index or check).
//! - graph: goroutines mutate random graphs rooted in an array and call `m.gc()` every 32
//!   operations; after each cycle the graph is compared with a shadow copy kept outside the
//!   heap.
//!
//! Both run under several settings (GOGC 1 and 100, GOMAXPROCS 1 and 2, `gcstoptheworld`).
#![allow(missing_docs)] // test-only heap types

use gomem::config::GcPercent;
use gomem::{gc_object, Config, Gc, Global, Local, Mutator, PtrArray, Runtime};

gc_object! {
    /// A list node: its list, its index in the list, and a check word of both.
    pub struct Node {
        pub next: Gc<Node>,
        pub list: u64,
        pub index: u64,
        pub check: u64,
    }
}

fn check_word(list: u64, index: u64) -> u64 {
    (list << 32 | index).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xa5a5
}

const LIST: u64 = 2000;

fn runtime(gogc: u32, procs: usize, godebug: &str) -> Runtime {
    let cfg = Config::default()
        .gogc(GcPercent::Percent(gogc))
        .gomaxprocs(procs)
        .godebug(godebug)
        .unwrap();
    Runtime::new(cfg).unwrap()
}

fn new_node<'s>(m: &mut Mutator<'s>, list: u64, index: u64) -> Local<'s, Node> {
    let n = m.alloc::<Node>().unwrap();
    m.write(n, Node::list, list);
    m.write(n, Node::index, index);
    m.write(n, Node::check, check_word(list, index));
    n
}

/// Walk list `list` from its global and say what is wrong with it, if anything.
fn list_fault(m: &mut Mutator<'_>, head: Global<Node>, list: u64) -> Option<String> {
    m.scope(|m| {
        let mut cur = m.global(head);
        let mut i = 0;
        while let Some(n) = cur {
            let (l, x, c) = (m.read(n, Node::list), m.read(n, Node::index), m.read(n, Node::check));
            if (l, x, c) != (list, i, check_word(list, i)) {
                return Some(format!(
                    "list {list} node {i} at {:#x} reads list {l} index {x} check {c:#x}: freed \
                     and reused",
                    n.addr()
                ));
            }
            i += 1;
            cur = m.get(n, Node::next);
        }
        (i != LIST).then(|| format!("list {list} is cut short: {i} of {LIST} nodes"))
    })
}

/// One goroutine of the list program: `ops` head replacements, a cycle every 64 of them and a
/// check after every cycle. Returns the faults seen and the checks made.
fn list_goroutine(
    m: &mut Mutator<'_>,
    head: Global<Node>,
    list: u64,
    ops: u64,
) -> (Vec<String>, u64) {
    m.scope(|m| {
        let mut next = None;
        for i in (0..LIST).rev() {
            let n = new_node(m, list, i);
            m.set(n, Node::next, next);
            next = Some(n);
        }
        m.set_global(head, next);
    });
    let (mut faults, mut checks) = (Vec::new(), 0);
    for op in 1..=ops {
        m.scope(|m| {
            let old = m.global(head).unwrap();
            let fresh = new_node(m, list, 0);
            let rest = m.get(old, Node::next);
            m.set(fresh, Node::next, rest);
            m.set_global(head, Some(fresh));
            // Garbage of the nodes' own size class, so that the spans holding live nodes
            // have dead slots to sweep, and a little pointer-free garbage.
            for _ in 0..3 {
                new_node(m, 0, 0);
            }
            let _bytes = m.alloc_bytes(48).unwrap();
        });
        if op % 64 == 0 {
            m.gc();
            checks += 1;
            if let Some(f) = list_fault(m, head, list) {
                faults.push(f);
                break;
            }
        }
    }
    (faults, checks)
}

/// Threads that keep the machine's cores busy while `f` runs, so that the OS preempts the
/// runtime's threads at arbitrary points, a sweeper in the middle of a span among them (on a
/// loaded machine that happens anyway; here it happens in a test of a few seconds).
fn with_busy_cores<R>(f: impl FnOnce() -> R) -> R {
    let stop = std::sync::Arc::new(gomem::sync::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(gomem::sync::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let r = f();
    stop.store(true, gomem::sync::Ordering::Relaxed);
    spinners.into_iter().for_each(|s| s.join().unwrap());
    r
}

/// `GOMEM_LOST_OBJECTS_SCALE` multiplies every run's operations (1 by default; long runs in
/// `docs/testing.md`).
fn scaled(ops: u64) -> u64 {
    let scale = std::env::var("GOMEM_LOST_OBJECTS_SCALE").ok().and_then(|v| v.parse().ok());
    ops * scale.unwrap_or(1)
}

fn lists(gogc: u32, procs: usize, godebug: &str, goroutines: u64, ops: u64) {
    with_busy_cores(|| lists_run(gogc, procs, godebug, goroutines, scaled(ops)))
}

fn lists_run(gogc: u32, procs: usize, godebug: &str, goroutines: u64, ops: u64) {
    let rt = runtime(gogc, procs, godebug);
    let hs: Vec<_> = (0..goroutines)
        .map(|g| {
            let head = rt.global::<Node>();
            rt.go(move |m| list_goroutine(m, head, g + 1, ops))
        })
        .collect();
    let (mut faults, mut checks) = (Vec::new(), 0);
    for h in hs {
        let (f, c) = h.join().expect("list goroutine");
        faults.extend(f);
        checks += c;
    }
    assert!(
        faults.is_empty(),
        "GOGC={gogc} GOMAXPROCS={procs} GODEBUG={godebug:?}: {} of {checks} checks failed; first: {}",
        faults.len(),
        faults[0]
    );
    let l = rt.ledger();
    assert!(l.balances(), "{l}");
}

#[test]
fn lists_survive_cycles_started_by_goroutines() {
    lists(1, 2, "", 8, 64 * 100);
}

#[test]
fn lists_survive_cycles_started_by_goroutines_with_clobberfree() {
    // A premature free clobbers the node (the walk sees it) or leaves a marked pointer to a
    // free slot (the sweeper aborts: "found 1 pointer(s) to free objects").
    lists(1, 2, "clobberfree=1", 8, 64 * 20);
}

#[test]
fn lists_survive_cycles_started_by_goroutines_on_one_p_stopping_the_world() {
    lists(100, 1, "gcstoptheworld=1", 4, 64 * 40);
}

// ------------------------------------------------------------------------------ the graph

gc_object! {
    /// A graph node: two edges and an id.
    pub struct Vertex {
        pub a: Gc<Vertex>,
        pub b: Gc<Vertex>,
        pub id: u64,
    }
}

const SLOTS: usize = 256;

/// A xorshift generator (seeded; the tests are reproducible up to scheduling).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The graph as it must be: the id in each root slot and each live id's two edges.
struct Expected {
    roots: Vec<u64>,
    edges: std::collections::HashMap<u64, [u64; 2]>,
}

fn edge(k: u64) -> gomem::Field<Vertex, Gc<Vertex>> {
    if k == 0 {
        Vertex::a
    } else {
        Vertex::b
    }
}

/// Compare the heap graph reachable from `table` with `want` (id 0 is nil).
fn graph_fault(
    m: &mut Mutator<'_>,
    table: Local<'_, PtrArray<Vertex>>,
    want: &Expected,
) -> Option<String> {
    m.scope(|m| {
        let id = |m: &mut Mutator<'_>, v: Option<Local<'_, Vertex>>| {
            v.map_or(0, |v| m.read(v, Vertex::id))
        };
        let mut seen = std::collections::HashSet::new();
        let mut stack = Vec::new();
        for (s, &w) in want.roots.iter().enumerate() {
            let v = m.array_get(table, s);
            let got = id(m, v);
            if got != w {
                return Some(format!("root {s} holds {got:#x}, expected {w:#x}"));
            }
            stack.extend(v);
        }
        while let Some(v) = stack.pop() {
            let vid = m.read(v, Vertex::id);
            if !seen.insert(vid) {
                continue;
            }
            let Some(&[wa, wb]) = want.edges.get(&vid) else {
                return Some(format!(
                    "{:#x} reads id {vid:#x}, no such vertex: freed and reused",
                    v.addr()
                ));
            };
            for (k, w) in [(0, wa), (1, wb)] {
                let c = m.get(v, edge(k));
                let got = id(m, c);
                if got != w {
                    return Some(format!("vertex {vid:#x} edge {k} is {got:#x}, expected {w:#x}"));
                }
                stack.extend(c);
            }
        }
        None
    })
}

/// Forget the edges of vertices no longer reachable.
fn forget_unreachable(want: &mut Expected) {
    let mut live = std::collections::HashSet::new();
    let mut stack: Vec<u64> = want.roots.iter().copied().filter(|&r| r != 0).collect();
    while let Some(v) = stack.pop() {
        if live.insert(v) {
            stack.extend(want.edges[&v].iter().copied().filter(|&e| e != 0));
        }
    }
    want.edges.retain(|v, _| live.contains(v));
}

fn graph_goroutine(m: &mut Mutator<'_>, g: u64, ops: u64) -> Option<String> {
    let mut rng = Rng(g.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    let table = m.alloc_array::<Vertex>(SLOTS).unwrap();
    let mut want = Expected { roots: vec![0; SLOTS], edges: Default::default() };
    let mut next_id = g << 40;
    for op in 1..=ops {
        m.scope(|m| {
            let s = rng.below(SLOTS as u64) as usize;
            let t = rng.below(SLOTS as u64) as usize;
            let k = rng.below(2);
            match rng.below(8) {
                0..=2 => {
                    next_id += 1;
                    let v = m.alloc::<Vertex>().unwrap();
                    m.write(v, Vertex::id, next_id);
                    let to = m.array_get(table, t);
                    m.set(v, Vertex::a, to);
                    m.array_set(table, s, Some(v));
                    want.edges.insert(next_id, [want.roots[t], 0]);
                    want.roots[s] = next_id;
                }
                3..=5 => {
                    // Point slot s's vertex's edge k at slot t's vertex or at its edge b.
                    if let Some(v) = m.array_get(table, s) {
                        let mut to = m.array_get(table, t);
                        let mut tid = want.roots[t];
                        if let (Some(tv), 1) = (to, rng.below(2)) {
                            to = m.get(tv, Vertex::b);
                            tid = want.edges[&tid][1];
                        }
                        m.set(v, edge(k), to);
                        want.edges.get_mut(&want.roots[s]).unwrap()[k as usize] = tid;
                    }
                }
                _ => {
                    m.array_set(table, s, None);
                    want.roots[s] = 0;
                }
            }
            let _garbage = m.alloc_bytes(32).unwrap();
        });
        if op % 32 == 0 {
            m.gc();
            if let Some(f) = graph_fault(m, table, &want) {
                return Some(f);
            }
            forget_unreachable(&mut want);
        }
    }
    None
}

fn graphs(gogc: u32, procs: usize, godebug: &str, goroutines: u64, ops: u64) {
    with_busy_cores(|| graphs_run(gogc, procs, godebug, goroutines, scaled(ops)))
}

fn graphs_run(gogc: u32, procs: usize, godebug: &str, goroutines: u64, ops: u64) {
    let rt = runtime(gogc, procs, godebug);
    let hs: Vec<_> =
        (0..goroutines).map(|g| rt.go(move |m| graph_goroutine(m, g + 1, ops))).collect();
    let faults: Vec<String> =
        hs.into_iter().filter_map(|h| h.join().expect("graph goroutine")).collect();
    assert!(
        faults.is_empty(),
        "GOGC={gogc} GOMAXPROCS={procs} GODEBUG={godebug:?}: {} goroutines saw a fault; first: {}",
        faults.len(),
        faults[0]
    );
}

#[test]
fn graphs_survive_cycles_started_by_goroutines() {
    graphs(100, 2, "", 6, 32 * 60);
}

#[test]
fn graphs_survive_cycles_started_by_goroutines_on_one_p_stopping_the_world() {
    graphs(100, 1, "gcstoptheworld=1", 6, 32 * 60);
}
