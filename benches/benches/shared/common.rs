//! What the allocator benches (`alloc.rs`, `paired.rs`) share: a bare gomem heap (no runtime,
//! no collector; a "GC cycle" frees everything) and the mixed loop's sequence of sizes.

use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::sync::Arc;

/// A heap and one P's cache on it.
pub struct Gomem {
    pub heap: Arc<MHeap>,
    pub cache: MCache,
}

impl Gomem {
    pub fn new() -> Gomem {
        let heap = MHeap::new(HeapConfig::default()).expect("heap");
        let cache = heap.new_cache();
        Gomem { heap, cache }
    }

    /// A GC cycle in which nothing is live: every object allocated so far is freed.
    pub fn collect(&mut self) {
        collect(&self.heap, &mut [&mut self.cache]);
    }
}

/// Start a sweep generation with no marks, make every cache give its spans back and sweep
/// everything (the sequence of `allocator/tests/common.rs`'s `cycle` with an empty live set).
pub fn collect(heap: &MHeap, caches: &mut [&mut MCache]) {
    // SAFETY: no other thread allocates or sweeps on this heap while the benchmark collects
    // (the two-thread benches collect after joining their threads), every span of the previous
    // cycle was swept by the previous `sweep_all`, and every cache of the heap is released
    // below before it allocates again.
    unsafe { heap.advance_sweepgen() };
    for c in caches.iter_mut() {
        c.release_all();
    }
    heap.sweep_all();
}

/// Length of the size sequence of the mixed loop (a power of two).
pub const MIXED_LEN: usize = 4096;

/// A fixed pseudo-random sequence of request sizes, uniform over the multiples of 8 in
/// 8..=512 (xorshift64*, fixed seed).
pub fn mixed_sizes() -> Vec<usize> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..MIXED_LEN)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            8 * (1 + (r >> 32) as usize % 64)
        })
        .collect()
}
