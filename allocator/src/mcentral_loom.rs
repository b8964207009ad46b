//! Loom models of the cache ↔ central ↔ sweeper hand-off, run on the real `MCentral`,
//! `MSpan` and `SpanSet` code against a toy heap whose spans have no memory behind them.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p gomem-allocator --release --lib loom_models`.
//!
//! What the models check: a span is owned by one party at a time (loom reports any
//! unsynchronised access to a span's owner-only state as a failure), every span is swept exactly
//! once per generation, and when the dust settles every span is in exactly one place (a swept
//! set, a cache, or back in the heap) with the central free-slot counter agreeing.

use super::{MCentral, SpanSource};
use crate::error::AllocError;
use crate::mspan::{MSpan, SpanInit, SpanState};
use crate::pagealloc::PageCache;
use crate::sizeclass::{SizeClass, SpanClass};
use crate::stats::HeapStats;
use crate::sync::{lock, Arc, AtomicUsize, Mutex, Ordering};
use core::ptr::NonNull;

const SG: u32 = 10;

struct ToyHeap {
    stats: HeapStats,
    freed: Mutex<Vec<usize>>,
    next_base: AtomicUsize,
}

// SAFETY: all fields are Sync (atomics, a loom Mutex).
unsafe impl Sync for ToyHeap {}

fn spc() -> SpanClass {
    // 2048-byte objects, 4 per one-page span, noscan.
    SpanClass::new(SizeClass::for_size(2048).unwrap(), true)
}

impl ToyHeap {
    fn new() -> ToyHeap {
        ToyHeap {
            stats: HeapStats::default(),
            freed: Mutex::new(Vec::new()),
            next_base: AtomicUsize::new(1 << 30),
        }
    }

    /// A span with `allocated` slots handed out (slot indices below it) and `marked` of them
    /// marked, in state `sweepgen`.
    fn span(&self, allocated: usize, marked: usize, sweepgen: u32) -> NonNull<MSpan> {
        let s = NonNull::from(Box::leak(Box::new(MSpan::new())));
        let base = self.next_base.fetch_add(8192, Ordering::Relaxed);
        let sc = spc().size_class();
        // SAFETY: the span is new and ours alone.
        unsafe {
            s.as_ref().init(SpanInit {
                base,
                npages: 1,
                spanclass: spc(),
                elemsize: sc.size(),
                nelems: spc().objects(),
                limit: base + spc().objects() * sc.size(),
                div_mul: sc.div_magic(),
                sweepgen,
                needzero: false,
                inline_marks: false,
            });
            s.as_ref().with_local(|l| {
                l.freeindex = allocated;
                l.alloc_count = allocated;
                l.alloc_cache = 0;
            });
        }
        for i in 0..marked {
            // SAFETY: as above; the span is unpublished and ours, so marking it is the model's
            // stand-in for the collector's marks.
            unsafe { s.as_ref().try_mark(i) };
        }
        // SAFETY: as above.
        unsafe { s.as_ref() }.publish(SpanState::InUse);
        s
    }
}

impl SpanSource for ToyHeap {
    fn sweepgen(&self) -> u32 {
        SG
    }
    fn clobberfree(&self) -> bool {
        false
    }
    fn stats(&self) -> &HeapStats {
        &self.stats
    }
    fn alloc_span(
        &self,
        _npages: usize,
        _spc: SpanClass,
        _cache: Option<(&mut PageCache, &mut Vec<NonNull<MSpan>>)>,
    ) -> Result<NonNull<MSpan>, AllocError> {
        Ok(self.span(0, 0, SG))
    }
    fn free_span(&self, s: NonNull<MSpan>) {
        // SAFETY: the caller hands over an empty span it owned.
        let span = unsafe { s.as_ref() };
        span.publish(SpanState::Dead);
        lock(&self.freed).push(span.base());
    }
    fn keep_empty_spans(&self) -> bool {
        false
    }
}

/// Allocate one object from a cached span the way an mcache does (fast path, then the
/// bitmap walk); returns whether a slot was free.
fn alloc_one(s: NonNull<MSpan>) -> bool {
    // SAFETY: the caller owns `s` as its cache.
    let span = unsafe { s.as_ref() };
    // SAFETY: as above.
    unsafe {
        span.with_local(|l| {
            if span.next_free_fast(l).is_some() {
                return true;
            }
            let i = span.next_free_index(l);
            if i < span.nelems() {
                l.alloc_count += 1;
                true
            } else {
                false
            }
        })
    }
}

fn drain_swept(c: &MCentral) -> Vec<NonNull<MSpan>> {
    let mut v = Vec::new();
    while let Some(s) = c.partial_swept(SG).pop() {
        v.push(s);
    }
    while let Some(s) = c.full_swept(SG).pop() {
        v.push(s);
    }
    v
}

/// A P refills from the central list while the background sweeper sweeps the same list.
#[test]
fn cache_span_races_the_sweeper() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let heap = Arc::new(ToyHeap::new());
        let c = Arc::new(MCentral::new(spc()));
        // A: 3 of 4 allocated, 1 live. B: full, nothing live (will be empty after sweeping).
        let a = heap.span(3, 1, SG - 2);
        let bspan = heap.span(4, 0, SG - 2);
        c.partial_unswept(SG).push(a);
        c.full_unswept(SG).push(bspan);
        // Spans held centrally count their free slots (A has one).
        heap.stats.central_free.fetch_add(2048, Ordering::Relaxed);
        // SAFETY: toy spans are leaked, so they live for the whole model.
        let a_base = unsafe { a.as_ref() }.base();
        // SAFETY: as above.
        let b_base = unsafe { bspan.as_ref() }.base();

        let (h2, c2) = (heap.clone(), c.clone());
        let sweeper = loom::thread::spawn(move || while c2.sweep_one(&*h2).is_some() {});

        let got = c.cache_span(&*heap, None).unwrap();
        assert!(alloc_one(got), "a cached span must have a free slot");
        c.uncache_span(&*heap, got);
        sweeper.join().unwrap();
        while c.sweep_one(&*heap).is_some() {}

        // Every span is in exactly one place, swept for this generation.
        let swept = drain_swept(&c);
        let freed = lock(&heap.freed).clone();
        // SAFETY: toy spans are leaked, so they live for the whole model.
        let mut bases: Vec<usize> = swept.iter().map(|s| unsafe { s.as_ref() }.base()).collect();
        bases.extend(freed.iter().copied());
        bases.sort();
        let mut want: Vec<usize> = vec![a_base, b_base];
        let fresh = bases.iter().copied().filter(|x| !want.contains(x)).count();
        want.extend(bases.iter().copied().filter(|x| ![a_base, b_base].contains(x)));
        want.sort();
        assert_eq!(bases, want, "a span was lost or duplicated");
        assert!(fresh <= 1);
        let mut free_slots = 0;
        for s in &swept {
            // SAFETY: all threads have finished; we own everything now.
            let span = unsafe { s.as_ref() };
            assert_eq!(span.sweepgen(), SG, "span left unswept or still marked cached");
            // SAFETY: every thread has finished, so this thread owns every span.
            free_slots += unsafe { span.with_local(|l| span.nelems() - l.alloc_count) };
        }
        assert_eq!(
            heap.stats.central_free.load(Ordering::Relaxed),
            free_slots * 2048,
            "central free-slot counter disagrees with the spans"
        );
    });
}

/// A P gives back a span it cached before the sweep generation advanced (stale, `sg + 1`)
/// while the sweeper works: the P must sweep it itself; the sweeper never sees it.
#[test]
fn stale_uncache_races_the_sweeper() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let heap = Arc::new(ToyHeap::new());
        let c = Arc::new(MCentral::new(spc()));
        let stale = heap.span(2, 2, SG + 1);
        let other = heap.span(4, 1, SG - 2);
        c.full_unswept(SG).push(other);
        let (h2, c2) = (heap.clone(), c.clone());
        let sweeper = loom::thread::spawn(move || while c2.sweep_one(&*h2).is_some() {});
        c.uncache_span(&*heap, stale);
        sweeper.join().unwrap();
        let swept = drain_swept(&c);
        assert_eq!(swept.len(), 2);
        for s in swept {
            // SAFETY: all threads have finished.
            let span = unsafe { s.as_ref() };
            assert_eq!(span.sweepgen(), SG);
            // SAFETY: every thread has finished, so this thread owns every span.
            let live = unsafe { span.with_local(|l| l.alloc_count) };
            assert!(live == 2 || live == 1);
        }
    });
}

/// Two sweepers find the same span (Go's sweepgen CAS): exactly one wins ownership and sweeps;
/// the span ends swept exactly once.
#[test]
fn sweepgen_cas_has_one_winner() {
    loom::model(|| {
        let heap = Arc::new(ToyHeap::new());
        let s = heap.span(4, 2, SG - 2);
        let addr = s.as_ptr() as usize;
        let race = move || {
            // SAFETY: the span is leaked, so it lives for the whole model.
            let span = unsafe { &*(addr as *const MSpan) };
            // SAFETY: SG is the toy heap's sweepgen and a win is swept below.
            if unsafe { span.try_acquire_sweep(SG) } {
                // SAFETY: we won the CAS: sweep ownership is ours.
                let rep = unsafe { span.sweep(false) };
                span.set_sweepgen(SG);
                return Some(rep.freed);
            }
            None
        };
        let t = loom::thread::spawn(race);
        let mine = race();
        let theirs = t.join().unwrap();
        assert!(mine.is_some() != theirs.is_some(), "exactly one sweeper must win");
        assert_eq!(mine.or(theirs), Some(2));
        // SAFETY: both threads are done.
        assert!(unsafe { s.as_ref() }.is_swept(SG));
    });
}
