//! The Computer Language Benchmarks Game's binary-trees: allocate and walk many short-lived
//! perfect binary trees while one long-lived tree stays reachable. Its output lines are the
//! benchmark's, byte for byte.
//!
//! For `n`: a "stretch" tree of depth `n + 1` is built, checked and dropped; a long-lived tree of
//! depth `n` is built; then for depths 4, 6, ..., n, `2^(n - depth + 4)` trees are built and
//! checked (the check counts nodes); finally the long-lived tree is checked. With
//! `goroutines > 1` the trees of each depth are shared among that many goroutines, as the
//! parallel Go entries do.

use crate::{gc_object, AllocError, Gc, Local, Mutator, Runtime};
use std::fmt::Write;

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

/// Count the nodes of a tree.
pub fn check(m: &mut Mutator<'_>, t: Local<'_, Tree>) -> u32 {
    m.scope(|m| {
        let (l, r) = (m.get(t, Tree::left), m.get(t, Tree::right));
        match (l, r) {
            (Some(l), Some(r)) => 1 + check(m, l) + check(m, r),
            _ => 1,
        }
    })
}

/// Run the benchmark for `n` on `rt` and return its output text.
pub fn run(rt: &Runtime, n: u32, goroutines: usize) -> Result<String, AllocError> {
    let max_depth = n.max(MIN_DEPTH + 2);
    let mut out = String::new();
    let stretch = max_depth + 1;
    let c = rt
        .go(move |m| -> Result<u32, AllocError> {
            let t = bottom_up(m, stretch)?;
            Ok(check(m, t))
        })
        .join()
        .expect("stretch goroutine")?;
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

    for depth in (MIN_DEPTH..=max_depth).step_by(2) {
        let iterations = 1u64 << (max_depth - depth + MIN_DEPTH);
        let k = goroutines.max(1) as u64;
        let handles: Vec<_> = (0..k)
            .map(|i| {
                let share = iterations / k + u64::from(i < iterations % k);
                rt.go(move |m| -> Result<u64, AllocError> {
                    let mut sum = 0u64;
                    for _ in 0..share {
                        sum += m.scope(|m| -> Result<u64, AllocError> {
                            let t = bottom_up(m, depth)?;
                            Ok(u64::from(check(m, t)))
                        })?;
                    }
                    Ok(sum)
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.join().expect("tree goroutine")?;
        }
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
    Ok(out)
}
