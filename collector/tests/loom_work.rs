//! Loom models of the mark work pool (`collector/src/work.rs`, Go's `mgcwork.go`).
//!
//! Under `cfg(loom)` a work buffer holds [`WORKBUF_ENTRIES`] = 4 entries, so a handful of puts
//! fill both of a P's buffers and reach the pool. Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=/work/target-collector-loom cargo test -p gomem-collector --release --test loom_work`.
#![cfg(loom)]

use gomem_collector::sync::{AtomicUsize, Ordering};
use gomem_collector::work::{GcWork, WorkPool, WORKBUF_ENTRIES};
use loom::sync::Arc;
use loom::thread;

/// Run `f` under loom with a preemption bound (overridable with `LOOM_MAX_PREEMPTIONS`).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Count iterations so a run shows how much of the state space each model covers.
    #[allow(clippy::disallowed_types)] // a plain counter outside the model, not a modelled atomic
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!("loom: {} iterations", runs.load(std::sync::atomic::Ordering::Relaxed));
}

/// Items one P puts: two buffers' worth plus one, so the third buffer's first put publishes a
/// full buffer to the pool.
const PUTS: usize = 2 * WORKBUF_ENTRIES + 1;

/// Two Ps each put `PUTS` distinct items and then take what they can (their own, or the
/// other's through the pool), balancing as a drain does; whatever is left after both dispose
/// is drained by a third gcWork. Every item is got exactly once.
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

/// Work items of the termination model: P 0 starts with `ROOTS` items, one more than a buffer
/// holds, so its second buffer has work for `balance` to publish; processing item `x < SPLIT`
/// produces item `x + ROOTS`, so work keeps appearing while the other P steals.
const ROOTS: usize = WORKBUF_ENTRIES + 1;
const SPLIT: usize = 2;
const TOTAL: usize = ROOTS + SPLIT;

/// Executions of the termination model in which P 1 processed something: the model is only
/// worth its name if work really moves between the Ps.
#[allow(clippy::disallowed_types)] // a plain counter outside the model, not a modelled atomic
static STOLEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Go's termination protocol (`gcBgMarkWorker` / `gcMarkDone`, without the ragged barrier) on
/// two Ps: each drains, disposes, and announces itself idle (`nwait`). The P that makes every
/// P idle and then sees the pool empty, with the idle count unchanged on a re-read, declares
/// marking done. An idle P that sees pool work announces itself busy before taking any.
///
/// Checked: when marking is declared done, every item has been processed ("no work lost"),
/// and every item is processed exactly once.
#[test]
fn loom_work_termination_loses_no_work() {
    const P: usize = 2;
    model(2, || {
        let pool = Arc::new(WorkPool::new());
        let nwait = Arc::new(AtomicUsize::new(0));
        let processed = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..P)
            .map(|t| {
                let (pool, nwait, processed, done) =
                    (pool.clone(), nwait.clone(), processed.clone(), done.clone());
                thread::spawn(move || {
                    let mut w = GcWork::new();
                    let mut mine = Vec::new();
                    if t == 0 {
                        for x in 0..ROOTS {
                            w.put(&pool, x);
                        }
                    }
                    'work: loop {
                        // Drain (mark.rs's `drain`, with "scanning" producing children).
                        loop {
                            w.balance(&pool);
                            let Some(x) = w.try_get(&pool) else { break };
                            mine.push(x);
                            if x < SPLIT {
                                w.put(&pool, x + ROOTS);
                            }
                            processed.fetch_add(1, Ordering::Relaxed);
                        }
                        w.dispose(&pool);
                        // ORDERING: AcqRel; the release publishes this P's processing and
                        // disposal to whichever P's RMW later reads the count, the acquire
                        // sees the other P's.
                        let idle = nwait.fetch_add(1, Ordering::AcqRel) + 1;
                        if idle == P
                            && pool.is_empty()
                            // Go re-checks the idle count under `markDoneSema` too.
                            // ORDERING: Acquire; pairs with the other P's AcqRel RMWs.
                            && nwait.load(Ordering::Acquire) == P
                        {
                            assert_eq!(
                                processed.load(Ordering::Relaxed),
                                TOTAL,
                                "marking declared done with work outstanding"
                            );
                            done.store(1, Ordering::Release);
                            break;
                        }
                        loop {
                            // ORDERING: Acquire; pairs with the Release store of `done`.
                            if done.load(Ordering::Acquire) == 1 {
                                break 'work;
                            }
                            if !pool.is_empty() {
                                // ORDERING: AcqRel; announce "busy" before taking work.
                                nwait.fetch_sub(1, Ordering::AcqRel);
                                continue 'work;
                            }
                            thread::yield_now();
                        }
                    }
                    assert!(w.is_empty());
                    if t == 1 && !mine.is_empty() {
                        STOLEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        let mut got: Vec<usize> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..TOTAL).collect::<Vec<_>>());
        assert!(pool.is_empty());
    });
    assert!(STOLEN.load(std::sync::atomic::Ordering::Relaxed) > 0, "P 1 never got work");
}
