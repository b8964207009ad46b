//! Loom models of the scheduler shim's protocols: stop-the-world against a polling goroutine,
//! P hand-off between goroutines, and a handshake against a goroutine that releases its P.
//!
//! The payloads hold loom cells, so loom itself reports any access to a P's (or a G's) state
//! that the scheduler's lock does not order after the previous owner's. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p gomem-sched --test loom_sched --release`
//! (`LOOM_MAX_PREEMPTIONS` overrides each model's bound).
#![cfg(loom)]

use gomem_sched::Sched;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Notify;
use std::sync::Arc;

/// Run `f` under loom with a preemption bound (overridable with `LOOM_MAX_PREEMPTIONS`).
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    // Count iterations so a run shows how much of the state space each model covers.
    #[allow(clippy::disallowed_types)] // a plain counter outside the model, not a modelled atomic
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!("loom: {} iterations", runs.load(std::sync::atomic::Ordering::Relaxed));
}

/// A P payload: a tracked counter, and a count of threads inside a P-holding section.
struct PPay {
    work: UnsafeCell<u64>,
    holders: AtomicUsize,
}

impl PPay {
    fn new() -> Self {
        PPay { work: UnsafeCell::new(0), holders: AtomicUsize::new(0) }
    }

    /// A piece of user code on this P: asserts it is alone, and bumps the tracked counter.
    fn use_it(&self, by: u64) {
        assert_eq!(self.holders.fetch_add(1, SeqCst), 0, "two holders of one P");
        // SAFETY: the caller holds the P (the model checks exactly that).
        self.work.with_mut(|w| unsafe { *w += by });
        self.holders.fetch_sub(1, SeqCst);
    }

    fn read(&self) -> u64 {
        // SAFETY: the caller holds the P or the world is stopped.
        self.work.with(|w| unsafe { *w })
    }
}

/// The total work on every P, read with the world stopped.
fn total<G: Send + Sync + 'static>(sched: &Sched<PPay, G>) -> u64 {
    let mut t = 0;
    sched.stop_the_world("total").each_p(|_, p| t += p.read());
    t
}

/// (1) Stop-the-world against a goroutine polling safepoints: the stopper gets the token only
/// once the G is parked (or not yet started), the G runs no user code while the world is stopped,
/// and the world starts again (the G finishes).
#[test]
fn stw_vs_polling_goroutine() {
    model(2, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let stopped = Arc::new(AtomicBool::new(false));
        let g = {
            let stopped = stopped.clone();
            sched.spawn((), move |ctx| {
                for _ in 0..2 {
                    assert!(!stopped.load(SeqCst), "user code ran while the world was stopped");
                    ctx.p().use_it(1);
                    ctx.safepoint();
                }
            })
        };
        let mut world = sched.stop_the_world("loom");
        stopped.store(true, SeqCst);
        let mut seen = 0;
        world.each_p(|_, p| {
            seen = p.read();
            p.use_it(100);
        });
        assert!(seen <= 2);
        stopped.store(false, SeqCst);
        world.start_the_world();
        g.join().unwrap();
        assert_eq!(total(&sched), 102);
    });
}

/// (2) P hand-off: one P, two goroutines each releasing it once around "blocking work". Never
/// two holders of the P; both finish.
#[test]
fn p_handoff_between_two_goroutines() {
    model(2, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let gs: Vec<_> = (0..2)
            .map(|_| {
                sched.spawn((), |ctx| {
                    ctx.p().use_it(1);
                    ctx.without_p(|| ());
                    ctx.p().use_it(1);
                })
            })
            .collect();
        for g in gs {
            g.join().unwrap();
        }
        assert_eq!(sched.num_goroutines(), 0);
        assert_eq!(total(&sched), 4);
    });
}

/// A G payload: state the goroutine touches only in user code, and a count of handshake runs.
struct GPay {
    user: UnsafeCell<u32>,
    handshakes: UnsafeCell<u32>,
}

// SAFETY: the cells are touched only under the scheduler's protocol (user code by the G while it
// runs, the handshake while it does not), which is exactly what this model checks; loom reports
// any access the protocol fails to order.
unsafe impl Sync for GPay {}

/// (3) A handshake against a goroutine that releases and reacquires its P: the closure runs
/// exactly once for it (on whichever thread), and never concurrently with its user code. The G
/// stays alive (blocked without a P) until the handshake has returned, so that it is always
/// part of it.
#[test]
fn handshake_vs_goroutine_toggling_its_p() {
    model(2, || {
        let sched = Sched::<(), Arc<GPay>>::new(vec![()]);
        let pay = Arc::new(GPay { user: UnsafeCell::new(0), handshakes: UnsafeCell::new(0) });
        let done = Arc::new(Notify::new());
        let g = {
            let done = done.clone();
            sched.spawn(pay.clone(), move |ctx| {
                // SAFETY (both): user code of a running G; loom checks the handshake is ordered.
                ctx.g().user.with_mut(|u| unsafe { *u += 1 });
                ctx.without_p(|| ());
                ctx.g().user.with_mut(|u| unsafe { *u += 1 });
                ctx.without_p(|| done.wait());
            })
        };
        sched.handshake(&|g: &Arc<GPay>| {
            // SAFETY (both): the handshake runs while the G runs no user code (checked by loom).
            let u = g.user.with(|u| unsafe { *u });
            assert!(u <= 2);
            g.handshakes.with_mut(|h| unsafe { *h += 1 });
        });
        done.notify();
        g.join().unwrap();
        // SAFETY: every thread that touched the cells has been joined or has returned.
        assert_eq!(pay.handshakes.with(|h| unsafe { *h }), 1);
        assert_eq!(pay.user.with(|u| unsafe { *u }), 2);
    });
}
