//! The scavenger's policy without a heap: the goals (Go's `gcPaceScavenger`), the PI
//! controller, the background loop on a fake clock (Go's `TestScavenger`, restated), and the
//! scavtrace line.
#![cfg(not(loom))]

use gomem_allocator::scavenge::NO_GOAL;
use gomem_collector::pacer::{Pacer, PacerConfig};
use gomem_collector::scavenger::{
    gc_percent_goal, gc_percent_goal_to_meet, memory_limit_goal, scavtrace_line, PiController,
    ScavengeEnv, ScavengerCore, SCAVENGE_PERCENT, SCAVENGE_QUANTUM,
};

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

#[test]
fn retained_goal_tracks_the_heap_goal_with_ten_percent_slack() {
    // (last heap in use, heap goal, last heap goal) -> target
    let cases: &[(u64, u64, u64, u64)] = &[
        // Before the first cycle completes there is no goal.
        (100 * MIB, 200 * MIB, 0, NO_GOAL),
        // A steady goal: in use at the last mark termination, plus 10 %.
        (100 * MIB, 200 * MIB, 200 * MIB, 110 * MIB),
        // The goal halved (the live heap shrank): keep half the pages, plus 10 %.
        (100 * MIB, 100 * MIB, 200 * MIB, 55 * MIB),
        // The goal doubled: room for twice the pages.
        (64 * MIB, 128 * MIB, 64 * MIB, 128 * MIB + 128 * MIB / 10),
        // Rounded up to a physical page.
        (1000, 4 * MIB, 4 * MIB, PAGE),
        (10 * PAGE, 1, 1, 11 * PAGE),
    ];
    for &(inuse, goal, last, want) in cases {
        let got = gc_percent_goal(inuse, goal, last);
        if want == NO_GOAL {
            assert_eq!(got, NO_GOAL);
        } else {
            assert_eq!(got, want.next_multiple_of(PAGE), "{inuse} {goal} {last}");
        }
    }
}

#[test]
fn retained_goal_is_met_within_a_page() {
    let goal = 110 * MIB;
    for (retained, want) in [
        (100 * MIB, NO_GOAL),
        (goal, NO_GOAL),
        (goal + PAGE - 1, NO_GOAL),
        (goal + PAGE, goal),
        (200 * MIB, goal),
    ] {
        assert_eq!(gc_percent_goal_to_meet(goal, retained), want, "retained {retained}");
    }
    assert_eq!(gc_percent_goal_to_meet(NO_GOAL, 1 << 40), NO_GOAL);
}

#[test]
fn memory_limit_goal_is_95_percent_of_the_limit_when_over_it() {
    assert_eq!(memory_limit_goal(NO_GOAL, 1 << 40), NO_GOAL);
    assert_eq!(memory_limit_goal(100 * MIB, 90 * MIB), NO_GOAL);
    assert_eq!(memory_limit_goal(100 * MIB, 95 * MIB), NO_GOAL);
    assert_eq!(memory_limit_goal(100 * MIB, 96 * MIB), 95 * MIB);
    assert_eq!(memory_limit_goal(100 * MIB, 300 * MIB), 95 * MIB);
    assert_eq!(memory_limit_goal(0, 1), 0);
}

#[test]
fn pacer_reports_when_the_limit_sets_the_goal() {
    let mut p = Pacer::new(PacerConfig { gc_percent: 100, memory_limit: 64 * MIB, gomaxprocs: 2 });
    p.commit(8 * MIB, 8 * MIB, 0, 0);
    p.update_memory_stats(10 * MIB, 0, 0);
    p.set_heap_alloc(8 * MIB);
    assert!(!p.memory_limited(), "GOGC's 16 MiB goal is below the limit's");
    p.commit(40 * MIB, 40 * MIB, 0, 0);
    p.update_memory_stats(50 * MIB, 0, 0);
    p.set_heap_alloc(40 * MIB);
    assert!(p.memory_limited(), "80 MiB by GOGC, about 60 MiB by the limit");
    p.set_memory_limit(u64::MAX);
    assert!(!p.memory_limited());
}

#[test]
fn pi_controller_clamps_and_resets_on_overflow() {
    let mut c = PiController::scavenger();
    // Far below the setpoint: the output saturates at the maximum ratio.
    let (out, ok) = c.next(0.0, 1e6, 1e9);
    assert!(ok && out == 1000.0, "{out}");
    // Far above: the minimum.
    let mut c = PiController::scavenger();
    let (out, ok) = c.next(1e6, 0.0, 1e9);
    assert!(ok && out == 0.001, "{out}");
    // A non-finite input resets and reports failure.
    let (out, ok) = c.next(f64::INFINITY, 0.01, 1e6);
    assert!(!ok && out == 0.001);
    // Proportional response without integral history: kp × error.
    let mut c = PiController::new(0.5, 0.0, 0.0, -10.0, 10.0);
    assert_eq!(c.next(1.0, 3.0, 1.0), (1.0, true));
}

/// Go's `TestScavenger` stubs: 10 µs of work per 4 KiB page, sleeps that take exactly as long
/// as asked, one P.
struct Stub {
    available: u64,
    stop_at: u64,
    worked: u64,
    slept: u64,
}

impl ScavengeEnv for Stub {
    fn scavenge(&mut self, nbytes: usize) -> (usize, u64) {
        let n = (nbytes as u64).min(self.available);
        let t = n.div_ceil(PAGE) * 10_000;
        if n > 0 {
            self.available -= n;
            self.worked += t;
        }
        (n as usize, t)
    }
    fn should_stop(&mut self) -> bool {
        self.available <= self.stop_at
    }
    fn sleep(&mut self, ns: u64) -> u64 {
        self.slept += ns;
        ns
    }
    fn gomaxprocs(&self) -> usize {
        1
    }
}

#[test]
fn go_scavenger_meets_its_cpu_target() {
    let total = 64 * MIB - 3 * PAGE;
    let mut core = ScavengerCore::default();
    let mut env = Stub { available: 0, stop_at: 0, worked: 0, slept: 0 };
    let verify = |core: &ScavengerCore, env: &Stub, want: u64| {
        assert_eq!(core.released, want, "bytes of work done");
        let ideal = SCAVENGE_PERCENT / 100.0;
        let fraction = env.worked as f64 / (env.worked + env.slept) as f64;
        assert!((fraction - ideal).abs() <= 0.005, "CPU fraction {fraction}, want {ideal}");
    };
    // Run to completion.
    env.available = total;
    core.work(&mut env);
    verify(&core, &env, total);
    // Nothing to do: straight back to sleep.
    assert_eq!(core.work(&mut env), 0);
    verify(&core, &env, total);
    // The same again.
    env.available = total;
    core.work(&mut env);
    verify(&core, &env, 2 * total);
    // Stop part-way (the goals are met).
    env.available = total;
    let stop = MIB - 3 * PAGE;
    env.stop_at = stop;
    core.work(&mut env);
    verify(&core, &env, 2 * total + (total - stop));
    assert!(!core.controller_reset);
}

#[test]
fn scavenger_runs_at_least_a_millisecond_in_quanta() {
    let mut core = ScavengerCore::default();
    let mut env = Stub { available: 1 << 30, stop_at: 0, worked: 0, slept: 0 };
    let (released, worked) = core.run(&mut env);
    // 64 KiB is 160 µs here: seven quanta pass 1 ms.
    assert_eq!(released, 7 * SCAVENGE_QUANTUM);
    assert_eq!(worked, 7.0 * 160_000.0);
    // The first sleep uses the starting ratio, 1:1000.
    core.sleep(worked, &mut env);
    assert_eq!(env.slept, (worked / 0.001) as u64);
}

#[test]
fn scavtrace_line_is_gos_format() {
    assert_eq!(
        scavtrace_line(5 << 20, 64 << 10, 120 << 20, 30 << 20, 40 << 20, false, false),
        "scav 5120 KiB work (bg), 64 KiB work (eager), 122880 KiB now, 75% util"
    );
    assert_eq!(
        scavtrace_line(0, 24 << 20, 24 << 20, 1 << 20, 1 << 20, true, true),
        "scav 0 KiB work (bg), 24576 KiB work (eager), 24576 KiB now, 100% util (forced)"
    );
    assert_eq!(
        scavtrace_line(1536, 0, 0, 1, 3, false, true),
        "scav 1 KiB work (bg), 0 KiB work (eager), 0 KiB now, 33% util [controller reset]"
    );
}
