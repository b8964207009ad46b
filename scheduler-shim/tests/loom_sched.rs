//! Loom models of the scheduler shim's protocols: stop-the-world against a polling goroutine,
//! P hand-off between goroutines (also when `without_p`'s closure unwinds), a handshake against a goroutine that releases its P, a
//! goroutine stopping the world, a worker borrowing a P against a stop-the-world, and preemption
//! (a yield against a stop-the-world and against a handshake, a GC-class borrower preempting a
//! goroutine).
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

/// A one-shot gate: `wait` returns once `open` has been called (loom's `Notify` alone may wake
/// spuriously).
struct Gate {
    open: AtomicBool,
    notify: Notify,
}

impl Gate {
    fn new() -> Self {
        Gate { open: AtomicBool::new(false), notify: Notify::new() }
    }

    fn wait(&self) {
        while !self.open.load(SeqCst) {
            self.notify.wait();
        }
    }

    fn open(&self) {
        self.open.store(true, SeqCst);
        self.notify.notify();
    }
}

/// The total work on every P, read with the world stopped.
fn total<G: Send + Sync + 'static>(sched: &Sched<PPay, G>) -> u64 {
    let mut t = 0;
    sched.stop_the_world("total").each_p(|_, p| t += p.read());
    t
}

/// (1) Stop-the-world against a goroutine polling safepoints: the stopper gets the token only
/// once the G is parked (or not yet started, or done), the G runs no user code while the world is
/// stopped, and the world starts again (twice over; the G finishes).
#[test]
fn stw_vs_polling_goroutine() {
    model(3, || {
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
        // Two rounds: the world restarts and can be stopped again.
        for round in 0..2 {
            let mut world = sched.stop_the_world("loom");
            stopped.store(true, SeqCst);
            let mut seen = 0;
            world.each_p(|_, p| {
                seen = p.read();
                p.use_it(100);
            });
            assert!(seen <= 2 + 100 * round);
            stopped.store(false, SeqCst);
            world.start_the_world();
        }
        g.join().unwrap();
        assert_eq!(total(&sched), 202);
    });
}

/// (2) P hand-off: one P, two goroutines each releasing it once around "blocking work". Never
/// two holders of the P; both finish.
#[test]
fn p_handoff_between_two_goroutines() {
    model(3, || {
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

/// (2b) P hand-off when the blocking work panics: one goroutine's `without_p` closure panics
/// and the goroutine catches it. The unwinding reacquires the P through the same protocol, so
/// the P still never has two holders, the goroutine uses it after the catch, and both finish.
#[test]
fn p_handoff_when_without_p_unwinds() {
    model(3, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let g0 = sched.spawn((), |ctx| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.without_p(|| std::panic::resume_unwind(Box::new("blocking work failed")))
            }));
            assert!(r.is_err());
            ctx.p().use_it(1);
        });
        let g1 = sched.spawn((), |ctx| {
            ctx.p().use_it(1);
            ctx.without_p(|| ());
            ctx.p().use_it(1);
        });
        g0.join().unwrap();
        g1.join().unwrap();
        assert_eq!(sched.num_goroutines(), 0);
        assert_eq!(total(&sched), 3);
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

/// Add one to a protocol-guarded cell.
fn bump(c: &UnsafeCell<u32>) {
    // SAFETY: the caller is the cell's owner under the scheduler's protocol (loom checks it).
    c.with_mut(|v| unsafe { *v += 1 });
}

/// Read a protocol-guarded cell.
fn read(c: &UnsafeCell<u32>) -> u32 {
    // SAFETY: as for `bump`, no owner writes concurrently (loom checks it).
    c.with(|v| unsafe { *v })
}

/// (3) A handshake against a goroutine that releases and reacquires its P: the closure runs
/// exactly once for it (on whichever thread), and never concurrently with its user code. The G
/// stays alive (blocked without a P) until the handshake has returned, so that it is always
/// part of it.
#[test]
fn handshake_vs_goroutine_toggling_its_p() {
    model(3, || {
        let sched = Sched::<(), Arc<GPay>>::new(vec![()]);
        let pay = Arc::new(GPay { user: UnsafeCell::new(0), handshakes: UnsafeCell::new(0) });
        let done = Arc::new(Gate::new());
        let g = {
            let done = done.clone();
            sched.spawn(pay.clone(), move |ctx| {
                // User code of a running G: touches its own payload.
                bump(&ctx.g().user);
                ctx.without_p(|| ());
                bump(&ctx.g().user);
                ctx.without_p(|| done.wait());
            })
        };
        sched.handshake(&|g: &Arc<GPay>| {
            // The handshake runs while the G runs no user code.
            assert!(read(&g.user) <= 2);
            bump(&g.handshakes);
        });
        done.open();
        g.join().unwrap();
        // Every thread that touched the cells has been joined or has returned.
        assert_eq!(read(&pay.handshakes), 1);
        assert_eq!(read(&pay.user), 2);
    });
}

/// (4) A goroutine stops the world on two Ps while another goroutine uses its P: the stopper's
/// token reaches both payloads (its own included) only once the other G is parked or done.
#[test]
fn goroutine_stopper_vs_goroutine() {
    model(3, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new(), PPay::new()]);
        let user = sched.spawn((), |ctx| {
            ctx.p().use_it(1);
            ctx.safepoint();
            ctx.p().use_it(1);
        });
        let stopper = sched.spawn((), |ctx| {
            ctx.p().use_it(10);
            let mut world = ctx.stop_the_world("loom");
            let mut n = 0;
            world.each_p(|_, p| {
                p.use_it(100);
                n += 1;
            });
            assert_eq!(n, 2);
        });
        stopper.join().unwrap();
        user.join().unwrap();
        assert_eq!(total(&sched), 212);
    });
}

/// (5) A worker borrowing a P against a stop-the-world: `with_p` never overlaps the stopped
/// world, and stopping the worker joins it.
#[test]
fn worker_with_p_vs_stw() {
    model(3, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let worker = sched.spawn_worker("loom-worker", |ctx| ctx.with_p(|p| p.use_it(1)));
        worker.wake();
        sched.stop_the_world("loom").each_p(|_, p| p.use_it(100));
        worker.stop();
        let t = total(&sched);
        assert!(t == 100 || t == 101, "{t}");
    });
}

/// (6) A handshake, a stop-the-world from a third thread, and a goroutine that polls and then
/// blocks: the handshake runs exactly once for the G whether the G runs it itself, is parked by
/// the stop (the caller runs it, and the G cannot resume meanwhile) or has released its P.
#[test]
fn handshake_vs_stw_vs_goroutine() {
    model(3, || {
        let sched = Sched::<PPay, Arc<GPay>>::new(vec![PPay::new()]);
        let pay = Arc::new(GPay { user: UnsafeCell::new(0), handshakes: UnsafeCell::new(0) });
        let done = Arc::new(Gate::new());
        let g = {
            let done = done.clone();
            sched.spawn(pay.clone(), move |ctx| {
                bump(&ctx.g().user);
                ctx.p().use_it(1);
                ctx.safepoint();
                bump(&ctx.g().user);
                ctx.without_p(|| done.wait());
            })
        };
        let stopper = {
            let sched = sched.clone();
            loom::thread::spawn(move || {
                sched.stop_the_world("loom").each_p(|_, p| p.use_it(100));
            })
        };
        sched.handshake(&|g: &Arc<GPay>| {
            assert!(read(&g.user) <= 2);
            bump(&g.handshakes);
        });
        done.open();
        stopper.join().unwrap();
        g.join().unwrap();
        assert_eq!(read(&pay.handshakes), 1);
        assert_eq!(total(&sched), 101);
    });
}

/// (7) A preempted goroutine yielding against a stop-the-world: on one P, G1 polls while G2
/// waits for the P; the main thread asks G1 to yield and stops the world. G1's yield (back of
/// the run queue, P to G2) and the stop interleave in every order: never two holders of the P,
/// no user code while stopped, both finish. (Shown to fail: with `yield_p` queueing G1 without
/// giving its P back, the models of preemption deadlock.)
#[test]
fn preempt_yield_vs_stw() {
    model(2, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let stopped = Arc::new(AtomicBool::new(false));
        let body = |stopped: Arc<AtomicBool>| {
            move |ctx: &mut gomem_sched::GCtx<PPay, ()>| {
                for _ in 0..2 {
                    assert!(!stopped.load(SeqCst), "user code ran while the world was stopped");
                    ctx.p().use_it(1);
                    ctx.safepoint();
                }
            }
        };
        let g1 = sched.spawn((), body(stopped.clone()));
        let g2 = sched.spawn((), body(stopped.clone()));
        sched.preempt(g1.id());
        let mut world = sched.stop_the_world("loom");
        stopped.store(true, SeqCst);
        world.each_p(|_, p| p.use_it(100));
        stopped.store(false, SeqCst);
        world.start_the_world();
        g1.join().unwrap();
        g2.join().unwrap();
        assert_eq!(total(&sched), 104);
    });
}

/// (8) Preemption against a handshake: G1 is asked to yield to G2 while a handshake runs. The
/// handshake runs exactly once for each goroutine, never while it runs user code (the payload's
/// loom cells check that), whether G1 runs it itself before yielding or the caller runs it
/// while G1 waits in the run queue.
#[test]
#[ignore = "too slow at LOOM_MAX_PREEMPTIONS=3 for CI's budget (over 4 minutes); run with --ignored"]
fn preempt_vs_handshake() {
    model(2, || {
        let sched = Sched::<PPay, Arc<GPay>>::new(vec![PPay::new()]);
        let pays: Vec<_> = (0..2)
            .map(|_| Arc::new(GPay { user: UnsafeCell::new(0), handshakes: UnsafeCell::new(0) }))
            .collect();
        // The goroutines stay alive (without their P) until the handshake is over: one that had
        // exited before the handshake began would rightly be skipped.
        // One gate each: loom's `Notify` wakes a single waiter.
        let gates: Vec<_> = (0..2).map(|_| Arc::new(Gate::new())).collect();
        let gs: Vec<_> = pays
            .iter()
            .zip(&gates)
            .enumerate()
            .map(|(i, (pay, done))| {
                let done = done.clone();
                // G1 runs user code around a safepoint; G2 only waits for the P (so that G1's
                // preemption has someone to yield to), which keeps the model small.
                sched.spawn(pay.clone(), move |ctx| {
                    if i == 0 {
                        bump(&ctx.g().user);
                        ctx.p().use_it(1);
                        ctx.safepoint();
                        bump(&ctx.g().user);
                    }
                    ctx.without_p(|| done.wait());
                })
            })
            .collect();
        let asker = {
            let sched = sched.clone();
            let id = gs[0].id();
            loom::thread::spawn(move || {
                sched.preempt(id);
            })
        };
        sched.handshake(&|g: &Arc<GPay>| {
            assert!(read(&g.user) <= 2);
            bump(&g.handshakes);
        });
        gates.iter().for_each(|g| g.open());
        asker.join().unwrap();
        for g in gs {
            g.join().unwrap();
        }
        for pay in &pays {
            assert_eq!(read(&pay.handshakes), 1);
        }
        assert_eq!(total(&sched), 1);
    });
}

/// (9) A GC-class borrower against a goroutine polling safepoints on the only P: when the
/// borrower arrives while the goroutine runs, dispatch asks the goroutine to yield, and it does
/// at one of its safepoints (or releases the P on exit); the two never hold the P together, the
/// preemption request never outlives the goroutine's hold on the P (INV-SCHED-7, checked at
/// the final stop), and both finish.
#[test]
fn gc_borrower_vs_spinning_goroutine() {
    model(2, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let borrowed = Arc::new(AtomicBool::new(false));
        let g = {
            let borrowed = borrowed.clone();
            sched.spawn((), move |ctx| {
                for _ in 0..2 {
                    ctx.p().use_it(1);
                    ctx.safepoint();
                }
                let _ = borrowed.load(SeqCst);
            })
        };
        let borrower = {
            let sched = sched.clone();
            let borrowed = borrowed.clone();
            loom::thread::spawn(move || {
                sched.borrow_p(gomem_sched::PClass::Gc, |p, _| {
                    p.use_it(100);
                    borrowed.store(true, SeqCst);
                })
            })
        };
        borrower.join().unwrap();
        g.join().unwrap();
        assert!(borrowed.load(SeqCst));
        assert_eq!(total(&sched), 102);
    });
}

/// (10) sysmon's retake of a kept P against the goroutine's return from its syscall: on one
/// P, G1 uses the P, makes a syscall and uses it again; G2 waits for the P; sysmon runs two
/// rounds (the first sees the call, the second may retake). Whether G1 takes its P straight
/// back or sysmon hands it to G2 first, the P never has two holders, and both finish.
/// (Shown to fail: with the retake leaving G1 `InSyscall` while it hands the P on, G1 takes
/// back a P that G2 holds and loom reports two holders.)
#[test]
fn sysmon_retake_vs_exitsyscall() {
    model(2, || {
        let sched = Sched::<PPay, ()>::new(vec![PPay::new()]);
        let g1 = sched.spawn((), |ctx| {
            ctx.p().use_it(1);
            ctx.syscall(|| ());
            ctx.p().use_it(1);
        });
        let g2 = sched.spawn((), |ctx| ctx.p().use_it(10));
        let sysmon = {
            let sched = sched.clone();
            loom::thread::spawn(move || {
                let mut mon = gomem_sched::SysmonModel::new(1);
                mon.round(&sched);
                mon.round(&sched);
            })
        };
        sysmon.join().unwrap();
        g1.join().unwrap();
        g2.join().unwrap();
        assert_eq!(total(&sched), 12);
    });
}
