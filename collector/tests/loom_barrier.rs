//! Loom model: a mutator's write-barrier buffer flushed into the mark work while a marker
//! drains it (the hand-off Go's `wbBufFlush` makes into `gcWork`), on the real barrier code:
//! the switch ([`WriteBarrier`]), the buffer and its full-buffer flush
//! ([`WbBuf::record_and_flush`], the step the runtime's `write_pointer` takes for every store
//! while the switch is on), the mutator's and the marker's [`GcWork`] and the [`WorkPool`].
//!
//! What stands in: the shading step is a plain `put` (the runtime passes `mark::shade`, whose
//! heap lookup reads mapped memory that loom cannot track), so every recorded pointer is
//! queued, and "greyed exactly once" is checkable by counting.
//!
//! The mutator makes three stores with the switch on (turned on before the marker starts, as
//! with the world stopped); under loom a buffer holds [`WB_BUF_ENTRIES`] = 4 entries, so the
//! second store fills it and flushes and disposes, and the third stays recorded. Then the world
//! "stops" (the threads join) and mark termination flushes the buffer and the P's work, as
//! `run_cycle` does for every P. The property: every recorded pointer is greyed exactly once,
//! by the marker during the race or at termination, and none is lost in the hand-off.
//!
//! Checked across executions: in some execution the marker takes flushed work during the race
//! (the flush really hands work to idle markers, not only to mark termination).
//!
//! Deliberate bugs seen caught: with `record_and_flush` shading a copy of the entries without
//! emptying the buffer, loom reported "the last store stays recorded until termination" failing
//! (6 entries, each flushed twice); with its `gcw.dispose` removed, "the marker never got
//! flushed work".
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test
//! -p gomem-collector --release --test loom_barrier`.
#![cfg(loom)]

use gomem_collector::barrier::{WbBuf, WriteBarrier, WB_BUF_ENTRIES};
use gomem_collector::sync::model;
use gomem_collector::work::{GcWork, WorkPool};
use loom::sync::Arc;
use std::collections::HashSet;

/// Pointer stores the mutator makes: enough to fill the buffer once and start it again.
const STORES: usize = WB_BUF_ENTRIES / 2 + 1;

/// Executions in which the marker took flushed work during the race.
#[allow(clippy::disallowed_types)] // a plain counter outside the model, not a modelled atomic
static MARKER_GOT_WORK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn barrier_flush_against_a_marker_loses_nothing() {
    model(3, || {
        let pool = Arc::new(WorkPool::new());
        let wb = WriteBarrier::default();
        // Mark start, with the world stopped: the spawn orders it before the marker.
        // SAFETY: the model's mark is the marker thread below, which drains every grey entry.
        unsafe { wb.set_enabled(true) };
        let p2 = pool.clone();
        let marker = loom::thread::spawn(move || {
            let mut gcw = GcWork::new();
            let mut got = Vec::new();
            for _ in 0..3 {
                while let Some(x) = gcw.try_get(&p2) {
                    got.push(x);
                }
                loom::thread::yield_now();
            }
            gcw.dispose(&p2);
            got
        });
        let mut buf = WbBuf::new();
        let mut gcw = GcWork::new();
        for i in 1..=STORES {
            if wb.enabled() {
                buf.record_and_flush(0x1000 * i, 0x1000 * i + 8, &mut gcw, &pool, |g, p| {
                    g.put(&pool, p)
                });
            }
        }
        assert_eq!(buf.len(), 2, "the last store stays recorded until termination");
        let mut got = marker.join().unwrap();
        if !got.is_empty() {
            MARKER_GOT_WORK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Mark termination, world stopped: flush the P's buffer and work, drain the rest.
        buf.flush_with(|p| gcw.put(&pool, p));
        gcw.dispose(&pool);
        let mut term = GcWork::new();
        while let Some(x) = term.try_get(&pool) {
            got.push(x);
        }
        term.dispose(&pool);
        let want: HashSet<usize> =
            (1..=STORES).flat_map(|i| [0x1000 * i, 0x1000 * i + 8]).collect();
        let got_set: HashSet<usize> = got.iter().copied().collect();
        assert_eq!(got.len(), want.len(), "a recorded pointer was greyed twice or lost: {got:?}");
        assert_eq!(got_set, want);
        assert!(pool.is_empty());
    });
    assert!(
        MARKER_GOT_WORK.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the marker never got flushed work"
    );
}
