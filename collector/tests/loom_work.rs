//! Loom model of the mark work pool (`collector/src/work.rs`, Go's `mgcwork.go`), on the real
//! [`GcWork`] and [`WorkPool`].
//!
//! Under `cfg(loom)` a work buffer holds [`WORKBUF_ENTRIES`] = 4 entries, so a handful of puts
//! fill both of a P's buffers and reach the pool. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/loom cargo test -p gomem-collector --release --test loom_work`.
//!
//! Termination (when the pool and every worker are idle) is modelled on the real mark worker
//! and quiescence check in `collector/src/cycle_loom.rs`; this file used to hold a hand-written
//! copy of Go's `nwait` protocol, which gomem does not implement.
#![cfg(loom)]

use gomem_collector::sync::model;
use gomem_collector::work::{GcWork, WorkPool, WORKBUF_ENTRIES};
use loom::sync::Arc;
use loom::thread;

/// Items one P puts: two buffers' worth plus one, so the third buffer's first put publishes a
/// full buffer to the pool.
const PUTS: usize = 2 * WORKBUF_ENTRIES + 1;

/// Two Ps each put `PUTS` distinct items and then take what they can (their own, or the
/// other's through the pool), balancing as a drain does; whatever is left after both dispose
/// is drained by a third gcWork. Every item is got exactly once.
///
/// Deliberate bug seen caught: with `GcWork::balance` dropping the `wbuf2` it should publish,
/// loom reported the final `assert_eq!(got, want)` failing (items lost).
#[test]
fn loom_work_two_ps_put_and_get_each_item_once() {
    model(2, || {
        let pool = Arc::new(WorkPool::new());
        let hs: Vec<_> = (0..2)
            .map(|t| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let mut w = GcWork::new();
                    for i in 0..PUTS {
                        w.put(&pool, 100 * (t + 1) + i);
                    }
                    let mut got = Vec::new();
                    loop {
                        w.balance(&pool);
                        match w.try_get(&pool) {
                            Some(x) => got.push(x),
                            None => break,
                        }
                    }
                    w.dispose(&pool);
                    got
                })
            })
            .collect();
        let mut got: Vec<usize> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let mut w = GcWork::new();
        got.extend(core::iter::from_fn(|| w.try_get(&pool)));
        w.dispose(&pool);
        got.sort_unstable();
        let want: Vec<usize> = (1..=2).flat_map(|t| (0..PUTS).map(move |i| 100 * t + i)).collect();
        assert_eq!(got, want);
        assert!(pool.is_empty());
    });
}
