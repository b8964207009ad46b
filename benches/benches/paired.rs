//! Paired measurements of the allocator's targets, for a machine whose speed drifts.
//!
//! On the shared 2-core VM of `docs/performance-log.md` the same criterion benchmark can differ by
//! half between two runs a minute apart, for gomem and glibc alike, so a ratio of two
//! criterion medians taken minutes apart says little. This harness interleaves the
//! contenders instead: each round times one batch of every variant, one after the other, in
//! an order that rotates from round to round, and the figure reported for a pair is the
//! median over rounds of that round's ratio. A drift in speed then moves both sides of each
//! ratio together.
//!
//! ```sh
//! cargo bench -p gomem-benches --bench paired            # 2000 rounds
//! cargo bench -p gomem-benches --bench paired -- 500     # fewer rounds
//! ```
//!
//! What is timed (all single-threaded, one heap and one cache):
//!
//! - **The mixed loop**: batches of 10 000 requests walking the same pseudo-random sequence
//!   of sizes (multiples of 8 in 8..=512) as `alloc_free_loop/*/mixed_8-512` in `alloc.rs`.
//!   - `gomem`: `alloc_noscan` of each, then the GC cycle that frees them all
//!     (`advance_sweepgen`, `release_all`, `sweep_all`), timed together.
//!   - `gomem_uninit`: the same with `alloc_noscan_uninit` (no clearing, like `malloc`).
//!   - `malloc+free`: `malloc` and at once `free` of each request (glibc's best case: one warm
//!     chunk per size from its tcache).
//!   - `calloc+free`: the same with `calloc`, which clears like gomem's `alloc_noscan`.
//! - **The fast path**: after an untimed GC cycle and one untimed allocation that caches a
//!   fresh span, the remaining slots of that span, for `alloc_noscan(16)`, `alloc_noscan(8)`
//!   (tiny) and a one-pointer array (`alloc_array(&POINTER, 1)`); the median and the fastest
//!   round per object.

use gomem_allocator::mcache::MCache;
use gomem_allocator::typedesc::POINTER;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

/// Requests per timed batch of the mixed loop.
const BATCH: usize = 10_000;

#[path = "shared/common.rs"]
mod common;
use common::{mixed_sizes, Gomem as Heap, MIXED_LEN as SEQ};

/// The variants of the mixed loop, in the order of their columns.
const MIXED: [&str; 4] = ["gomem", "gomem_uninit", "malloc+free", "calloc+free"];

/// One batch of variant `v` of the mixed loop starting at sequence index `at`; nanoseconds
/// per request.
fn mixed_batch(v: usize, zeroed: &mut Heap, uninit: &mut Heap, sizes: &[usize], at: usize) -> f64 {
    let t = Instant::now();
    match v {
        0 | 1 => {
            let h = if v == 0 { zeroed } else { uninit };
            for k in 0..BATCH {
                let size = sizes[(at + k) % SEQ];
                let p = if v == 0 {
                    h.cache.alloc_noscan(size)
                } else {
                    h.cache.alloc_noscan_uninit(size)
                };
                black_box(p.expect("gomem allocation"));
            }
            h.collect();
        }
        _ => {
            for k in 0..BATCH {
                let l = Layout::from_size_align(sizes[(at + k) % SEQ], 8).expect("layout");
                // SAFETY: `l` has a non-zero size; the block is freed at once with its layout.
                unsafe {
                    let p = if v == 2 { System.alloc(l) } else { System.alloc_zeroed(l) };
                    assert!(!p.is_null(), "system allocation");
                    black_box(p);
                    System.dealloc(p, l);
                }
            }
        }
    }
    t.elapsed().as_nanos() as f64 / BATCH as f64
}

/// The fast-path variants: name and request.
const FAST: [&str; 3] = ["noscan_16", "tiny_8", "scan_8"];

/// One round of fast-path variant `v`: a fresh span's remaining slots; nanoseconds per object.
fn fast_round(v: usize, h: &mut Heap) -> f64 {
    let alloc = |c: &mut MCache| match v {
        0 => c.alloc_noscan(16),
        1 => c.alloc_noscan(8),
        _ => c.alloc_array(&POINTER, 1),
    };
    h.collect();
    let first = alloc(&mut h.cache).expect("gomem allocation").as_ptr() as usize;
    let (span, _, _) = h.heap.find_object(first).expect("heap object");
    // Tiny objects of 8 bytes fit two to a 16-byte slot.
    let n = (span.nelems() - 1) * if v == 1 { 2 } else { 1 };
    let base = span.base();
    let mut last = first;
    let t = Instant::now();
    for _ in 0..n {
        last = black_box(alloc(&mut h.cache).expect("gomem allocation")).as_ptr() as usize;
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    // No refill happened inside the timed loop.
    assert_eq!(h.heap.find_object(last).expect("heap object").0.base(), base, "{}", FAST[v]);
    ns
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the one number among the arguments is the round count.
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let sizes = mixed_sizes();
    let (mut zeroed, mut uninit) = (Heap::new(), Heap::new());
    // Warm up every variant (heaps grown, glibc's bins filled) before timing.
    for v in 0..MIXED.len() {
        for r in 0..20 {
            mixed_batch(v, &mut zeroed, &mut uninit, &sizes, r * BATCH);
        }
    }
    let mut t: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); MIXED.len()];
    for r in 0..rounds {
        for k in 0..MIXED.len() {
            let v = (r + k) % MIXED.len();
            t[v].push(mixed_batch(v, &mut zeroed, &mut uninit, &sizes, r * BATCH));
        }
    }
    let ratio = |a: usize, b: usize| {
        let mut q: Vec<f64> = t[a].iter().zip(&t[b]).map(|(x, y)| x / y).collect();
        median(&mut q)
    };
    println!("mixed 8..=512-byte loop, {rounds} interleaved rounds of {BATCH} requests");
    println!("  ratios (median of per-round ratios):");
    println!("    gomem / calloc+free         {:.3}", ratio(0, 3));
    println!("    gomem_uninit / malloc+free  {:.3}", ratio(1, 2));
    println!("    gomem / malloc+free         {:.3}", ratio(0, 2));
    println!("  per request (median over rounds):");
    for (v, name) in MIXED.iter().enumerate() {
        println!("    {name:<14} {:7.2} ns", median(&mut t[v].clone()));
    }

    let mut h = Heap::new();
    let mut f: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); FAST.len()];
    for r in 0..rounds {
        for k in 0..FAST.len() {
            let v = (r + k) % FAST.len();
            f[v].push(fast_round(v, &mut h));
        }
    }
    println!("fast path (a cached span with free slots), {rounds} rounds:");
    for (v, name) in FAST.iter().enumerate() {
        let m = median(&mut f[v]);
        println!("    {name:<10} median {m:5.2} ns, fastest round {:5.2} ns", f[v][0]);
    }
}
