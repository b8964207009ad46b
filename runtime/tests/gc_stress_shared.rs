//! The grown GC stress test: goroutines share one object graph while cycles run, and a shadow
//! graph outside the heap says what must survive.
//!
//! # What runs
//! - Shared part: [`HUBS`] globals each hold a header object ([`Hub`], over 512 bytes, pointer
//!   fields at both ends) whose fields lead to nodes, to a large pointer array (1025 to 6025
//!   slots, so two to six 8 KiB oblets) and to a small one (1 to 63 slots); lengths are seldom
//!   class sizes, so arrays have tails past what was asked for. Every goroutine
//!   replaces hubs, stores into hub fields and array slots (tails included: indices run to
//!   `array_len`) and relinks nodes, all while cycles mark.
//! - Private part: each goroutine keeps a table (a pointer array over 1024 slots, rooted only by
//!   its own stack) of nodes that may link to shared nodes other goroutines made and mutate.
//! - Every node carries a byte buffer (most of them tiny, some small, a few large) filled with a
//!   pattern derived from its id up to its reported `bytes_len`.
//! - Cycles start from outside ([`Runtime::gc`] on the test thread, one per [`OPS_PER_CYCLE`]
//!   operations, with `set_gc_percent` swinging between 1 and 100) and from goroutines
//!   ([`Mutator::gc`], at random, about once every [`GC_EVERY`] operations each in the short
//!   runs, [`GC_EVERY_LONG`] in the long one).
//!
//! # The shadow and its invariants
//! - The shared shadow ([`Shared`]) and the shared heap graph change together, under one lock:
//!   whoever holds it may mutate both, so outside it they agree. A goroutine that finds the
//!   lock taken waits for it in `without_p`, holding no P, so a stop-the-world never waits for
//!   it; the holder reaches safepoints as usual (the world may stop while it holds the lock, but
//!   nothing the collector does needs the lock). Nothing is allocated with the lock held, so no
//!   assist parks under it either.
//! - Allocation happens outside the lock: new objects are built and filled while private (rooted
//!   by the builder's scope only) and linked in under the lock. Scalars and byte buffers are
//!   written only before an object is published and never after, so reading another goroutine's
//!   object is race-free (pointer fields are atomic, release/acquire).
//! - A private node's edge to a shared node is checked one hop deep (id, payload, bytes): the
//!   shared node's own edges belong to the shared shadow, which may have dropped it.
//! - The first goroutine to see a new cycle number checks the whole shared graph against the
//!   shadow; every goroutine checks its private graph after each cycle it sees. A check walks
//!   the shadow and fails on any object whose id, payload, bytes or edges differ in the heap.
//!
//! `clobberfree` (freed memory is overwritten with a pattern) and `gccheckmark` are on. The
//! default runs are short (bounded by operation counts); `GOMEM_GC_STRESS_OPS` makes the ignored
//! long run long (see docs/testing.md).
#![allow(missing_docs)] // test-only heap types

mod common;
use common::{payload, Rng};

use gomem::sync::{lock, try_lock, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};
use gomem::{gc_object, Bytes, Config, Field, Gc, Global, Local, Mutator, PtrArray, Runtime};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

gc_object! {
    /// A graph node: two edges, a byte buffer, an id and a payload derived from the id.
    pub struct Node {
        pub a: Gc<Node>,
        pub b: Gc<Node>,
        pub data: Gc<Bytes>,
        pub id: u64,
        pub check: u64,
    }
}

gc_object! {
    /// A header object (544 bytes, so its slot starts with a malloc header): node pointers at
    /// the start, the middle and the end, a pointer to a large array and one to a small one.
    pub struct Hub {
        pub n0: Gc<Node>,
        pub small: Gc<PtrArray<Node>>,
        pub id: u64,
        pub check: u64,
        pub q0: u64, pub q1: u64, pub q2: u64, pub q3: u64, pub q4: u64, pub q5: u64,
        pub q6: u64, pub q7: u64, pub q8: u64, pub q9: u64, pub q10: u64, pub q11: u64,
        pub q12: u64, pub q13: u64, pub q14: u64, pub q15: u64, pub q16: u64, pub q17: u64,
        pub q18: u64, pub q19: u64, pub q20: u64, pub q21: u64, pub q22: u64, pub q23: u64,
        pub q24: u64, pub q25: u64, pub q26: u64, pub q27: u64, pub q28: u64, pub q29: u64,
        pub n1: Gc<Node>,
        pub r0: u64, pub r1: u64, pub r2: u64, pub r3: u64, pub r4: u64, pub r5: u64,
        pub r6: u64, pub r7: u64, pub r8: u64, pub r9: u64, pub r10: u64, pub r11: u64,
        pub r12: u64, pub r13: u64, pub r14: u64, pub r15: u64, pub r16: u64, pub r17: u64,
        pub r18: u64, pub r19: u64, pub r20: u64, pub r21: u64, pub r22: u64, pub r23: u64,
        pub r24: u64, pub r25: u64, pub r26: u64, pub r27: u64, pub r28: u64, pub r29: u64,
        pub n2: Gc<Node>,
        pub arr: Gc<PtrArray<Node>>,
        pub tail: u64,
    }
}

/// Globals holding hubs.
const HUBS: usize = 8;
/// Requested slots of each goroutine's private table (not a class size: the tail counts).
const PRIV_SLOTS: usize = 1500;
/// Operations the goroutines perform, in all, between two cycles started by the test thread.
const OPS_PER_CYCLE: u64 = 2000;
/// Each goroutine starts a cycle itself about once in this many operations.
const GC_EVERY: u64 = 256;
/// The same in the long run (fewer forced cycles, so that it reaches 10^8 operations).
const GC_EVERY_LONG: u64 = 2048;
/// Cycles each goroutine must overlap.
const MIN_CYCLES: u32 = 4;

/// Requested length of node `id`'s byte buffer: mostly tiny, some small, a few large.
fn data_len(id: u64) -> usize {
    let h = payload(id).rotate_right(17);
    match h % 64 {
        0..=39 => 1 + (h >> 8) as usize % 15,
        40..=61 => 16 + (h >> 8) as usize % 2000,
        62 => 2048 + (h >> 8) as usize % 6000,
        _ => 32 * 1024 + (h >> 8) as usize % 8000,
    }
}

/// Byte `i` of node `id`'s buffer.
fn pattern(id: u64, i: usize) -> u8 {
    (payload(id) >> 24) as u8 ^ (i as u8).wrapping_mul(31) ^ (i >> 8) as u8
}

fn edge(k: usize) -> Field<Node, Gc<Node>> {
    [Node::a, Node::b][k]
}

fn hub_field(k: usize) -> Field<Hub, Gc<Node>> {
    [Hub::n0, Hub::n1, Hub::n2][k]
}

/// A hub's large array (`j == 0`, two to six oblets) or its small one (`j == 1`, at most 64
/// slots, so its pointer bits live in the span's heap bits rather than behind a header).
fn hub_array(j: usize) -> Field<Hub, Gc<PtrArray<Node>>> {
    [Hub::arr, Hub::small][j]
}

/// A fresh array of either kind, at a length that is seldom a class size.
fn new_array<'s>(m: &mut Mutator<'s>, j: usize, rng: &mut Rng) -> Local<'s, PtrArray<Node>> {
    let len = if j == 0 { 1025 + rng.below(5000) } else { 1 + rng.below(63) };
    m.alloc_array::<Node>(len as usize).unwrap()
}

/// Allocate node `id` with its patterned buffer, unlinked and unpublished.
fn new_node<'s>(m: &mut Mutator<'s>, id: u64, rng: &mut Rng) -> Local<'s, Node> {
    let want = data_len(id);
    let b = if rng.below(2) == 0 {
        let b = m.alloc_bytes(want).unwrap();
        let full: Vec<u8> = (0..m.bytes_len(b)).map(|i| pattern(id, i)).collect();
        m.write_bytes(b, 0, &full);
        b
    } else {
        let first: Vec<u8> = (0..want).map(|i| pattern(id, i)).collect();
        let b = m.alloc_bytes_from(&first).unwrap();
        let rest: Vec<u8> = (want..m.bytes_len(b)).map(|i| pattern(id, i)).collect();
        m.write_bytes(b, want, &rest);
        b
    };
    let o = m.alloc::<Node>().unwrap();
    m.write(o, Node::id, id);
    m.write(o, Node::check, payload(id));
    m.set(o, Node::data, Some(b));
    o
}

/// Allocate hub `id`, its arrays and node fields nil.
fn new_hub<'s>(m: &mut Mutator<'s>, id: u64) -> Local<'s, Hub> {
    let h = m.alloc::<Hub>().unwrap();
    m.write(h, Hub::id, id);
    m.write(h, Hub::check, payload(id));
    m.write(h, Hub::tail, !payload(id));
    h
}

/// Check a node's id, payload and bytes (not its edges).
fn check_node(m: &mut Mutator<'_>, o: Local<'_, Node>, id: u64, buf: &mut Vec<u8>) {
    let got = m.read(o, Node::id);
    assert_eq!(got, id, "node at {:#x}: id {got:#x}, the shadow says {id:#x}", o.addr());
    assert_eq!(m.read(o, Node::check), payload(id), "node {id:#x}: payload clobbered");
    m.scope(|m| {
        let b = m.get(o, Node::data).unwrap_or_else(|| panic!("node {id:#x}: no byte buffer"));
        let len = m.bytes_len(b);
        assert!(len >= data_len(id), "node {id:#x}: {len} bytes, asked for {}", data_len(id));
        buf.resize(len, 0);
        m.read_bytes(b, 0, buf);
        if let Some(i) = (0..len).find(|&i| buf[i] != pattern(id, i)) {
            panic!(
                "node {id:#x}: byte {i} of {len} is {:#04x}, not {:#04x} (buffer at {:#x})",
                buf[i],
                pattern(id, i),
                b.addr()
            );
        }
    });
}

/// The shadow of the shared graph. Only read or changed with its lock held, together with the
/// heap objects it describes.
#[derive(Default)]
struct Shared {
    /// The hub id each global holds.
    globals: Vec<Option<u64>>,
    hubs: HashMap<u64, HubShadow>,
    /// Each live array's slots, by address (an array has no id field; identity is its address,
    /// stable while it is reachable).
    arrays: HashMap<usize, Vec<Option<u64>>>,
    /// Each shared node's edges.
    nodes: HashMap<u64, [Option<u64>; 2]>,
    /// The last cycle whose end was checked against the heap.
    checked_cycle: u32,
}

#[derive(Clone, Copy)]
struct HubShadow {
    n: [Option<u64>; 3],
    /// The addresses of its large and its small array ([`hub_array`]).
    arrs: [usize; 2],
}

struct World {
    lock: Mutex<Shared>,
    globals: Vec<Global<Hub>>,
    /// Operations done by all goroutines (paces the test thread's cycles).
    ops: AtomicU64,
    verified: AtomicU64,
    /// A goroutine starts a cycle once in this many operations (on average).
    gc_every: u64,
}

/// A place that holds a shared node pointer: a hub field, an array slot or a node's edge, with
/// the heap object that holds it.
#[derive(Clone, Copy)]
enum Place<'s> {
    Hub(Local<'s, Hub>, u64, usize),
    Slot(Local<'s, PtrArray<Node>>, usize),
    Edge(Local<'s, Node>, u64, usize),
}

impl Shared {
    /// A random place in the shared graph, reached from a global (and down a few edges).
    fn place<'s>(&self, m: &mut Mutator<'s>, w: &World, rng: &mut Rng) -> Place<'s> {
        let g = rng.below(HUBS as u64) as usize;
        let hid = self.globals[g].expect("every global holds a hub");
        let hub = m.global(w.globals[g]).expect("the shadow has a hub the global lacks");
        let arr = m.get(hub, hub_array(rng.below(2) as usize)).expect("hub without its array");
        let slot = Place::Slot(arr, rng.below(self.arrays[&arr.addr()].len() as u64) as usize);
        match rng.below(4) {
            0 => Place::Hub(hub, hid, rng.below(3) as usize),
            1 => {
                let start = if rng.below(2) == 0 {
                    Place::Hub(hub, hid, rng.below(3) as usize)
                } else {
                    slot
                };
                let Some(mut cur) = self.load(m, start) else { return start };
                for _ in 0..rng.below(4) {
                    match self.load(m, Place::Edge(cur.0, cur.1, rng.below(2) as usize)) {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                Place::Edge(cur.0, cur.1, rng.below(2) as usize)
            }
            _ => slot,
        }
    }

    /// The node a place holds (rooted) and its id, checking heap against shadow.
    fn load<'s>(&self, m: &mut Mutator<'s>, at: Place<'_>) -> Option<(Local<'s, Node>, u64)> {
        let (o, id) = match at {
            Place::Hub(h, hid, k) => (m.get(h, hub_field(k)), self.hubs[&hid].n[k]),
            Place::Slot(a, i) => (m.array_get(a, i), self.arrays[&a.addr()][i]),
            Place::Edge(n, nid, k) => (m.get(n, edge(k)), self.nodes[&nid][k]),
        };
        match (o, id) {
            (Some(o), Some(id)) => Some((o, id)),
            (None, None) => None,
            (o, id) => panic!("heap {:?} and shadow {id:?} disagree on a shared place", o),
        }
    }

    /// Store into a place, heap and shadow.
    fn store(&mut self, m: &mut Mutator<'_>, at: Place<'_>, v: Option<(Local<'_, Node>, u64)>) {
        let (o, id) = (v.map(|v| v.0), v.map(|v| v.1));
        match at {
            Place::Hub(h, hid, k) => {
                m.set(h, hub_field(k), o);
                self.hubs.get_mut(&hid).unwrap().n[k] = id;
            }
            Place::Slot(a, i) => {
                m.array_set(a, i, o);
                self.arrays.get_mut(&a.addr()).unwrap()[i] = id;
            }
            Place::Edge(n, nid, k) => {
                m.set(n, edge(k), o);
                self.nodes.get_mut(&nid).unwrap()[k] = id;
            }
        }
    }

    /// Publish a fresh hub into global `g`. Each of its arrays is the fresh one given or another
    /// hub's (arrays are shared through each other's objects); its node fields come from the
    /// graph unless `setup` (when not every global holds a hub yet).
    #[allow(clippy::too_many_arguments)]
    fn install_hub(
        &mut self,
        m: &mut Mutator<'_>,
        w: &World,
        rng: &mut Rng,
        g: usize,
        (hub, hid): (Local<'_, Hub>, u64),
        fresh: [Option<Local<'_, PtrArray<Node>>>; 2],
        setup: bool,
    ) {
        let mut arrs = [0; 2];
        for (j, a) in fresh.into_iter().enumerate() {
            let arr = match a {
                Some(a) => {
                    let reached = self
                        .globals
                        .iter()
                        .flatten()
                        .any(|h| self.hubs[h].arrs.contains(&a.addr()));
                    assert!(!reached, "array {:#x} reused while the shadow reaches it", a.addr());
                    let len = m.array_len(a);
                    self.arrays.insert(a.addr(), vec![None; len]);
                    a
                }
                None => {
                    let other = m.global(w.globals[rng.below(HUBS as u64) as usize]).unwrap();
                    m.get(other, hub_array(j)).unwrap()
                }
            };
            m.set(hub, hub_array(j), Some(arr));
            arrs[j] = arr.addr();
        }
        let mut n = [None; 3];
        for (k, slot) in n.iter_mut().enumerate().filter(|_| !setup) {
            let at = self.place(m, w, rng);
            if let Some((o, id)) = self.load(m, at) {
                m.set(hub, hub_field(k), Some(o));
                *slot = Some(id);
            }
        }
        self.hubs.insert(hid, HubShadow { n, arrs });
        m.set_global(w.globals[g], Some(hub));
        self.globals[g] = Some(hid);
    }

    /// Forget hubs, arrays and nodes the graph no longer reaches.
    fn prune(&mut self) {
        let (mut hubs, mut arrays, mut nodes) = (HashSet::new(), HashSet::new(), HashSet::new());
        let mut stack = Vec::new();
        for hid in self.globals.iter().flatten() {
            hubs.insert(*hid);
            let h = self.hubs[hid];
            stack.extend(h.n.iter().flatten().copied());
            for a in h.arrs {
                if arrays.insert(a) {
                    stack.extend(self.arrays[&a].iter().flatten().copied());
                }
            }
        }
        while let Some(id) = stack.pop() {
            if nodes.insert(id) {
                stack.extend(self.nodes[&id].iter().flatten().copied());
            }
        }
        self.hubs.retain(|id, _| hubs.contains(id));
        self.arrays.retain(|a, _| arrays.contains(a));
        self.nodes.retain(|id, _| nodes.contains(id));
    }

    /// Walk the shared heap graph from the globals and compare it with the shadow; returns the
    /// number of objects checked.
    fn verify(&self, m: &mut Mutator<'_>, w: &World, buf: &mut Vec<u8>) -> u64 {
        m.scope(|m| {
            let (mut arrays, mut seen) = (HashSet::new(), HashSet::new());
            let mut stack: Vec<(Local<'_, Node>, u64)> = Vec::new();
            let mut checked = 0u64;
            for g in 0..HUBS {
                let hid = self.globals[g].unwrap();
                let hub = m.global(w.globals[g]).expect("global lost its hub");
                let got = m.read(hub, Hub::id);
                assert_eq!(
                    got,
                    hid,
                    "hub at {:#x}: id {got:#x}, the shadow says {hid:#x}",
                    hub.addr()
                );
                assert_eq!(
                    m.read(hub, Hub::check),
                    payload(hid),
                    "hub {hid:#x}: payload clobbered"
                );
                assert_eq!(m.read(hub, Hub::tail), !payload(hid), "hub {hid:#x}: tail clobbered");
                checked += 1;
                for k in 0..3 {
                    if let Some(n) = self.load(m, Place::Hub(hub, hid, k)) {
                        stack.push(n);
                    }
                }
                for j in 0..2 {
                    let arr = m.get(hub, hub_array(j)).unwrap();
                    let a = arr.addr();
                    assert_eq!(a, self.hubs[&hid].arrs[j], "hub {hid:#x}: array {j} moved");
                    if arrays.insert(a) {
                        let want = &self.arrays[&a];
                        assert_eq!(m.array_len(arr), want.len(), "array {a:#x}: length");
                        for i in 0..want.len() {
                            if let Some(n) = self.load(m, Place::Slot(arr, i)) {
                                stack.push(n);
                            }
                        }
                        checked += 1;
                    }
                }
            }
            while let Some((o, id)) = stack.pop() {
                check_node(m, o, id, buf);
                if seen.insert(id) {
                    checked += 1;
                    if seen.len() % 256 == 0 {
                        m.safepoint();
                    }
                    for k in 0..2 {
                        if let Some(n) = self.load(m, Place::Edge(o, id, k)) {
                            stack.push(n);
                        }
                    }
                }
            }
            w.verified.fetch_add(checked, Ordering::Relaxed);
            checked
        })
    }
}

/// A private node's edge: the target's id and whether it is a shared node.
type Edge = Option<(u64, bool)>;

/// One goroutine's private graph and its shadow.
struct Private {
    slots: Vec<Option<u64>>,
    edges: HashMap<u64, [Edge; 2]>,
}

impl Private {
    fn verify(
        &self,
        m: &mut Mutator<'_>,
        table: Local<'_, PtrArray<Node>>,
        w: &World,
        buf: &mut Vec<u8>,
    ) {
        m.scope(|m| {
            let mut seen = HashSet::new();
            let mut stack: Vec<(Local<'_, Node>, u64, bool)> = Vec::new();
            assert_eq!(m.array_len(table), self.slots.len(), "private table length");
            for (s, want) in self.slots.iter().enumerate() {
                match (m.array_get(table, s), want) {
                    (None, None) => {}
                    (Some(o), Some(id)) => stack.push((o, *id, false)),
                    (got, _) => panic!("private slot {s}: heap {got:?}, shadow {want:?}"),
                }
            }
            while let Some((o, id, shared)) = stack.pop() {
                check_node(m, o, id, buf);
                if shared || !seen.insert(id) {
                    continue;
                }
                if seen.len() % 256 == 0 {
                    m.safepoint();
                }
                for (k, e) in self.edges[&id].iter().enumerate() {
                    match (m.get(o, edge(k)), e) {
                        (None, None) => {}
                        (Some(c), Some((cid, sh))) => stack.push((c, *cid, *sh)),
                        (got, _) => {
                            panic!("private node {id:#x} edge {k}: heap {got:?}, shadow {e:?}")
                        }
                    }
                }
            }
            w.verified.fetch_add(seen.len() as u64, Ordering::Relaxed);
        })
    }

    fn prune(&mut self) {
        let mut live = HashSet::new();
        let mut stack: Vec<u64> = self.slots.iter().flatten().copied().collect();
        while let Some(id) = stack.pop() {
            if live.insert(id) {
                let e = self.edges[&id];
                stack.extend(e.iter().flatten().filter(|(_, sh)| !sh).map(|(id, _)| *id));
            }
        }
        self.edges.retain(|id, _| live.contains(id));
    }
}

/// Take the shared lock: at once if it is free, otherwise waiting without the P, so that a
/// stop-the-world never waits for a goroutine that waits for the lock.
fn lock_shared<'w>(m: &mut Mutator<'_>, w: &'w World) -> MutexGuard<'w, Shared> {
    try_lock(&w.lock).unwrap_or_else(|| m.without_p(|| lock(&w.lock)))
}

/// One operation on the shared graph.
fn shared_op(m: &mut Mutator<'_>, w: &World, rng: &mut Rng, next_id: &mut u64) {
    m.scope(|m| {
        // Build outside the lock.
        let kind = rng.below(64);
        let mut hub = None;
        let mut fresh = None;
        if kind == 0 {
            *next_id += 1;
            let h = new_hub(m, *next_id);
            // A new large array for one hub in three; a new small one for two in three.
            let arrs = [(rng.below(3) == 0), (rng.below(3) != 0)];
            let fresh = [0, 1].map(|j| arrs[j].then(|| new_array(m, j, rng)));
            hub = Some((h, *next_id, fresh));
        } else if kind < 24 {
            *next_id += 1;
            fresh = Some((new_node(m, *next_id, rng), *next_id));
        }
        let mut sh = lock_shared(m, w);
        if let Some((h, hid, fresh)) = hub {
            let g = rng.below(HUBS as u64) as usize;
            sh.install_hub(m, w, rng, g, (h, hid), fresh, false);
        } else {
            let v = match fresh {
                Some((o, id)) => {
                    let at = sh.place(m, w, rng);
                    let a = sh.load(m, at);
                    m.set(o, Node::a, a.map(|a| a.0));
                    sh.nodes.insert(id, [a.map(|a| a.1), None]);
                    Some((o, id))
                }
                None if rng.below(4) == 0 => None,
                None => {
                    let at = sh.place(m, w, rng);
                    sh.load(m, at)
                }
            };
            let at = sh.place(m, w, rng);
            sh.store(m, at, v);
        }
        if rng.below(512) == 0 {
            sh.prune();
        }
    })
}

/// A shared node (rooted in the caller's scope) for a private edge, or `None`.
fn grab<'s>(m: &mut Mutator<'s>, w: &World, rng: &mut Rng) -> Option<(Local<'s, Node>, u64)> {
    let sh = lock_shared(m, w);
    let at = sh.place(m, w, rng);
    sh.load(m, at)
}

/// One operation on the private graph.
fn private_op(
    m: &mut Mutator<'_>,
    w: &World,
    rng: &mut Rng,
    next_id: &mut u64,
    table: Local<'_, PtrArray<Node>>,
    p: &mut Private,
) {
    m.scope(|m| {
        let n = p.slots.len() as u64;
        let s = rng.below(n) as usize;
        match rng.below(10) {
            0..=3 => {
                *next_id += 1;
                let o = new_node(m, *next_id, rng);
                let e = link_target(m, w, rng, table, p);
                if let Some((c, cid, sh)) = e {
                    m.set(o, Node::a, Some(c));
                    p.edges.insert(*next_id, [Some((cid, sh)), None]);
                } else {
                    p.edges.insert(*next_id, [None, None]);
                }
                m.array_set(table, s, Some(o));
                p.slots[s] = Some(*next_id);
            }
            4..=6 => {
                if let (Some(sid), Some(so)) = (p.slots[s], m.array_get(table, s)) {
                    let k = rng.below(2) as usize;
                    let e = link_target(m, w, rng, table, p);
                    m.set(so, edge(k), e.map(|e| e.0));
                    p.edges.get_mut(&sid).unwrap()[k] = e.map(|e| (e.1, e.2));
                }
            }
            7 => {
                if let (Some(sid), Some(so)) = (p.slots[s], m.array_get(table, s)) {
                    let k = rng.below(2) as usize;
                    m.set(so, edge(k), None);
                    p.edges.get_mut(&sid).unwrap()[k] = None;
                }
            }
            _ => {
                m.array_set(table, s, None);
                p.slots[s] = None;
            }
        }
    })
}

/// A target for a private edge: a private slot's node, what that node's edge `b` leads to, or a
/// shared node; with its id and whether it is shared.
fn link_target<'s>(
    m: &mut Mutator<'s>,
    w: &World,
    rng: &mut Rng,
    table: Local<'_, PtrArray<Node>>,
    p: &Private,
) -> Option<(Local<'s, Node>, u64, bool)> {
    if rng.below(3) == 0 {
        return grab(m, w, rng).map(|(o, id)| (o, id, true));
    }
    let t = rng.below(p.slots.len() as u64) as usize;
    let tid = p.slots[t]?;
    let to = m.array_get(table, t).expect("a private slot lost its node");
    if rng.below(2) == 0 {
        if let (Some((cid, sh)), Some(c)) = (p.edges[&tid][1], m.get(to, Node::b)) {
            return Some((c, cid, sh));
        }
    }
    Some((to, tid, false))
}

/// One goroutine: at least `ops` operations, half on the shared graph and half on its own,
/// until it has seen MIN_CYCLES cycles; checks after every cycle it sees and at the end.
fn goroutine(m: &mut Mutator<'_>, w: &World, seed: u64, ops: u64, gid: u64) {
    let mut rng = Rng(seed | 1);
    let mut next_id = gid << 40;
    let mut buf = Vec::new();
    let table = m.alloc_array::<Node>(PRIV_SLOTS).unwrap();
    let len = m.array_len(table);
    let mut p = Private { slots: vec![None; len], edges: HashMap::new() };
    let first_cycle = m.num_gc();
    let mut last_cycle = first_cycle;
    let mut op = 0u64;
    while op < ops || m.num_gc() < first_cycle + MIN_CYCLES {
        op += 1;
        w.ops.fetch_add(1, Ordering::Relaxed);
        if rng.below(2) == 0 {
            shared_op(m, w, &mut rng, &mut next_id);
        } else {
            private_op(m, w, &mut rng, &mut next_id, table, &mut p);
        }
        if rng.below(w.gc_every) == 0 {
            m.gc();
        }
        if op % 2048 == 0 {
            p.prune();
        }
        let cycles = m.num_gc();
        if cycles != last_cycle {
            last_cycle = cycles;
            p.verify(m, table, w, &mut buf);
            let mut sh = lock_shared(m, w);
            if sh.checked_cycle < cycles {
                sh.checked_cycle = cycles;
                sh.verify(m, w, &mut buf);
            }
        }
    }
    p.verify(m, table, w, &mut buf);
    let sh = lock_shared(m, w);
    sh.verify(m, w, &mut buf);
}

/// Build the hubs, run `goroutines` goroutines of `ops` operations each on `procs` Ps with the
/// test thread starting cycles and swinging GOGC, under `godebug`; check the ledger at the end.
fn run(goroutines: u64, procs: usize, ops: u64, seed: u64, godebug: &str, gc_every: u64) {
    let start = std::time::Instant::now(); // for the figures printed, never asserted on
    let debug = format!("clobberfree=1,gccheckmark=1,{godebug}");
    let cfg = Config::default().gomaxprocs(procs).godebug(&debug).unwrap();
    let rt = Arc::new(Runtime::new(cfg).unwrap());
    let w = Arc::new(World {
        lock: Mutex::new(Shared { globals: vec![None; HUBS], ..Shared::default() }),
        globals: (0..HUBS).map(|_| rt.global()).collect(),
        ops: AtomicU64::new(0),
        verified: AtomicU64::new(0),
        gc_every,
    });
    // Every global holds a hub with an array of its own before the goroutines start.
    {
        let w = w.clone();
        rt.go(move |m| {
            let mut rng = Rng(seed);
            for g in 0..HUBS {
                m.scope(|m| {
                    let hid = g as u64 + 1;
                    let h = new_hub(m, hid);
                    let fresh = [0, 1].map(|j| Some(new_array(m, j, &mut rng)));
                    let mut sh = lock_shared(m, &w);
                    sh.install_hub(m, &w, &mut rng, g, (h, hid), fresh, true);
                });
            }
        })
        .join()
        .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (rt, w, done) = (rt.clone(), w.clone(), done.clone());
        std::thread::spawn(move || {
            let percents = [100, 1, 50, 1, 100, 10];
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                rt.gc();
                n += 1;
                if n % 3 == 0 {
                    rt.set_gc_percent(percents[(n / 3) as usize % percents.len()]);
                }
                // Paced by work, not time: the next cycle after OPS_PER_CYCLE more operations.
                let next = w.ops.load(Ordering::Relaxed) + OPS_PER_CYCLE;
                while !done.load(Ordering::Relaxed) && w.ops.load(Ordering::Relaxed) < next {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            }
            n
        })
    };
    let hs: Vec<_> = (0..goroutines)
        .map(|g| {
            let w = w.clone();
            rt.go(move |m| {
                goroutine(m, &w, seed ^ (g + 1).wrapping_mul(0x2545_f491_4f6c_dd1d), ops, g + 1)
            })
        })
        .collect();
    for h in hs {
        h.join().expect("goroutine");
    }
    done.store(true, Ordering::Relaxed);
    let outside = collector.join().unwrap();
    let cycles = rt.collector().num_gc();
    let (total, verified) = (w.ops.load(Ordering::Relaxed), w.verified.load(Ordering::Relaxed));
    eprintln!(
        "gc_stress_shared [{godebug}]: {goroutines} goroutines on {procs} Ps, {total} operations, \
         {cycles} cycles ({outside} from the test thread), {verified} objects verified, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(cycles >= MIN_CYCLES, "only {cycles} cycles ran");
    assert!(verified > 0);
    let l = rt.ledger();
    assert!(l.balances(), "{l}");
}

#[test]
fn shared_graph_survives_concurrent_cycles() {
    run(4, 2, 16_000, 11, "greenteagc=1", GC_EVERY);
}

#[test]
fn shared_graph_survives_concurrent_cycles_classic_marker() {
    run(4, 2, 16_000, 14, "greenteagc=0", GC_EVERY);
}

#[test]
fn shared_graph_survives_stop_the_world_mark() {
    run(4, 2, 10_000, 12, "gcstoptheworld=1", GC_EVERY);
}

#[test]
fn shared_graph_survives_stop_the_world_mark_and_sweep() {
    run(4, 2, 10_000, 13, "gcstoptheworld=2", GC_EVERY);
}

/// The long run: `GOMEM_GC_STRESS_OPS` operations per goroutine (6 goroutines, 2 Ps) in each of
/// the three modes with Green Tea, and two of them with the classic marker (see
/// docs/testing.md).
#[test]
#[ignore]
fn long_shared_stress() {
    let ops =
        std::env::var("GOMEM_GC_STRESS_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let modes = [
        "",
        "gcstoptheworld=1",
        "gcstoptheworld=2",
        "greenteagc=0",
        "greenteagc=0,gcstoptheworld=1",
    ];
    for (i, godebug) in modes.iter().enumerate() {
        run(6, 2, ops, 101 + i as u64, godebug, GC_EVERY_LONG);
    }
}
