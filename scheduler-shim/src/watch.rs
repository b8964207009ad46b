//! The stop-the-world watchdog: a wait for goroutines that has lasted longer than the
//! configured delay ([`Sched::set_stw_watch`]) reports, once, on stderr, which goroutines it
//! is still waiting for. It only reports: progress never depends on it, and a wait that ends
//! before the delay costs nothing but a timed rather than an untimed condvar wait.
//!
//! Under loom (no clock) the delay is ignored and every wait is untimed.

use core::time::Duration;

use crate::sched::{Guard, Sched};
use crate::state::{GStatus, State, WStatus};

/// One watched wait: when it began, and whether it has reported.
pub(crate) struct Watch {
    #[cfg(not(loom))]
    start: std::time::Instant,
    #[cfg(not(loom))]
    reported: bool,
}

impl Watch {
    /// Start watching a wait. Cheap: one clock read.
    pub(crate) fn start() -> Self {
        Watch {
            #[cfg(not(loom))]
            start: std::time::Instant::now(),
            #[cfg(not(loom))]
            reported: false,
        }
    }
}

/// The goroutines running user code for which `include` holds and, if `workers`, the workers
/// using a P: the ones a stop-the-world or handshake waits for.
pub(crate) fn running<G>(
    st: &State<G>,
    include: impl Fn(u64) -> bool,
    workers: bool,
) -> Vec<String> {
    let mut v: Vec<String> = st
        .gs
        .iter()
        .filter(|(&id, _)| include(id))
        .filter_map(|(id, s)| match s.status {
            GStatus::Running(p) => Some(format!("goroutine {id} (running on P {p})")),
            _ => None,
        })
        .collect();
    v.extend(st.workers.iter().filter(|_| workers).filter_map(|(id, w)| match w.status {
        WStatus::Running(p) => Some(format!("background worker {id} (using P {p})")),
        _ => None,
    }));
    v
}

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// Set the watchdog's delay: a stop-the-world, handshake or [`wait_goroutines`] still
    /// waiting for goroutines after `delay` reports them on stderr, once per wait. `None` (the
    /// default) turns the reports off. Under loom the delay is ignored.
    ///
    /// [`wait_goroutines`]: Sched::wait_goroutines
    pub fn set_stw_watch(&self, delay: Option<Duration>) {
        self.lock().watch = delay.filter(|d| !d.is_zero());
    }

    /// Lock held: wait on the condvar as [`Sched::wait`] does; if the watchdog is on and the
    /// wait began longer ago than its delay, first report once the goroutines `stragglers`
    /// lists, describing the request with `what` and ending with the advice `hint`.
    pub(crate) fn wait_watched<'a>(
        &'a self,
        st: Guard<'a, G>,
        w: &mut Watch,
        what: impl FnOnce() -> String,
        stragglers: impl FnOnce(&State<G>) -> Vec<String>,
        hint: &'static str,
    ) -> Guard<'a, G> {
        #[cfg(loom)]
        {
            let _ = (w, what, stragglers, hint);
            self.wait(st)
        }
        #[cfg(not(loom))]
        {
            let Some(delay) = st.watch.filter(|_| !w.reported) else {
                return self.wait(st);
            };
            let waited = w.start.elapsed();
            if waited < delay {
                return crate::sync::wait_timeout(&self.cv, st, delay - waited).0;
            }
            w.reported = true;
            let who = stragglers(&st);
            drop(st);
            report(&what(), waited, &who, hint);
            self.lock()
        }
    }
}

/// Write the report on stderr, ignoring write errors (a diagnosis must not panic).
#[cfg(not(loom))]
fn report(what: &str, waited: Duration, who: &[String], hint: &str) {
    use std::io::Write;
    let who = if who.is_empty() { "nothing (any more)".to_owned() } else { who.join(", ") };
    let _ = writeln!(
        std::io::stderr(),
        "gomem-sched: {what} has waited {} ms for {who}: {hint} \
         (GODEBUG=stwwatch=0 turns this report off)",
        waited.as_millis()
    );
}

/// sysmon's report of goroutine `id`, which has run on P `p` for `ran` with a preemption
/// request outstanding while `waiting` goroutines and GC workers wait for a P.
#[cfg(not(loom))]
pub(crate) fn report_unresponsive(id: u64, p: usize, ran: Duration, waiting: usize) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "gomem-sched: goroutine {id} has run on P {p} for {} ms without reaching a safepoint \
         while {waiting} wait for a P: {SAFEPOINT_HINT} (GODEBUG=stwwatch=0 turns this report \
         off)",
        ran.as_millis()
    );
}

/// The advice of a stop-the-world's or a handshake's report.
pub(crate) const SAFEPOINT_HINT: &str = "it has not reached a safepoint; a loop that allocates \
     nothing must poll one (Mutator::safepoint, GCtx::safepoint), and blocking work must run \
     without the P (Mutator::without_p, GCtx::without_p)";
