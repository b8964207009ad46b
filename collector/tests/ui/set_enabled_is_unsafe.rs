// Turning the write barrier off during mark lets a mutator hide a live object from the marker:
// from safe code it must not compile.
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_collector::cycle::{Collector, CollectorConfig, DebugModes};

fn main() {
    let heap = MHeap::new(HeapConfig::default()).unwrap();
    let cfg = CollectorConfig {
        gc_percent: 100,
        memory_limit: u64::MAX,
        gomaxprocs: 1,
        debug: DebugModes::default(),
        force_gc_period: None,
    };
    let c = Collector::new(heap, cfg);
    c.write_barrier().set_enabled(false);
}
