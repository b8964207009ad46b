//! Boehm's GCBench (John Ellis and Pete Kovac's Java benchmark, as Hans Boehm's `GCBench.c`
//! prints it): it stretches the heap with a big tree, keeps a long-lived tree and a long-lived
//! pointer-free array of doubles alive, then for depths 4, 6, ..., 16 builds the same number of
//! nodes as trees built top-down (each node's children allocated and stored into it after it
//! exists: stores into older objects, which a generational or incremental collector must
//! track) and as trees built bottom-up (children first, then the parent).
//!
//! The classic constants are the defaults: `kStretchTreeDepth` 18, `kLongLivedTreeDepth` 16,
//! `kArraySize` 500000, `kMinTreeDepth` 4, `kMaxTreeDepth` 16. The `scale` parameter adds to
//! every depth except the minimum and multiplies the array size by `2^scale` (`-8` makes a run
//! of a few milliseconds; `+2` one that stretches to 2^21 nodes).
//!
//! The output lines are the C program's. The timing lines differ from run to run; the check
//! value does not: the number of nodes of the long-lived tree, walked at the end, plus the
//! number of filled array entries that still hold `1.0 / i`. With `goroutines > 1` the trees of
//! each timed phase are shared among that many goroutines.
//!
//! What stays live is the Go twin's (`benches/go/gcbench/main.go`), object for object: the
//! long-lived tree and array from their creation to the check, and in a timed phase the tree
//! being built plus the last one finished, which the twin keeps in its package variable `sink`
//! and this program in a global of the same name (cleared at the end of each phase, as there).
//! Before issue 14 the finished tree was dropped at once, so gomem's phases held one tree fewer
//! than Go's (up to 3 MiB at depth 16).

use super::{share, validate_goroutines, Outcome, Param, Progress, WorkloadError};
use gomem::{gc_object, AllocError, Bytes, Gc, Global, Local, Mutator, Runtime};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

gc_object! {
    /// GCBench's `Node0`: two children and two ints (24 bytes, as in C on 64-bit targets and in
    /// Go's `struct{ left, right *Node; i, j int32 }`).
    pub struct Node {
        /// Left child or nil.
        pub left: Gc<Node>,
        /// Right child or nil.
        pub right: Gc<Node>,
        /// Payload (unused, as in the original).
        pub i: i32,
        /// Payload (unused, as in the original).
        pub j: i32,
    }
}

/// `kStretchTreeDepth`.
pub const STRETCH_TREE_DEPTH: u32 = 18;
/// `kLongLivedTreeDepth`.
pub const LONG_LIVED_TREE_DEPTH: u32 = 16;
/// `kArraySize`.
pub const ARRAY_SIZE: u64 = 500_000;
/// `kMinTreeDepth`.
pub const MIN_TREE_DEPTH: u32 = 4;
/// `kMaxTreeDepth`.
pub const MAX_TREE_DEPTH: u32 = 16;

/// The smallest and largest `scale`.
pub const SCALE_RANGE: core::ops::RangeInclusive<i32> = -12..=4;

/// The parameters of a run (`gomem run gcbench [--scale N] [--goroutines K]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Added to the stretch, long-lived and maximum depths; the array size is multiplied by
    /// `2^scale`. 0 is the classic benchmark.
    pub scale: i32,
    /// Goroutines sharing the trees of each timed phase.
    pub goroutines: u64,
}

/// The benchmark's constants after scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// `kStretchTreeDepth`.
    pub stretch_depth: u32,
    /// `kLongLivedTreeDepth`.
    pub long_lived_depth: u32,
    /// `kArraySize`.
    pub array_size: u64,
    /// `kMinTreeDepth`.
    pub min_depth: u32,
    /// `kMaxTreeDepth`.
    pub max_depth: u32,
}

impl Sizes {
    /// `NumIters(depth)`: enough trees of `depth` for twice the stretch tree's nodes.
    pub fn num_iters(&self, depth: u32) -> u64 {
        2 * tree_size(self.stretch_depth) / tree_size(depth)
    }
}

/// `TreeSize(depth)`: nodes in a perfect tree of `depth`.
pub fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

impl Default for Params {
    fn default() -> Self {
        Params::classic()
    }
}

impl Params {
    /// The classic benchmark on one goroutine.
    pub fn classic() -> Params {
        Params { scale: 0, goroutines: 1 }
    }

    /// The constants this run uses.
    pub fn sizes(&self) -> Sizes {
        let s = self.scale.clamp(*SCALE_RANGE.start(), *SCALE_RANGE.end());
        let depth = |d: u32| d.saturating_add_signed(s);
        Sizes {
            stretch_depth: depth(STRETCH_TREE_DEPTH),
            long_lived_depth: depth(LONG_LIVED_TREE_DEPTH),
            array_size: if s >= 0 { ARRAY_SIZE << s } else { ARRAY_SIZE >> -s },
            min_depth: MIN_TREE_DEPTH,
            max_depth: depth(MAX_TREE_DEPTH),
        }
    }

    /// For reports: the scale, the constants it gives, the goroutines.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        let z = self.sizes();
        vec![
            ("scale", Param::Int(self.scale.into())),
            ("stretch_depth", Param::Uint(z.stretch_depth.into())),
            ("long_lived_depth", Param::Uint(z.long_lived_depth.into())),
            ("array_size", Param::Uint(z.array_size)),
            ("min_depth", Param::Uint(z.min_depth.into())),
            ("max_depth", Param::Uint(z.max_depth.into())),
            ("goroutines", Param::Uint(self.goroutines)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        vec![format!("--scale={}", self.scale), "--goroutines".into(), self.goroutines.to_string()]
    }

    /// The live set's lower bound: the larger of the stretch tree and the long-lived tree with
    /// the array beside it (24-byte nodes, 8-byte doubles; see [`super::fit`]).
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        let z = self.sizes();
        let node = 24u64;
        let stretch = tree_size(z.stretch_depth).saturating_mul(node);
        let long_lived = tree_size(z.long_lived_depth)
            .saturating_mul(node)
            .saturating_add(z.array_size.saturating_mul(8));
        super::fit::LiveEstimate {
            flag: "--scale",
            value: self.scale.to_string(),
            bytes: stretch.max(long_lived),
        }
    }

    /// `scale` in [`SCALE_RANGE`], a sane goroutine count.
    pub fn validate(&self) -> Result<(), String> {
        if !SCALE_RANGE.contains(&self.scale) {
            return Err(format!(
                "--scale {}: must be from {} to {}",
                self.scale,
                SCALE_RANGE.start(),
                SCALE_RANGE.end()
            ));
        }
        validate_goroutines(self.goroutines)
    }
}

/// `Populate(depth, node)`: build a tree top-down below `node`, storing each new pair of
/// children into their (older) parent before descending.
pub fn populate(m: &mut Mutator<'_>, depth: u32, node: Local<'_, Node>) -> Result<(), AllocError> {
    if depth == 0 {
        return Ok(());
    }
    m.scope(|m| {
        let l = m.alloc::<Node>()?;
        m.set(node, Node::left, Some(l));
        let r = m.alloc::<Node>()?;
        m.set(node, Node::right, Some(r));
        populate(m, depth - 1, l)?;
        populate(m, depth - 1, r)
    })
}

/// `MakeTree(depth)`: build a tree bottom-up and return its root.
pub fn make_tree<'s>(m: &mut Mutator<'s>, depth: u32) -> Result<Local<'s, Node>, AllocError> {
    m.escape(|m| {
        if depth == 0 {
            return m.alloc::<Node>();
        }
        let l = make_tree(m, depth - 1)?;
        let r = make_tree(m, depth - 1)?;
        let t = m.alloc::<Node>()?;
        m.set(t, Node::left, Some(l));
        m.set(t, Node::right, Some(r));
        Ok(t)
    })
}

/// Count the nodes of a tree.
pub fn count(m: &mut Mutator<'_>, t: Local<'_, Node>) -> u64 {
    m.scope(|m| {
        let (l, r) = (m.get(t, Node::left), m.get(t, Node::right));
        1 + l.map_or(0, |l| count(m, l)) + r.map_or(0, |r| count(m, r))
    })
}

/// Doubles moved between the array and Rust per `write_bytes`/`read_bytes` call.
const CHUNK: usize = 512;

/// Fill entries `0..n` of the array with `1.0 / i`, as the benchmark fills half of it.
fn fill_array(m: &mut Mutator<'_>, a: Local<'_, Bytes>, n: u64) {
    let mut buf = [0u8; CHUNK * 8];
    let mut i = 0u64;
    while i < n {
        let k = (n - i).min(CHUNK as u64) as usize;
        for (j, w) in buf[..k * 8].chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&(1.0 / (i + j as u64) as f64).to_le_bytes());
        }
        m.write_bytes(a, (i * 8) as usize, &buf[..k * 8]);
        i += k as u64;
        m.safepoint();
    }
}

/// How many of entries `0..n` still hold `1.0 / i` (bit for bit).
fn check_array(m: &mut Mutator<'_>, a: Local<'_, Bytes>, n: u64) -> u64 {
    let mut buf = [0u8; CHUNK * 8];
    let (mut i, mut good) = (0u64, 0u64);
    while i < n {
        let k = (n - i).min(CHUNK as u64) as usize;
        m.read_bytes(a, (i * 8) as usize, &mut buf[..k * 8]);
        for (j, w) in buf[..k * 8].chunks_exact(8).enumerate() {
            let want = (1.0 / (i + j as u64) as f64).to_bits();
            good += u64::from(u64::from_le_bytes(w.try_into().expect("8 bytes")) == want);
        }
        i += k as u64;
        m.safepoint();
    }
    good
}

/// One tree of a timed phase: built top-down (`Populate` below a new node) or bottom-up
/// (`MakeTree`), then stored into `sink`, as the Go twin stores each tree into its package
/// variable `sink` (which keeps it heap-allocated there). The tree before it stays reachable
/// from `sink` until this one is complete, in both programs.
pub fn sink_tree(
    m: &mut Mutator<'_>,
    depth: u32,
    top_down: bool,
    sink: Global<Node>,
) -> Result<(), AllocError> {
    m.scope(|m| {
        let t = if top_down {
            let temp = m.alloc::<Node>()?;
            populate(m, depth, temp)?;
            temp
        } else {
            make_tree(m, depth)?
        };
        m.set_global(sink, Some(t));
        Ok(())
    })
}

/// One timed phase of `TimeConstruction`: `iters` trees of `depth`, shared among the
/// goroutines, each stored into `sink`, which is cleared at the end (the twin's `phase`);
/// returns the elapsed milliseconds.
fn timed_phase(
    rt: &Runtime,
    p: &Params,
    progress: &Arc<Progress>,
    sink: Global<Node>,
    (depth, iters, top_down): (u32, u64, bool),
) -> Result<u128, AllocError> {
    let t = Instant::now();
    let k = p.goroutines.max(1);
    let handles: Vec<_> = (0..k)
        .map(|g| {
            let n = share(iters, k, g);
            let progress = progress.clone();
            rt.go(move |m| -> Result<(), AllocError> {
                let mut tally = progress.tally();
                for _ in 0..n {
                    sink_tree(m, depth, top_down, sink)?;
                    tally.add(tree_size(depth));
                }
                Ok(())
            })
        })
        .collect();
    let mut result = Ok(());
    for h in handles {
        let r = h.join().expect("gcbench goroutine");
        result = result.and(r);
    }
    rt.go(move |m| m.set_global(sink, None)).join().expect("gcbench goroutine");
    result.map(|()| t.elapsed().as_millis())
}

/// The benchmark's long-lived data, each in a global root: what stays live from its creation
/// to the final check.
#[derive(Clone, Copy, Debug)]
pub struct LongLived {
    /// The long-lived tree of `long_lived_depth`, built top-down.
    pub tree: Global<Node>,
    /// The long-lived array of `array_size` doubles, the first half holding `1.0 / i`.
    pub array: Global<Bytes>,
}

/// Build the long-lived tree and array, half filled, both in global roots (the C program and
/// the Go twin keep them in locals of main that stay live to the end; here main's work is
/// spread over goroutines, so globals hold them). Nothing else the goroutine allocated stays
/// reachable.
pub fn long_lived(rt: &Runtime, z: &Sizes) -> Result<LongLived, AllocError> {
    let z = *z;
    let tree_root = rt.global::<Node>();
    let array_root = rt.global::<Bytes>();
    rt.go(move |m| -> Result<(), AllocError> {
        let tree = m.alloc::<Node>()?;
        m.set_global(tree_root, Some(tree));
        populate(m, z.long_lived_depth, tree)?;
        let array = m.alloc_bytes((z.array_size * 8) as usize)?;
        m.set_global(array_root, Some(array));
        fill_array(m, array, z.array_size / 2);
        Ok(())
    })
    .join()
    .expect("long-lived goroutine")?;
    Ok(LongLived { tree: tree_root, array: array_root })
}

/// Run GCBench with `p` on `rt`. Progress is counted in nodes.
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let z = p.sizes();
    let node_size = core::mem::size_of::<Node>() as u64;
    let depths: Vec<u32> = (z.min_depth..=z.max_depth).step_by(2).collect();
    progress.set_total(
        tree_size(z.stretch_depth)
            + tree_size(z.long_lived_depth)
            + depths.iter().map(|&d| 2 * z.num_iters(d) * tree_size(d)).sum::<u64>(),
    );
    let mut out = String::new();
    let _ = writeln!(out, "Garbage Collector Test");
    let _ = writeln!(
        out,
        " Live storage will peak at {} bytes.\n",
        2 * node_size * tree_size(z.long_lived_depth) + 8 * z.array_size
    );
    let _ = writeln!(out, " Stretching memory with a binary tree of depth {}", z.stretch_depth);
    let t_start = Instant::now();

    // Stretch the memory space quickly.
    let stretch = z.stretch_depth;
    rt.go(move |m| make_tree(m, stretch).map(drop)).join().expect("stretch goroutine")?;
    progress.advance(tree_size(stretch));

    let _ = writeln!(out, " Creating a long-lived binary tree of depth {}", z.long_lived_depth);
    let _ = writeln!(out, " Creating a long-lived array of {} doubles", z.array_size);
    let LongLived { tree: tree_root, array: array_root } = long_lived(rt, &z)?;
    progress.advance(tree_size(z.long_lived_depth));

    let sink = rt.global::<Node>();
    for &d in &depths {
        let iters = z.num_iters(d);
        let _ = writeln!(out, "Creating {iters} trees of depth {d}");
        let ms = timed_phase(rt, p, progress, sink, (d, iters, true))?;
        let _ = writeln!(out, "\tTop down construction took {ms} msec");
        let ms = timed_phase(rt, p, progress, sink, (d, iters, false))?;
        let _ = writeln!(out, "\tBottom up construction took {ms} msec");
    }

    // The original's "fake reference" to the long-lived data, made a real check.
    let (nodes, doubles) = rt
        .go(move |m| {
            let tree = m.global(tree_root).map_or(0, |t| count(m, t));
            let array = m.global(array_root).map_or(0, |a| check_array(m, a, z.array_size / 2));
            (tree, array)
        })
        .join()
        .expect("check goroutine");
    if nodes != tree_size(z.long_lived_depth) || doubles != z.array_size / 2 {
        let _ = writeln!(out, "Failed");
    }
    let _ = writeln!(out, "Completed in {} msec", t_start.elapsed().as_millis());
    let check = nodes + doubles;
    let _ = writeln!(out, "check: {check}");
    Ok(Outcome { output: out, check, metrics: Vec::new() })
}
