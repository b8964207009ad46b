//! Criterion benchmarks of the collector's hot paths: the write barrier, marking, and sweeping
//! one span. Each group holds a baseline beside the measured path so that criterion prints them
//! side by side. Results and how to read them: `docs/performance-log.md`, "Hot-path
//! microbenchmarks".
//!
//! No collector thread runs here. Each group drives the collector's and the allocator's public
//! functions on a heap of its own, from the bench thread only, so the world is stopped by
//! construction. Between timed regions, marks are cleared the way the collector clears them: a
//! GC cycle ends in which *every* object of the heap is marked (`advance_sweepgen`,
//! `release_all`, `sweep_all`), so nothing is ever freed. [`end_cycle`] asserts that.
//!
//! Groups (criterion ids are `group/function/parameter`):
//!
//! - `write_barrier/{plain_store,off,on_white,on_black}`: one pointer store per iteration into
//!   one of the 64 slots of a heap pointer array, cycling over 4096 target objects. `off`,
//!   `on_white` and `on_black` go through the runtime's store path
//!   (`gomem::barrier::write_pointer`) with the barrier switch off or on; `plain_store` is the
//!   baseline, a volatile store of the same `usize` to the same slot. See [`bench_write_barrier`].
//! - `mark_list/{mark,traverse}/N`, `mark_tree/{mark,traverse}/N` and
//!   `mark_array/{mark,traverse}/N`: marking a linked list, a complete binary tree, and a
//!   pointer array whose `N` slots lead to `N` nodes in random order, from the root (`shade` +
//!   `drain` to completion), against a plain walk of the same structure. Throughput is in
//!   objects (for `mark_array`, the nodes). See [`bench_mark`].
//! - `sweep_span/...`: sweeping one 16-byte noscan span (512 slots, all allocated) with a given
//!   fraction of its slots marked; the baseline is the same sweep of an all-marked span. See
//!   [`bench_sweep`].

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use gomem::barrier::write_pointer;
use gomem::collector::cycle::{Collector, CollectorConfig, DebugModes};
use gomem::collector::{drain, shade, GcWork, WorkPool};
use gomem::state::PState;
use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::mspan::{MSpan, SPAN_BITMAP_WORDS};
use gomem_allocator::sync::Arc;
use gomem_allocator::typedesc::{TypeDesc, POINTER};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A list node: `{ next: *Node, val: u64 }` (16-byte scan class, pointer bits in the span).
static NODE: TypeDesc = TypeDesc::new(16, 8, &[1], "node");
/// A tree node: `{ left, right: *Tree, val: u64 }` (24-byte scan class).
static TREE: TypeDesc = TypeDesc::new(24, 16, &[0b11], "tree");

// ---------------------------------------------------------------------- helpers

fn new_heap() -> Arc<MHeap> {
    MHeap::new(HeapConfig::default()).expect("heap")
}

fn alloc(cache: &mut MCache, ty: &'static TypeDesc) -> usize {
    cache.alloc(ty).expect("alloc").as_ptr() as usize
}

/// Store `v` in word `i` of the object at `obj`, before any marking (like the collector's
/// tests, which have no mutator).
fn set_word(obj: usize, i: usize, v: usize) {
    // SAFETY: callers pass objects they just allocated with at least `i + 1` words; no marker
    // or other thread reads the heap while the structures are built.
    unsafe { ((obj + 8 * i) as *mut usize).write(v) }
}

/// Word `i` of the object at `obj` (the baselines' pointer chase).
#[inline(always)]
fn get_word(obj: usize, i: usize) -> usize {
    // SAFETY: `obj` is a live object of this bench's heap with at least `i + 1` words (a list or
    // tree node reached from the root), and nothing writes the heap during a traversal.
    unsafe { ((obj + 8 * i) as *const usize).read() }
}

/// End a GC cycle in which every object of `heap` is marked, then start the next one: new sweep
/// generation, `cache` (the heap's only cache) gives its spans back, sweep everything. The marks become the alloc bits and are cleared; nothing is freed, which is
/// asserted (a bench that lost objects would measure nothing).
fn end_cycle(heap: &MHeap, cache: &mut MCache) {
    let frees = heap.ledger(&[]).frees;
    start_sweep(heap, cache);
    // SAFETY: the bench thread plays the collector on a heap of its own (the write-barrier
    // bench's collector is never started): no mark can start during these sweeps.
    while unsafe { heap.sweep_one_unchecked() }.is_some() {}
    assert_eq!(heap.ledger(&[]).frees, frees, "an object was freed: it was not marked");
}

/// Mark everything reachable from `roots` on one P: shade, then drain to completion.
#[inline(always)]
///
/// # Safety
/// - The caller plays the collector on `heap` (no other thread uses it), this is its mark
///   phase, and the next [`end_cycle`] sweeps with these marks.
unsafe fn mark_from(heap: &MHeap, gcw: &mut GcWork, pool: &WorkPool, roots: &[usize]) {
    for &r in roots {
        // SAFETY: the caller's contract; the work stays in `gcw`/`pool`, drained below.
        unsafe { shade(heap, gcw, pool, r) };
    }
    // SAFETY: everything queued was greyed by shade on `heap`.
    unsafe { drain(heap, gcw, pool, None, &|| false) };
}

// ---------------------------------------------------------------------- write barrier

/// Slots of the pointer array the stores go to (a 512-byte object, one cache line per 8 slots).
const WB_SLOTS: usize = 64;
/// Distinct objects stored, in turn (a power of two). 4096 16-byte nodes: 64 KiB.
const WB_TARGETS: usize = 4096;

/// One P's state on a heap with a (never started) collector, a pointer array to store into and
/// the objects to store.
struct WbBench {
    heap: Arc<MHeap>,
    p: PState,
    holder: usize,
    targets: Vec<usize>,
}

impl WbBench {
    fn new() -> WbBench {
        let heap = new_heap();
        // The cache first: a heap with a collector makes no more caches.
        let cache = heap.new_cache();
        let collector = Collector::new(
            heap.clone(),
            CollectorConfig {
                gc_percent: -1,
                memory_limit: u64::MAX,
                gomaxprocs: 1,
                debug: DebugModes::default(),
                force_gc_period: None,
            },
        );
        let mut p = PState::new(cache, collector);
        let (cache, _, _) = p.parts_mut();
        let holder = cache.alloc_array(&POINTER, WB_SLOTS).expect("alloc").as_ptr() as usize;
        let targets = (0..WB_TARGETS).map(|_| alloc(cache, &NODE)).collect();
        WbBench { heap, p, holder, targets }
    }

    /// Every object of the heap (all of them are roots here).
    fn all_objects(&self) -> Vec<usize> {
        let mut v = self.targets.clone();
        v.push(self.holder);
        v
    }

    /// Store number `i`: the slot and the value.
    #[inline(always)]
    fn store_args(&self, i: usize) -> (usize, usize) {
        (self.holder + 8 * (i % WB_SLOTS), self.targets[i % WB_TARGETS])
    }

    /// `n` stores through the runtime's barrier path, starting at store number `first`.
    #[inline(always)]
    fn barrier_stores(&mut self, first: usize, n: usize) {
        for i in first..first + n {
            let (slot, new) = self.store_args(i);
            // SAFETY: `slot` is a pointer slot of the live pointer array `holder`, `new` a live
            // node; `p` is owned by this thread and no sweep runs during the stores.
            unsafe { write_pointer(&mut self.p, slot, new) };
        }
    }

    /// Shade what is left in the barrier buffer and publish the P's work (what the runtime does
    /// when the buffer is full, and at mark termination for a partial one).
    #[inline(always)]
    fn flush(&mut self) {
        let (cache, gc, collector) = self.p.parts_mut();
        // SAFETY: the bench thread plays the collector (its threads never start): the barrier
        // is on only between `reset_marks` calls, which end each "cycle" with these marks.
        unsafe {
            let pool = collector.pool();
            gc.wbbuf.flush(cache.heap(), &mut gc.gcw, pool);
            gc.gcw.dispose(pool);
        }
    }

    /// Scan the grey objects the barrier produced, mark every object, and end the cycle, so
    /// every object is white again (untimed).
    fn reset_marks(&mut self) {
        let roots = self.all_objects();
        let (cache, gc, collector) = self.p.parts_mut();
        // SAFETY: as in `flush`; `end_cycle` below sweeps with these marks.
        let pool = unsafe { collector.pool() };
        // SAFETY: as above.
        unsafe { mark_from(&self.heap, &mut gc.gcw, pool, &roots) };
        gc.gcw.dispose(pool);
        gc.gcw.take_counters();
        end_cycle(&self.heap, cache);
    }
}

/// `write_barrier`: the cost of one pointer store.
///
/// - `plain_store` (baseline): a volatile store of the same value to the same slot. Volatile,
///   so the loop is neither vectorised nor merged: it is the single `mov` a pointer store
///   compiles to without a barrier (the runtime's release store is also a plain `mov` on
///   x86-64).
/// - `off`: `write_pointer` with the barrier switch off (marking not running): one relaxed load
///   of the switch, a predictable branch, the store.
/// - `on_white`: the switch on, every target white when first stored. Each store records the
///   old and the new pointer; every 256 stores the buffer is full and is shaded into the P's
///   `GcWork` (find the object, set its mark bit, queue it) and disposed to the pool, as Go's
///   `wbBufFlush`. The flush of the last partial buffer of each batch of 4096 stores is timed
///   too, so every recorded pointer is shaded inside the timed region. Between batches
///   (untimed), the queued work is drained and the marks are cleared ([`end_cycle`]); each batch
///   therefore greys each of the 4096 targets once (as the new value of one store or the old
///   value of a later one) and finds it already marked the other time.
/// - `on_black`: the switch on, every target already marked (late in a mark phase): the
///   flushes only look the objects up and find their mark bits set.
fn bench_write_barrier(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_barrier");
    g.throughput(Throughput::Elements(1));
    let mut w = WbBench::new();

    g.bench_function("plain_store", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for i in 0..iters as usize {
                let (slot, new) = w.store_args(i);
                // SAFETY: `slot` is a word of the live pointer array `holder`; only this thread
                // touches the heap.
                unsafe { (slot as *mut usize).write_volatile(new) };
            }
            t.elapsed()
        })
    });

    // SAFETY: the bench thread plays the collector; no mark runs while the switch is off.
    unsafe { w.p.write_barrier().set_enabled(false) };
    g.bench_function("off", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            w.barrier_stores(0, iters as usize);
            t.elapsed()
        })
    });
    assert!(w.p.gc().wbbuf.is_empty(), "the barrier recorded stores while off");

    // SAFETY: the bench's "mark phase" starts: what the barrier greys is scanned and the
    // cycle ended by `reset_marks`.
    unsafe { w.p.write_barrier().set_enabled(true) };
    w.reset_marks();
    g.bench_function("on_white", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(WB_TARGETS as u64) as usize;
                let t = Instant::now();
                w.barrier_stores(0, n);
                w.flush();
                total += t.elapsed();
                assert!(w.p.gc().gcw.bytes_marked > 0, "on_white: the flushes greyed nothing");
                w.reset_marks();
                left -= n as u64;
            }
            total
        })
    });

    // Mark every object once; from now on every flush finds its objects black.
    let roots = w.all_objects();
    {
        let (_, gc, collector) = w.p.parts_mut();
        // SAFETY: as in `WbBench::reset_marks`: the bench plays the collector's mark phase.
        let pool = unsafe { collector.pool() };
        // SAFETY: as above.
        unsafe { mark_from(&w.heap, &mut gc.gcw, pool, &roots) };
        gc.gcw.dispose(pool);
        gc.gcw.take_counters();
    }
    g.bench_function("on_black", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            w.barrier_stores(0, iters as usize);
            w.flush();
            t.elapsed()
        })
    });
    assert_eq!(w.p.parts_mut().1.gcw.take_counters().0, 0, "on_black: a flush greyed an object");
    // SAFETY: the bench's mark phase ends; `reset_marks` below leaves no grey work.
    unsafe { w.p.write_barrier().set_enabled(false) };
    g.finish();
    // Leave the heap consistent (no grey work, marks cleared) before it is dropped.
    w.reset_marks();
}

// ---------------------------------------------------------------------- marking

/// Objects per structure: the sizes of complete binary trees of depth 16 and 20. 64 Ki objects
/// (1–1.5 MiB) overflow a core's 512 KiB L2 but fit the test machine's 32 MiB L3; 1 Mi objects
/// (16–24 MiB) take most of it.
const MARK_SIZES: [usize; 2] = [(1 << 16) - 1, (1 << 20) - 1];

/// A structure of `n` objects on a heap of its own, with that heap's only cache.
struct Graph {
    heap: Arc<MHeap>,
    cache: MCache,
    root: usize,
    n: usize,
    /// Slot size of each object, for checking that a mark marked them all.
    elemsize: u64,
}

impl Graph {
    /// A linked list of `n` nodes, in allocation order (so the nodes are consecutive in
    /// memory, as a list built in one go is in Go).
    fn list(n: usize) -> Graph {
        let heap = new_heap();
        let mut cache = heap.new_cache();
        let nodes: Vec<usize> = (0..n).map(|_| alloc(&mut cache, &NODE)).collect();
        for (i, &p) in nodes.iter().enumerate() {
            set_word(p, 0, nodes.get(i + 1).copied().unwrap_or(0));
            set_word(p, 1, i);
        }
        let elemsize = heap.find_object(nodes[0]).expect("node").0.elemsize() as u64;
        Graph { heap, cache, root: nodes[0], n, elemsize }
    }

    /// A complete binary tree of `n` nodes (`n + 1` a power of two), allocated breadth-first:
    /// node i's children are nodes 2i+1 and 2i+2.
    fn tree(n: usize) -> Graph {
        assert!((n + 1).is_power_of_two());
        let heap = new_heap();
        let mut cache = heap.new_cache();
        let t: Vec<usize> = (0..n).map(|_| alloc(&mut cache, &TREE)).collect();
        for (i, &p) in t.iter().enumerate() {
            set_word(p, 0, t.get(2 * i + 1).copied().unwrap_or(0));
            set_word(p, 1, t.get(2 * i + 2).copied().unwrap_or(0));
            set_word(p, 2, i);
        }
        let elemsize = heap.find_object(t[0]).expect("node").0.elemsize() as u64;
        Graph { heap, cache, root: t[0], n, elemsize }
    }

    /// A pointer array (one large object) of `n` slots pointing at `n` [`NODE`]s in a
    /// pseudo-random order (a fixed-seed Fisher–Yates shuffle of allocation order): the shape
    /// of a hash table, a cache or the `churn` workload's live set, where every slot leads to a
    /// different, unpredictable place in the heap.
    fn array(n: usize) -> Graph {
        let heap = new_heap();
        let mut cache = heap.new_cache();
        let mut nodes: Vec<usize> = (0..n).map(|_| alloc(&mut cache, &NODE)).collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in (1..n).rev() {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let j = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % (i + 1);
            nodes.swap(i, j);
        }
        for (i, &p) in nodes.iter().enumerate() {
            set_word(p, 1, i);
        }
        let arr = cache.alloc_array(&POINTER, n).expect("alloc").as_ptr() as usize;
        for (i, &p) in nodes.iter().enumerate() {
            set_word(arr, i, p);
        }
        let elemsize = heap.find_object(nodes[0]).expect("node").0.elemsize() as u64;
        let arr_bytes = heap.find_object(arr).expect("array").0.elemsize() as u64;
        // `mark` checks bytes marked against n × elemsize: count the array as extra nodes.
        assert_eq!(arr_bytes % elemsize, 0);
        Graph { heap, cache, root: arr, n: n + (arr_bytes / elemsize) as usize, elemsize }
    }

    /// Time marking from the root `iters` times; between marks (untimed), check that every
    /// object was marked and clear the marks.
    fn mark(&mut self, gcw: &mut GcWork, pool: &WorkPool, iters: u64) -> Duration {
        let thread_clock = std::env::var_os("GOMEM_BENCH_CLOCK").is_some_and(|v| v == "thread");
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let (t, c) = (Instant::now(), thread_cpu_time(thread_clock));
            // SAFETY: the bench plays the collector on a heap of its own; `end_cycle` below
            // sweeps with these marks.
            unsafe { mark_from(&self.heap, gcw, pool, &[self.root]) };
            total += if thread_clock { thread_cpu_time(true) - c } else { t.elapsed() };
            let (bytes, _) = gcw.take_counters();
            assert_eq!(bytes, self.n as u64 * self.elemsize, "mark missed objects");
            end_cycle(&self.heap, &mut self.cache);
        }
        total
    }
}

/// The bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) when `on`, else zero.
fn thread_cpu_time(on: bool) -> Duration {
    if !on {
        return Duration::ZERO;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux provides.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The baseline for lists: follow `next` to the end; returns the node count.
#[inline(never)]
fn traverse_list(head: usize) -> usize {
    let mut n = 0;
    let mut p = head;
    while p != 0 {
        n += 1;
        p = get_word(p, 0);
    }
    n
}

/// The baseline for arrays: load the first word of the node each of the `n` slots points
/// at; returns how many slots were non-nil.
#[inline(never)]
fn traverse_array(arr: usize, n: usize) -> usize {
    let mut seen = 0;
    for i in 0..n {
        let p = get_word(arr, i);
        if p != 0 {
            black_box(get_word(p, 0));
            seen += 1;
        }
    }
    seen
}

/// The baseline for trees: depth-first with an explicit stack, visiting children in the
/// marker's order (its work buffers are LIFO too); returns the node count.
#[inline(never)]
fn traverse_tree(root: usize, stack: &mut Vec<usize>) -> usize {
    let mut n = 0;
    stack.clear();
    stack.push(root);
    while let Some(p) = stack.pop() {
        n += 1;
        for i in 0..2 {
            let c = get_word(p, i);
            if c != 0 {
                stack.push(c);
            }
        }
    }
    n
}

/// `mark_list`, `mark_tree` and `mark_array`: marking a structure from its root vs walking it.
///
/// - `mark/N`: `shade(root)` then `drain` to completion on one P with its own `GcWork` and
///   pool, reused across iterations as a P's are: for every object, scan its pointer slots
///   (from the span's heap bits), look each pointer up (arena map, span), set its mark bit, count
///   its bytes, queue it and pop it again. Each mark is checked to have
///   marked all N objects; the cycle that clears the marks runs outside the timed region.
///   With `GOMEM_BENCH_CLOCK=thread` the time is the bench thread's CPU time instead of wall
///   time: on a machine shared with other jobs, wall time also counts the time the thread
///   waited for a core, which swamps the differences between two builds.
/// - `traverse/N` (baseline): the same structure walked by plain loads, in the same order,
///   with nothing marked or queued (a `Vec` stack for the tree). The difference is the cost of
///   marking over the memory traffic any walk of the structure pays.
fn bench_mark(c: &mut Criterion) {
    type Build = fn(usize) -> Graph;
    for (group, build) in [
        ("mark_list", Graph::list as Build),
        ("mark_tree", Graph::tree),
        ("mark_array", Graph::array),
    ] {
        let mut g = c.benchmark_group(group);
        // A 1 Mi-object mark takes milliseconds: 10 samples keep the run short.
        g.sample_size(10);
        for n in MARK_SIZES {
            g.throughput(Throughput::Elements(n as u64));
            let mut graph = build(n);
            let pool = WorkPool::new();
            let mut gcw = GcWork::new();
            g.bench_with_input(BenchmarkId::new("mark", n), &n, |b, _| {
                b.iter_custom(|iters| graph.mark(&mut gcw, &pool, iters))
            });
            gcw.dispose(&pool);
            let root = graph.root;
            if group == "mark_list" {
                assert_eq!(traverse_list(root), n);
                g.bench_with_input(BenchmarkId::new("traverse", n), &n, |b, _| {
                    b.iter(|| traverse_list(black_box(root)))
                });
            } else if group == "mark_array" {
                assert_eq!(traverse_array(root, n), n);
                g.bench_with_input(BenchmarkId::new("traverse", n), &n, |b, _| {
                    b.iter(|| traverse_array(black_box(root), n))
                });
            } else {
                let mut stack = Vec::with_capacity(64);
                assert_eq!(traverse_tree(root, &mut stack), n);
                g.bench_with_input(BenchmarkId::new("traverse", n), &n, |b, _| {
                    b.iter(|| traverse_tree(black_box(root), &mut stack))
                });
            }
        }
        g.finish();
    }
}

// ---------------------------------------------------------------------- sweeping

/// Object size of the swept spans: the 16-byte noscan class, 512 slots in one 8 KiB page.
const SWEEP_SIZE: usize = 16;
/// Spans swept per timed round (their structs and bitmaps total about 50 KiB).
const SWEEP_SPANS: usize = 128;

/// The mark bitmap of a span of `nelems` slots with about `pct` % of them marked, spread
/// pseudo-randomly (xorshift64*, fixed seed) so no word is all ones or all zeros by accident.
fn mark_pattern(nelems: usize, pct: u64) -> [u64; SPAN_BITMAP_WORDS] {
    let mut words = [0u64; SPAN_BITMAP_WORDS];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..nelems {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        if (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 100 < pct {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    words
}

/// Fill `count` fresh 16-byte noscan spans of `heap` from `cache` (on a fresh heap the cache
/// takes whole fresh spans in order) and return their bases. Every span is full; the last one is
/// still cached by `cache`.
fn fill_spans(heap: &MHeap, cache: &mut MCache, count: usize) -> Vec<usize> {
    let first = cache.alloc_noscan(SWEEP_SIZE).expect("alloc").as_ptr() as usize;
    let (span, index, _) = heap.find_object(first).expect("object");
    assert_eq!(index, 0, "a fresh heap starts a fresh span");
    let per = span.nelems();
    let mut objs = vec![first];
    objs.extend(
        (1..count * per).map(|_| cache.alloc_noscan(SWEEP_SIZE).expect("alloc").as_ptr() as usize),
    );
    (0..count)
        .map(|j| {
            let (s, i, _) = heap.find_object(objs[j * per]).expect("object");
            let (s2, i2, _) = heap.find_object(objs[(j + 1) * per - 1]).expect("object");
            assert!(i == 0 && i2 == per - 1 && s.base() == s2.base(), "span {j} is not full");
            s.base()
        })
        .collect()
}

/// Put an owned span back in the state of a span whose every slot was handed out since its
/// last sweep (`freeindex = alloc_count = nelems`, as the mcache leaves a span it exhausted),
/// with mark bits `marks`.
///
/// # Safety
/// - The caller holds the span's sweep ownership (won `try_acquire_sweep`, never handed back).
unsafe fn refill_span(s: &MSpan, marks: &[u64; SPAN_BITMAP_WORDS]) {
    let n = s.nelems();
    // SAFETY: the caller owns the span's allocation state; the closure does not re-enter.
    unsafe {
        s.with_local(|l| {
            l.freeindex = n;
            l.alloc_count = n;
        })
    };
    for (w, &bits) in marks.iter().enumerate().take(n.div_ceil(64)) {
        // SAFETY: the caller owns the span for sweeping, and the sweep that follows uses
        // exactly these marks.
        unsafe { s.set_mark_bits(w, bits) };
    }
}

/// `sweep_span`: sweeping one 16-byte noscan span (512 slots, every one allocated) in which a
/// given fraction of the objects is marked. Time per iteration = time per span; throughput is
/// in slots (512 per span).
///
/// - `sweep/marked_P` for P in 0, 10, 50, 90: `MSpan::sweep` (the mechanism of Go's
///   `mspan.sweep`, on spans whose sweep ownership the bench won with the sweepgen CAS and keeps)
///   with about P % of the slots marked (a fixed pseudo-random pattern).
/// - `all_marked` (baseline): the same sweep of a span with every slot marked, so it frees
///   nothing. It is the floor of the sweep itself (the per-word bitmap work: mask, count, make
///   the marks the alloc bits, clear the marks, rewind the free index), so the gap to
///   `sweep/marked_P` is exactly what freeing costs. A loop over the slots testing each mark
///   bit would be no baseline: the sweeper never does that, it works 64 slots at a time.
/// - `sweep_clobberfree/marked_50`: as `sweep/marked_50` with `GODEBUG=clobberfree=1`'s
///   overwriting of every freed slot, the one per-dead-object cost of a sweep.
/// - `heap_sweep_one/all_marked`: the heap's path (`MHeap::sweep_one`: find an unswept span in
///   the central lists, win its sweepgen CAS, sweep it, put it back on the swept full list) on
///   all-marked spans, against `all_marked` to show what the list handling adds.
///
/// Before each timed round of up to 128 spans, each span is put back untimed into the state of
/// a span whose every slot was allocated, with the round's mark pattern ([`refill_span`]): 8
/// atomic ORs per span, so the marks are in cache when the sweep reads them, which a real sweep
/// (long after marking) does not enjoy.
fn bench_sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("sweep_span");

    // The mechanism, on spans whose sweep ownership the bench takes and keeps.
    let heap = new_heap();
    let mut cache = heap.new_cache();
    // One span more than needed: the last one stays cached, and `release_all` sweeps it.
    let mut bases = fill_spans(&heap, &mut cache, SWEEP_SPANS + 1);
    bases.truncate(SWEEP_SPANS);
    start_sweep(&heap, &mut cache);
    let sg = heap.sweepgen();
    let spans: Vec<&MSpan> = bases
        .iter()
        .map(|&b| {
            let s = heap.span_of_heap(b).expect("span");
            // Sweep ownership, kept for the whole group: no `sweep_one` runs on this heap and
            // the bench never hands the spans back.
            // SAFETY: `sg` is the heap's sweepgen; no cycle runs on this heap, so keeping the
            // spans claimed (and swept by hand) breaks nothing that marks.
            assert!(unsafe { s.try_acquire_sweep(sg) }, "span already being swept");
            s
        })
        .collect();
    let nelems = spans[0].nelems();
    g.throughput(Throughput::Elements(nelems as u64));

    let mut run = |name: &str, param: Option<&str>, pct: u64, clobber: bool| {
        let marks = mark_pattern(nelems, pct);
        let live: usize = marks.iter().map(|w| w.count_ones() as usize).sum();
        let id = match param {
            Some(p) => BenchmarkId::new(name, p),
            None => BenchmarkId::from_parameter(name),
        };
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut freed = 0;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(SWEEP_SPANS as u64) as usize;
                    for s in &spans[..n] {
                        // SAFETY: the bench holds these spans' sweep ownership (above).
                        unsafe { refill_span(s, &marks) };
                    }
                    let t = Instant::now();
                    for s in &spans[..n] {
                        // SAFETY: sweep ownership is held (above), the span is InUse, and
                        // nothing marks concurrently.
                        freed += unsafe { s.sweep(clobber) }.freed;
                    }
                    total += t.elapsed();
                    left -= n as u64;
                }
                assert_eq!(freed as u64, iters * (nelems - live) as u64, "wrong number freed");
                total
            })
        });
    };
    run("all_marked", None, 100, false);
    for pct in [0, 10, 50, 90] {
        run("sweep", Some(&format!("marked_{pct}")), pct, false);
    }
    run("sweep_clobberfree", Some("marked_50"), 50, true);

    // The heap's path, on a heap of its own whose spans stay in its central lists. One span
    // more than a round sweeps (the last is cached at first and swept by `release_all`).
    let heap = new_heap();
    let mut cache = heap.new_cache();
    let bases = fill_spans(&heap, &mut cache, SWEEP_SPANS + 1);
    let spans: Vec<&MSpan> = bases.iter().map(|&b| heap.span_of_heap(b).expect("span")).collect();
    let frees = heap.ledger(&[]).frees;
    g.bench_function(BenchmarkId::new("heap_sweep_one", "all_marked"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(SWEEP_SPANS as u64) as usize;
                for s in &spans {
                    for w in 0..nelems.div_ceil(64) {
                        // SAFETY: the bench plays the collector: these are the marks of the
                        // "cycle" that the sweep below ends.
                        unsafe { s.set_mark_bits(w, !0) };
                    }
                }
                start_sweep(&heap, &mut cache);
                let mut swept = 0;
                let t = Instant::now();
                for _ in 0..n {
                    swept += black_box(heap.sweep_one()).is_some() as usize;
                }
                total += t.elapsed();
                assert_eq!(swept, n, "heap_sweep_one: ran out of spans to sweep");
                heap.sweep_all();
                left -= n as u64;
            }
            total
        })
    });
    assert_eq!(heap.ledger(&[]).frees, frees, "heap_sweep_one freed objects");
    g.finish();
}

/// A new sweep generation, with the heap's one cache giving its spans back (the first half of
/// [`end_cycle`]; the caller sweeps).
fn start_sweep(heap: &MHeap, cache: &mut MCache) {
    // SAFETY: only this thread uses the heap, the previous cycle was fully swept (the caller's
    // last `sweep_all`, or the spans are new), and the heap's one cache is released right
    // below, before anything allocates again.
    unsafe { heap.advance_sweepgen() };
    cache.release_all();
}

// ---------------------------------------------------------------------- main

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_millis(1500))
}

/// Every group, with the short measurement settings of [`config`] (overridable from the command
/// line, e.g. `--measurement-time 2`).
fn gc_benches() {
    let mut c = config().configure_from_args();
    bench_write_barrier(&mut c);
    bench_mark(&mut c);
    bench_sweep(&mut c);
}

criterion_main!(gc_benches);
