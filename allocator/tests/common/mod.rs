//! Helpers shared by the allocator's integration tests: a test-only "collector" that marks the
//! objects a test says are live and runs the sweep the way the real collector will.
#![allow(dead_code)]

use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::sync::AtomicUsize;
use std::sync::Arc;

/// A heap with default options.
pub fn heap() -> Arc<MHeap> {
    MHeap::new(HeapConfig::default()).expect("heap")
}

/// A heap that clobbers freed objects.
pub fn clobber_heap() -> Arc<MHeap> {
    MHeap::new(HeapConfig { clobberfree: true, ..HeapConfig::default() }).expect("heap")
}

/// The pointer slots of `p`'s object, as the collector would scan them.
pub fn ptr_slots(heap: &MHeap, p: usize) -> Vec<usize> {
    let (s, _, base) = heap.find_object(p).unwrap();
    let mut v = Vec::new();
    // SAFETY: `base` is an allocated object of an InUse span whose metadata was written by the
    // allocation in this thread.
    unsafe { s.for_each_ptr_slot(base, 0, usize::MAX, |a| v.push(a)) };
    v
}

/// Mark `addr`'s object (as the collector would when it finds a pointer to it).
pub fn mark(heap: &MHeap, addr: usize) {
    let (span, idx, _) = heap.find_object(addr).expect("live heap object");
    // SAFETY: these tests play the collector: no mark phase runs concurrently, and the next
    // "cycle" sweeps with exactly these marks.
    unsafe { span.try_mark(idx) };
}

/// One "cycle" with a given live set: mark `live`, start a sweep generation, make the caches
/// give their spans back (Go's prepareForSweep), and sweep everything.
pub fn cycle(heap: &MHeap, caches: &mut [&mut MCache], live: &[usize]) -> usize {
    // Sweep termination: the previous generation is fully swept before marking.
    heap.sweep_all();
    for &a in live {
        mark(heap, a);
    }
    // SAFETY: tests call this with no other thread allocating or sweeping, and every cache of
    // the heap passed in (the "world" is stopped).
    unsafe { heap.advance_sweepgen() };
    for c in caches.iter_mut() {
        c.release_all();
    }
    heap.sweep_all()
}

/// Assert the ledger balances for these caches, and that the lock-free counters the pacer and
/// scavenger read (`heap_released`, `mapped_ready`, `heap_alloc`) agree with it.
pub fn assert_ledger(heap: &MHeap, caches: &[&MCache]) {
    let l = heap.ledger(caches);
    assert!(
        l.balances(),
        "ledger does not add up: accounted {} vs mapped {}\n{l}",
        l.accounted(),
        l.heap_mapped
    );
    let st = &heap.stats;
    assert_eq!(st.heap_released(), l.released as u64, "heap_released counter\n{l}");
    assert_eq!(
        st.mapped_ready(),
        (l.heap_mapped - l.released + l.metadata) as u64,
        "mapped_ready counter\n{l}"
    );
    let cached_used: usize = caches.iter().map(|c| c.cached_span_bytes().1).sum();
    assert_eq!(st.heap_alloc() as usize + cached_used, l.in_use, "heap_alloc counter\n{l}");
    verify(heap);
}

/// [`MHeap::verify`], from a test that uses the heap on one thread (or after joining the
/// others) with every cache released.
pub fn verify(heap: &MHeap) {
    // SAFETY: see above: nothing allocates or sweeps concurrently.
    unsafe { heap.verify() }.expect("heap verify");
}

/// A tiny deterministic PRNG (xorshift64*), so tests are seeded and repeatable.
pub struct Rng(pub u64);
impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A barrier built on an atomic (the tests' `std::sync::Barrier` stand-in): std is precompiled,
/// so ThreadSanitizer cannot see std's barrier synchronise and would report its users as racing.
pub struct SpinBarrier {
    n: usize,
    count: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    /// A barrier for `n` threads.
    pub fn new(n: usize) -> SpinBarrier {
        SpinBarrier { n, count: AtomicUsize::new(0), generation: AtomicUsize::new(0) }
    }
    /// Wait until all `n` threads arrive; exactly one caller per round gets `true` (the leader).
    pub fn wait(&self) -> bool {
        use gomem_allocator::sync::Ordering::{AcqRel, Acquire, Release};
        let gen = self.generation.load(Acquire);
        if self.count.fetch_add(1, AcqRel) + 1 == self.n {
            self.count.store(0, Release);
            self.generation.fetch_add(1, AcqRel);
            return true;
        }
        while self.generation.load(Acquire) == gen {
            std::thread::yield_now();
        }
        false
    }
}
