//! The Computer Language Benchmarks Game's binary-trees: allocate and walk many short-lived
//! perfect binary trees while one long-lived tree stays reachable. Its output lines are the
//! benchmark's, byte for byte.
//!
//! For `n`: a "stretch" tree of depth `n + 1` is built, checked and dropped; a long-lived tree of
//! depth `n` is built; then for depths 4, 6, ..., n, `2^(n - depth + 4)` trees are built and
//! checked (the check counts nodes); finally the long-lived tree is checked. With
//! `goroutines > 1` the trees of each depth are shared among that many goroutines, as the
//! parallel Go entries do.
//!
//! The check value of a run is the sum of every check the output prints.

use super::{share, validate_goroutines, Outcome, Param, Progress};
use gomem::{gc_object, AllocError, Gc, Local, Mutator, Ref, Runtime, View};
use std::fmt::Write;
use std::sync::Arc;

gc_object! {
    /// A tree node: two children, no payload (Go's `type Node struct{ left, right *Node }`).
    pub struct Tree {
        /// Left child or nil.
        pub left: Gc<Tree>,
        /// Right child or nil.
        pub right: Gc<Tree>,
    }
}

const MIN_DEPTH: u32 = 4;

/// The largest `--depth`: deeper trees would need more than 2^31 nodes each.
pub const MAX_DEPTH: u32 = 30;

/// The parameters of a run (`gomem run binary-trees --depth N --goroutines K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The benchmark's N, the maximum tree depth (raised to 6 if smaller).
    pub depth: u32,
    /// Goroutines sharing each depth's trees.
    pub goroutines: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { depth: 10, goroutines: 1 }
    }
}

impl Params {
    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("depth", Param::Uint(self.depth.into())),
            ("goroutines", Param::Uint(self.goroutines)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--depth".into(),
            self.depth.to_string(),
            "--goroutines".into(),
            self.goroutines.to_string(),
        ]
    }

    /// The live set's lower bound: the stretch tree of depth `max(depth, 6) + 1`, 16-byte
    /// nodes, all live at once (see [`super::fit`]).
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        let stretch = self.depth.max(MIN_DEPTH + 2).saturating_add(1).min(62);
        let nodes = (1u64 << (stretch + 1)) - 1;
        super::fit::LiveEstimate {
            flag: "--depth",
            value: self.depth.to_string(),
            bytes: nodes.saturating_mul(core::mem::size_of::<[u64; 2]>() as u64),
        }
    }

    /// Depths above 30 would need more than 2^31 nodes per tree.
    pub fn validate(&self) -> Result<(), String> {
        if self.depth > MAX_DEPTH {
            return Err(format!("--depth {}: at most {MAX_DEPTH}", self.depth));
        }
        validate_goroutines(self.goroutines)
    }
}

/// Build a perfect tree of `depth` (children first, then the parent, as Go's `bottomUpTree`).
pub fn bottom_up<'s>(m: &mut Mutator<'s>, depth: u32) -> Result<Local<'s, Tree>, AllocError> {
    m.escape(|m| {
        if depth == 0 {
            return m.alloc::<Tree>();
        }
        let l = bottom_up(m, depth - 1)?;
        let r = bottom_up(m, depth - 1)?;
        let t = m.alloc::<Tree>()?;
        m.set(t, Tree::left, Some(l));
        m.set(t, Tree::right, Some(r));
        Ok(t)
    })
}

/// Count the nodes of a tree (Go's `itemCheck`).
///
/// It allocates nothing, so it reads through a [`View`]: no root pushes. A view holds up every
/// stop-the-world until it ends, so the walk polls [`View::preempt_requested`] at each node;
/// once a stop or a root scan waits for this goroutine, each subtree still to count is rooted
/// (at most one per level of the current path), the view ends, the goroutine passes a
/// safepoint and counts them in new views.
pub fn check(m: &mut Mutator<'_>, t: Local<'_, Tree>) -> u32 {
    m.scope(|m| {
        let mut todo = Vec::new();
        let mut n = count_from(m, t, &mut todo);
        while let Some(t) = todo.pop() {
            m.safepoint();
            n += count_from(m, t, &mut todo);
        }
        n
    })
}

/// Count the tree under `t` in one view of `m`, rooting into `todo` the subtrees left when a
/// safepoint is requested.
fn count_from<'s>(m: &Mutator<'s>, t: Local<'_, Tree>, todo: &mut Vec<Local<'s, Tree>>) -> u32 {
    let v = m.view();
    Walk { m, v, todo }.count(v.of(t))
}

/// One view's walk (see [`check`]).
struct Walk<'v, 's, 't> {
    m: &'v Mutator<'s>,
    v: View<'v>,
    todo: &'t mut Vec<Local<'s, Tree>>,
}

impl<'v> Walk<'v, '_, '_> {
    fn count(&mut self, t: Ref<'v, Tree>) -> u32 {
        if self.v.preempt_requested() {
            self.todo.push(self.m.root(t));
            return 0;
        }
        match (self.v.get(t, Tree::left), self.v.get(t, Tree::right)) {
            (Some(l), Some(r)) => 1 + self.count(l) + self.count(r),
            _ => 1,
        }
    }
}

/// Run the benchmark for `n` on `rt` and return its output text.
pub fn run(rt: &Runtime, n: u32, goroutines: usize) -> Result<String, AllocError> {
    let p = Params { depth: n, goroutines: goroutines.max(1) as u64 };
    Ok(run_with(rt, &p, &Progress::new())?.output)
}

/// Nodes in a perfect tree of `depth`.
fn nodes(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// Run the benchmark with `p` on `rt`: its output, and the sum of the checks as check value.
/// Progress is counted in tree nodes.
pub fn run_with(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, AllocError> {
    let max_depth = p.depth.max(MIN_DEPTH + 2);
    let mut out = String::new();
    let stretch = max_depth + 1;
    let total = nodes(stretch)
        + nodes(max_depth)
        + (MIN_DEPTH..=max_depth)
            .step_by(2)
            .map(|d| (1u64 << (max_depth - d + MIN_DEPTH)) * nodes(d))
            .sum::<u64>();
    progress.set_total(total);
    let c = rt
        .go(move |m| -> Result<u32, AllocError> {
            let t = bottom_up(m, stretch)?;
            Ok(check(m, t))
        })
        .join()
        .expect("stretch goroutine")?;
    progress.advance(nodes(stretch));
    let mut check_sum = u64::from(c);
    let _ = writeln!(out, "stretch tree of depth {stretch}\t check: {c}");

    // The long-lived tree lives in a global root while the others come and go.
    let long_lived = rt.global::<Tree>();
    rt.go(move |m| -> Result<(), AllocError> {
        let t = bottom_up(m, max_depth)?;
        m.set_global(long_lived, Some(t));
        Ok(())
    })
    .join()
    .expect("long-lived goroutine")?;
    progress.advance(nodes(max_depth));

    for depth in (MIN_DEPTH..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - depth + MIN_DEPTH);
        let k = p.goroutines.max(1);
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let share = share(iterations, k, i);
                let progress = progress.clone();
                rt.go(move |m| -> Result<u64, AllocError> {
                    let mut tally = progress.tally();
                    let mut sum = 0u64;
                    for _ in 0..share {
                        sum += m.scope(|m| -> Result<u64, AllocError> {
                            let t = bottom_up(m, depth)?;
                            Ok(u64::from(check(m, t)))
                        })?;
                        tally.add(nodes(depth));
                    }
                    Ok(sum)
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.join().expect("tree goroutine")?;
        }
        check_sum += sum;
        let _ = writeln!(out, "{iterations}\t trees of depth {depth}\t check: {sum}");
    }

    let c = rt
        .go(move |m| -> u32 {
            let t = m.global(long_lived).expect("long-lived tree is set");
            check(m, t)
        })
        .join()
        .expect("long-lived check");
    let _ = writeln!(out, "long lived tree of depth {max_depth}\t check: {c}");
    check_sum += u64::from(c);
    Ok(Outcome { output: out, check: check_sum, metrics: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gomem::sync::{AtomicBool, Ordering};
    use gomem::Config;

    /// `check` counts every node although stop-the-worlds keep interrupting its views (another
    /// goroutine forcing cycles back to back), so it often roots what is left, passes a
    /// safepoint and resumes.
    #[test]
    fn check_counts_every_node_when_interrupted() {
        let rt = Runtime::new(Config::default().gomaxprocs(2)).expect("runtime");
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let collector = rt.go(move |m| {
            while !d.load(Ordering::Relaxed) {
                m.gc();
            }
        });
        let depth = 14;
        let counts = rt
            .go(move |m| {
                let t = bottom_up(m, depth).expect("alloc");
                let counts: Vec<u32> = (0..200).map(|_| check(m, t)).collect();
                done.store(true, Ordering::Relaxed);
                counts
            })
            .join()
            .expect("checker");
        collector.join().expect("collector");
        let want = (1u32 << (depth + 1)) - 1;
        assert!(counts.iter().all(|&c| c == want), "counts {counts:?}, want {want}");
    }
}
