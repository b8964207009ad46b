//! The scavenger's policy (Go's `mgcscavenge.go`): how much memory to keep, how fast to return
//! the rest, the background scavenger thread, and the `GODEBUG=scavtrace=1` line. See the crate
//! docs for the overview; the mechanism (which pages, the `madvise`, allocation-time
//! scavenging) is in the allocator's `scavenge.rs`.
//!
//! # Goals (Go's `gcPaceScavenger`, at every pacer commit)
//!
//! Two goals; the background scavenger works while *either* is unmet:
//!
//! - **Retained-memory goal** ([`gc_percent_goal`]): the heap's RSS should track the heap goal.
//!   The heap goal counts object bytes, RSS counts pages, so Go scales the pages in use at the
//!   last mark termination by how much the goal moved, and adds 10 % for slack
//!   (`retainExtraPercent`): `lastHeapInUse × heapGoal / lastHeapGoal × 1.10`, rounded up to a
//!   page ([`gc_percent_goal`]). Met when `heapRetained = heapInUse + heapFree` is at most that
//!   (or within a page of it, [`gc_percent_goal_to_meet`]). Disabled before the first cycle
//!   completes.
//! - **Memory-limit goal** ([`memory_limit_goal`]): with GOMEMLIMIT set, keep `mappedReady` (all
//!   memory in the Ready state) at 95 % of the limit (`reduceExtraPercent`), so the scavenger is
//!   already pushing when the program nears the limit. Disabled while below it.
//!
//! # Pacing (Go's `scavengerState.run` and `sleep`)
//!
//! The background scavenger releases in 64 KiB requests ([`SCAVENGE_QUANTUM`]) until it has
//! worked at least 1 ms or met both goals or found nothing eligible, then sleeps for
//! `worked / sleep_ratio`. A PI controller ([`PiController`], Go's tuning: kp 0.3375,
//! ti 3.2 ms, reset time 1 s, ratio in [0.001, 1000]) steers `sleep_ratio` so the scavenger's
//! CPU time is 1 % ([`SCAVENGE_PERCENT`]) of GOMAXPROCS × wall time: with one P its thread runs
//! about 1 % of the time, with GOMAXPROCS = 2 about 2 %. If the controller's arithmetic
//! overflows, the ratio falls back to 0.001 for 5 s and the next scavtrace line says
//! `[controller reset]`. [`ScavengerCore`] is this loop with its environment ([`ScavengeEnv`])
//! abstracted, so the tests run it on a fake clock as Go's `TestScavenger` does.
//!
//! # The thread
//!
//! One background thread per collector. It sleeps until a GC cycle ends, waits for that cycle's
//! sweep to finish (Go wakes its scavenger when sweeping is done: only then are the freed pages
//! known), prints the scavtrace line if asked, and works as above until the goals are met or
//! nothing eligible is left. Goal changes from `set_gc_percent` / `set_memory_limit` wake it too.
//! While a memory limit is set it also updates the GC CPU limiter every 10 ms, the part of
//! Go's `sysmon` that gomem needs.

use crate::cycle::Collector;
use crate::pacer::Pacer;
use crate::sync::{lock, Condvar, Mutex, Ordering};
use crate::world::{PClass, World};
use gomem_allocator::scavenge::NO_GOAL;
use std::time::{Duration, Instant};

/// The background scavenger's CPU budget, percent of GOMAXPROCS × wall time (Go's
/// `scavengePercent`).
pub const SCAVENGE_PERCENT: f64 = 1.0;

/// Extra memory kept above the heap goal's page footprint, percent (Go's `retainExtraPercent`).
pub const RETAIN_EXTRA_PERCENT: u64 = 10;

/// How far under the memory limit the scavenger aims, percent (Go's `reduceExtraPercent`).
pub const REDUCE_EXTRA_PERCENT: u64 = 5;

/// Bytes per background request (Go's `scavengeQuantum`): about 160 µs of work at a
/// pessimistic 10 µs per 4 KiB page, so the thread stays responsive.
pub const SCAVENGE_QUANTUM: usize = 64 << 10;

/// The shortest stretch of work before sleeping, ns (Go's `minScavWorkTime`): shorter ones
/// would ask for sleeps too short to be reliable.
pub const MIN_SCAV_WORK_TIME_NS: f64 = 1e6;

/// The sleep ratio to start from and to fall back to (Go's `startingScavSleepRatio`).
pub const STARTING_SCAV_SLEEP_RATIO: f64 = 0.001;

/// How long the fixed fallback ratio holds after a controller failure, ns.
pub const CONTROLLER_COOLDOWN_NS: f64 = 5e9;

/// The physical page size the goals are rounded to.
const PHYS_PAGE_SIZE: u64 = gomem_allocator::os::OS_PAGE_SIZE as u64;

/// The retained-memory target (the `gcPercentGoal` computation of Go's `gcPaceScavenger`):
/// `last_heap_inuse × heap_goal / last_heap_goal`, plus 10 %, rounded up to a physical page;
/// [`NO_GOAL`] before the first cycle completes (`last_heap_goal == 0`).
#[doc(alias = "gcPaceScavenger")]
pub fn gc_percent_goal(last_heap_inuse: u64, heap_goal: u64, last_heap_goal: u64) -> u64 {
    if last_heap_goal == 0 {
        return NO_GOAL;
    }
    let ratio = heap_goal as f64 / last_heap_goal as f64;
    let mut goal = (last_heap_inuse as f64 * ratio) as u64;
    // `goal / (100 / RETAIN_EXTRA_PERCENT)`: Go's integer form of +10 %.
    goal = goal.saturating_add(goal / (100 / RETAIN_EXTRA_PERCENT));
    goal.saturating_add(PHYS_PAGE_SIZE - 1) & !(PHYS_PAGE_SIZE - 1)
}

/// The retained-memory goal the background scavenger works toward: `goal`, or [`NO_GOAL`]
/// (nothing to do) when `retained` is already at most one page above it, as Go stores it.
pub fn gc_percent_goal_to_meet(goal: u64, retained: u64) -> u64 {
    if goal == NO_GOAL || retained <= goal || retained - goal < PHYS_PAGE_SIZE {
        NO_GOAL
    } else {
        goal
    }
}

/// The memory-limit goal (the `memoryLimitGoal` half of Go's `gcPaceScavenger`): 95 % of
/// `limit`, or [`NO_GOAL`] without a limit or while `mapped_ready` is already at or below it.
pub fn memory_limit_goal(limit: u64, mapped_ready: u64) -> u64 {
    if limit == NO_GOAL {
        return NO_GOAL;
    }
    let goal = (limit as f64 * (1.0 - REDUCE_EXTRA_PERCENT as f64 / 100.0)) as u64;
    if mapped_ready <= goal {
        NO_GOAL
    } else {
        goal
    }
}

/// The text of one `GODEBUG=scavtrace=1` line (Go's `printScavTrace`), without the newline:
/// `scav B KiB work (bg), E KiB work (eager), N KiB now, U% util`, then ` (forced)` for
/// `free_os_memory`, or ` [controller reset]` once after a controller failure. `B` and `E` are
/// the bytes released in the background and at allocation time since the last line, `N` the
/// heap's released bytes now, `U` the in-use share of the retained heap.
pub fn scavtrace_line(
    released_bg: u64,
    released_eager: u64,
    heap_released: u64,
    heap_inuse: u64,
    heap_retained: u64,
    forced: bool,
    controller_reset: bool,
) -> String {
    let util = heap_inuse * 100 / heap_retained.max(1);
    let suffix = if forced {
        " (forced)"
    } else if controller_reset {
        " [controller reset]"
    } else {
        ""
    };
    format!(
        "scav {} KiB work (bg), {} KiB work (eager), {} KiB now, {util}% util{suffix}",
        released_bg >> 10,
        released_eager >> 10,
        heap_released >> 10
    )
}

/// Print the scavtrace line if `GODEBUG=scavtrace=1` (Go's `printScavTrace`). `forced` carries
/// the bytes a forced release (`free_os_memory`) just returned: the line then reports them as
/// eager work and ends in ` (forced)`, and the per-cycle counters are left alone, as in Go.
pub(crate) fn print_scavtrace(c: &Collector, forced: Option<u64>, controller_reset: bool) {
    if !c.scavtrace() {
        return;
    }
    let heap = c.heap();
    let (bg, eager) = match forced {
        Some(r) => (0, r),
        None => heap.scavenge_state().take_trace_counters(),
    };
    let st = &heap.stats;
    eprintln!(
        "{}",
        scavtrace_line(
            bg,
            eager,
            st.heap_released(),
            st.heap_inuse(),
            st.heap_retained(),
            forced.is_some(),
            controller_reset
        )
    );
}

/// A proportional-integral controller with anti-windup (Go's `piController`).
#[derive(Clone, Debug)]
#[doc(alias = "piController")]
pub struct PiController {
    /// Proportional constant.
    pub kp: f64,
    /// Integral time constant.
    pub ti: f64,
    /// Reset time (anti-windup).
    pub tt: f64,
    /// Lowest output.
    pub min: f64,
    /// Highest output.
    pub max: f64,
    err_integral: f64,
}

impl PiController {
    /// A controller with these constants and no accumulated error.
    pub fn new(kp: f64, ti: f64, tt: f64, min: f64, max: f64) -> PiController {
        PiController { kp, ti, tt, min, max, err_integral: 0.0 }
    }

    /// The scavenger's sleep controller as Go tunes it: input the CPU fraction used, output the
    /// ratio of time worked to time slept.
    pub fn scavenger() -> PiController {
        PiController::new(0.3375, 3.2e6, 1e9, 0.001, 1000.0)
    }

    /// Feed one sample taken `period` after the previous (Go's `next`): returns the new output
    /// and `false` if the arithmetic overflowed (the state is then reset and the output is
    /// `min`).
    pub fn next(&mut self, input: f64, setpoint: f64, period: f64) -> (f64, bool) {
        let prop = self.kp * (setpoint - input);
        let raw = prop + self.err_integral;
        if !raw.is_finite() {
            self.err_integral = 0.0;
            return (self.min, false);
        }
        let output = raw.clamp(self.min, self.max);
        if self.ti != 0.0 && self.tt != 0.0 {
            self.err_integral += (self.kp * period / self.ti) * (setpoint - input)
                + (period / self.tt) * (output - raw);
            if !self.err_integral.is_finite() {
                self.err_integral = 0.0;
                return (self.min, false);
            }
        }
        (output, true)
    }
}

/// What the scavenging loop needs from the world (Go's test stubs on `scavengerState`).
pub trait ScavengeEnv {
    /// Release up to `nbytes`; returns the bytes released and the ns it took.
    fn scavenge(&mut self, nbytes: usize) -> (usize, u64);
    /// Whether the goals are met (or something else asks the scavenger to stop).
    fn should_stop(&mut self) -> bool;
    /// Sleep about `ns`; returns the ns actually slept (less if woken early).
    fn sleep(&mut self, ns: u64) -> u64;
    /// GOMAXPROCS.
    fn gomaxprocs(&self) -> usize;
    /// The sleep controller failed and was reset (for the next scavtrace line).
    fn controller_failed(&mut self) {}
}

/// The background scavenger's loop and pacing state (Go's `scavengerState` minus the
/// goroutine plumbing).
#[doc(alias = "scavengerState")]
#[derive(Clone, Debug)]
pub struct ScavengerCore {
    /// Worked-to-slept ratio the controller chose (Go's `sleepRatio`).
    pub sleep_ratio: f64,
    controller: PiController,
    /// ns left in which the fixed fallback ratio holds (Go's `controllerCooldown`).
    cooldown: f64,
    /// A controller failure not yet reported on a scavtrace line.
    pub controller_reset: bool,
    /// Bytes released by [`ScavengerCore::work`] so far.
    pub released: u64,
}

impl Default for ScavengerCore {
    fn default() -> Self {
        ScavengerCore {
            sleep_ratio: STARTING_SCAV_SLEEP_RATIO,
            controller: PiController::scavenger(),
            cooldown: 0.0,
            controller_reset: false,
            released: 0,
        }
    }
}

impl ScavengerCore {
    /// One stretch of work (Go's `run`): 64 KiB requests until 1 ms of work, the goals are
    /// met, or a request comes back short (nothing eligible left). Returns the bytes released
    /// and the ns worked.
    pub fn run(&mut self, env: &mut dyn ScavengeEnv) -> (usize, f64) {
        let (mut released, mut worked) = (0usize, 0f64);
        while worked < MIN_SCAV_WORK_TIME_NS {
            if env.should_stop() {
                break;
            }
            let (r, ns) = env.scavenge(SCAVENGE_QUANTUM);
            // A clock too coarse to see the work: assume Go's 10 µs per 4 KiB page.
            worked += if ns == 0 { 10e3 * (r / PHYS_PAGE_SIZE as usize) as f64 } else { ns as f64 };
            released += r;
            if r < SCAVENGE_QUANTUM {
                break;
            }
        }
        (released, worked)
    }

    /// Sleep in proportion to `worked` and retune the ratio (Go's `sleep`).
    pub fn sleep(&mut self, worked: f64, env: &mut dyn ScavengeEnv) {
        // Too little work for a meaningful sleep: pretend there was 1 ms of it (the scavenger
        // then sleeps longer than it otherwise would).
        let worked = worked.max(MIN_SCAV_WORK_TIME_NS);
        let sleep_ns = (worked / self.sleep_ratio) as u64;
        let slept = env.sleep(sleep_ns) as f64;
        if self.cooldown > 0.0 {
            self.cooldown -= slept + worked;
            if self.cooldown < 0.0 {
                self.cooldown = 0.0;
            }
            return;
        }
        let ideal = SCAVENGE_PERCENT / 100.0;
        let cpu_fraction = worked / ((slept + worked) * env.gomaxprocs() as f64);
        let (ratio, ok) = self.controller.next(cpu_fraction, ideal, slept + worked);
        self.sleep_ratio = ratio;
        if !ok {
            // The controller's assumption (a proportional response) broke down: hold a fixed,
            // conservative ratio for a while.
            self.sleep_ratio = STARTING_SCAV_SLEEP_RATIO;
            self.cooldown = CONTROLLER_COOLDOWN_NS;
            self.controller_reset = true;
            env.controller_failed();
        }
    }

    /// Work and sleep until a stretch releases nothing (the body of Go's `bgscavenge` between
    /// parks). Returns the bytes released.
    pub fn work(&mut self, env: &mut dyn ScavengeEnv) -> u64 {
        let mut total = 0u64;
        loop {
            let (released, worked) = self.run(env);
            if released == 0 {
                return total;
            }
            total += released as u64;
            self.released += released as u64;
            self.sleep(worked, env);
        }
    }
}

/// Why the background thread woke.
enum Wake {
    Shutdown,
    /// The limiter's 10 ms tick.
    Tick,
    /// A cycle ended (`cycles` so far) or the goals changed.
    Work {
        cycles: u64,
    },
}

struct State {
    /// GC cycles completed, as reported by [`Scavenger::cycle_done`].
    cycles: u64,
    /// Cycles whose scavtrace line is out (or was due while scavtrace was off).
    traced: u64,
    /// A controller failure not yet reported on a scavtrace line.
    controller_reset: bool,
    /// Goals changed (a parameter was set): look for work even without a new cycle.
    kick: bool,
    shutdown: bool,
}

/// The background scavenger's thread state (Go's `scavenger`): its wake-ups and sleeps. The
/// thread itself is started by [`Collector::start`](crate::cycle::Collector::start).
#[doc(alias = "bgscavenge")]
pub struct Scavenger {
    state: Mutex<State>,
    cv: Condvar,
}

impl Default for Scavenger {
    fn default() -> Self {
        Scavenger {
            state: Mutex::new(State {
                cycles: 0,
                traced: 0,
                controller_reset: false,
                kick: false,
                shutdown: false,
            }),
            cv: Condvar::new(),
        }
    }
}

impl Scavenger {
    /// A GC cycle has ended (called by the controller after each cycle).
    pub fn cycle_done(&self) {
        lock(&self.state).cycles += 1;
        self.cv.notify_all();
    }

    /// The goals changed outside a cycle (GOGC or GOMEMLIMIT set): look for work now.
    pub fn kick(&self) {
        lock(&self.state).kick = true;
        self.cv.notify_all();
    }

    /// Ask the thread to exit.
    pub fn shutdown(&self) {
        lock(&self.state).shutdown = true;
        self.cv.notify_all();
    }

    /// Wait for something to do (a cycle after `worked`, a kick), ticking every `tick` if
    /// given.
    fn wait(&self, worked: u64, tick: Option<Duration>) -> Wake {
        let mut st = lock(&self.state);
        loop {
            if st.shutdown {
                return Wake::Shutdown;
            }
            if st.kick || st.cycles > worked {
                st.kick = false;
                return Wake::Work { cycles: st.cycles };
            }
            match tick {
                Some(t) => {
                    st = self.cv.wait_timeout(st, t);
                    if !st.shutdown && !st.kick && st.cycles <= worked {
                        return Wake::Tick;
                    }
                }
                None => st = self.cv.wait(st),
            }
        }
    }

    /// Print the scavtrace line of every cycle that ended since the last one, once its sweep is
    /// done (Go prints it from the sweeper that finishes, whatever the scavenger is doing).
    /// Returns whether a line is still due (its sweep is not done yet).
    fn trace_if_due(&self, c: &Collector) -> bool {
        let mut st = lock(&self.state);
        if st.cycles <= st.traced {
            return false;
        }
        if !c.sweep_done() {
            return true;
        }
        st.traced = st.cycles;
        let reset = core::mem::take(&mut st.controller_reset);
        drop(st);
        print_scavtrace(c, None, reset);
        false
    }

    /// Sleep `ns`, in slices no longer than the limiter tick while a memory limit is set and
    /// 1 ms while a scavtrace line waits for a sweep; returns the ns slept. The sleep ends
    /// early when asked to shut down, and when a GC cycle ends and its sweep is done: Go wakes
    /// its scavenger then whether it is parked or sleeping (`scavenger.wake`), because new
    /// free pages are known.
    fn sleep(&self, c: &Collector, ns: u64) -> u64 {
        let t0 = Instant::now();
        let total = Duration::from_nanos(ns);
        let cycles0 = lock(&self.state).cycles;
        loop {
            let trace_due = self.trace_if_due(c);
            let elapsed = t0.elapsed();
            if elapsed >= total || (!trace_due && lock(&self.state).cycles > cycles0) {
                break;
            }
            let mut slice = total - elapsed;
            let limited = c.has_memory_limit();
            if limited {
                slice = slice.min(Duration::from_nanos(crate::limiter::UPDATE_PERIOD_NS));
            }
            if trace_due {
                slice = slice.min(Duration::from_millis(1));
            }
            {
                let st = lock(&self.state);
                if st.shutdown {
                    break;
                }
                drop(self.cv.wait_timeout(st, slice));
            }
            if limited {
                c.limiter_update();
            }
        }
        t0.elapsed().as_nanos() as u64
    }

    fn is_shutdown(&self) -> bool {
        lock(&self.state).shutdown
    }

    /// The background thread's body (Go's `bgscavenge`, plus sysmon's limiter updates).
    pub(crate) fn run(&self, c: &Collector, world: &dyn World) {
        let mut core = ScavengerCore::default();
        let mut worked = 0u64;
        loop {
            let tick = c
                .has_memory_limit()
                .then_some(Duration::from_nanos(crate::limiter::UPDATE_PERIOD_NS));
            match self.wait(worked, tick) {
                Wake::Shutdown => return,
                Wake::Tick => c.limiter_update(),
                Wake::Work { cycles } => {
                    // Released pages are known only once the cycle's sweep is done.
                    while self.trace_if_due(c) || !c.sweep_done() {
                        if self.is_shutdown() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                        if c.has_memory_limit() {
                            c.limiter_update();
                        }
                    }
                    worked = worked.max(cycles);
                    core.work(&mut HeapEnv { c, sc: self, world });
                }
            }
        }
    }
}

/// The real environment: the collector's heap and clock.
struct HeapEnv<'a> {
    c: &'a Collector,
    sc: &'a Scavenger,
    world: &'a dyn World,
}

impl ScavengeEnv for HeapEnv<'_> {
    fn scavenge(&mut self, nbytes: usize) -> (usize, u64) {
        // One chunk at a time on an idle P (Go's bgscavenge is a goroutine; gomem runs it at
        // the idle class, as the background sweeper, so it never takes a P from a goroutine).
        let (mut r, mut ns) = (0, 0);
        self.world.borrow_p(PClass::Idle, &mut |_, _| {
            let t = Instant::now();
            r = self.c.heap().scavenge_background(nbytes);
            ns = t.elapsed().as_nanos() as u64;
        });
        self.c.heap().scavenge_state().add_background_ns(ns);
        (r, ns)
    }

    fn should_stop(&mut self) -> bool {
        let heap = self.c.heap();
        let st = heap.scavenge_state();
        self.sc.is_shutdown()
            || (heap.stats.heap_retained() <= st.gc_percent_goal()
                && heap.stats.mapped_ready() <= st.memory_limit_goal())
    }

    fn sleep(&mut self, ns: u64) -> u64 {
        self.sc.sleep(self.c, ns)
    }

    fn gomaxprocs(&self) -> usize {
        self.c.gomaxprocs()
    }

    fn controller_failed(&mut self) {
        lock(&self.sc.state).controller_reset = true;
    }
}

/// The collector's side of the scavenger.
impl Collector {
    /// Set the scavenger's goals from a pacer commit (Go's `gcPaceScavenger`, called from
    /// `gcControllerCommit`).
    pub(crate) fn pace_scavenger(&self, pacer: &Pacer) {
        let st = &self.heap.stats;
        let target = gc_percent_goal(
            st.last_heap_inuse.load(Ordering::Relaxed) as u64,
            pacer.heap_goal(),
            pacer.last_heap_goal(),
        );
        let gc_goal = gc_percent_goal_to_meet(target, st.heap_retained());
        let limit_goal = memory_limit_goal(pacer.memory_limit(), st.mapped_ready());
        let scav = self.heap.scavenge_state();
        scav.set_goals(gc_goal, limit_goal);
        scav.set_retained_target(target);
    }

    /// Whether the last cycle's sweep has finished (Go's `isSweepDone`).
    pub(crate) fn sweep_done(&self) -> bool {
        self.sweep.active.is_done()
    }

    /// GOMAXPROCS.
    pub(crate) fn gomaxprocs(&self) -> usize {
        self.gomaxprocs
    }

    /// Whether `GODEBUG=scavtrace=1`.
    pub(crate) fn scavtrace(&self) -> bool {
        self.debug.scavtrace
    }

    /// Print the scavtrace line of a forced release of `released` bytes (Go's `scavengeAll`
    /// under `debug.FreeOSMemory`), if `GODEBUG=scavtrace=1`.
    pub fn trace_forced_scavenge(&self, released: u64) {
        print_scavtrace(self, Some(released), false);
    }
}
