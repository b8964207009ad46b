//! The delay of single allocations while the collector works on a large live heap (the idea of
//! Go's `gc_latency` benchmark in x/benchmarks): a ring of `buffers` byte buffers of `size`
//! bytes (200000 × 1 KiB by default, about 200 MiB live) is filled, then each of `steps` steps
//! allocates a new buffer and stores it over the oldest one. Each allocation is timed alone
//! with [`Instant`]; the distribution and the worst case are what a latency-sensitive program
//! sees of the memory manager: fast paths, refills, sweeping on allocation, assists, and the
//! waits at safepoints while the world is stopped.
//!
//! Only the allocation is timed (the store into the ring is not), in gomem and in the Go twin
//! alike. Each buffer carries a tag in its first 8 bytes (little-endian): goroutine `g`'s
//! `t`-th buffer has tag `t * goroutines + g + 1`. The check value is the wrapping sum of the
//! tags in the rings at the end, which is fixed by the parameters. With `goroutines > 1`, each
//! goroutine has its own ring of `buffers / goroutines` buffers and its share of the steps.
//!
//! Metrics: `alloc_delay_p50_ns`, `alloc_delay_p99_ns`, `alloc_delay_p999_ns`,
//! `alloc_delay_max_ns` (nearest-rank percentiles over every timed allocation of every
//! goroutine).

use super::{share, validate_goroutines, Outcome, Param, Progress, WorkloadError};
use gomem::{AllocError, Runtime};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// The parameters of a run (`gomem run latency --buffers N --size B --steps M`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Buffers in the ring(s), all goroutines together.
    pub buffers: u64,
    /// Bytes per buffer.
    pub size: u64,
    /// Timed allocations, all goroutines together.
    pub steps: u64,
    /// Goroutines, each with its own ring.
    pub goroutines: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { buffers: 200_000, size: 1024, steps: 1_000_000, goroutines: 1 }
    }
}

impl Params {
    /// Buffers in each goroutine's ring.
    pub fn ring_len(&self) -> u64 {
        (self.buffers / self.goroutines.max(1)).max(1)
    }

    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("buffers", Param::Uint(self.buffers)),
            ("size", Param::Uint(self.size)),
            ("steps", Param::Uint(self.steps)),
            ("goroutines", Param::Uint(self.goroutines)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        [
            ("--buffers", self.buffers),
            ("--size", self.size),
            ("--steps", self.steps),
            ("--goroutines", self.goroutines),
        ]
        .iter()
        .flat_map(|(f, v)| [f.to_string(), v.to_string()])
        .collect()
    }

    /// The live set's lower bound: the rings, `--buffers` × `--size` bytes in all (see
    /// [`super::fit`]).
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        super::fit::LiveEstimate {
            flag: "--buffers",
            value: self.buffers.to_string(),
            bytes: self.buffers.saturating_mul(self.size),
        }
    }

    /// Room for the tag in each buffer, at least one buffer per goroutine.
    pub fn validate(&self) -> Result<(), String> {
        validate_goroutines(self.goroutines)?;
        if !(8..=super::alloc::MAX_SIZE).contains(&self.size) {
            return Err(format!("--size {}: must be from 8 bytes (the tag) to 1GiB", self.size));
        }
        if self.buffers < self.goroutines {
            return Err(format!(
                "--buffers {}: at least one buffer per goroutine ({})",
                self.buffers, self.goroutines
            ));
        }
        Ok(())
    }
}

/// The nearest-rank `q`-quantile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One goroutine: fill the ring, then `steps` timed allocations. Returns the delays (ns) and
/// the sum of the tags left in the ring.
fn latency_goroutine(
    m: &mut gomem::Mutator<'_>,
    p: &Params,
    g: u64,
    steps: u64,
    progress: &Progress,
) -> Result<(Vec<u64>, u64), WorkloadError> {
    let (k, n, size) = (p.goroutines, p.ring_len(), p.size as usize);
    let mut tally = progress.tally();
    let ring = m.alloc_array::<gomem::Bytes>(n as usize)?;
    let mut delays = Vec::with_capacity(steps as usize);
    for t in 0..n + steps {
        m.scope(|m| -> Result<(), AllocError> {
            let start = Instant::now();
            let b = m.alloc_bytes(size)?;
            if t >= n {
                delays.push(start.elapsed().as_nanos() as u64);
            }
            m.array_set(ring, (t % n) as usize, Some(b));
            m.write_bytes(b, 0, &(t * k + g + 1).to_le_bytes());
            Ok(())
        })?;
        tally.add(1);
    }
    drop(tally);
    let mut sum = 0u64;
    let mut tag = [0u8; 8];
    for i in 0..n as usize {
        m.scope(|m| {
            let b = m.array_get(ring, i).expect("ring slots are never nil");
            m.read_bytes(b, 0, &mut tag);
        });
        sum = sum.wrapping_add(u64::from_le_bytes(tag));
    }
    Ok((delays, sum))
}

/// Run latency with `p` on `rt`. Progress is counted in allocations (the fill included).
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let k = p.goroutines;
    progress.set_total(p.ring_len() * k + p.steps);
    let handles: Vec<_> = (0..k)
        .map(|g| {
            let (p, progress) = (p.clone(), progress.clone());
            let steps = share(p.steps, k, g);
            rt.go(move |m| latency_goroutine(m, &p, g, steps, &progress))
        })
        .collect();
    let mut delays = Vec::with_capacity(p.steps as usize);
    let mut check = 0u64;
    let mut err = None;
    for h in handles {
        match h.join().expect("latency goroutine") {
            Ok((d, sum)) => {
                delays.extend_from_slice(&d);
                check = check.wrapping_add(sum);
            }
            Err(e) => err = err.or(Some(e)),
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    delays.sort_unstable();
    let metrics = vec![
        ("alloc_delay_p50_ns", percentile(&delays, 0.50)),
        ("alloc_delay_p99_ns", percentile(&delays, 0.99)),
        ("alloc_delay_p999_ns", percentile(&delays, 0.999)),
        ("alloc_delay_max_ns", delays.last().copied().unwrap_or(0)),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "latency: ring of {} buffers of {} bytes, {} timed allocations in {k} goroutines",
        p.ring_len() * k,
        p.size,
        p.steps
    );
    let _ = writeln!(
        out,
        "allocation delay: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        metrics[0].1, metrics[1].1, metrics[2].1, metrics[3].1
    );
    let _ = writeln!(out, "check: {check}");
    Ok(Outcome { output: out, check, metrics })
}
