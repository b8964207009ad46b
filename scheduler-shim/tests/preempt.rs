//! Preemption and borrowing classes: a goroutine asked to yield gives its P to the head of the
//! line at its next safepoint; a GC-class borrower is served before goroutines and preempts one
//! when every P is taken; an idle-class borrower runs only on an otherwise idle P and is told to
//! yield as soon as anyone waits. Timing bounds are generous correctness bounds, not
//! performance assertions.

#![cfg(not(loom))]

use std::thread;
use std::time::{Duration, Instant};

use gomem_sched::sync::{Arc, AtomicBool, AtomicU64, Ordering::SeqCst};
use gomem_sched::{PClass, Sched};

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A goroutine that spins on safepoints (no allocation, no blocking) until `stop` is set, counting
/// its iterations.
fn spinner(sched: &Arc<Sched<u64, ()>>, stop: &Arc<AtomicBool>) -> gomem_sched::GHandle<u64> {
    let stop = stop.clone();
    sched.spawn((), move |cx| {
        let mut n = 0;
        while !stop.load(SeqCst) {
            *cx.p() += 1;
            n += 1;
            cx.safepoint();
        }
        n
    })
}

#[test]
fn gc_class_borrower_preempts_a_spinning_goroutine_on_one_p() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let stop = Arc::new(AtomicBool::new(false));
    let g = spinner(&sched, &stop);
    wait_until("the spinner to run", || sched.running_ps() == 1);
    let t = Instant::now();
    // The only P is held by a goroutine that never blocks: only preemption can free it.
    let ran = sched.borrow_p(PClass::Gc, |p, _| {
        *p += 1_000_000;
        true
    });
    assert!(ran);
    assert!(t.elapsed() < Duration::from_secs(5), "the borrower waited {:?}", t.elapsed());
    // The spinner got its P back and keeps running.
    wait_until("the spinner to run again", || sched.running_ps() == 1);
    stop.store(true, SeqCst);
    assert!(g.join().unwrap() > 0);
}

#[test]
fn preempt_request_moves_a_goroutine_behind_a_waiting_one() {
    // One P, two spinners: the second waits in the run queue until the first is preempted.
    let sched = Sched::<u64, ()>::new(vec![0]);
    let stop = Arc::new(AtomicBool::new(false));
    let second_ran = Arc::new(AtomicBool::new(false));
    let g1 = spinner(&sched, &stop);
    wait_until("g1 to run", || sched.running_ps() == 1);
    let s2 = second_ran.clone();
    let g2 = sched.spawn((), move |_| s2.store(true, SeqCst));
    thread::sleep(Duration::from_millis(20));
    assert!(!second_ran.load(SeqCst), "g2 ran although g1 never yielded");
    assert!(sched.preempt(g1.id()), "g1 holds a P, so it can be asked");
    wait_until("g2 to run after g1's preemption", || second_ran.load(SeqCst));
    g2.join().unwrap();
    stop.store(true, SeqCst);
    g1.join().unwrap();
}

#[test]
fn preempt_with_no_one_waiting_keeps_the_p() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let stop = Arc::new(AtomicBool::new(false));
    let g = spinner(&sched, &stop);
    wait_until("g to run", || sched.running_ps() == 1);
    assert!(sched.preempt(g.id()));
    // The request is honoured (cleared) at the next safepoint without losing the P.
    wait_until("the request to lapse", || sched.preempt(g.id()));
    stop.store(true, SeqCst);
    g.join().unwrap();
}

#[test]
fn gosched_lets_a_waiting_goroutine_run_on_one_p() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let order = Arc::new(AtomicU64::new(0));
    let o1 = order.clone();
    let g1 = sched.spawn((), move |cx| {
        // Wait for g2 to be queued, then yield to it.
        while cx.sched().num_goroutines() < 2 {
            thread::yield_now();
        }
        cx.gosched();
        o1.load(SeqCst)
    });
    let o2 = order.clone();
    let g2 = sched.spawn((), move |_| o2.store(7, SeqCst));
    assert_eq!(g1.join().unwrap(), 7, "g2 ran while g1 yielded");
    g2.join().unwrap();
}

#[test]
fn gosched_with_no_one_waiting_returns_at_once() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let g = sched.spawn((), |cx| {
        let p = cx.p_id();
        cx.gosched();
        (p, cx.p_id())
    });
    assert_eq!(g.join().unwrap(), (0, 0));
}

#[test]
fn idle_borrower_yields_when_a_goroutine_arrives() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let started = Arc::new(AtomicBool::new(false));
    let s = sched.clone();
    let st = started.clone();
    let borrower = thread::spawn(move || {
        s.borrow_p(PClass::Idle, |p, y| {
            st.store(true, SeqCst);
            let t = Instant::now();
            while !y.requested() {
                assert!(t.elapsed() < Duration::from_secs(10), "never asked to yield");
                *p += 1;
                thread::yield_now();
            }
        })
    });
    wait_until("the idle borrower to hold the P", || started.load(SeqCst));
    let g = sched.spawn((), |cx| *cx.p());
    assert!(g.join().unwrap() > 0, "the goroutine ran after the borrower's work");
    borrower.join().unwrap();
}

#[test]
fn idle_borrower_waits_behind_goroutines() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let stop = Arc::new(AtomicBool::new(false));
    let g = spinner(&sched, &stop);
    wait_until("g to run", || sched.running_ps() == 1);
    let got = Arc::new(AtomicBool::new(false));
    let s = sched.clone();
    let gt = got.clone();
    let borrower = thread::spawn(move || s.borrow_p(PClass::Idle, |_, _| gt.store(true, SeqCst)));
    thread::sleep(Duration::from_millis(30));
    assert!(!got.load(SeqCst), "an idle-class borrower preempted a goroutine");
    stop.store(true, SeqCst);
    g.join().unwrap();
    borrower.join().unwrap();
    assert!(got.load(SeqCst));
}

#[test]
fn gc_class_is_served_before_queued_goroutines() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let stop = Arc::new(AtomicBool::new(false));
    let g1 = spinner(&sched, &stop);
    wait_until("g1 to run", || sched.running_ps() == 1);
    // A goroutine queues first, then a GC-class borrower; the borrower must be served first.
    let seq = Arc::new(AtomicU64::new(0));
    let s2 = seq.clone();
    let g2 = sched.spawn((), move |_| s2.fetch_add(1, SeqCst));
    thread::sleep(Duration::from_millis(10));
    let s = sched.clone();
    let s3 = seq.clone();
    let stop2 = stop.clone();
    let borrower = thread::spawn(move || {
        s.borrow_p(PClass::Gc, |_, _| {
            stop2.store(true, SeqCst);
            s3.fetch_add(1, SeqCst)
        })
    });
    assert_eq!(borrower.join().unwrap(), 0, "the GC-class borrower ran before the queued g2");
    assert_eq!(g2.join().unwrap(), 1);
    g1.join().unwrap();
}

#[test]
fn borrow_p_from_a_goroutine_holding_a_p_panics() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let g = sched.spawn((), |cx| {
        let s = cx.sched().clone();
        s.borrow_p(PClass::Gc, |_, _| ())
    });
    let err = g.join().unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("holds a P"), "{msg}");
}

#[test]
fn stop_the_world_asks_a_borrower_to_yield() {
    let sched = Sched::<u64, ()>::new(vec![0, 0]);
    let started = Arc::new(AtomicBool::new(false));
    let s = sched.clone();
    let st = started.clone();
    let borrower = thread::spawn(move || {
        s.borrow_p(PClass::Gc, |_, y| {
            st.store(true, SeqCst);
            let t = Instant::now();
            while !y.requested() {
                assert!(t.elapsed() < Duration::from_secs(10), "never asked to yield");
                thread::yield_now();
            }
        })
    });
    wait_until("the borrower to hold a P", || started.load(SeqCst));
    drop(sched.stop_the_world("test"));
    borrower.join().unwrap();
}

#[test]
fn sysmon_time_slices_a_goroutine_spinning_on_safepoints_at_one_p() {
    // The test: at GOMAXPROCS=1 a CPU-bound goroutine that never blocks but polls
    // safepoints is preempted by sysmon after its time slice, so a second goroutine runs.
    let sched = Sched::<u64, ()>::new(vec![0]);
    let _sysmon = sched.start_sysmon(gomem_sched::SysmonConfig {
        time_slice: Duration::from_millis(5),
        tick: None,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let g1 = spinner(&sched, &stop);
    wait_until("g1 to run", || sched.running_ps() == 1);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let g2 = sched.spawn((), move |_| r.store(true, SeqCst));
    wait_until("g2 to run on the P sysmon took back", || ran.load(SeqCst));
    g2.join().unwrap();
    stop.store(true, SeqCst);
    g1.join().unwrap();
}

#[test]
fn sysmon_leaves_a_lone_goroutine_alone() {
    // Nobody waits: no preemption is asked, so the goroutine keeps P 0 throughout.
    let sched = Sched::<u64, ()>::new(vec![0]);
    let _sysmon = sched.start_sysmon(gomem_sched::SysmonConfig {
        time_slice: Duration::from_millis(1),
        tick: None,
    });
    let g = sched.spawn((), |cx| {
        let t = Instant::now();
        let mut moved = false;
        while t.elapsed() < Duration::from_millis(50) {
            cx.safepoint();
            moved |= cx.p_id() != 0;
        }
        moved
    });
    assert!(!g.join().unwrap());
}

#[test]
fn sysmon_reports_a_goroutine_that_never_reaches_a_safepoint() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    sched.set_stw_watch(Some(Duration::from_secs(60)));
    let ticks = Arc::new(AtomicU64::new(0));
    let t2 = ticks.clone();
    let _sysmon = sched.start_sysmon(gomem_sched::SysmonConfig {
        time_slice: Duration::from_millis(2),
        tick: Some(Box::new(move || {
            t2.fetch_add(1, SeqCst);
        })),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // Spins without a safepoint until told to stop.
    let g1 = sched.spawn((), move |_| {
        while !s.load(SeqCst) {
            std::hint::spin_loop();
        }
    });
    wait_until("g1 to run", || sched.running_ps() == 1);
    let g2 = sched.spawn((), |_| ());
    wait_until("sysmon's report", || sched.unresponsive_reports() == 1);
    stop.store(true, SeqCst);
    g1.join().unwrap();
    g2.join().unwrap();
    assert_eq!(sched.unresponsive_reports(), 1, "one report per time slice, not per round");
    assert!(ticks.load(SeqCst) > 0, "the tick hook ran");
}

#[test]
fn a_short_syscall_keeps_its_p() {
    // Two Ps, nobody waiting: the goroutine comes back to the P it left, without queueing.
    let sched = Sched::<u64, ()>::new(vec![0, 0]);
    let _sysmon = sched.start_sysmon(gomem_sched::SysmonConfig::default());
    let g = sched.spawn((), |cx| {
        *cx.p() = 5;
        let before = cx.p_id();
        cx.syscall(|| thread::sleep(Duration::from_millis(2)));
        (before, cx.p_id(), *cx.p())
    });
    let (before, after, v) = g.join().unwrap();
    assert_eq!(before, after);
    assert_eq!(v, 5);
}

#[test]
fn sysmon_retakes_the_p_of_a_long_syscall_for_a_waiter() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let _sysmon = sched.start_sysmon(gomem_sched::SysmonConfig::default());
    let in_call = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (ic, rl) = (in_call.clone(), release.clone());
    let g1 = sched.spawn((), move |cx| {
        cx.syscall(|| {
            ic.store(true, SeqCst);
            wait_until("the waiter to run", || rl.load(SeqCst));
        });
        cx.p_id()
    });
    wait_until("g1 to be in its syscall", || in_call.load(SeqCst));
    // The only P is kept for g1; only sysmon's retake lets g2 run before g1 returns.
    let rl = release.clone();
    let g2 = sched.spawn((), move |_| rl.store(true, SeqCst));
    g2.join().unwrap();
    assert_eq!(g1.join().unwrap(), 0, "g1 got a P back after the retake");
}

#[test]
fn a_kept_p_is_retaken_only_by_sysmon() {
    // Without sysmon the P stays kept for the goroutine in its syscall: a waiter waits.
    let sched = Sched::<u64, ()>::new(vec![0]);
    let in_call = Arc::new(AtomicBool::new(false));
    let ic = in_call.clone();
    let g1 = sched.spawn((), move |cx| {
        cx.syscall(|| {
            ic.store(true, SeqCst);
            thread::sleep(Duration::from_millis(50));
        });
    });
    wait_until("g1 to be in its syscall", || in_call.load(SeqCst));
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let g2 = sched.spawn((), move |_| r.store(true, SeqCst));
    thread::sleep(Duration::from_millis(20));
    assert!(!ran.load(SeqCst), "the kept P was handed on without sysmon");
    g1.join().unwrap();
    g2.join().unwrap();
}

#[test]
fn stop_the_world_does_not_wait_for_a_syscall() {
    let sched = Sched::<u64, ()>::new(vec![0]);
    let in_call = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (ic, rl) = (in_call.clone(), release.clone());
    let g = sched.spawn((), move |cx| {
        cx.syscall(|| {
            ic.store(true, SeqCst);
            wait_until("the stop to end", || rl.load(SeqCst));
        });
        *cx.p() += 1;
    });
    wait_until("g to be in its syscall", || in_call.load(SeqCst));
    let mut w = sched.stop_the_world("test");
    w.each_p(|_, p| *p += 10);
    drop(w);
    release.store(true, SeqCst);
    g.join().unwrap();
    let mut total = 0;
    sched.stop_the_world("sum").each_p(|_, p| total += *p);
    assert_eq!(total, 11);
}
