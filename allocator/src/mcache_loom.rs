//! Loom models of what an allocation during mark publishes to a concurrent marker:
//! allocate-black (`MCache::publish_slot`, Go's `gcmarknewobject`: a marker that finds a
//! pointer to the new object sees it marked, and a marker greying a neighbour in the same mark
//! word at the same time loses neither mark, `MSpan::try_mark`), and the new object's heap bits
//! (`write_heap_bits_small`, Go's `heapSetType`, read by the scanner's
//! `MSpan::for_each_ptr_slot`).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test
//! -p gomem-allocator --release --lib loom_models`.
//!
//! The cache and its heap are real; the span is a real `MSpan` with no memory behind it (as in
//! `mcentral_loom.rs`), at an address beyond the 47-bit user space, so the heap's arena lookup
//! (mapped memory, which loom cannot track) answers "not in the heap" without a load. Under
//! loom a span's heap bits live in the span struct (`MSpan::heap_bits_addr`). The pointer
//! store that publishes the new object is a loom atomic standing in for the runtime's
//! `write_pointer` (Release) and the scanner's `load_word` (Acquire), whose loom build cannot
//! read real heap words.

use crate::mheap::{HeapConfig, MHeap};
use crate::mspan::{write_heap_bits_small, MSpan};
use crate::sync::{model, thread, Arc, AtomicUsize, Ordering};
use crate::typedesc::TypeDesc;

/// The loom models' memoryless span ([`MSpan::loom_toy_span`]).
fn toy_span() -> &'static MSpan {
    MSpan::loom_toy_span()
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
        // SAFETY: the model plays the collector: this is its mark start, and the marker below
        // is its mark.
        unsafe { heap.set_alloc_black(true) };
        let slot = Arc::new(AtomicUsize::new(0));
        let marker = {
            let slot = slot.clone();
            thread::spawn(move || {
                // SAFETY: the heap is being marked (the model's mark), and the model checks
                // what was greyed instead of queueing it.
                let greyed_old = unsafe { span.try_mark(0) };
                // ORDERING: Acquire; pairs with the mutator's Release store (`read_pointer`).
                let p = slot.load(Ordering::Acquire);
                // SAFETY: as above.
                let greyed_new = p != 0 && unsafe { span.try_mark(span.obj_index(p)) };
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

/// A list node: a pointer, then a scalar (16 bytes, one pointer bit per object).
static NODE: TypeDesc = TypeDesc::new(16, 8, &[1], "node");

/// Offsets of the pointer slots the scanner finds in the object at `obj`.
fn ptr_offsets(span: &MSpan, obj: usize) -> Vec<usize> {
    let mut v = Vec::new();
    // SAFETY: `obj` is a slot of the InUse span whose bits were written before its address was
    // obtained (the model's publication); the reader touches only the bitmap, not the slot.
    unsafe { span.for_each_ptr_slot(obj, 0, usize::MAX, |a| v.push(a - obj)) };
    v
}

/// The mutator allocates slot 1 during mark, writes its heap bits and publishes a pointer to
/// it; a scanner concurrently scans slot 0 (allocated and published before, its bits in the
/// same bitmap word) and then whatever the published slot holds. The scanner must find both
/// objects' pointer slots: the new object's bits are visible once its pointer is, and writing
/// them leaves the neighbour's bits intact.
///
/// Deliberate bugs seen caught: with the publishing store `Relaxed` instead of `Release`,
/// loom reported "the scanner missed the new object's pointer slot" (it read the bitmap word
/// from before the write); with `write_heap_bits_small` storing the new bits without keeping
/// the word's other bits, "the neighbour's bits were overwritten".
#[test]
fn loom_models_heap_bits_are_published_with_the_object() {
    model(3, || {
        let span = toy_span();
        let old = span.obj_base(0);
        // SAFETY: slot 0 of a scan span with in-span heap bits that this thread owns (as the
        // allocating P does); nobody else sees the span yet.
        unsafe { write_heap_bits_small(span, span.elemsize(), old, NODE.size, &NODE) };
        let slot = Arc::new(AtomicUsize::new(0));
        let scanner = {
            let slot = slot.clone();
            thread::spawn(move || {
                let neighbour = ptr_offsets(span, old);
                // ORDERING: Acquire; pairs with the mutator's Release store (`load_word`).
                let p = slot.load(Ordering::Acquire);
                (neighbour, (p != 0).then(|| ptr_offsets(span, p)))
            })
        };
        let x = span.obj_base(1);
        // SAFETY: slot 1 of the span this thread owns, just "allocated".
        unsafe { write_heap_bits_small(span, span.elemsize(), x, NODE.size, &NODE) };
        // ORDERING: Release; pairs with the scanner's Acquire load (`write_pointer`).
        slot.store(x, Ordering::Release);
        let (neighbour, new) = scanner.join().unwrap();
        assert_eq!(neighbour, [0], "the scanner lost the neighbour's pointer slot");
        if let Some(new) = new {
            assert_eq!(new, [0], "the scanner missed the new object's pointer slot");
        }
        assert_eq!(ptr_offsets(span, old), [0], "the neighbour's bits were overwritten");
    });
}
