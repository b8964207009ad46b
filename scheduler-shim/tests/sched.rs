//! Integration tests of the scheduler shim: P exclusivity, FIFO hand-off, stop-the-world,
//! handshakes, workers and panics. Timing bounds here are generous correctness bounds ("does
//! not wait for a 2 s sleep"), not performance assertions.
//!
//! Over 800 lines: every protocol of the shim is tested here, from one set of helpers, so that
//! the file reads as the shim's behavioural specification; the last section (misuse and
//! unwinding) could move out if it grows further.

use std::sync::OnceLock;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use gomem_sched::sync::{lock, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering::SeqCst};
use gomem_sched::{GHandle, Sched};

/// Spin (yielding) until `cond` holds; panics after 10 s so a broken protocol fails instead of
/// hanging.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn join_all<R>(hs: impl IntoIterator<Item = GHandle<R>>) -> Vec<R> {
    hs.into_iter().map(|h| h.join().expect("goroutine panicked")).collect()
}

/// A P payload that detects two simultaneous holders.
#[derive(Default)]
struct ExclusiveP {
    holder: Option<u64>,
    work: u64,
}

#[test]
fn more_gs_than_ps_all_finish_and_never_exceed_gomaxprocs() {
    const GS: usize = 16;
    const ITERS: u64 = 300;
    let sched = Sched::<ExclusiveP, ()>::new((0..2).map(|_| ExclusiveP::default()).collect());
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..GS)
        .map(|_| {
            let (running, max_running) = (running.clone(), max_running.clone());
            sched.spawn((), move |ctx| {
                let me = ctx.g_id();
                for i in 0..ITERS {
                    let p = ctx.p();
                    assert_eq!(p.holder, None, "two goroutines hold one P");
                    p.holder = Some(me);
                    let now = running.fetch_add(1, SeqCst) + 1;
                    max_running.fetch_max(now, SeqCst);
                    std::hint::spin_loop();
                    running.fetch_sub(1, SeqCst);
                    let p = ctx.p();
                    assert_eq!(p.holder, Some(me));
                    p.holder = None;
                    p.work += 1;
                    ctx.safepoint();
                    if i % 50 == 0 {
                        ctx.without_p(thread::yield_now);
                    }
                }
            })
        })
        .collect();
    join_all(hs);
    assert!(max_running.load(SeqCst) <= 2, "{} ran at once on 2 Ps", max_running.load(SeqCst));
    assert_eq!(sched.num_goroutines(), 0);
    let mut total = 0;
    sched.stop_the_world("sum").each_p(|_, p| total += p.work);
    assert_eq!(total, GS as u64 * ITERS);
    sched.verify();
}

#[test]
fn fifo_fairness_on_one_p() {
    let sched = Sched::<(), ()>::new(vec![()]);
    let order = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(AtomicBool::new(false));
    let gate = Arc::new(AtomicBool::new(false));
    let first = {
        let (order, started, gate) = (order.clone(), started.clone(), gate.clone());
        sched.spawn((), move |ctx| {
            started.store(true, SeqCst);
            while !gate.load(SeqCst) {
                ctx.safepoint();
                thread::yield_now();
            }
            // Releasing the P puts us at the back of the queue, behind 1..=5.
            ctx.without_p(|| ());
            lock(&order).push(0);
        })
    };
    wait_until("the first goroutine to hold the P", || started.load(SeqCst));
    let rest: Vec<_> = (1..=5)
        .map(|i| {
            let order = order.clone();
            sched.spawn((), move |_ctx| lock(&order).push(i))
        })
        .collect();
    assert_eq!(sched.num_goroutines(), 6);
    gate.store(true, SeqCst);
    join_all(rest);
    first.join().unwrap();
    assert_eq!(*lock(&order), vec![1, 2, 3, 4, 5, 0]);
}

#[test]
fn stop_the_world_waits_for_running_gs_and_resumes_them() {
    const GS: usize = 4;
    let sched = Sched::<(), ()>::new(vec![(); GS]);
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..GS).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..GS)
        .map(|i| {
            let (counters, done) = (counters.clone(), done.clone());
            sched.spawn((), move |ctx| {
                while !done.load(SeqCst) {
                    counters[i].fetch_add(1, SeqCst);
                    ctx.safepoint();
                }
            })
        })
        .collect();
    let snapshot = || counters.iter().map(|c| c.load(SeqCst)).collect::<Vec<_>>();
    wait_until("every goroutine to run", || snapshot().iter().all(|&c| c > 100));
    for round in 0..20 {
        let world = sched.stop_the_world("test");
        let frozen = snapshot();
        thread::sleep(Duration::from_millis(if round == 0 { 50 } else { 2 }));
        assert_eq!(snapshot(), frozen, "a goroutine ran while the world was stopped");
        let mut gs = 0;
        world.each_g(|_| gs += 1);
        assert_eq!(gs, GS);
        assert_eq!(world.reason(), "test");
        world.start_the_world();
        wait_until("every goroutine to resume", || {
            snapshot().iter().zip(&frozen).all(|(a, b)| a > b)
        });
    }
    done.store(true, SeqCst);
    join_all(hs);
}

#[test]
fn g_blocked_without_p_does_not_delay_stop_the_world() {
    let sched = Sched::<(), ()>::new(vec![()]);
    let inside = Arc::new(AtomicBool::new(false));
    let h = {
        let inside = inside.clone();
        sched.spawn((), move |ctx| {
            ctx.without_p(|| {
                inside.store(true, SeqCst);
                thread::sleep(Duration::from_secs(2));
            });
        })
    };
    wait_until("the goroutine to block", || inside.load(SeqCst));
    let t = Instant::now();
    let world = sched.stop_the_world("blocked");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "STW waited {:?} for a blocked G",
        t.elapsed()
    );
    assert!(world.stop_duration() < Duration::from_millis(500));
    drop(world);
    h.join().unwrap();
}

#[test]
fn g_looping_on_safepoint_is_stopped_promptly() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let done = Arc::new(AtomicBool::new(false));
    let h = {
        let done = done.clone();
        sched.spawn((), move |ctx| {
            while !done.load(SeqCst) {
                *ctx.p() += 1;
                ctx.safepoint();
            }
        })
    };
    wait_until("the loop to start", || {
        let mut n = 0;
        sched.stop_the_world("peek").each_p(|_, p| n = *p);
        n > 0
    });
    let mut worst = Duration::ZERO;
    for _ in 0..200 {
        let t = Instant::now();
        let world = sched.stop_the_world("loop");
        worst = worst.max(t.elapsed());
        assert!(world.stop_duration() <= t.elapsed());
    }
    assert!(worst < Duration::from_secs(1), "stopping a polling G took {worst:?}");
    done.store(true, SeqCst);
    h.join().unwrap();
}

#[test]
fn without_p_reacquires_only_after_the_world_starts() {
    let sched = Sched::<(), ()>::new(vec![()]);
    let (inside, release, resumed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let h = {
        let (inside, release, resumed) = (inside.clone(), release.clone(), resumed.clone());
        sched.spawn((), move |ctx| {
            ctx.without_p(|| {
                inside.store(true, SeqCst);
                while !release.load(SeqCst) {
                    thread::yield_now();
                }
            });
            resumed.store(true, SeqCst);
        })
    };
    wait_until("the goroutine to block", || inside.load(SeqCst));
    let world = sched.stop_the_world("hold");
    release.store(true, SeqCst);
    thread::sleep(Duration::from_millis(50));
    assert!(!resumed.load(SeqCst), "a goroutine took a P while the world was stopped");
    drop(world);
    wait_until("the goroutine to resume", || resumed.load(SeqCst));
    h.join().unwrap();
}

/// A goroutine payload recording handshake runs.
#[derive(Default)]
struct Probe {
    runs: AtomicUsize,
    /// The goroutine's own thread.
    home: OnceLock<ThreadId>,
    /// The thread that ran the handshake.
    runner: OnceLock<ThreadId>,
}

#[test]
fn handshake_reaches_every_g_exactly_once() {
    let sched = Sched::<(), Probe>::new(vec![(); 2]);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    // Two goroutines blocked without a P.
    for _ in 0..2 {
        let (stop, started) = (stop.clone(), started.clone());
        hs.push(sched.spawn(Probe::default(), move |ctx| {
            ctx.g().home.set(thread::current().id()).unwrap();
            ctx.without_p(|| {
                started.fetch_add(1, SeqCst);
                while !stop.load(SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
            });
        }));
    }
    wait_until("blockers", || started.load(SeqCst) == 2);
    // Two goroutines holding both Ps and polling.
    for _ in 0..2 {
        let (stop, started) = (stop.clone(), started.clone());
        hs.push(sched.spawn(Probe::default(), move |ctx| {
            ctx.g().home.set(thread::current().id()).unwrap();
            started.fetch_add(1, SeqCst);
            while !stop.load(SeqCst) {
                ctx.safepoint();
                thread::yield_now();
            }
        }));
    }
    wait_until("pollers", || started.load(SeqCst) == 4);
    // Two goroutines waiting for a P.
    for _ in 0..2 {
        hs.push(sched.spawn(Probe::default(), |ctx| {
            ctx.g().home.set(thread::current().id()).unwrap();
        }));
    }
    assert_eq!(sched.num_goroutines(), 6);

    let late: Mutex<Vec<GHandle<()>>> = Mutex::new(Vec::new());
    let caller = thread::current().id();
    sched.handshake(&|g: &Probe| {
        g.runs.fetch_add(1, SeqCst);
        g.runner.set(thread::current().id()).unwrap();
        // A goroutine spawned during the handshake is not part of it.
        let mut late = lock(&late);
        if late.is_empty() {
            late.push(sched.spawn(Probe::default(), |_| ()));
        }
    });
    let late = late.into_inner_for_test();
    let probes: Vec<_> = hs.iter().map(|h| h.id()).collect();
    assert_eq!(probes.len(), 6);
    // Check the payloads through a stopped world before anyone exits.
    let mut seen = Vec::new();
    sched.stop_the_world("check").each_g(|g| {
        seen.push((g.runs.load(SeqCst), g.runner.get().copied(), g.home.get().copied()));
    });
    let mut ran_self = 0;
    let mut ran_by_caller = 0;
    for (runs, runner, home) in &seen {
        match runs {
            0 => assert!(runner.is_none(), "a late goroutine was handshaken"),
            1 => {
                if runner == home {
                    ran_self += 1;
                } else {
                    assert_eq!(*runner, Some(caller));
                    ran_by_caller += 1;
                }
            }
            n => panic!("handshake ran {n} times for one goroutine"),
        }
    }
    assert_eq!(ran_self + ran_by_caller, 6, "{seen:?}");
    // The pollers held both Ps the whole time, so only they ran it themselves.
    assert_eq!(ran_self, 2, "{seen:?}");
    assert_eq!(seen.len(), 7, "the late goroutine is live too");
    stop.store(true, SeqCst);
    join_all(hs);
    join_all(late);
}

/// `Mutex::into_inner` is not part of the loom-switch surface; tests take the value out by lock.
trait IntoInner<T> {
    fn into_inner_for_test(self) -> T;
}
impl<T: Default> IntoInner<T> for Mutex<T> {
    fn into_inner_for_test(self) -> T {
        std::mem::take(&mut *lock(&self))
    }
}

#[test]
fn handshake_while_the_world_is_stopped_runs_on_the_caller() {
    let sched = Sched::<(), Probe>::new(vec![(); 2]);
    let stop = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            sched.spawn(Probe::default(), move |ctx| {
                while !stop.load(SeqCst) {
                    ctx.safepoint();
                    thread::yield_now();
                }
            })
        })
        .collect();
    wait_until("goroutines", || sched.num_goroutines() == 3);
    let world = sched.stop_the_world("scan");
    let me = thread::current().id();
    sched.handshake(&|g: &Probe| {
        g.runs.fetch_add(1, SeqCst);
        assert_eq!(thread::current().id(), me);
    });
    let mut total = 0;
    world.each_g(|g| total += g.runs.load(SeqCst));
    assert_eq!(total, 3);
    drop(world);
    stop.store(true, SeqCst);
    join_all(hs);
}

/// A goroutine payload that says whether the goroutine is running user code right now.
#[derive(Default)]
struct InUser {
    in_user: AtomicBool,
    last_epoch: AtomicU64,
    runs: AtomicU64,
}

#[test]
fn handshakes_and_stops_under_churn() {
    const GS: usize = 6;
    let sched = Sched::<u64, InUser>::new(vec![0; 2]);
    let stop = Arc::new(AtomicBool::new(false));
    let hs: Vec<_> = (0..GS)
        .map(|i| {
            let stop = stop.clone();
            sched.spawn(InUser::default(), move |ctx| {
                let mut n = 0u64;
                while !stop.load(SeqCst) {
                    ctx.g().in_user.store(true, SeqCst);
                    *ctx.p() += 1;
                    ctx.g().in_user.store(false, SeqCst);
                    ctx.safepoint();
                    n += 1;
                    if n % (3 + i as u64) == 0 {
                        ctx.without_p(thread::yield_now);
                    }
                }
            })
        })
        .collect();
    let stopper = {
        let (sched, stop) = (sched.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(SeqCst) {
                let w = sched.stop_the_world("churn");
                drop(w);
                thread::sleep(Duration::from_micros(200));
            }
        })
    };
    for epoch in 1..=300u64 {
        sched.handshake(&|g: &InUser| {
            assert!(!g.in_user.load(SeqCst), "handshake ran while its G ran user code");
            let prev = g.last_epoch.swap(epoch, SeqCst);
            assert!(prev < epoch, "handshake ran twice for one G");
            g.runs.fetch_add(1, SeqCst);
        });
    }
    let mut runs = Vec::new();
    sched.stop_the_world("count").each_g(|g| runs.push(g.runs.load(SeqCst)));
    assert_eq!(runs, vec![300; GS]);
    stop.store(true, SeqCst);
    stopper.join().unwrap();
    join_all(hs);
    sched.verify();
}

#[test]
fn goroutine_stops_the_world_with_two_ps() {
    let sched = Sched::<u64, ()>::new(vec![0, 0]);
    let count = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let looper = {
        let (count, done) = (count.clone(), done.clone());
        sched.spawn((), move |ctx| {
            while !done.load(SeqCst) {
                count.fetch_add(1, SeqCst);
                *ctx.p() += 1;
                ctx.safepoint();
            }
        })
    };
    let stopper = {
        let count = count.clone();
        sched.spawn((), move |ctx| {
            while count.load(SeqCst) < 100 {
                ctx.safepoint();
                thread::yield_now();
            }
            *ctx.p() += 1_000_000;
            let my_p = ctx.p_id();
            let mut world = ctx.stop_the_world("from a G");
            let frozen = count.load(SeqCst);
            thread::sleep(Duration::from_millis(20));
            assert_eq!(count.load(SeqCst), frozen);
            let mut ps = Vec::new();
            world.each_p(|i, p| ps.push((i, *p)));
            assert_eq!(ps.len(), 2);
            assert!(ps[my_p].1 >= 1_000_000, "the stopper's own P is visited");
            let mut gs = 0;
            world.each_g(|_| gs += 1);
            assert_eq!(gs, 2);
            world.start_the_world();
            ctx.safepoint();
            frozen
        })
    };
    let frozen = stopper.join().unwrap();
    wait_until("the looper to resume", || count.load(SeqCst) > frozen);
    done.store(true, SeqCst);
    looper.join().unwrap();
}

#[test]
fn stoppers_take_turns() {
    let sched = Sched::<(), ()>::new(vec![(); 2]);
    let stopped = Arc::new(AtomicBool::new(false));
    let check = |stopped: &AtomicBool| {
        assert!(!stopped.swap(true, SeqCst), "two stop-the-worlds at once");
        thread::yield_now();
        stopped.store(false, SeqCst);
    };
    let gs: Vec<_> = (0..3)
        .map(|_| {
            let stopped = stopped.clone();
            sched.spawn((), move |ctx| {
                for _ in 0..50 {
                    let w = ctx.stop_the_world("g");
                    check(&stopped);
                    drop(w);
                    ctx.safepoint();
                }
            })
        })
        .collect();
    let other = {
        let (sched, stopped) = (sched.clone(), stopped.clone());
        thread::spawn(move || {
            for _ in 0..50 {
                let w = sched.stop_the_world("thread");
                check(&stopped);
                drop(w);
            }
        })
    };
    join_all(gs);
    other.join().unwrap();
}

#[test]
fn each_p_visits_all_ps() {
    let sched = Sched::<u32, ()>::new(vec![10, 20, 30]);
    assert_eq!(sched.gomaxprocs(), 3);
    let mut world = sched.stop_the_world("visit");
    let mut seen = Vec::new();
    world.each_p(|i, p| {
        seen.push((i, *p));
        *p += 1;
    });
    assert_eq!(seen, vec![(0, 10), (1, 20), (2, 30)]);
    drop(world);
    let h = sched.spawn((), |ctx| *ctx.p());
    assert_eq!(h.join().unwrap(), 11, "P 0 is handed out first");
}

#[test]
fn worker_wake_and_stop() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let runs = Arc::new(AtomicU64::new(0));
    let worker = {
        let runs = runs.clone();
        sched.spawn_worker("test-worker", move |ctx| {
            ctx.with_p(|p| *p += 1);
            assert_eq!(ctx.sched().gomaxprocs(), 1);
            runs.fetch_add(1, SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(20));
    assert_eq!(runs.load(SeqCst), 0, "a worker ran without being woken");
    worker.wake();
    wait_until("the first run", || runs.load(SeqCst) == 1);
    // with_p waits while the world is stopped.
    let world = sched.stop_the_world("hold");
    worker.wake();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(runs.load(SeqCst), 1, "a worker used a P while the world was stopped");
    drop(world);
    wait_until("the second run", || runs.load(SeqCst) == 2);
    // Wake-ups coalesce: many wakes, at most as many runs.
    for _ in 0..10 {
        worker.wake();
    }
    worker.stop();
    let n = runs.load(SeqCst);
    assert!((2..=12).contains(&n));
    let mut work = 0;
    sched.stop_the_world("sum").each_p(|_, p| work = *p);
    assert_eq!(work, n);
}

#[test]
fn worker_sees_should_stop_and_drop_stops_it() {
    let sched = Sched::<(), ()>::new(vec![()]);
    let looping = Arc::new(AtomicBool::new(false));
    let worker = {
        let looping = looping.clone();
        sched.spawn_worker("long", move |ctx| {
            looping.store(true, SeqCst);
            while !ctx.should_stop() {
                ctx.with_p(|_| thread::yield_now());
            }
        })
    };
    worker.wake();
    wait_until("the worker loop", || looping.load(SeqCst));
    drop(worker); // sets should_stop and joins
                  // The worker gave its P back: a goroutine can run.
    sched.spawn((), |_| ()).join().unwrap();
}

#[test]
fn panicking_g_releases_its_p() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let h = sched.spawn((), |ctx| {
        *ctx.p() += 1;
        panic!("boom");
    });
    let err = h.join().unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    let h = sched.spawn((), |ctx| ctx.without_p(|| panic!("boom without a P")));
    assert!(h.join().is_err());
    let h = sched.spawn((), |ctx| {
        *ctx.p() += 1;
        *ctx.p()
    });
    assert_eq!(h.join().unwrap(), 2);
    assert_eq!(sched.num_goroutines(), 0);
    sched.verify();
}

#[test]
fn handshake_panic_propagates_and_releases_everything() {
    let sched = Sched::<(), ()>::new(vec![()]);
    let stop = Arc::new(AtomicBool::new(false));
    let blocked = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let (stop, blocked) = (stop.clone(), blocked.clone());
            sched.spawn((), move |ctx| {
                ctx.without_p(|| {
                    blocked.fetch_add(1, SeqCst);
                    while !stop.load(SeqCst) {
                        thread::yield_now()
                    }
                })
            })
        })
        .collect();
    // All three block without a P, so the caller runs (and panics in) the handshake.
    wait_until("goroutines to block", || blocked.load(SeqCst) == 3);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sched.handshake(&|_| panic!("scan failed"))
    }));
    assert!(r.is_err());
    // The scheduler is usable afterwards: another handshake and a stop complete.
    let n = AtomicUsize::new(0);
    sched.handshake(&|_| {
        n.fetch_add(1, SeqCst);
    });
    assert_eq!(n.load(SeqCst), 3);
    drop(sched.stop_the_world("after"));
    stop.store(true, SeqCst);
    join_all(hs);
    sched.verify();
}

#[test]
fn shared_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Arc<Sched<Vec<u8>, AtomicU64>>>();
    send_sync::<gomem_sched::WorldStopped<'static, Vec<u8>, AtomicU64>>();
    send_sync::<gomem_sched::Worker>();
    fn send<T: Send>() {}
    send::<GHandle<u64>>();
}

#[test]
#[should_panic(expected = "GOMAXPROCS must be at least 1")]
fn zero_procs_panics() {
    let _ = Sched::<(), ()>::new(Vec::new());
}

/// Long work done with a P (a mark assist) polls `Preempt::requested` instead of a safepoint:
/// it must turn true while a stop-the-world waits for this goroutine, so the work can end and
/// the goroutine park; and it reads false again once the world has restarted.
#[test]
fn preempt_probe_sees_a_pending_stop_the_world() {
    let sched = Sched::<u64, ()>::new(vec![0u64]);
    let started = Arc::new(AtomicBool::new(false));
    let h = {
        let started = started.clone();
        sched.spawn((), move |ctx| {
            let (p, preempt) = ctx.p_and_preempt();
            assert!(!preempt.requested(), "nothing pending yet");
            started.store(true, SeqCst);
            // "Work" with the P until someone wants it stopped.
            let mut spins = 0u64;
            while !preempt.requested() {
                *p += 1;
                spins += 1;
                std::hint::spin_loop();
            }
            assert!(spins > 0);
            ctx.safepoint(); // parks here until the stopper restarts the world
            let (_, preempt) = ctx.p_and_preempt();
            !preempt.requested()
        })
    };
    wait_until("the goroutine to start working", || started.load(SeqCst));
    let mut world = sched.stop_the_world("preempt probe");
    let mut worked = 0;
    world.each_p(|_, p| worked = *p);
    assert!(worked > 0, "the goroutine worked with its P before it was stopped");
    world.start_the_world();
    assert!(h.join().unwrap(), "the probe reads false after the world restarted");
}

/// `running_ps` counts the Ps whose goroutine is running: none when idle, one for a running
/// goroutine on two Ps, none while that goroutine is in a call without its P.
#[test]
fn running_ps_counts_ps_with_a_running_goroutine() {
    let sched = Sched::<(), ()>::new(vec![(), ()]);
    assert_eq!(sched.running_ps(), 0);
    let s2 = sched.clone();
    let h = sched.spawn((), move |ctx| {
        let inside = s2.running_ps();
        let without = ctx.without_p(|| s2.running_ps());
        (inside, without)
    });
    let (inside, without) = h.join().expect("goroutine panicked");
    assert_eq!(inside, 1, "one goroutine runs");
    assert_eq!(without, 0, "its P is released during the call");
    wait_until("the goroutine's P idle", || sched.running_ps() == 0);
}

// ---- Misuse and unwinding (issue 12, S8 and item 3) ----

/// Run `f` on its own thread and fail if it does not finish within 20 s: a liveness check for
/// protocols whose failure is a hang (the thread is left behind; the harness exits anyway).
fn finishes<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("{what}: did not finish in 20 s (hung)"),
    }
}

/// The text of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn panic_inside_without_p_takes_the_p_back() {
    finishes("goroutine catching a panic from without_p", || {
        let sched = Sched::<ExclusiveP, ()>::new(vec![ExclusiveP::default()]);
        let h = sched.spawn((), |ctx| {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.without_p(|| panic!("inside without_p"))
            }));
            assert!(caught.is_err());
            // Back on a P, with the payload exclusively ours.
            let id = ctx.g_id();
            let p = ctx.p();
            assert_eq!(p.holder.replace(id), None);
            p.work += 1;
            ctx.p().holder = None;
            ctx.safepoint();
            ctx.p_id()
        });
        assert_eq!(h.join().expect("the goroutine could not use its P after the panic"), 0);
        // The world can still stop, and the state is consistent.
        let mut world = sched.stop_the_world("after the panic");
        world.each_p(|_, p| assert_eq!(p.work, 1));
        drop(world);
        sched.verify();
    });
}

#[test]
fn panic_inside_without_p_is_stopped_and_scanned_like_any_goroutine() {
    finishes("world stop and handshake after a caught panic", || {
        let sched = Sched::<u64, AtomicU64>::new(vec![0]);
        let resumed = Arc::new(AtomicBool::new(false));
        let finish = Arc::new(AtomicBool::new(false));
        let (r, f) = (resumed.clone(), finish.clone());
        let h = sched.spawn(AtomicU64::new(0), move |ctx| {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ctx.without_p(|| panic!("inside without_p"))
            }));
            r.store(true, SeqCst);
            while !f.load(SeqCst) {
                *ctx.p() += 1;
                ctx.g().fetch_add(1, SeqCst);
                ctx.safepoint();
            }
        });
        wait_until("the goroutine to resume", || resumed.load(SeqCst));
        // It runs user code again with a P: a stop waits for its safepoint, and a handshake
        // finds it running (self-run), not in a state where the caller would scan it racily.
        for _ in 0..20 {
            let mut world = sched.stop_the_world("probe");
            let mut n = 0;
            world.each_p(|_, p| n = *p);
            world.each_g(|g| assert_eq!(g.load(SeqCst), n));
            drop(world);
            sched.handshake(&|g: &AtomicU64| {
                g.fetch_add(0, SeqCst);
            });
        }
        finish.store(true, SeqCst);
        h.join().unwrap();
        sched.verify();
    });
}

#[test]
fn goroutine_stop_the_world_is_withdrawn_when_its_handshake_panics() {
    finishes("a stop-the-world withdrawn by a panic", || {
        // G1 stops the world and waits for G2; a handshake that panics on G1's payload is run
        // by G1 itself while it waits, so G1 unwinds out of `stop_the_world` with no token.
        let sched = Sched::<(), bool>::new(vec![(), ()]);
        let (seen, release) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (s2, r2) = (seen.clone(), release.clone());
        // G2 must be running (holding its P) before G1 asks to stop, or the stop finds no one to
        // wait for and succeeds before any handshake: the case this test is not about.
        let running = Arc::new(AtomicBool::new(false));
        let running2 = running.clone();
        let g2 = sched.spawn(false, move |ctx| {
            running2.store(true, SeqCst);
            // Spin without a safepoint until G1's stop request is visible, then until released.
            while !ctx.p_and_preempt().1.requested() {
                std::hint::spin_loop();
            }
            s2.store(true, SeqCst);
            while !r2.load(SeqCst) {
                std::hint::spin_loop();
            }
            ctx.safepoint();
        });
        let g1 = sched.spawn(true, move |ctx| {
            while !running.load(SeqCst) {
                std::hint::spin_loop();
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                drop(ctx.stop_the_world("doomed"));
            }));
            assert!(r.is_err(), "the handshake's panic should have unwound stop_the_world");
            ctx.safepoint();
        });
        // G2 waits for the poll word; G1 is the only one who sets it, so G1 is waiting now.
        wait_until("G1's stop request", || seen.load(SeqCst));
        let hs = {
            let sched = sched.clone();
            thread::spawn(move || sched.handshake(&|&panicky: &bool| assert!(!panicky, "scan")))
        };
        g1.join().expect("G1");
        release.store(true, SeqCst);
        g2.join().expect("G2 parked for a stop nobody ends");
        hs.join().expect("handshake");
        drop(sched.stop_the_world("after"));
        sched.verify();
    });
}

#[test]
fn join_while_holding_a_p_panics_and_works_without_the_p() {
    finishes("joining from a goroutine", || {
        let sched = Sched::<(), ()>::new(vec![()]);
        let h = sched.spawn((), |ctx| {
            // With one P the joined goroutine could never run while we keep ours.
            let inner = ctx.sched().spawn((), |_| 7);
            let inner_id = inner.id();
            let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.join()))
                .expect_err("join with a P must refuse");
            let msg = panic_text(&*err);
            assert!(msg.contains("while it holds a P") && msg.contains("without_p"), "{msg}");
            // The refused handle was consumed; joining inside without_p works.
            let again = ctx.sched().spawn((), |_| 8);
            let v = ctx.without_p(|| again.join().unwrap());
            (inner_id, v)
        });
        let (_, v) = h.join().unwrap();
        assert_eq!(v, 8);
        assert_eq!(sched.num_goroutines(), 0);
    });
}

#[test]
fn sched_stop_the_world_and_handshake_from_a_goroutine_with_a_p_panic() {
    finishes("stopping from a goroutine", || {
        let sched = Sched::<(), ()>::new(vec![(), ()]);
        let h = sched.spawn((), |ctx| {
            let s = ctx.sched().clone();
            assert_eq!(s.current(), Some((ctx.g_id(), true)));
            let stw = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                drop(s.stop_the_world("from a goroutine"));
            }));
            let msg = panic_text(&*stw.expect_err("must refuse"));
            assert!(msg.contains("GCtx::stop_the_world"), "{msg}");
            let hs =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.handshake(&|_| ())));
            let msg = panic_text(&*hs.expect_err("must refuse"));
            assert!(msg.contains("without_p"), "{msg}");
            // Without the P both are fine.
            ctx.without_p(|| {
                assert_eq!(s.current(), Some((1, false)));
                drop(s.stop_the_world("without a P"));
                s.handshake(&|_| ());
            });
            assert_eq!(gomem_sched::holding_p(), Some(ctx.g_id()));
        });
        h.join().unwrap();
        assert_eq!(sched.current(), None);
        assert_eq!(gomem_sched::holding_p(), None);
        sched.verify();
    });
}

#[test]
fn wait_goroutines_waits_for_every_goroutine() {
    finishes("wait_goroutines", || {
        let sched = Sched::<(), ()>::new(vec![()]);
        let gate = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let (g, d) = (gate.clone(), done.clone());
            let _ = sched.spawn((), move |ctx| {
                ctx.without_p(|| wait_until("the gate", || g.load(SeqCst)));
                d.fetch_add(1, SeqCst);
            });
        }
        let waiter = {
            let sched = sched.clone();
            thread::spawn(move || sched.wait_goroutines())
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "wait_goroutines returned while goroutines run");
        gate.store(true, SeqCst);
        waiter.join().unwrap();
        assert_eq!(done.load(SeqCst), 3);
    });
}
