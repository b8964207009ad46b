//! sysmon, the scheduler's monitor thread (Go's `sysmon` and `retake` in `proc.go`): it
//! time-slices goroutines, reports those that never reach a safepoint, and runs the runtime's
//! periodic duties through a tick hook. See the crate docs for the overview.
//!
//! # What it does each round
//!
//! 1. **Time slices** (Go's `retake` for `_Prunning` Ps): a P whose goroutine has run on it
//!    for longer than the time slice (10 ms, Go's `forcePreemptNS`) since it was handed the P
//!    (`schedtick` unchanged) is asked to yield at its next safepoint, if anyone waits for a P.
//!    The request is the one [`Sched::preempt`] makes; the goroutine goes to the back of the run
//!    queue. Go preempts even when nobody waits; here that would only cost the goroutine a trip
//!    through the lock, so sysmon asks only when it would help.
//! 2. **Goroutines that never reach a safepoint.** gomem has no asynchronous preemption (Go's
//!    signal-based `preemptM`): a goroutine in a loop without safepoints keeps its P. When one
//!    has held its P for ten time slices with a preemption request outstanding and others
//!    waiting, sysmon says so on stderr, once per time slice, naming it (the stop-the-world
//!    watchdog's switch, [`Sched::set_stw_watch`], turns this off too).
//! 3. **Ps kept for goroutines in a syscall** (Go's `retake` for `_Psyscall` Ps):
//!    [`GCtx::syscall`](crate::GCtx::syscall) keeps the goroutine's P for it; once the call has
//!    lasted a round, sysmon hands the P on if anyone waits (or after 10 ms regardless), and
//!    the goroutine queues for a P when it returns.
//! 4. **The tick hook** ([`SysmonConfig::tick`]): the runtime's periodic work (Go's sysmon
//!    starting `forcegc` after `forcegcperiod`, waking the scavenger). It runs on sysmon's thread
//!    without the scheduler's lock, every round, so it must be cheap.
//!
//! sysmon sleeps as Go's does: 20 µs after a round that did something, doubling once 50 rounds
//! in a row found nothing, up to 10 ms. It holds no P and never runs user code.
//!
//! # Invariants
//!
//! sysmon changes the state only under the lock, by `State::request_preempt` and by retaking a
//! kept P (`InSyscall(p)` → `Syscall`, P `p` released and dispatched); everything
//! it keeps of its own (when each P's slice began) is private to its thread. Its decisions are
//! hints: a goroutine asked to yield re-decides at its safepoint, under the lock, whether anyone
//! still waits.

use core::time::Duration;

use crate::sched::Sched;
use crate::state::{GStatus, Owner};
use crate::sync::{self, thread, Arc, Condvar, Mutex};

/// How sysmon is configured ([`Sched::start_sysmon`]).
pub struct SysmonConfig {
    /// How long a goroutine may keep its P while others wait before it is asked to yield (Go's
    /// `forcePreemptNS`, 10 ms).
    pub time_slice: Duration,
    /// Called on every round, on sysmon's thread, without the scheduler's lock: the runtime's
    /// periodic duties (the forced cycle, waking the scavenger). Must be cheap: it runs up to
    /// 50 000 times a second while the scheduler is busy handing Ps around.
    pub tick: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Default for SysmonConfig {
    fn default() -> Self {
        SysmonConfig { time_slice: Duration::from_millis(10), tick: None }
    }
}

impl core::fmt::Debug for SysmonConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SysmonConfig")
            .field("time_slice", &self.time_slice)
            .field("tick", &self.tick.is_some())
            .finish()
    }
}

/// The handle of a running sysmon thread ([`Sched::start_sysmon`]). Dropping it stops the thread
/// and waits for it.
pub struct Sysmon {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Sysmon {
    fn drop(&mut self) {
        *sync::lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl core::fmt::Debug for Sysmon {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sysmon").finish_non_exhaustive()
    }
}

/// What sysmon remembers of each P between rounds (Go's `sysmontick`).
#[derive(Clone, Copy)]
pub(crate) struct SysmonTick {
    schedtick: u64,
    /// Since when (sysmon's clock) the P has had that `schedtick`.
    since: Duration,
    /// The number of whole time slices already reported for this slice.
    reported: u32,
}

/// sysmon's memory of the Ps, and its clock's origin.
pub(crate) struct SysmonState {
    ticks: Vec<SysmonTick>,
    time_slice: Duration,
}

impl SysmonState {
    pub(crate) fn new(nprocs: usize, time_slice: Duration) -> Self {
        let t = SysmonTick { schedtick: 0, since: Duration::ZERO, reported: 0 };
        SysmonState { ticks: vec![t; nprocs], time_slice }
    }
}

/// sysmon's memory for a loom model, which drives its rounds itself ([`SysmonModel::round`]).
#[cfg(loom)]
pub struct SysmonModel(SysmonState);

#[cfg(loom)]
impl SysmonModel {
    /// A fresh memory for a scheduler of `nprocs` Ps.
    pub fn new(nprocs: usize) -> Self {
        SysmonModel(SysmonState::new(nprocs, Duration::from_millis(10)))
    }

    /// One sysmon round at time zero (loom has no clock, so only "someone waits" triggers).
    pub fn round<P: Send + 'static, G: Send + Sync + 'static>(&mut self, sched: &Sched<P, G>) {
        sched.sysmon_round(&mut self.0, Duration::ZERO);
    }
}

/// Rounds without work after which sysmon starts doubling its sleep (Go's `idle > 50`).
#[cfg(not(loom))]
const IDLE_ROUNDS: u32 = 50;
/// sysmon's shortest and longest sleep (Go's 20 µs and 10 ms).
#[cfg(not(loom))]
const MIN_DELAY: Duration = Duration::from_micros(20);
#[cfg(not(loom))]
const MAX_DELAY: Duration = Duration::from_millis(10);
/// A P kept for a goroutine in a syscall is retaken after this long even if nobody waits
/// (Go's `retake`: `pd.syscallwhen + 10ms`).
const SYSCALL_RETAKE: Duration = Duration::from_millis(10);
/// A goroutine holding its P this many time slices past a preemption request is reported.
const UNRESPONSIVE_SLICES: u32 = 10;

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// Under loom (which has no clock) no thread is started and the handle is inert: models
    /// drive sysmon's rounds themselves (`SysmonModel`).
    #[cfg(loom)]
    pub fn start_sysmon(self: &Arc<Self>, cfg: SysmonConfig) -> Sysmon {
        let _ = cfg;
        Sysmon { stop: Arc::new((Mutex::new(false), Condvar::new())), handle: None }
    }

    /// Start sysmon (Go's `sysmon`): a thread outside the Ps that time-slices goroutines, reports
    /// goroutines that never reach a safepoint, and calls `cfg.tick` every round. Drop the
    /// returned handle to stop it. One per scheduler is enough; a second one only doubles the
    /// checks.
    ///
    /// # Panics
    ///
    /// If the OS refuses to start a thread.
    #[cfg(not(loom))]
    pub fn start_sysmon(self: &Arc<Self>, cfg: SysmonConfig) -> Sysmon {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let sched = Arc::clone(self);
        let thread_stop = Arc::clone(&stop);
        let body = move || {
            let start = std::time::Instant::now();
            let mut mon = SysmonState::new(sched.gomaxprocs(), cfg.time_slice);
            let mut idle = 0u32;
            let mut delay = MIN_DELAY;
            loop {
                {
                    let stopped = sync::lock(&thread_stop.0);
                    if *stopped {
                        return;
                    }
                    let (stopped, _) = sync::wait_timeout(&thread_stop.1, stopped, delay);
                    if *stopped {
                        return;
                    }
                }
                let busy = sched.sysmon_round(&mut mon, start.elapsed());
                if let Some(tick) = &cfg.tick {
                    tick();
                }
                if busy {
                    idle = 0;
                    delay = MIN_DELAY;
                } else {
                    idle = idle.saturating_add(1);
                    if idle > IDLE_ROUNDS {
                        delay = (delay * 2).min(MAX_DELAY);
                    }
                }
            }
        };
        let handle = thread::Builder::new()
            .name("gomem-sysmon".to_owned())
            .spawn(body)
            .unwrap_or_else(|e| panic!("gomem-sched: cannot start the sysmon thread: {e}"));
        Sysmon { stop, handle: Some(handle) }
    }

    /// How many times sysmon has reported a goroutine that held its P for ten time slices past
    /// a preemption request (see the `sysmon` module). For tests and diagnostics.
    pub fn unresponsive_reports(&self) -> u64 {
        self.lock().unresponsive_reports
    }

    /// One round of sysmon at time `now` (since its start; Go's `retake`): ask goroutines past
    /// their time slice to yield when someone waits, and report those that do not. Returns
    /// whether it asked anything (which keeps sysmon's sleep short).
    pub(crate) fn sysmon_round(&self, mon: &mut SysmonState, now: Duration) -> bool {
        let mut st = self.lock();
        let mut asked = false;
        let mut retook = false;
        let mut report = None;
        let waiting = st.runq.len() + st.gcq.len();
        for p in 0..st.procs.len() {
            let tick = st.schedtick[p];
            let t = &mut mon.ticks[p];
            if t.schedtick != tick {
                *t = SysmonTick { schedtick: tick, since: now, reported: 0 };
                continue;
            }
            if let Owner::Syscall(id) = st.procs[p] {
                // Go's retake of a `_Psyscall` P: once the call has lasted a round (this one
                // saw its tick before), hand the P on if someone waits, or after 10 ms anyway.
                if waiting > 0 || now.saturating_sub(t.since) >= SYSCALL_RETAKE {
                    st.g_mut(id).status = GStatus::Syscall;
                    st.release_p(p);
                    retook = true;
                }
                continue;
            }
            let Owner::G(id) = st.procs[p] else { continue };
            if !matches!(st.gs.get(&id).map(|s| s.status), Some(GStatus::Running(_))) {
                continue;
            }
            let ran = now.saturating_sub(t.since);
            if ran < mon.time_slice || waiting == 0 {
                continue;
            }
            if st.request_preempt(id) {
                asked = true;
            }
            let slices = (ran.as_nanos() / mon.time_slice.as_nanos().max(1)) as u32;
            if slices >= UNRESPONSIVE_SLICES && slices > t.reported && st.watch.is_some() {
                if t.reported == 0 {
                    report = Some((id, p, ran, waiting));
                    st.unresponsive_reports += 1;
                }
                t.reported = slices;
            }
        }
        if asked {
            self.publish_poll(&st);
        }
        if retook {
            self.dispatch(&mut st);
        }
        drop(st);
        #[cfg(not(loom))]
        if let Some((id, p, ran, waiting)) = report {
            crate::watch::report_unresponsive(id, p, ran, waiting);
        }
        #[cfg(loom)]
        let _ = report;
        asked || retook
    }
}
