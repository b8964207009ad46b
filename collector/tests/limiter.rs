//! The GC CPU limiter's bucket on a fake clock: Go's `TestGCCPULimiter` (mgclimit_test.go)
//! restated step for step, then gomem's arming rule (limiting only while the memory limit sets
//! the goal) and the concurrent wrapper.
#![cfg(not(loom))]

use gomem_collector::limiter::{
    GcCpuLimiter, LimiterBucket, CAPACITY_PER_PROC_NS, UPDATE_PERIOD_NS,
};
use gomem_collector::pacer::GC_BACKGROUND_UTILIZATION;

const PROCS: u64 = 14;
const MS: u64 = 1_000_000;
const US: u64 = 1_000;
const SEC: u64 = 1_000_000_000;
const HOUR: u64 = 3600 * SEC;

/// The test's clock and the assist-time pool Go's limiter keeps beside the bucket.
struct Fake {
    ticks: u64,
    pool: u64,
}

impl Fake {
    fn advance(&mut self, d: u64) -> u64 {
        self.ticks += d;
        self.ticks
    }
    /// CPU time of assists using `frac` of GOMAXPROCS for `d` of wall time (Go's `assistTime`).
    fn add_assist(&mut self, d: u64, frac: f64) {
        self.pool += (frac * d as f64 * PROCS as f64) as u64;
    }
    fn update(&mut self, l: &mut LimiterBucket, d: u64) {
        let now = self.advance(d);
        l.update(now, std::mem::take(&mut self.pool), 0, 0);
    }
}

#[test]
fn go_gc_cpu_limiter_sequence() {
    let mut f = Fake { ticks: 0, pool: 0 };
    let mut l = LimiterBucket::new(0, PROCS as usize);
    let mut base_overflow = 0u64;
    // Twice, to make sure no state leaks from one round to the next.
    for _ in 0..2 {
        assert_eq!(l.capacity(), PROCS * CAPACITY_PER_PROC_NS);
        assert_eq!(l.fill(), 0);

        // Mutator time alone never fills it.
        f.update(&mut l, 10 * MS);
        f.update(&mut l, SEC);
        f.update(&mut l, HOUR);
        assert_eq!(l.fill(), 0);

        // needUpdate.
        assert!(!l.need_update(f.advance(UPDATE_PERIOD_NS / 2)));
        assert!(l.need_update(f.advance(UPDATE_PERIOD_NS)));
        f.update(&mut l, 0);
        assert!(!l.need_update(f.advance(0)));

        // A transition to marking: the stopped time counts on every P.
        let now = f.advance(109 * MS);
        l.start_transition(true, now, 0, 0);
        l.finish_transition(f.advance(2 * MS + US), 0);
        assert_eq!(l.fill(), (2 * MS + US) * PROCS);

        // Marking without assists drains at 1 - 2 × 25 % of the total: drain to exactly PROCS.
        let factor = 1.0 / (1.0 - 2.0 * GC_BACKGROUND_UTILIZATION);
        let fill = (2 * MS + US) * PROCS;
        f.update(&mut l, (factor * (fill - PROCS) as f64 / PROCS as f64) as u64);
        assert_eq!(l.fill(), PROCS);

        // Drain to zero.
        f.update(&mut l, 2 * PROCS * CAPACITY_PER_PROC_NS);
        assert_eq!(l.fill(), 0);

        // 50 % GC work in all: the bucket does not move.
        f.add_assist(10 * MS, 0.5 - GC_BACKGROUND_UTILIZATION);
        f.update(&mut l, 10 * MS);
        assert_eq!(l.fill(), 0);

        // 100 % GC work for 1 ms.
        f.add_assist(MS, 1.0 - GC_BACKGROUND_UTILIZATION);
        f.update(&mut l, MS);
        assert_eq!(l.fill(), PROCS * MS);
        assert!(!l.limiting());

        // Exactly full: limiting, no overflow.
        f.add_assist(CAPACITY_PER_PROC_NS - MS, 1.0 - GC_BACKGROUND_UTILIZATION);
        f.update(&mut l, CAPACITY_PER_PROC_NS - MS);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        assert_eq!(l.overflow(), base_overflow);

        // A delta of exactly zero keeps it on and adds no overflow.
        f.add_assist(SEC, 0.5 - GC_BACKGROUND_UTILIZATION);
        f.update(&mut l, SEC);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        assert_eq!(l.overflow(), base_overflow);

        // Drain by half: off.
        f.add_assist(CAPACITY_PER_PROC_NS, 0.0);
        f.update(&mut l, CAPACITY_PER_PROC_NS);
        assert_eq!(l.fill(), l.capacity() / 2);
        assert!(!l.limiting());

        // Overfill: on, with overflow.
        f.add_assist(CAPACITY_PER_PROC_NS, 1.0 - GC_BACKGROUND_UTILIZATION);
        f.update(&mut l, CAPACITY_PER_PROC_NS);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        assert_eq!(l.overflow(), CAPACITY_PER_PROC_NS * PROCS / 2 + base_overflow);

        // End the cycle with assists left over.
        f.add_assist(MS, 1.0 - GC_BACKGROUND_UTILIZATION);
        let now = f.advance(MS);
        l.start_transition(false, now, std::mem::take(&mut f.pool), 0);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        let want = (CAPACITY_PER_PROC_NS / 2 + MS) * PROCS;
        assert_eq!(l.overflow(), want + base_overflow);

        // The stop adds to the bucket.
        l.finish_transition(f.advance(5 * MS), 0);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        let want = (CAPACITY_PER_PROC_NS / 2 + 6 * MS) * PROCS;
        assert_eq!(l.overflow(), want + base_overflow);

        // More Ps: not full any more, not limiting; overflow unchanged.
        let fill = l.capacity();
        l.reset_capacity(f.advance(0), PROCS as usize + 10, 0);
        assert_eq!(l.fill(), fill);
        assert!(!l.limiting());
        assert_eq!(l.overflow(), want + base_overflow);

        // Fewer Ps: full again, limiting; overflow unchanged (no GC work caused it).
        l.reset_capacity(f.advance(0), PROCS as usize - 10, 0);
        assert_eq!(l.fill(), l.capacity());
        assert!(l.limiting());
        assert_eq!(l.overflow(), want + base_overflow);

        // Back to zero for the next round.
        l.reset_capacity(f.advance(CAPACITY_PER_PROC_NS * PROCS), PROCS as usize, 0);
        base_overflow += want;
    }
}

#[test]
fn disarmed_bucket_fills_but_never_limits() {
    let mut f = Fake { ticks: 0, pool: 0 };
    let mut l = LimiterBucket::new(0, 2);
    l.set_allowed(false);
    // 100 % GC for two bucket capacities.
    f.add_assist(4 * SEC, (1.0 - GC_BACKGROUND_UTILIZATION) * 2.0 / PROCS as f64);
    l.start_transition(true, f.advance(0), 0, 0);
    l.finish_transition(f.advance(0), 0);
    f.update(&mut l, 4 * SEC);
    assert_eq!(l.fill(), l.capacity());
    assert!(!l.limiting());
    assert_eq!((l.overflow(), l.last_enabled_cycle()), (0, 0));
    // Armed (the memory limit now sets the goal): the next net GC time turns it on, and the
    // cycle recorded is the one in progress (completed cycles + 1, Go's numgc + 1).
    l.set_allowed(true);
    assert!(!l.limiting(), "arming alone does not limit");
    f.add_assist(10 * MS, (1.0 - GC_BACKGROUND_UTILIZATION) * 2.0 / PROCS as f64);
    let now = f.advance(10 * MS);
    l.update(now, std::mem::take(&mut f.pool), 0, 41);
    assert!(l.limiting());
    assert_eq!(l.last_enabled_cycle(), 42);
    assert!(l.overflow() > 0);
    // Disarming stops limiting at once.
    l.set_allowed(false);
    assert!(!l.limiting());
}

#[test]
fn idle_time_is_not_mutator_time() {
    let mut l = LimiterBucket::new(0, 4);
    // Marking, one P busy with assists, the other three idle: GC is 25 % background plus
    // 25 % assists of the real total; with idle time taken out, GC dominates.
    l.start_transition(true, 0, 0, 0);
    l.finish_transition(0, 0);
    l.update(SEC, SEC, 3 * SEC, 0);
    // total 4 s, gc = 1 s + 1 s = 2 s, minus 3 s idle: mutator = 4 - 3 - 2 < 0.
    assert_eq!(l.fill(), 2 * SEC + SEC);
}

#[test]
fn wrapper_pools_time_and_mirrors_the_flag() {
    let l = GcCpuLimiter::new(0, 1);
    l.transition(true, 0, 0);
    assert!(!l.limiting());
    // 1.2 s of assists in 1 s of wall on one P, plus the 25 %: over capacity.
    l.add_gc_time(1_200 * MS);
    assert!(l.needs_update(SEC));
    l.update(SEC, 3);
    assert!(l.limiting());
    assert_eq!(l.last_enabled_cycle(), 4);
    let s = l.stats();
    assert!(s.limiting && s.fill_ns == s.capacity_ns && s.overflow_ns > 0, "{s:?}");
    assert_eq!(l.overflow_ns(), s.overflow_ns);
    assert!(!l.needs_update(SEC + UPDATE_PERIOD_NS));
    // Marking stops; mutator time drains it.
    l.transition(false, SEC + MS, 3);
    l.update(2 * SEC, 4);
    assert!(!l.limiting());
    // A repeated transition to the same state is a no-op (the controller calls it at every
    // phase change).
    l.transition(false, 2 * SEC, 4);
    l.set_allowed(false);
    l.add_gc_time(10 * SEC);
    l.update(3 * SEC, 4);
    assert!(!l.limiting(), "disarmed");
}

/// Idle mark workers' time comes off the window's total, as Go's `idleTimePool` does: it is
/// time the program left idle, so it neither counts as mutator time that drains the bucket nor
/// as GC time that fills it.
#[test]
fn idle_mark_time_comes_off_the_total() {
    let fill_after = |idle: u64| {
        let l = GcCpuLimiter::new(0, 4);
        l.transition(true, 0, 0);
        // 100 ms on 4 Ps: 400 ms in all, 100 ms of it the 25 % background share.
        l.add_gc_time(250 * MS);
        l.add_idle_time(idle);
        l.update(100 * MS, 0);
        l.stats().fill_ns
    };
    assert_eq!(fill_after(0), 300 * MS, "GC 350 ms against mutator 50 ms");
    assert_eq!(fill_after(40 * MS), 340 * MS, "40 ms idle: mutator 10 ms");
}
