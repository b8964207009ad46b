//! Allocation throughput: `count` objects of `size` bytes, shared among the goroutines, each
//! dropped at once (nothing stays alive, so every cycle finds an empty heap and sweeping frees
//! whole spans).
//!
//! Pointer-free objects are byte buffers (Go's `make([]byte, size)`); with `pointers` they are
//! arrays of `ceil(size / 8)` nil pointers (Go's `make([]*byte, size/8)`), which the allocator
//! must zero and record pointer metadata for, and the collector would scan. The check value is
//! the bytes asked for, `count * size`, summed from what the goroutines report having done.

use super::{share, validate_goroutines, Outcome, Param, Progress, WorkloadError};
use gomem::{AllocError, Runtime};
use std::fmt::Write;
use std::sync::Arc;

/// The largest object size accepted (1 GiB).
pub const MAX_SIZE: u64 = 1 << 30;

/// The parameters of a run (`gomem run alloc --size B --count N [--pointers] --goroutines K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Bytes per object.
    pub size: u64,
    /// Objects in all.
    pub count: u64,
    /// Pointer arrays instead of pointer-free buffers.
    pub pointers: bool,
    /// Goroutines sharing the objects.
    pub goroutines: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { size: 64, count: 10_000_000, pointers: false, goroutines: 1 }
    }
}

impl Params {
    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("size", Param::Uint(self.size)),
            ("count", Param::Uint(self.count)),
            ("pointers", Param::Bool(self.pointers)),
            ("goroutines", Param::Uint(self.goroutines)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--size".into(),
            self.size.to_string(),
            "--count".into(),
            self.count.to_string(),
            "--goroutines".into(),
            self.goroutines.to_string(),
        ];
        if self.pointers {
            a.push("--pointers".into());
        }
        a
    }

    /// The live set's lower bound: one object per goroutine, `--size` × `--goroutines` bytes
    /// (nothing else is kept; `--count` is allocation volume, not live; see [`super::fit`]).
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        super::fit::LiveEstimate::size(
            "--size",
            self.size,
            self.size.saturating_mul(self.goroutines),
        )
    }

    /// `size` from 1 byte to [`MAX_SIZE`].
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_SIZE).contains(&self.size) {
            return Err(format!("--size {}: must be from 1 byte to 1GiB", self.size));
        }
        validate_goroutines(self.goroutines)
    }
}

/// Run alloc with `p` on `rt`. Progress is counted in objects.
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let k = p.goroutines;
    progress.set_total(p.count);
    let size = p.size as usize;
    let words = size.div_ceil(8);
    let handles: Vec<_> = (0..k)
        .map(|g| {
            let n = share(p.count, k, g);
            let (pointers, progress) = (p.pointers, progress.clone());
            rt.go(move |m| -> Result<u64, AllocError> {
                let mut tally = progress.tally();
                for _ in 0..n {
                    // One scope per object: its handle is dropped as a root at once.
                    m.scope(|m| {
                        if pointers {
                            m.alloc_array::<u8>(words).map(drop)
                        } else {
                            m.alloc_bytes(size).map(drop)
                        }
                    })?;
                    tally.add(1);
                }
                Ok(n)
            })
        })
        .collect();
    let mut objects = 0u64;
    let mut err = None;
    for h in handles {
        match h.join().expect("alloc goroutine") {
            Ok(n) => objects += n,
            Err(e) => err = err.or(Some(e)),
        }
    }
    if let Some(e) = err {
        return Err(e.into());
    }
    let check = objects * p.size;
    let kind = if p.pointers { "pointer arrays" } else { "pointer-free" };
    let mut out = String::new();
    let _ =
        writeln!(out, "alloc: {objects} objects of {} bytes ({kind}) in {k} goroutines", p.size);
    let _ = writeln!(out, "check: {check}");
    Ok(Outcome { output: out, check, metrics: Vec::new() })
}
