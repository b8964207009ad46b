//! Loom model of allocate-black: an object allocated while the collector marks is marked by
//! the allocation itself (`MCache::publish_slot`, Go's `gcmarknewobject`), so a marker that
//! finds a pointer to it sees it marked, and a marker greying a neighbour in the same mark word
//! at the same time loses neither mark (`MSpan::try_mark`).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test
//! -p gomem-allocator --release --lib loom_models`.
//!
//! The cache and its heap are real; the span is a real `MSpan` with no memory behind it (as in
//! `mcentral_loom.rs`), at an address beyond the 47-bit user space, so the heap's arena lookup
//! (mapped memory, which loom cannot track) answers "not in the heap" without a load.

use crate::mheap::{HeapConfig, MHeap};
use crate::mspan::{MSpan, SpanInit, SpanState};
use crate::sizeclass::{SizeClass, SpanClass};
use crate::sync::{model, thread, Arc, AtomicUsize, Ordering};

/// A one-page span of 16-byte scan objects (64 of them share a mark word), `InUse`, with no
/// memory behind it, at an address no arena can hold.
fn toy_span() -> &'static MSpan {
    let s: &'static MSpan = Box::leak(Box::new(MSpan::new()));
    let spc = SpanClass::new(SizeClass::for_size(16).expect("class"), false);
    let sc = spc.size_class();
    let base = 1usize << 50;
    // SAFETY: the span is new and ours alone.
    unsafe {
        s.init(SpanInit {
            base,
            npages: 1,
            spanclass: spc,
            elemsize: sc.size(),
            nelems: spc.objects(),
            limit: base + spc.objects() * sc.size(),
            div_mul: sc.div_magic(),
            sweepgen: 4,
            needzero: false,
        });
    }
    s.publish(SpanState::InUse);
    s
}

/// The mutator allocates slot 1 during mark and publishes a pointer to it (the release store
/// of `write_pointer`); a marker concurrently greys slot 0 (an object allocated before mark,
/// reached from a root) and then shades whatever the published slot holds. The marker must
/// never grey the new object (it was born black), and at mark termination both are marked.
///
/// Deliberate bugs seen caught: with `publish_slot` not marking (allocate-black off in effect),
/// loom reported "a mark was lost" (the marker ran before the publication; the new object would
/// be freed while live); with `try_mark`'s `fetch_or` replaced by a load and a store, loom
/// reported "a mark was lost" (the two marks of one word raced and one bit was overwritten).
#[test]
fn loom_models_allocate_black_against_a_marker() {
    model(3, || {
        let heap = MHeap::new(HeapConfig::default()).expect("heap");
        let cache = heap.new_cache();
        let span = toy_span();
        // Mark start, with the world stopped (the spawn below orders it before the marker).
        heap.set_alloc_black(true);
        let slot = Arc::new(AtomicUsize::new(0));
        let marker = {
            let slot = slot.clone();
            thread::spawn(move || {
                let greyed_old = span.try_mark(0);
                // ORDERING: Acquire; pairs with the mutator's Release store (`read_pointer`).
                let p = slot.load(Ordering::Acquire);
                let greyed_new = p != 0 && span.try_mark(span.obj_index(p));
                (greyed_old, greyed_new)
            })
        };
        let x = span.obj_base(1);
        cache.publish_slot(span, x);
        // ORDERING: Release; pairs with the marker's Acquire load (`write_pointer`).
        slot.store(x, Ordering::Release);
        let (greyed_old, greyed_new) = marker.join().unwrap();
        assert!(span.is_marked(0) && span.is_marked(1), "a mark was lost");
        assert!(greyed_old, "the old object was not greyed");
        assert!(!greyed_new, "the marker greyed an object allocated black");
    });
}
