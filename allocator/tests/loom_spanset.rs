//! Loom models of the span set (`allocator/src/spanset.rs`, Go's `mspanset.go`).
//!
//! Under `cfg(loom)` a block holds [`SPAN_SET_BLOCK_ENTRIES`] = 4 slots and the spine starts with
//! room for one block, so a few operations reach block installation, spine growth and block
//! recycling. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p gomem-allocator --test loom_spanset --release`.
#![cfg(loom)]

use core::ptr::NonNull;

use gomem_allocator::spanset::{SpanSet, SPAN_SET_BLOCK_ENTRIES};
use gomem_allocator::sync::model;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

const E: usize = SPAN_SET_BLOCK_ENTRIES;

/// A distinct, aligned, never-dereferenced pointer for id `i`.
fn fake(i: usize) -> NonNull<u64> {
    NonNull::new(core::ptr::without_provenance_mut((i + 1) * 8)).unwrap()
}

fn id(p: NonNull<u64>) -> usize {
    p.as_ptr().addr() / 8 - 1
}

/// Pop until empty, returning ids in pop order.
fn drain(set: &SpanSet<u64>) -> Vec<usize> {
    core::iter::from_fn(|| set.pop().map(id)).collect()
}

/// Take back sole ownership of the set once every thread has joined.
fn unwrap(set: Arc<SpanSet<u64>>) -> SpanSet<u64> {
    Arc::try_unwrap(set).unwrap_or_else(|_| panic!("set still shared"))
}

/// Push `n` fillers (ids 100..) and pop `popped` of them, checking FIFO order.
fn prefill(set: &SpanSet<u64>, n: usize, popped: usize) {
    for i in 0..n {
        set.push(fake(100 + i));
    }
    for i in 0..popped {
        assert_eq!(set.pop().map(id), Some(100 + i));
    }
}

/// (a) Two concurrent pushers into a fresh set (both may race to install block 0 and the first
/// spine): afterwards both values are present exactly once.
#[test]
fn loom_spanset_two_pushers_fresh() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let set = set.clone();
                thread::spawn(move || set.push(fake(i)))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let mut got = drain(&set);
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
        assert_eq!(set.len_hint(), 0);
    });
}

/// (a') Two concurrent pushers straddling a block boundary: one takes the last slot of block 0,
/// the other the first slot of block 1, which needs a new block and a grown spine.
#[test]
fn loom_spanset_two_pushers_across_block_boundary() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        prefill(&set, E - 1, 0);
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let set = set.clone();
                thread::spawn(move || set.push(fake(i)))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let got = drain(&set);
        assert_eq!(got[..E - 1], (100..100 + E - 1).collect::<Vec<_>>()[..]);
        let mut tail = got[E - 1..].to_vec();
        tail.sort_unstable();
        assert_eq!(tail, [0, 1]);
    });
}

/// (b) One pusher against one popper on an empty set: the pop sees nothing or the value, and
/// the value is popped exactly once overall.
#[test]
fn loom_spanset_push_vs_pop() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        let pusher = {
            let set = set.clone();
            thread::spawn(move || set.push(fake(7)))
        };
        let popper = {
            let set = set.clone();
            thread::spawn(move || set.pop().map(id))
        };
        pusher.join().unwrap();
        let raced = popper.join().unwrap();
        assert!(matches!(raced, None | Some(7)), "garbage {raced:?}");
        let mut all: Vec<usize> = raced.into_iter().collect();
        all.extend(drain(&set));
        assert_eq!(all, [7]);
    });
}

/// (b') Push vs pop when block 0 has just been fully popped and recycled: the push needs a block
/// (the recycled one) in a grown spine, and the popper may see the reserved index before the block
/// is installed (it must then report `None`, not read a missing block).
#[test]
fn loom_spanset_push_vs_pop_into_recycled_block() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        prefill(&set, E, E);
        let pusher = {
            let set = set.clone();
            thread::spawn(move || set.push(fake(7)))
        };
        let popper = {
            let set = set.clone();
            thread::spawn(move || set.pop().map(id))
        };
        pusher.join().unwrap();
        let raced = popper.join().unwrap();
        let mut all: Vec<usize> = raced.into_iter().collect();
        all.extend(drain(&set));
        assert_eq!(all, [7]);
        // Block 0 was recycled into block 1: still only one block ever allocated. Reset must
        // hand the partly used block back, and the set must work again afterwards.
        let mut set = unwrap(set);
        set.reset();
        set.push(fake(8));
        assert_eq!(drain(&set), [8]);
    });
}

/// (c) Concurrent pushes and pops across a block boundary, so that block 0 is retired (by
/// whichever popper finishes last) while the other thread installs block 1 and grows the spine,
/// copying the entry being retired. Everything comes out exactly once, in FIFO order, and the
/// recycled block then serves later pushes.
#[test]
fn loom_spanset_retire_block_while_pushing() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        // Indices 0..E-1 pushed, 0..E-2 popped: block 0 has one item left and one free slot.
        prefill(&set, E - 1, E - 2);
        let pusher = {
            let set = set.clone();
            thread::spawn(move || {
                set.push(fake(0)); // index E-1: last slot of block 0
                set.push(fake(1)); // index E: block 1, spine grows from 1 to 2
            })
        };
        let popper = {
            let set = set.clone();
            thread::spawn(move || vec![set.pop().map(id), set.pop().map(id)])
        };
        pusher.join().unwrap();
        let raced = popper.join().unwrap();
        // The popper's Some results come first in index order, then the drain continues it.
        let mut all: Vec<usize> = raced.into_iter().flatten().collect();
        all.extend(drain(&set));
        assert_eq!(all, [100 + E - 2, 0, 1]);

        // The recycled block 0 (possibly still named by a stale spine entry) serves block 2.
        for i in 0..E {
            set.push(fake(10 + i));
        }
        assert_eq!(drain(&set), (10..10 + E).collect::<Vec<_>>());
        let mut set = unwrap(set);
        set.reset();
        set.push(fake(9));
        assert_eq!(drain(&set), [9]);
    });
}

/// (c') Two poppers finishing block 0 concurrently: exactly one of them recycles it, and neither
/// value is lost or duplicated.
#[test]
fn loom_spanset_two_poppers_finish_block() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        prefill(&set, E + 1, E - 2);
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let set = set.clone();
                thread::spawn(move || set.pop().map(id))
            })
            .collect();
        let mut got: Vec<usize> = hs.into_iter().filter_map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [100 + E - 2, 100 + E - 1]);
        assert_eq!(drain(&set), [100 + E]);
        // Block 0 went back to the pool; block 2 reuses it.
        for i in 0..E {
            set.push(fake(i));
        }
        assert_eq!(drain(&set), (0..E).collect::<Vec<_>>());
    });
}

/// (d) The pointer's target is published with it: what a pusher writes to a span before pushing
/// it is visible to whoever pops it (loom reports an unsynchronised cell access otherwise). Block 0
/// is installed beforehand, so the push takes the lock-free path and only the slot store can
/// publish the write.
#[test]
fn loom_spanset_push_publishes_span_contents() {
    model(3, || {
        let span = Arc::new(UnsafeCell::new(0usize));
        let set = Arc::new(SpanSet::<UnsafeCell<usize>>::new());
        set.push(NonNull::dangling());
        assert_eq!(set.pop(), Some(NonNull::dangling()));
        let pusher = {
            let (set, span) = (set.clone(), span.clone());
            thread::spawn(move || {
                // SAFETY: nobody else touches the cell until it is popped.
                span.with_mut(|p| unsafe { *p = 42 });
                set.push(NonNull::from(&*span));
            })
        };
        let popper = {
            let set = set.clone();
            thread::spawn(move || {
                set.pop().map(|p| {
                    // SAFETY: `p` points at `span`, kept alive by the main thread's `Arc`; the
                    // pop gives us the pusher's write.
                    unsafe { p.as_ref() }.with(|v| unsafe { *v })
                })
            })
        };
        pusher.join().unwrap();
        let raced = popper.join().unwrap();
        let rest = set.pop().map(|p| {
            // SAFETY: as above; all threads have joined.
            unsafe { p.as_ref() }.with(|v| unsafe { *v })
        });
        assert_eq!(raced.into_iter().chain(rest).collect::<Vec<_>>(), [42]);
    });
}

/// (e) A block recycled by its last popper is reused at once by that thread while the block's
/// other popper may still be finishing: the reuse must see that popper's slot clear (the AcqRel
/// `popped` count orders it), or the new push could be lost or a stale pointer popped.
#[test]
fn loom_spanset_recycled_block_reused_concurrently() {
    model(3, || {
        let set = Arc::new(SpanSet::<u64>::new());
        // Block 0 full, two items left in it.
        prefill(&set, E, E - 2);
        let other = {
            let set = set.clone();
            thread::spawn(move || set.pop().map(id))
        };
        let reuser = {
            let set = set.clone();
            thread::spawn(move || {
                let first = set.pop().map(id);
                // Indices E..2E: block 1, which is block 0 again if this thread recycled it.
                for i in 0..E {
                    set.push(fake(i));
                }
                let again: Vec<usize> = (0..E).filter_map(|_| set.pop().map(id)).collect();
                // This thread claims increasing indices, so its own items come out in order.
                let mine: Vec<usize> = again.iter().copied().filter(|&v| v < E).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "out of order: {again:?}");
                (first, again)
            })
        };
        let got = other.join().unwrap();
        let (first, again) = reuser.join().unwrap();
        // `other` may pop late, taking one of the new items, and the reuser may then take the
        // old one; so check the multiset: everything pushed comes out exactly once.
        let mut all: Vec<usize> = got.into_iter().chain(first).chain(again).collect();
        all.extend(drain(&set));
        all.sort_unstable();
        let mut want: Vec<usize> = (0..E).collect();
        want.extend([100 + E - 2, 100 + E - 1]);
        assert_eq!(all, want);
        assert_eq!(set.pop(), None);
    });
}
