// Allocate-black off during mark makes new objects white in an already-scanned world (freed
// while live), and a mark bit set outside the collector hides an object's children: neither
// may compile without `unsafe`.
use gomem_allocator::mheap::{HeapConfig, MHeap};

fn main() {
    let heap = MHeap::new(HeapConfig::default()).unwrap();
    heap.set_alloc_black(false);
    if let Some(span) = heap.span_of(0x1000) {
        span.try_mark(0);
    }
}
