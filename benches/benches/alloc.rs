//! Criterion benchmarks of the allocator (`gomem-allocator`) against Rust's system allocator
//! (`std::alloc::System`, glibc `malloc` on Linux), each group holding both so that criterion
//! prints them side by side. How to read them: `docs/performance.md`; earlier results:
//! `docs/performance-log.md`.
//!
//! Every gomem measurement uses one heap and one [`MCache`] (one per thread in the `_2t`
//! groups) for the whole benchmark. Objects are freed the way the collector frees them: a
//! simulated GC cycle in which nothing is marked (`advance_sweepgen`, `release_all`,
//! `sweep_all`, exactly as `allocator/tests/common.rs` does), so every span goes back to the
//! page heap and the next allocations refill the cache from its central list with fresh spans
//! (carved from the P's page cache, on pages that were used before and so need zeroing).
//!
//! Groups (criterion ids are `group/function/parameter`; the time per iteration is the time per
//! object):
//!
//! - `small_noscan/{gomem,system}/SIZE` and `small_scan/{gomem,system}/SIZE` for SIZE in
//!   8, 16, 32, 48, 64, 128, 256, 512, 1024, 4096, 32768: allocate batches of up to 10 000 objects (at most 64 MiB per batch); the
//!   GC cycle (gomem) or the batch's frees (system) run between batches *outside* the timed
//!   region. Refills from the central lists are timed. Notes: noscan 8 is served by the tiny
//!   allocator (< 16 bytes, pointer-free); scan objects are arrays of pointer words
//!   ([`POINTER`]), with an 8-byte type header above 512 bytes (so scan 1024 uses the 1152-byte
//!   class and scan 4096 the 4864-byte one), and scan 32768 is a *large* object (over 32760
//!   bytes, a span of its own).
//! - `fast_path/{gomem,system}/{noscan_16,scan_8,tiny_8}`: the cost per object while the cached
//!   span has free slots: after an untimed GC cycle and one untimed allocation that caches a
//!   fresh span, time the remaining slots of that span (no refill inside the timed region; the
//!   bench asserts it). This includes the alloc-cache reload every 64 slots, as in Go.
//! - `tiny/{gomem,system}/{1,8,12}`: pointer-free objects under 16 bytes.
//! - `large/{gomem,system,system_zeroed}/{40000,262144,1048576}`: batches capped at 64 MiB.
//!   gomem returns zeroed memory and re-zeroes reused pages; `system_zeroed` (`alloc_zeroed`,
//!   i.e. `calloc`) is the like-for-like baseline, `system` (`malloc`) the raw one.
//! - `small_noscan_2t/{gomem,system}/{16,64,512}`: two long-lived worker threads, each with its
//!   own cache (its own glibc arena/tcache for the system allocator), released together by a
//!   `Barrier` for each batch, each allocating the same batch; the time is the wall time from
//!   the earliest start to the latest finish, divided by the objects *per thread*. Perfect
//!   scaling would equal the one-thread time per object.
//! - `alloc_free_loop/{gomem,gomem_uninit,gomem_alloc_only,system_pair,system_pair_zeroed,
//!   system_batch}/mixed_8-512`: the target; see [`bench_alloc_free_loop`] for why the
//!   comparison is fair.
//! - `alloc_free_loop/{gomem,system_pair,system_pair_zeroed}/SIZE` for SIZE in [`PAIR_SIZES`]
//!   (the small sizes above and one large object, 40 000 bytes): the same loop at one size per
//!   benchmark, so every size class has its alloc+free cost beside a malloc+free pair.
//!   Pointer-free objects, so gomem's 8 is a tiny-allocator object.
//! - `mutator/{alloc,bottom_up,check}/...`: the typed API of a whole runtime (`gomem::Mutator`,
//!   one goroutine, GOMAXPROCS=1, GOGC=off so no cycle marks inside the timed region; an
//!   untimed `Mutator::gc` between batches frees the batch). `alloc/tree_node` is
//!   `Mutator::alloc` of binary-trees' 16-byte node, in scopes of 1000 (rooting, the assist
//!   check and the refill test included: Go's `mallocgc` fast path); `bottom_up/10` builds
//!   binary-trees' depth-10 trees (alloc, escape, two barriered stores per node);
//!   `check/16` counts the nodes of a prebuilt depth-16 tree with binary-trees' `check`. Each
//!   is per node.

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::sizeclass::{classify, SizeKind, SpanClass};
use gomem_allocator::sync::Arc;
use gomem_allocator::typedesc::POINTER;
use gomem_benches::workloads::binary_trees::{bottom_up, check, Tree};
use std::alloc::{handle_alloc_error, GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::{mpsc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Objects per timed batch (between two GC cycles).
const BATCH: usize = 10_000;
/// Cap on the bytes one batch allocates (keeps the 32 KiB and large cases within memory).
const BATCH_BYTES: usize = 64 << 20;

const SMALL_SIZES: [usize; 11] = [8, 16, 32, 48, 64, 128, 256, 512, 1024, 4096, 32768];
/// Sizes of the per-size alloc+free loop: the small sizes above and one large object (over
/// 32 KiB, so a span of its own).
const PAIR_SIZES: [usize; 12] = [8, 16, 32, 48, 64, 128, 256, 512, 1024, 4096, 32768, 40_000];
const TINY_SIZES: [usize; 3] = [1, 8, 12];
const LARGE_SIZES: [usize; 3] = [40_000, 262_144, 1_048_576];
const TWO_THREAD_SIZES: [usize; 3] = [16, 64, 512];

/// Objects per batch for objects of `size` bytes.
fn batch_for(size: usize) -> usize {
    (BATCH_BYTES / size).clamp(1, BATCH)
}

// ---------------------------------------------------------------------- gomem side

#[path = "shared/common.rs"]
mod common;
use common::{mixed_sizes, Gomem, MIXED_LEN};

/// How a gomem benchmark allocates one object.
#[derive(Clone, Copy)]
enum Kind {
    /// `alloc_noscan(size)`.
    Noscan,
    /// `alloc_array(&POINTER, size / 8)`: an array of pointer words.
    Scan,
    /// `alloc_noscan_uninit(size)`: pointer-free and not cleared, like `malloc`.
    NoscanUninit,
}

#[inline(always)]
fn gomem_alloc(cache: &mut MCache, kind: Kind, size: usize) -> *mut u8 {
    let r = match kind {
        Kind::Noscan => cache.alloc_noscan(size),
        Kind::Scan => cache.alloc_array(&POINTER, size / 8),
        Kind::NoscanUninit => cache.alloc_noscan_uninit(size),
    };
    match r {
        Ok(p) => p.as_ptr(),
        Err(e) => panic!("gomem allocation of {size} bytes failed: {e:?}"),
    }
}

/// Time `iters` allocations in batches of `batch`, with an untimed GC cycle after each batch.
fn gomem_batched(g: &mut Gomem, kind: Kind, size: usize, batch: usize, iters: u64) -> Duration {
    let mut buf: Vec<*mut u8> = Vec::with_capacity(batch);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch as u64) as usize;
        buf.clear();
        let t = Instant::now();
        for _ in 0..n {
            buf.push(gomem_alloc(&mut g.cache, kind, size));
        }
        total += t.elapsed();
        black_box(&buf);
        g.collect();
        left -= n as u64;
    }
    total
}

/// Objects one freshly cached span serves for `(kind, size)`.
fn objects_per_span(kind: Kind, size: usize) -> usize {
    match classify(size, matches!(kind, Kind::Noscan)) {
        Some(SizeKind::Small { spc, .. }) => spc.objects(),
        // A 16-byte slot holds 16 / size tiny objects when size divides 16.
        Some(SizeKind::Tiny) if 16 % size == 0 => SpanClass::TINY.objects() * (16 / size),
        other => panic!("no fast path for {size} bytes: {other:?}"),
    }
}

/// Time `iters` allocations that are all served by the span already cached: each round runs a
/// GC cycle and one allocation (both untimed; the allocation caches a fresh, empty span), then
/// times the span's remaining slots.
fn gomem_fast(g: &mut Gomem, kind: Kind, size: usize, iters: u64) -> Duration {
    let per_round = objects_per_span(kind, size) - 1;
    let mut buf: Vec<*mut u8> = Vec::with_capacity(per_round);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(per_round as u64) as usize;
        g.collect();
        black_box(gomem_alloc(&mut g.cache, kind, size));
        g.cache.take_refilled();
        buf.clear();
        let t = Instant::now();
        for _ in 0..n {
            buf.push(gomem_alloc(&mut g.cache, kind, size));
        }
        total += t.elapsed();
        black_box(&buf);
        assert!(!g.cache.take_refilled(), "fast_path: a refill happened inside the timed region");
        left -= n as u64;
    }
    total
}

// ---------------------------------------------------------------------- system side

#[inline(always)]
fn sys_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: every layout used here has a non-zero size.
    let p = unsafe { System.alloc(layout) };
    if p.is_null() {
        handle_alloc_error(layout);
    }
    p
}

#[inline(always)]
fn sys_alloc_zeroed(layout: Layout) -> *mut u8 {
    // SAFETY: every layout used here has a non-zero size.
    let p = unsafe { System.alloc_zeroed(layout) };
    if p.is_null() {
        handle_alloc_error(layout);
    }
    p
}

#[inline(always)]
fn sys_free(p: *mut u8, layout: Layout) {
    // SAFETY: `p` was returned by `System.alloc`/`alloc_zeroed` with this layout and is freed once.
    unsafe { System.dealloc(p, layout) };
}

/// The layout of a `size`-byte request: aligned to 8, or to the largest power of two dividing
/// `size` below that (what gomem guarantees for tiny objects).
fn layout(size: usize) -> Layout {
    let align = (1usize << size.trailing_zeros()).min(8);
    Layout::from_size_align(size, align).expect("layout")
}

/// Time `iters` system allocations in batches of `batch`; each batch is freed after the clock
/// stops (the counterpart of gomem's untimed GC cycle).
fn system_batched(layout: Layout, zeroed: bool, batch: usize, iters: u64) -> Duration {
    let mut buf: Vec<*mut u8> = Vec::with_capacity(batch);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch as u64) as usize;
        buf.clear();
        let t = Instant::now();
        if zeroed {
            for _ in 0..n {
                buf.push(sys_alloc_zeroed(layout));
            }
        } else {
            for _ in 0..n {
                buf.push(sys_alloc(layout));
            }
        }
        total += t.elapsed();
        for &p in &buf {
            sys_free(p, layout);
        }
        left -= n as u64;
    }
    total
}

// ---------------------------------------------------------------------- alloc+free loops

/// gomem's alloc+free cost: allocate `iters` pointer-free objects, the `i`-th of
/// `size_at(i)` bytes, in batches of `batch`, each followed by the GC cycle that frees it; all
/// of it timed.
#[inline(always)]
fn gomem_alloc_free(
    g: &mut Gomem,
    kind: Kind,
    batch: usize,
    iters: u64,
    size_at: impl Fn(usize) -> usize,
) -> Duration {
    let mut i = 0usize;
    let mut left = iters;
    let t = Instant::now();
    while left > 0 {
        let n = left.min(batch as u64) as usize;
        for _ in 0..n {
            let size = size_at(i);
            i = i.wrapping_add(1);
            black_box(gomem_alloc(&mut g.cache, kind, size));
        }
        g.collect();
        left -= n as u64;
    }
    t.elapsed()
}

/// The system allocator's malloc+free pair (calloc+free with `zeroed`): `iters` times, allocate
/// `layout_at(i)` and free it straight away; all of it timed.
#[inline(always)]
fn system_pair(iters: u64, zeroed: bool, layout_at: impl Fn(usize) -> Layout) -> Duration {
    let t = Instant::now();
    if zeroed {
        for i in 0..iters as usize {
            let l = layout_at(i);
            let p = sys_alloc_zeroed(l);
            black_box(p);
            sys_free(p, l);
        }
    } else {
        for i in 0..iters as usize {
            let l = layout_at(i);
            let p = sys_alloc(l);
            black_box(p);
            sys_free(p, l);
        }
    }
    t.elapsed()
}

// ---------------------------------------------------------------------- mutator side

/// A one-P runtime with GOGC=off, so that only the benchmark's own `Mutator::gc` collects.
fn mutator_runtime() -> gomem::Runtime {
    let config = gomem::Config::default().gomaxprocs(1).gogc(gomem::GcPercent::Off);
    gomem::Runtime::new(config).expect("runtime")
}

/// Nodes `Mutator` benchmarks allocate between two untimed collections.
const MUTATOR_BATCH: u64 = 100_000;

/// Time `iters` allocations of a tree node, in scopes of 1000, with an untimed collection
/// after every [`MUTATOR_BATCH`].
fn mutator_alloc(rt: &gomem::Runtime, iters: u64) -> Duration {
    rt.go(move |m| {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(MUTATOR_BATCH);
            let t = Instant::now();
            let mut done = 0;
            while done < n {
                let k = (n - done).min(1000);
                m.scope(|m| {
                    for _ in 0..k {
                        black_box(m.alloc::<Tree>().expect("alloc"));
                    }
                });
                done += k;
            }
            total += t.elapsed();
            m.gc();
            left -= n;
        }
        total
    })
    .join()
    .expect("bench goroutine")
}

/// Time building depth-`depth` trees with binary-trees' `bottom_up` until `iters` nodes are
/// made, with an untimed collection after about every [`MUTATOR_BATCH`] nodes.
fn mutator_bottom_up(rt: &gomem::Runtime, depth: u32, iters: u64) -> Duration {
    let per_tree = (1u64 << (depth + 1)) - 1;
    rt.go(move |m| {
        let mut total = Duration::ZERO;
        let (mut made, mut since_gc) = (0, 0);
        while made < iters {
            let t = Instant::now();
            m.scope(|m| black_box(bottom_up(m, depth).expect("alloc")).addr());
            total += t.elapsed();
            made += per_tree;
            since_gc += per_tree;
            if since_gc >= MUTATOR_BATCH {
                m.gc();
                since_gc = 0;
            }
        }
        total * u32::try_from(iters).unwrap_or(u32::MAX) / u32::try_from(made).unwrap_or(1)
    })
    .join()
    .expect("bench goroutine")
}

/// Time binary-trees' `check` over the tree in `tree` (of `nodes` nodes) until `iters` nodes
/// are counted.
fn mutator_check(
    rt: &gomem::Runtime,
    tree: gomem::Global<Tree>,
    nodes: u64,
    iters: u64,
) -> Duration {
    rt.go(move |m| {
        let t = m.global(tree).expect("tree");
        let rounds = iters.div_ceil(nodes);
        let start = Instant::now();
        for _ in 0..rounds {
            assert_eq!(u64::from(black_box(check(m, t))), nodes);
        }
        start.elapsed() * u32::try_from(iters).unwrap_or(u32::MAX)
            / u32::try_from(rounds * nodes).unwrap_or(1)
    })
    .join()
    .expect("bench goroutine")
}

fn bench_mutator(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutator");
    g.throughput(Throughput::Elements(1));
    let rt = mutator_runtime();
    g.bench_function(BenchmarkId::new("alloc", "tree_node"), |b| {
        b.iter_custom(|iters| mutator_alloc(&rt, iters))
    });
    g.bench_function(BenchmarkId::new("bottom_up", 10), |b| {
        b.iter_custom(|iters| mutator_bottom_up(&rt, 10, iters))
    });
    let depth = 16;
    let tree = rt.global::<Tree>();
    rt.go(move |m| {
        let t = bottom_up(m, depth).expect("alloc");
        m.set_global(tree, Some(t));
    })
    .join()
    .expect("build goroutine");
    let nodes = (1u64 << (depth + 1)) - 1;
    g.bench_function(BenchmarkId::new("check", depth), |b| {
        b.iter_custom(|iters| mutator_check(&rt, tree, nodes, iters))
    });
    g.finish();
}

// ---------------------------------------------------------------------- groups

fn bench_small(c: &mut Criterion, group: &str, kind: Kind) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for size in SMALL_SIZES {
        let batch = batch_for(size);
        let mut heap = Gomem::new();
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| gomem_batched(&mut heap, kind, size, batch, iters))
        });
        g.bench_with_input(BenchmarkId::new("system", size), &size, |b, &size| {
            b.iter_custom(|iters| system_batched(layout(size), false, batch, iters))
        });
    }
    g.finish();
}

fn bench_small_noscan(c: &mut Criterion) {
    bench_small(c, "small_noscan", Kind::Noscan);
}

fn bench_small_scan(c: &mut Criterion) {
    bench_small(c, "small_scan", Kind::Scan);
}

fn bench_fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("fast_path");
    g.throughput(Throughput::Elements(1));
    for (name, kind, size) in
        [("noscan_16", Kind::Noscan, 16), ("scan_8", Kind::Scan, 8), ("tiny_8", Kind::Noscan, 8)]
    {
        let mut heap = Gomem::new();
        g.bench_function(BenchmarkId::new("gomem", name), |b| {
            b.iter_custom(|iters| gomem_fast(&mut heap, kind, size, iters))
        });
        // The same number of objects per timed round as gomem's span holds.
        let per_round = objects_per_span(kind, size) - 1;
        g.bench_function(BenchmarkId::new("system", name), |b| {
            b.iter_custom(|iters| system_batched(layout(size), false, per_round, iters))
        });
    }
    g.finish();
}

fn bench_tiny(c: &mut Criterion) {
    let mut g = c.benchmark_group("tiny");
    g.throughput(Throughput::Elements(1));
    for size in TINY_SIZES {
        let mut heap = Gomem::new();
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| gomem_batched(&mut heap, Kind::Noscan, size, BATCH, iters))
        });
        g.bench_with_input(BenchmarkId::new("system", size), &size, |b, &size| {
            b.iter_custom(|iters| system_batched(layout(size), false, BATCH, iters))
        });
    }
    g.finish();
}

fn bench_large(c: &mut Criterion) {
    let mut g = c.benchmark_group("large");
    g.throughput(Throughput::Elements(1));
    for size in LARGE_SIZES {
        let batch = batch_for(size);
        let mut heap = Gomem::new();
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| gomem_batched(&mut heap, Kind::Noscan, size, batch, iters))
        });
        g.bench_with_input(BenchmarkId::new("system", size), &size, |b, &size| {
            b.iter_custom(|iters| system_batched(layout(size), false, batch, iters))
        });
        g.bench_with_input(BenchmarkId::new("system_zeroed", size), &size, |b, &size| {
            b.iter_custom(|iters| system_batched(layout(size), true, batch, iters))
        });
    }
    g.finish();
}

/// Wall time from the earliest start to the latest end of per-thread `(start, end)` pairs.
fn span_of(times: &[(Instant, Instant)]) -> Duration {
    let start = times.iter().map(|t| t.0).min().expect("threads");
    let end = times.iter().map(|t| t.1).max().expect("threads");
    end - start
}

/// A command to a two-thread bench worker.
enum Cmd {
    /// Wait on the shared barrier, then allocate `n` objects of `size` bytes; reply with the
    /// timed `(start, end)`.
    Alloc { n: usize, size: usize },
    /// gomem only: give the cache's spans back (`release_all`), the P's part of a GC cycle.
    Release,
}

/// Two long-lived worker threads (so each keeps its `MCache`, or its glibc arena and tcache,
/// for the whole benchmark, as a P or a pool thread would), driven over channels.
struct Workers {
    cmds: Vec<mpsc::Sender<Cmd>>,
    replies: mpsc::Receiver<(Instant, Instant)>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Workers {
    /// Two workers allocating from their own cache of `heap`.
    fn gomem(heap: &Arc<MHeap>) -> Workers {
        Workers::spawn(|| {
            let mut cache = heap.new_cache();
            move |cmd: Cmd, barrier: &Barrier, buf: &mut Vec<*mut u8>| match cmd {
                Cmd::Alloc { n, size } => {
                    barrier.wait();
                    let t0 = Instant::now();
                    for _ in 0..n {
                        buf.push(gomem_alloc(&mut cache, Kind::Noscan, size));
                    }
                    let t1 = Instant::now();
                    black_box(&*buf);
                    (t0, t1)
                }
                Cmd::Release => {
                    cache.release_all();
                    let t = Instant::now();
                    (t, t)
                }
            }
        })
    }

    /// Two workers on the system allocator; each frees its own batch after its clock stops
    /// (freeing on the allocating thread keeps glibc on its per-thread fast paths).
    fn system() -> Workers {
        Workers::spawn(|| {
            |cmd: Cmd, barrier: &Barrier, buf: &mut Vec<*mut u8>| match cmd {
                Cmd::Alloc { n, size } => {
                    let layout = layout(size);
                    barrier.wait();
                    let t0 = Instant::now();
                    for _ in 0..n {
                        buf.push(sys_alloc(layout));
                    }
                    let t1 = Instant::now();
                    for &p in buf.iter() {
                        sys_free(p, layout);
                    }
                    (t0, t1)
                }
                Cmd::Release => {
                    let t = Instant::now();
                    (t, t)
                }
            }
        })
    }

    fn spawn<F, W>(mut make: F) -> Workers
    where
        F: FnMut() -> W,
        W: FnMut(Cmd, &Barrier, &mut Vec<*mut u8>) -> (Instant, Instant) + Send + 'static,
    {
        let barrier = Arc::new(Barrier::new(2));
        let (reply_tx, replies) = mpsc::channel();
        let mut cmds = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = mpsc::channel::<Cmd>();
            let mut work = make();
            let barrier = barrier.clone();
            let reply_tx = reply_tx.clone();
            handles.push(thread::spawn(move || {
                let mut buf: Vec<*mut u8> = Vec::with_capacity(BATCH);
                while let Ok(cmd) = rx.recv() {
                    buf.clear();
                    let r = work(cmd, &barrier, &mut buf);
                    if reply_tx.send(r).is_err() {
                        break;
                    }
                }
            }));
            cmds.push(tx);
        }
        Workers { cmds, replies, handles }
    }

    /// Send `cmd()` to both workers and wait for both replies.
    fn both(&self, cmd: impl Fn() -> Cmd) -> [(Instant, Instant); 2] {
        for tx in &self.cmds {
            tx.send(cmd()).expect("bench worker gone");
        }
        let a = self.replies.recv().expect("bench worker gone");
        let b = self.replies.recv().expect("bench worker gone");
        [a, b]
    }

    /// Time `iters` objects per thread in batches; with `heap`, run a GC cycle between batches
    /// (untimed, with both workers idle: the world is stopped).
    fn run(&self, heap: Option<&MHeap>, size: usize, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH as u64) as usize;
            total += span_of(&self.both(|| Cmd::Alloc { n, size }));
            if let Some(heap) = heap {
                // SAFETY: both workers are idle, waiting for a command, so nothing allocates or
                // sweeps; the previous cycle was fully swept by the `sweep_all` below; and both
                // caches release their spans before they allocate again.
                unsafe { heap.advance_sweepgen() };
                self.both(|| Cmd::Release);
                heap.sweep_all();
            }
            left -= n as u64;
        }
        total
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.cmds.clear();
        for h in self.handles.drain(..) {
            h.join().expect("bench worker panicked");
        }
    }
}

fn bench_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_noscan_2t");
    // One iteration = one object on each thread.
    g.throughput(Throughput::Elements(2));
    for size in TWO_THREAD_SIZES {
        let heap = MHeap::new(HeapConfig::default()).expect("heap");
        let workers = Workers::gomem(&heap);
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| workers.run(Some(&heap), size, iters))
        });
        drop(workers);
        let workers = Workers::system();
        g.bench_with_input(BenchmarkId::new("system", size), &size, |b, &size| {
            b.iter_custom(|iters| workers.run(None, size, iters))
        });
    }
    g.finish();
}

/// The mixed loop's sizes ([`mixed_sizes`]) as layouts aligned to 8.
fn mixed_layouts() -> Vec<Layout> {
    mixed_sizes().into_iter().map(|s| Layout::from_size_align(s, 8).expect("layout")).collect()
}

/// `alloc_free_loop`: the issue's target, "faster than the system allocator's malloc+free
/// pair on the same sizes", on a mixed 8..=512-byte load.
///
/// Why this is fair:
///
/// - Both sides walk the same precomputed sequence of sizes (same table, same indexing), so
///   size generation costs the same and both see the same size classes / bins.
/// - Both sides pay for freeing. gomem has no `free`: an object that dies costs its share of
///   the sweep that reclaims its span (marking costs nothing for a dead object). So `gomem`
///   times the allocations *and* the GC cycle that frees them (`advance_sweepgen`,
///   `release_all`, `sweep_all`, with span refills from the central lists and the page heap
///   inside the loop), batch after batch of 10 000 objects; the time per object is
///   alloc + amortised sweep.
/// - `system_pair` is the literal target: `malloc` then `free` of each object straight away
///   (timed). This is glibc's best case: the chunk goes back to the tcache and the next
///   malloc of that size takes it again, with no refill ever.
/// - `system_pair_zeroed` is the same with `alloc_zeroed` (`calloc`): like gomem, it hands out
///   zeroed memory.
/// - `system_batch` gives the system allocator the same object lifetimes as gomem (a batch of
///   10 000 live at once, then all freed), everything timed.
/// - `gomem_alloc_only` is the same loop with the GC cycle untimed, to show the split between
///   allocation and sweeping.
/// - `gomem_uninit` is the `gomem` loop with `alloc_noscan_uninit` (Go's `mallocgc` with
///   `needzero` false): like `malloc`, it does not clear what it hands out, so it is the
///   like-for-like opponent of `system_pair`, as `gomem` is of `system_pair_zeroed`.
/// - gomem hands out zeroed memory (a reused span's free slots are cleared when a P caches
///   it) while `malloc` does not zero: the comparison is tilted *against* gomem there.
///
/// The same group also runs `gomem`, `system_pair` and `system_pair_zeroed` at each single
/// size of [`PAIR_SIZES`] (parameter = the size in bytes), with the same rules: gomem's batches
/// are 10 000 objects capped at 64 MiB (1677 objects of 40 000 bytes), and its GC cycles are
/// timed. At one size, every refill after the first cycle takes a fresh span (nothing is live,
/// so no partial span survives a cycle) and glibc's pair reuses one chunk for ever: this is
/// each allocator's steady state for a program that frees everything it allocates.
fn bench_alloc_free_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_loop");
    g.throughput(Throughput::Elements(1));
    let layouts = mixed_layouts();
    let id = "mixed_8-512";

    let mut heap = Gomem::new();
    g.bench_function(BenchmarkId::new("gomem", id), |b| {
        b.iter_custom(|iters| {
            let size_at = |i: usize| layouts[i & (MIXED_LEN - 1)].size();
            gomem_alloc_free(&mut heap, Kind::Noscan, BATCH, iters, size_at)
        })
    });

    let mut heap = Gomem::new();
    g.bench_function(BenchmarkId::new("gomem_uninit", id), |b| {
        b.iter_custom(|iters| {
            let size_at = |i: usize| layouts[i & (MIXED_LEN - 1)].size();
            gomem_alloc_free(&mut heap, Kind::NoscanUninit, BATCH, iters, size_at)
        })
    });

    let mut heap = Gomem::new();
    g.bench_function(BenchmarkId::new("gomem_alloc_only", id), |b| {
        b.iter_custom(|iters| {
            let mut i = 0usize;
            let mut left = iters;
            let mut total = Duration::ZERO;
            while left > 0 {
                let n = left.min(BATCH as u64) as usize;
                let t = Instant::now();
                for _ in 0..n {
                    let size = layouts[i & (MIXED_LEN - 1)].size();
                    i = i.wrapping_add(1);
                    black_box(gomem_alloc(&mut heap.cache, Kind::Noscan, size));
                }
                total += t.elapsed();
                heap.collect();
                left -= n as u64;
            }
            total
        })
    });

    g.bench_function(BenchmarkId::new("system_pair", id), |b| {
        b.iter_custom(|iters| system_pair(iters, false, |i| layouts[i & (MIXED_LEN - 1)]))
    });

    g.bench_function(BenchmarkId::new("system_pair_zeroed", id), |b| {
        b.iter_custom(|iters| system_pair(iters, true, |i| layouts[i & (MIXED_LEN - 1)]))
    });

    let mut buf: Vec<*mut u8> = Vec::with_capacity(BATCH);
    g.bench_function(BenchmarkId::new("system_batch", id), |b| {
        b.iter_custom(|iters| {
            let mut i = 0usize;
            let mut left = iters;
            let t = Instant::now();
            while left > 0 {
                let n = left.min(BATCH as u64) as usize;
                buf.clear();
                let first = i;
                for _ in 0..n {
                    let l = layouts[i & (MIXED_LEN - 1)];
                    i = i.wrapping_add(1);
                    buf.push(sys_alloc(l));
                }
                for (k, &p) in buf.iter().enumerate() {
                    sys_free(p, layouts[(first + k) & (MIXED_LEN - 1)]);
                }
                left -= n as u64;
            }
            t.elapsed()
        })
    });

    // One size per benchmark: the size classes' alloc+free cost beside the malloc+free pair.
    for size in PAIR_SIZES {
        let batch = batch_for(size);
        let mut heap = Gomem::new();
        g.bench_with_input(BenchmarkId::new("gomem", size), &size, |b, &size| {
            b.iter_custom(|iters| gomem_alloc_free(&mut heap, Kind::Noscan, batch, iters, |_| size))
        });
        let l = layout(size);
        g.bench_with_input(BenchmarkId::new("system_pair", size), &size, |b, _| {
            b.iter_custom(|iters| system_pair(iters, false, |_| l))
        });
        g.bench_with_input(BenchmarkId::new("system_pair_zeroed", size), &size, |b, _| {
            b.iter_custom(|iters| system_pair(iters, true, |_| l))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(1500))
}

/// Every group, with the short measurement settings of [`config`] (criterion's
/// `criterion_group!` without the undocumented public function it generates).
fn alloc_benches() {
    let mut c = config().configure_from_args();
    bench_small_noscan(&mut c);
    bench_small_scan(&mut c);
    bench_fast_path(&mut c);
    bench_tiny(&mut c);
    bench_large(&mut c);
    bench_two_threads(&mut c);
    bench_alloc_free_loop(&mut c);
    bench_mutator(&mut c);
}

criterion_main!(alloc_benches);
