//! `mark`: what one mark phase costs per object, on a heap of a chosen shape that stays live
//! while the collector is forced to run again and again (the marking half of Go's
//! `runtime.GC`, measured the way Go's gctrace line and `runtime/metrics` measure it).
//!
//! The workload builds `objects` 24-byte [`Node`]s (Go's size class 24, the same on both sides:
//! Go's twin uses `struct{ left, right *node; id uint64 }`) in one of four [`Shape`]s, holds
//! them from a global root, forces one untimed collection (which finishes any cycle the build
//! started and sweeps the build's garbage), then forces `cycles` more with nothing else
//! running and measures each. Nothing dies after the build, so every cycle marks exactly the live
//! objects built: `objects_marked` is that number by construction (the objects plus, for
//! `array`, the array itself), and the walk at the end, which counts the nodes it reaches,
//! fails the run if any is missing.
//!
//! | shape | the heap | what it stresses |
//! |---|---|---|
//! | `tree` | a complete binary tree, allocated in preorder (a node, then its left subtree, then its right) | objects marked in roughly the order they sit in memory |
//! | `list` | a singly linked list (through `left`) whose order is a random permutation of allocation order | one pointer chase per object, each to a random span: no parallelism, no locality |
//! | `array` | one pointer array holding the nodes at random positions | a wide fan-out: every object is found at once, in random memory order |
//! | `churn` | nodes allocated in a table and replaced at random over [`CHURN_ROUNDS`] rounds with a collection after each (a node replaced is garbage), the survivors then linked into a list in random order | the live objects scattered thinly over many spans, as in a long-running program |
//!
//! # What is measured, per forced cycle, on each side
//!
//! | metric | gomem | Go twin |
//! |---|---|---|
//! | `mark_wall_ns` | wall time of concurrent mark: the collector's `MarkStart` event to the start of the mark-termination stop (the last `Pause` before `MarkDone`; [`gomem::collector::events`]) | gctrace's second clock field, `tMarkTerm - tMark` (the same interval; printed to 2 significant digits below 10 ms, whole ms above) |
//! | `mark_term_ns` | the mark-termination pause (that last `Pause`) | gctrace's third clock field |
//! | `mark_cpu_ns` | GC CPU of the cycle less its pauses × GOMAXPROCS: the mark workers' and assists' time ([`GcStats::gc_cpu_ns`](gomem::collector::stats::GcStats)) | `/cpu/classes/gc/mark/{assist,dedicated,idle}:cpu-seconds` of `runtime/metrics`, after minus before |
//! | `gc_cpu_ns` | GC CPU of the cycle, pauses × GOMAXPROCS included | `/cpu/classes/gc/total:cpu-seconds`, after minus before |
//! | `forced_gc_wall_ns` | the wall time of [`Runtime::gc`] (sweeping included) | the wall time of `runtime.GC()` (the same) |
//! | `heap_marked_bytes` | bytes the cycle marked ([`GcStats::heap_marked`](gomem::collector::stats::GcStats)) | `/gc/heap/live:bytes` |
//!
//! Each is the median over the cycles; `mark_wall_ps_per_object` and `mark_cpu_ps_per_object`
//! are the medians of `mark_wall_ns` and `mark_cpu_ns` divided by `objects_marked`, in
//! picoseconds. Both sides' worker time is wall time a worker spends marking (Go's mark
//! workers are timed per P the same way), so `mark_cpu_ns` can exceed the CPU the process got.
//!
//! Which marker runs is the runtime's own setting: gomem's from its normal `GODEBUG` handling
//! (`greenteagc` once gomem has it), Go's from how the twin was built (`gomem compare
//! --go-marker greentea|classic`).
//!
//! The check value hashes the ids in the order the walk meets them (preorder for `tree`, list
//! order for `list` and `churn`, index order for `array`), so it also checks the links.

use super::{Outcome, Param, Progress, SplitMix64, WorkloadError};
use gomem::collector::events::{GcEvent, GcEventKind};
use gomem::{gc_object, AllocError, Gc, Global, Local, Mutator, PtrArray, Runtime};
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

gc_object! {
    /// The node of every shape: two pointers and an id (24 bytes; Go's
    /// `struct{ left, right *node; id uint64 }`).
    pub struct Node {
        /// Left child (`tree`), or the next node (`list`, `churn`).
        pub left: Gc<Node>,
        /// Right child (`tree`); nil otherwise.
        pub right: Gc<Node>,
        /// The node's allocation number, from 1.
        pub id: u64,
    }
}

/// Bytes per node.
pub const NODE_SIZE: u64 = core::mem::size_of::<Node>() as u64;

/// Rounds of replacements of the `churn` shape, each replacing `objects` random slots and
/// followed by a collection.
pub const CHURN_ROUNDS: u64 = 3;

/// The most objects a run accepts (the permutations index them with `u32`).
pub const MAX_OBJECTS: u64 = u32::MAX as u64;

/// The most forced cycles a run accepts.
pub const MAX_CYCLES: u64 = 10_000;

/// The shape of the live heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A complete binary tree in preorder allocation order.
    Tree,
    /// A linked list in a random permutation of allocation order.
    List,
    /// One pointer array holding the nodes at random positions.
    Array,
    /// Survivors of random replacement, linked in random order.
    Churn,
}

impl Shape {
    /// Every shape, in the order the docs list them.
    pub const ALL: [Shape; 4] = [Shape::Tree, Shape::List, Shape::Array, Shape::Churn];

    /// The name `--shape` takes.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Tree => "tree",
            Shape::List => "list",
            Shape::Array => "array",
            Shape::Churn => "churn",
        }
    }

    /// The shape `--shape NAME` names.
    pub fn parse(s: &str) -> Result<Shape, String> {
        Shape::ALL.into_iter().find(|sh| sh.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
            format!("unknown shape {s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// The parameters of a run (`gomem run mark --shape S --objects N --cycles K --seed X`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The heap's shape.
    pub shape: Shape,
    /// Live nodes built.
    pub objects: u64,
    /// Forced collections measured.
    pub cycles: u64,
    /// Seed of the permutations and of `churn`'s replacements.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        // 2^20 nodes: 24 MiB of live nodes (32 MiB with `array`'s array).
        Params { shape: Shape::Tree, objects: 1 << 20, cycles: 10, seed: 1 }
    }
}

impl Params {
    /// Objects every cycle marks: the nodes, and `array`'s array.
    pub fn objects_marked(&self) -> u64 {
        self.objects + u64::from(self.shape == Shape::Array)
    }

    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("shape", Param::Name(self.shape.name())),
            ("objects", Param::Uint(self.objects)),
            ("cycles", Param::Uint(self.cycles)),
            ("seed", Param::Uint(self.seed)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--shape".into(),
            self.shape.name().into(),
            "--objects".into(),
            self.objects.to_string(),
            "--cycles".into(),
            self.cycles.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ]
    }

    /// The live set's lower bound: the nodes, and the pointer array `list`, `array` and
    /// `churn` hold while they build (see [`super::fit`]).
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        let nodes = self.objects.saturating_mul(NODE_SIZE);
        let table = if self.shape == Shape::Tree { 0 } else { self.objects.saturating_mul(8) };
        super::fit::LiveEstimate {
            flag: "--objects",
            value: self.objects.to_string(),
            bytes: nodes.saturating_add(table),
        }
    }

    /// At least one object and one cycle, within the limits.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_OBJECTS).contains(&self.objects) {
            return Err(format!("--objects {}: must be from 1 to {MAX_OBJECTS}", self.objects));
        }
        if !(1..=MAX_CYCLES).contains(&self.cycles) {
            return Err(format!("--cycles {}: must be from 1 to {MAX_CYCLES}", self.cycles));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Building the heap
// ---------------------------------------------------------------------------------------------

/// Where the heap is held: `tree`, `list` and `churn` by their first node, `array` by its array.
#[derive(Clone, Copy)]
enum Root {
    Node(Global<Node>),
    Array(Global<PtrArray<Node>>),
}

/// Node ids in allocation order, from 1.
struct Ids(u64);

impl Ids {
    fn node<'s>(&mut self, m: &mut Mutator<'s>) -> Result<Local<'s, Node>, AllocError> {
        let n = m.alloc::<Node>()?;
        self.0 += 1;
        m.write(n, Node::id, self.0);
        Ok(n)
    }

    /// Allocate the next node into slot `i` of `table`.
    fn store(
        &mut self,
        m: &mut Mutator<'_>,
        table: Local<'_, PtrArray<Node>>,
        i: usize,
    ) -> Result<(), AllocError> {
        m.scope(|m| {
            let x = self.node(m)?;
            m.array_set(table, i, Some(x));
            Ok(())
        })
    }
}

/// A random permutation of `0..n` (Fisher–Yates, drawing from `rng` as the twin does).
pub fn permutation(n: u64, rng: &mut SplitMix64) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..p.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// A complete tree of `n` nodes: the root, then a left subtree of `(n - 1) / 2` nodes, then the
/// right subtree of the rest, allocated in that order.
fn build_tree<'s>(
    m: &mut Mutator<'s>,
    ids: &mut Ids,
    n: u64,
    tally: &mut super::Tally<'_>,
) -> Result<Local<'s, Node>, AllocError> {
    m.escape(|m| {
        let t = ids.node(m)?;
        tally.add(1);
        let left = (n - 1) / 2;
        if left > 0 {
            let l = build_tree(m, ids, left, tally)?;
            m.set(t, Node::left, Some(l));
        }
        if n - 1 - left > 0 {
            let r = build_tree(m, ids, n - 1 - left, tally)?;
            m.set(t, Node::right, Some(r));
        }
        Ok(t)
    })
}

/// Link the nodes of `table` into a list in the order `perm` gives and return its head (the
/// table is garbage afterwards).
fn link_list<'s>(
    m: &mut Mutator<'s>,
    table: Local<'_, PtrArray<Node>>,
    perm: &[u32],
) -> Local<'s, Node> {
    m.escape(|m| -> Result<Local<'_, Node>, AllocError> {
        for w in perm.windows(2) {
            m.scope(|m| {
                let a = m.array_get(table, w[0] as usize).expect("every slot is filled");
                let b = m.array_get(table, w[1] as usize);
                m.set(a, Node::left, b);
            });
        }
        Ok(m.array_get(table, perm[0] as usize).expect("every slot is filled"))
    })
    .expect("linking allocates nothing")
}

/// Build the shape of `p` on a goroutine, holding it from `root`.
fn build(rt: &Runtime, p: &Params, root: Root, progress: &Arc<Progress>) -> Result<(), AllocError> {
    let (p, progress) = (p.clone(), progress.clone());
    rt.go(move |m| -> Result<(), AllocError> {
        let mut ids = Ids(0);
        let mut tally = progress.tally();
        let mut rng = SplitMix64::for_goroutine(p.seed, 0);
        let n = p.objects;
        match (p.shape, root) {
            (Shape::Tree, Root::Node(g)) => {
                let t = build_tree(m, &mut ids, n, &mut tally)?;
                m.set_global(g, Some(t));
            }
            (Shape::Array, Root::Array(g)) => {
                let perm = permutation(n, &mut rng);
                let a = m.alloc_array::<Node>(n as usize)?;
                m.set_global(g, Some(a));
                for &slot in &perm {
                    ids.store(m, a, slot as usize)?;
                    tally.add(1);
                }
            }
            (Shape::List | Shape::Churn, Root::Node(g)) => {
                let head = m.escape(|m| -> Result<Local<'_, Node>, AllocError> {
                    let table = m.alloc_array::<Node>(n as usize)?;
                    for i in 0..n as usize {
                        ids.store(m, table, i)?;
                        tally.add(1);
                    }
                    if p.shape == Shape::Churn {
                        for _ in 0..CHURN_ROUNDS {
                            for _ in 0..n {
                                let i = (rng.next() % n) as usize;
                                ids.store(m, table, i)?;
                                tally.add(1);
                            }
                            m.gc();
                        }
                    }
                    let perm = permutation(n, &mut rng);
                    Ok(link_list(m, table, &perm))
                })?;
                m.set_global(g, Some(head));
            }
            _ => unreachable!("the root matches the shape"),
        }
        Ok(())
    })
    .join()
    .expect("mark build goroutine")
}

// ---------------------------------------------------------------------------------------------
// Walking it
// ---------------------------------------------------------------------------------------------

/// The walk's running hash (FNV-1a over whole ids), and the nodes it met.
#[derive(Clone, Copy, Debug)]
struct Walk {
    hash: u64,
    nodes: u64,
}

impl Walk {
    const START: Walk = Walk { hash: 0xCBF2_9CE4_8422_2325, nodes: 0 };

    fn visit(&mut self, id: u64) {
        self.hash = (self.hash ^ id).wrapping_mul(0x0000_0100_0000_01B3);
        self.nodes += 1;
    }
}

fn walk_tree(m: &mut Mutator<'_>, t: Local<'_, Node>, w: &mut Walk) {
    m.scope(|m| {
        w.visit(m.read(t, Node::id));
        if let Some(l) = m.get(t, Node::left) {
            walk_tree(m, l, w);
        }
        if let Some(r) = m.get(t, Node::right) {
            walk_tree(m, r, w);
        }
    })
}

/// Walk the heap held by `root` in the shape's order.
fn walk(rt: &Runtime, p: &Params, root: Root) -> Walk {
    let (shape, n) = (p.shape, p.objects as usize);
    let cursor = rt.global::<Node>();
    rt.go(move |m| {
        let mut w = Walk::START;
        match (shape, root) {
            (Shape::Tree, Root::Node(g)) => {
                if let Some(t) = m.global(g) {
                    walk_tree(m, t, &mut w);
                }
            }
            (Shape::Array, Root::Array(g)) => {
                if let Some(a) = m.global(g) {
                    for i in 0..n {
                        m.scope(|m| {
                            if let Some(x) = m.array_get(a, i) {
                                w.visit(m.read(x, Node::id));
                            }
                        });
                    }
                }
            }
            (_, Root::Node(g)) => {
                // The cursor is a global, so each step's handles die with its scope.
                let head = m.global(g);
                m.set_global(cursor, head);
                while m.scope(|m| {
                    let Some(x) = m.global(cursor) else { return false };
                    w.visit(m.read(x, Node::id));
                    let next = m.get(x, Node::left);
                    m.set_global(cursor, next);
                    true
                }) {}
            }
            _ => unreachable!("the root matches the shape"),
        }
        w
    })
    .join()
    .expect("mark walk goroutine")
}

// ---------------------------------------------------------------------------------------------
// The cycles
// ---------------------------------------------------------------------------------------------

/// One forced cycle's figures (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleFigures {
    /// Concurrent mark, wall ns.
    pub mark_wall_ns: u64,
    /// The mark-termination pause, ns.
    pub mark_term_ns: u64,
    /// Mark workers' and assists' time, ns.
    pub mark_cpu_ns: u64,
    /// All GC CPU of the cycle, ns.
    pub gc_cpu_ns: u64,
    /// The forced collection's wall time, ns.
    pub forced_gc_wall_ns: u64,
    /// Bytes marked.
    pub heap_marked_bytes: u64,
}

/// The collector's events so far, left in place for the timeline recorder (`--trace`,
/// `--plot`) when it is `recording`.
fn take_events(rt: &Runtime, recording: bool) -> Vec<GcEvent> {
    let events = rt.collector().events();
    let ev = events.take();
    if recording {
        for e in &ev {
            events.record_at(e.at, e.kind);
        }
    }
    ev
}

/// Force one cycle and measure it from the collector's events (which must be on) and
/// statistics.
fn measure_cycle(rt: &Runtime, recording: bool) -> Result<CycleFigures, WorkloadError> {
    let c = rt.collector();
    let cpu0 = c.stats().gc_cpu_ns;
    let t = Instant::now();
    rt.gc();
    let forced = t.elapsed();
    let st = c.stats();
    let ev = take_events(rt, recording);
    // The cycle is the last one that started (nothing else runs, so it is the only one).
    let start = ev.iter().rposition(|e| e.kind == GcEventKind::CycleStart);
    let find = |kind: GcEventKind, from: usize| {
        ev[from..].iter().position(|e| e.kind == kind).map(|i| from + i)
    };
    let missing = || WorkloadError::Corrupt("mark: a forced cycle left no MarkDone event".into());
    let start = start.ok_or_else(missing)?;
    let mark_start = find(GcEventKind::MarkStart, start).ok_or_else(missing)?;
    let done = find(GcEventKind::MarkDone, mark_start).ok_or_else(missing)?;
    let pauses: Vec<(Instant, Duration)> = ev[start..done]
        .iter()
        .filter_map(|e| match e.kind {
            GcEventKind::Pause { duration, .. } => Some((e.at, duration)),
            _ => None,
        })
        .collect();
    let (term_at, term) = *pauses.last().ok_or_else(missing)?;
    let paused: Duration = pauses.iter().map(|&(_, d)| d).sum();
    let gc_cpu = st.gc_cpu_ns.saturating_sub(cpu0);
    let pause_cpu = paused.as_nanos() as u64 * rt.gomaxprocs() as u64;
    Ok(CycleFigures {
        mark_wall_ns: term_at.saturating_duration_since(ev[mark_start].at).as_nanos() as u64,
        mark_term_ns: term.as_nanos() as u64,
        mark_cpu_ns: gc_cpu.saturating_sub(pause_cpu),
        gc_cpu_ns: gc_cpu,
        forced_gc_wall_ns: forced.as_nanos() as u64,
        heap_marked_bytes: st.heap_marked,
    })
}

/// The median of `v` (the lower middle for an even count, so it is one of the values).
pub fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

/// The metrics of a run from its cycles' figures (medians; see the module docs).
pub fn metrics(cycles: &[CycleFigures], objects_marked: u64) -> Vec<(&'static str, u64)> {
    let med = |f: fn(&CycleFigures) -> u64| median(&mut cycles.iter().map(f).collect::<Vec<_>>());
    let mark_wall = med(|c| c.mark_wall_ns);
    let mark_cpu = med(|c| c.mark_cpu_ns);
    let per_object = |ns: u64| (ns as u128 * 1000 / u128::from(objects_marked.max(1))) as u64;
    vec![
        ("objects_marked", objects_marked),
        ("mark_wall_ns", mark_wall),
        ("mark_term_ns", med(|c| c.mark_term_ns)),
        ("mark_cpu_ns", mark_cpu),
        ("gc_cpu_ns", med(|c| c.gc_cpu_ns)),
        ("forced_gc_wall_ns", med(|c| c.forced_gc_wall_ns)),
        ("heap_marked_bytes", med(|c| c.heap_marked_bytes)),
        ("mark_wall_ps_per_object", per_object(mark_wall)),
        ("mark_cpu_ps_per_object", per_object(mark_cpu)),
    ]
}

/// Run `mark` with `p` on `rt`. Progress is counted in nodes allocated, then cycles (as the
/// nodes of one build).
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let allocated = p.objects * if p.shape == Shape::Churn { 1 + CHURN_ROUNDS } else { 1 };
    progress.set_total(allocated + p.cycles);
    let root = match p.shape {
        Shape::Array => Root::Array(rt.global()),
        _ => Root::Node(rt.global()),
    };
    build(rt, p, root, progress)?;
    // One untimed cycle first, as the twin does: it finishes any cycle the build started and
    // sweeps the build's garbage, so every measured cycle starts from the same quiet heap.
    rt.gc();
    // The events are the timeline recorder's too: when it is on, they stay where it finds them.
    let events = rt.collector().events();
    let recording = events.is_enabled();
    events.set_enabled(true);
    let mut cycles = Vec::with_capacity(p.cycles as usize);
    let measured = (0..p.cycles).try_for_each(|_| {
        cycles.push(measure_cycle(rt, recording)?);
        progress.advance(1);
        Ok::<(), WorkloadError>(())
    });
    events.set_enabled(recording);
    measured?;
    let w = walk(rt, p, root);
    if w.nodes != p.objects {
        return Err(WorkloadError::Corrupt(format!(
            "mark: the walk met {} nodes of the {} built",
            w.nodes, p.objects
        )));
    }
    let marked = p.objects_marked();
    let metrics = metrics(&cycles, marked);
    let mut out = String::new();
    let get = |k: &str| metrics.iter().find(|m| m.0 == k).map_or(0, |m| m.1);
    let _ = writeln!(
        out,
        "mark: {} of {} objects of {NODE_SIZE} bytes, {} forced cycles",
        p.shape.name(),
        p.objects,
        p.cycles
    );
    let _ = writeln!(
        out,
        "median mark {:.3} ms wall ({:.2} ns/object), {:.3} ms cpu ({:.2} ns/object)",
        get("mark_wall_ns") as f64 / 1e6,
        get("mark_wall_ps_per_object") as f64 / 1e3,
        get("mark_cpu_ns") as f64 / 1e6,
        get("mark_cpu_ps_per_object") as f64 / 1e3,
    );
    let _ = writeln!(out, "check: {}", w.hash);
    Ok(Outcome { output: out, check: w.hash, metrics })
}
