//! An optional record of when each GC phase began and ended and of every stop-the-world pause,
//! for timelines (`gomem run --trace` and `--plot`). See the crate docs for the overview.
//!
//! The collector owns one [`GcEvents`] and calls [`GcEvents::record`] at its phase boundaries
//! (the start of a cycle, the start of concurrent mark, the end of mark termination, the end of
//! sweeping); the runtime's world records each pause it performs for the collector. Recording is
//! off unless someone [enables](GcEvents::set_enabled) it, and then each call costs one relaxed
//! load and a branch. When on, an event is a timestamp pushed onto a locked `Vec`: a few events
//! per cycle, never on an allocation path.
//!
//! A cycle's phases follow from the events in time order:
//!
//! | phase | from | to |
//! |---|---|---|
//! | sweep termination | [`CycleStart`](GcEventKind::CycleStart) | [`MarkStart`](GcEventKind::MarkStart) |
//! | concurrent mark | `MarkStart` | the start of the last [`Pause`](GcEventKind::Pause) before `MarkDone` |
//! | mark termination | that pause's start | [`MarkDone`](GcEventKind::MarkDone) |
//! | concurrent sweep | `MarkDone` | the next [`SweepDone`](GcEventKind::SweepDone), or the next `CycleStart` (whose sweep termination finishes what is left) |
//!
//! Mark termination can stop the world several times, restarting the mark when a stop still
//! finds work; only the last stop ends the phase, the others are pauses within concurrent mark.

use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use std::time::{Duration, Instant};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcEventKind {
    /// A cycle begins with sweep termination: finishing the previous cycle's sweep, then the
    /// first stop-the-world pause.
    CycleStart,
    /// The sweep-termination pause is over: concurrent mark begins (barrier on).
    MarkStart,
    /// Mark termination is over (the world restarted with the barrier off): concurrent sweep
    /// begins.
    MarkDone,
    /// Every span of the last cycle has been swept.
    SweepDone,
    /// A stop-the-world pause began at the event's time and lasted `duration` (from the stop
    /// request until the world ran again).
    Pause {
        /// Why the world was stopped (`"GC mark termination"`).
        reason: &'static str,
        /// How long the world was stopped.
        duration: Duration,
    },
}

/// One event: what happened and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcEvent {
    /// When it happened (for a pause: when the stop was requested).
    pub at: Instant,
    /// What happened.
    pub kind: GcEventKind,
}

/// The collector's event recorder: off by default.
#[derive(Debug, Default)]
pub struct GcEvents {
    /// Whether [`record`](GcEvents::record) keeps events. Relaxed: an event recorded or missed
    /// around the moment recording is switched on or off makes no difference to a timeline.
    enabled: AtomicBool,
    /// The events, in the order they were recorded (not quite time order: a pause is recorded
    /// when it ends, with its start time).
    log: Mutex<Vec<GcEvent>>,
}

impl GcEvents {
    /// A recorder that is off.
    pub fn new() -> GcEvents {
        GcEvents::default()
    }

    /// Start (`true`) or stop (`false`) keeping events.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether events are being kept.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Record `kind` as happening now, if recording is on.
    #[inline(always)]
    pub fn record(&self, kind: GcEventKind) {
        if self.is_enabled() {
            self.push(GcEvent { at: Instant::now(), kind });
        }
    }

    /// Record `kind` as having happened at `at`, if recording is on.
    #[inline(always)]
    pub fn record_at(&self, at: Instant, kind: GcEventKind) {
        if self.is_enabled() {
            self.push(GcEvent { at, kind });
        }
    }

    #[cold]
    fn push(&self, e: GcEvent) {
        lock(&self.log).push(e);
    }

    /// Take every event recorded so far, sorted by time, leaving the log empty.
    pub fn take(&self) -> Vec<GcEvent> {
        let mut v = core::mem::take(&mut *lock(&self.log));
        // Stable: events with equal timestamps keep the order they were recorded in.
        v.sort_by_key(|e| e.at);
        v
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_only_while_enabled_and_sorts_by_time() {
        let ev = GcEvents::new();
        ev.record(GcEventKind::CycleStart);
        assert!(ev.take().is_empty(), "off by default");
        ev.set_enabled(true);
        let t0 = Instant::now();
        ev.record(GcEventKind::CycleStart);
        ev.record(GcEventKind::MarkStart);
        // A pause is recorded after it ends, with its earlier start.
        ev.record_at(
            t0,
            GcEventKind::Pause { reason: "GC sweep termination", duration: Duration::ZERO },
        );
        ev.set_enabled(false);
        ev.record(GcEventKind::MarkDone);
        let got: Vec<GcEventKind> = ev.take().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            got,
            [
                GcEventKind::Pause { reason: "GC sweep termination", duration: Duration::ZERO },
                GcEventKind::CycleStart,
                GcEventKind::MarkStart,
            ]
        );
        assert!(ev.take().is_empty(), "take empties the log");
    }
}
