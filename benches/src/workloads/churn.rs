//! A steady live set of small linked objects, replaced at random: the shape of a cache or a
//! session table under load, where the collector keeps finding the same amount of live data
//! while garbage streams past it.
//!
//! Each goroutine owns a pointer array of `n` slots (an even number), rooted by its own handle.
//! Slots `2i` and `2i + 1` hold two 64-byte [`Node`]s that point at each other (`peer`). Each
//! step draws a random slot `i`, allocates a new node, links it with the node in the partner
//! slot `i ^ 1` (both directions: the store into the partner, an old object, is the kind of
//! store the write barrier exists for) and puts it in slot `i`; the node it replaces is now
//! garbage. The live set is therefore exactly the nodes in the arrays, `live` bytes (rounded
//! down to an even number of nodes per goroutine), and the run stops when the nodes allocated,
//! the first fill included, reach `total` bytes.
//!
//! Node ids are unique (`seq * goroutines + g + 1`, with `seq` counting each goroutine's
//! nodes); the random slots come from [`SplitMix64`] seeded by `seed` and the goroutine's
//! index, as in the Go twin. At the end every goroutine walks its array, checks that each pair
//! still points at each other, and sums the ids: the check value is the sum over all goroutines
//! (wrapping).

use super::{share, validate_goroutines, Outcome, Param, Progress, SplitMix64, WorkloadError};
use gomem::{gc_object, AllocError, Gc, Local, Mutator, PtrArray, Runtime};
use std::fmt::Write;
use std::sync::Arc;

gc_object! {
    /// A 64-byte node: a pointer to its pair, an id and six words of payload (Go's
    /// `struct{ peer *node; id uint64; pad [6]uint64 }`).
    pub struct Node {
        /// The node in the partner slot.
        pub peer: Gc<Node>,
        /// Unique id.
        pub id: u64,
        /// Payload.
        pub p0: u64,
        /// Payload.
        pub p1: u64,
        /// Payload.
        pub p2: u64,
        /// Payload.
        pub p3: u64,
        /// Payload.
        pub p4: u64,
        /// Payload.
        pub p5: u64,
    }
}

/// Bytes per node.
pub const NODE_SIZE: u64 = core::mem::size_of::<Node>() as u64;

/// The parameters of a run (`gomem run churn --live SIZE --total SIZE --goroutines K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Bytes of live nodes kept (all goroutines together).
    pub live: u64,
    /// Bytes of nodes to allocate in all, the live set's first fill included.
    pub total: u64,
    /// Goroutines, each with its share of the live set and of the replacements.
    pub goroutines: u64,
    /// Seed of the slot choices.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { live: 64 << 20, total: 1 << 30, goroutines: 1, seed: 1 }
    }
}

impl Params {
    /// Slots (live nodes) per goroutine: an even number, at least 2.
    pub fn slots_per_goroutine(&self) -> u64 {
        ((self.live / NODE_SIZE / self.goroutines.max(1)) & !1).max(2)
    }

    /// Replacements in all (after the first fill).
    pub fn replacements(&self) -> u64 {
        (self.total / NODE_SIZE).saturating_sub(self.slots_per_goroutine() * self.goroutines)
    }

    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("live", Param::Uint(self.live)),
            ("total", Param::Uint(self.total)),
            ("goroutines", Param::Uint(self.goroutines)),
            ("seed", Param::Uint(self.seed)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        [
            ("--live", self.live),
            ("--total", self.total),
            ("--goroutines", self.goroutines),
            ("--seed", self.seed),
        ]
        .iter()
        .flat_map(|(f, v)| [f.to_string(), v.to_string()])
        .collect()
    }

    /// The live set's lower bound: `--live` itself (see [`super::fit`]). `--total` is the
    /// volume allocated over the run, garbage included, which the collector reclaims as it
    /// goes: it bounds the run's time, not its memory, so it is not checked.
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        super::fit::LiveEstimate::size("--live", self.live, self.live)
    }

    /// At least one pair of nodes per goroutine, and `total` no smaller than `live`.
    pub fn validate(&self) -> Result<(), String> {
        validate_goroutines(self.goroutines)?;
        let min = 2 * NODE_SIZE * self.goroutines;
        if self.live < min {
            return Err(format!(
                "--live {}: the live set needs at least two {NODE_SIZE}-byte nodes per \
                 goroutine ({min} bytes for {} goroutines)",
                self.live, self.goroutines
            ));
        }
        if self.total < self.live {
            return Err(format!(
                "--total {} is smaller than --live {}: the total includes the live set",
                self.total, self.live
            ));
        }
        Ok(())
    }
}

/// A new node with id `id`, linked with `peer` both ways (or unlinked if `peer` is `None`).
fn new_node<'s>(
    m: &mut Mutator<'s>,
    id: u64,
    peer: Option<Local<'_, Node>>,
) -> Result<Local<'s, Node>, AllocError> {
    let n = m.alloc::<Node>()?;
    m.write(n, Node::id, id);
    if let Some(p) = peer {
        m.set(n, Node::peer, Some(p));
        m.set(p, Node::peer, Some(n));
    }
    Ok(n)
}

/// One goroutine's run: fill its array, replace `steps` random nodes, then walk the array.
/// Returns the sum of the ids in it.
fn churn_goroutine(
    m: &mut Mutator<'_>,
    p: &Params,
    g: u64,
    steps: u64,
    progress: &Progress,
) -> Result<u64, WorkloadError> {
    let k = p.goroutines;
    let n = p.slots_per_goroutine();
    let mut seq = 0u64;
    let mut next_id = || {
        seq += 1;
        (seq - 1) * k + g + 1
    };
    let mut tally = progress.tally();
    let slots = m.alloc_array::<Node>(n as usize)?;
    for i in (0..n as usize).step_by(2) {
        m.scope(|m| -> Result<(), AllocError> {
            let a = new_node(m, next_id(), None)?;
            let b = new_node(m, next_id(), Some(a))?;
            m.array_set(slots, i, Some(a));
            m.array_set(slots, i + 1, Some(b));
            Ok(())
        })?;
        tally.add(2);
    }
    let mut rng = SplitMix64::for_goroutine(p.seed, g);
    for _ in 0..steps {
        let i = (rng.next() % n) as usize;
        m.scope(|m| -> Result<(), AllocError> {
            let peer = m.array_get(slots, i ^ 1).expect("slots are never nil");
            let fresh = new_node(m, next_id(), Some(peer))?;
            m.array_set(slots, i, Some(fresh));
            Ok(())
        })?;
        tally.add(1);
    }
    drop(tally);
    check_slots(m, slots, n as usize)
}

/// Walk the array: every pair points at each other; returns the sum of the ids.
fn check_slots(
    m: &mut Mutator<'_>,
    slots: Local<'_, PtrArray<Node>>,
    n: usize,
) -> Result<u64, WorkloadError> {
    let mut sum = 0u64;
    for i in 0..n {
        sum = m.scope(|m| -> Result<u64, WorkloadError> {
            let a = m.array_get(slots, i).ok_or_else(|| corrupt(i, "nil slot"))?;
            let b = m.array_get(slots, i ^ 1).ok_or_else(|| corrupt(i ^ 1, "nil slot"))?;
            if m.get(a, Node::peer) != Some(b) {
                return Err(corrupt(i, "peer does not point at the partner slot's node"));
            }
            Ok(sum.wrapping_add(m.read(a, Node::id)))
        })?;
    }
    Ok(sum)
}

fn corrupt(slot: usize, what: &str) -> WorkloadError {
    WorkloadError::Corrupt(format!("churn: slot {slot}: {what}"))
}

/// Run churn with `p` on `rt`. Progress is counted in nodes allocated.
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let k = p.goroutines;
    let n = p.slots_per_goroutine();
    let replacements = p.replacements();
    progress.set_total(n * k + replacements);
    let handles: Vec<_> = (0..k)
        .map(|g| {
            let (p, progress) = (p.clone(), progress.clone());
            let steps = share(replacements, k, g);
            rt.go(move |m| churn_goroutine(m, &p, g, steps, &progress))
        })
        .collect();
    let mut check = 0u64;
    let mut err = None;
    for h in handles {
        match h.join().expect("churn goroutine") {
            Ok(s) => check = check.wrapping_add(s),
            Err(e) => err = err.or(Some(e)),
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "churn: {} live nodes of {NODE_SIZE} bytes in {k} goroutines, {replacements} replacements",
        n * k
    );
    let _ = writeln!(out, "check: {check}");
    Ok(Outcome { output: out, check, metrics: Vec::new() })
}
