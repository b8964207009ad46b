//! Timelines of a run: goroutine lifetimes, GC phases and pauses, and the heap over time. The
//! `gomem` command (crate `gomem-benches`) writes them as a Chrome trace-event file
//! (`gomem run --trace`) and as an SVG chart (`--plot`); the recorder here needs no dependency.
//!
//! A [`Recorder`] switches on three sources and gathers them into a [`Timeline`] when it
//! finishes:
//!
//! 1. the collector's [`GcEvents`]: phase boundaries from the cycle, and every stop-the-world
//!    pause the runtime performs for the collector;
//! 2. the runtime's [`GoroutineLog`]: when each goroutine spawned by [`Runtime::go`] was
//!    created, started running (holding a P) and returned;
//! 3. a sampler thread that reads the heap's `heap_live` (the "heap in use" of the charts: what
//!    the pacer compares with its trigger, one atomic load), the heap goal and the process's
//!    resident set (`VmRSS` in `/proc/self/status`) every [`SAMPLE_INTERVAL`].
//!
//! With no recorder running, the cost is one relaxed load and branch per GC phase boundary,
//! per pause and per goroutine spawn; nothing on the allocation or barrier paths.

use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use crate::Runtime;
use gomem_collector::events::{GcEventKind, GcEvents};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the sampler reads the heap and the resident set.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------------------------
// Goroutines
// ---------------------------------------------------------------------------------------------

/// When one goroutine was spawned, started and ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoroutineSpan {
    /// The goroutine's id (the scheduler's `goid`).
    pub id: u64,
    /// When [`Runtime::go`] was called.
    pub spawned: Instant,
    /// When its closure began to run (it holds a P from then on, except where it gives it up).
    pub started: Instant,
    /// When its closure returned (or unwound); `None` while it runs.
    pub ended: Option<Instant>,
}

/// The runtime's record of goroutine lifetimes: off by default.
#[derive(Debug, Default)]
pub struct GoroutineLog {
    /// Whether new goroutines are recorded. Relaxed: a goroutine spawned around the switch may
    /// or may not be recorded, which a timeline tolerates.
    enabled: AtomicBool,
    spans: Mutex<Vec<GoroutineSpan>>,
}

impl GoroutineLog {
    /// Start (`true`) or stop (`false`) recording goroutines spawned from now on.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether goroutines are being recorded.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Note that goroutine `id`, spawned at `spawned`, starts running now; the returned guard
    /// notes its end when dropped (at the end of its closure, or while it unwinds).
    pub fn begin(self: &Arc<Self>, id: u64, spawned: Instant) -> GoroutineRun {
        let span = GoroutineSpan { id, spawned, started: Instant::now(), ended: None };
        let index = {
            let mut v = lock(&self.spans);
            v.push(span);
            v.len() - 1
        };
        GoroutineRun { log: Arc::clone(self), index }
    }

    /// Take every span recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<GoroutineSpan> {
        core::mem::take(&mut *lock(&self.spans))
    }
}

/// A running goroutine's entry in a [`GoroutineLog`]; dropping it records the end.
#[derive(Debug)]
pub struct GoroutineRun {
    log: Arc<GoroutineLog>,
    index: usize,
}

impl Drop for GoroutineRun {
    fn drop(&mut self) {
        let now = Instant::now();
        // The entry is gone if the log was taken meanwhile: the timeline already shows this
        // goroutine as running at its end.
        if let Some(s) = lock(&self.log.spans).get_mut(self.index) {
            s.ended = Some(now);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The timeline
// ---------------------------------------------------------------------------------------------

/// One reading of the sampler. Times are from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapSample {
    /// When it was taken.
    pub at: Duration,
    /// The heap in use: `heap_live`, bytes.
    pub heap_live: u64,
    /// The heap goal, bytes (Go's `NextGC`).
    pub heap_goal: u64,
    /// The process's resident set, bytes (0 if `/proc` could not be read).
    pub rss: u64,
}

/// The four phases of a cycle, in order (see the collector's `cycle` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcPhase {
    /// Finishing the previous sweep, then the first pause.
    SweepTermination,
    /// Marking beside the mutators, barrier on.
    ConcurrentMark,
    /// The last stop-the-world pause of the cycle.
    MarkTermination,
    /// Sweeping beside the mutators.
    ConcurrentSweep,
}

impl GcPhase {
    /// The phase's name as traces and charts show it.
    pub fn name(self) -> &'static str {
        match self {
            GcPhase::SweepTermination => "sweep termination",
            GcPhase::ConcurrentMark => "concurrent mark",
            GcPhase::MarkTermination => "mark termination",
            GcPhase::ConcurrentSweep => "concurrent sweep",
        }
    }
}

/// One GC cycle seen by the recording. Each boundary is `None` if the recording ended before
/// the cycle got there. Times are from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcCycle {
    /// The cycle's number (as gctrace counts: the first cycle of the runtime is 1).
    pub n: u32,
    /// Sweep termination began.
    pub start: Duration,
    /// Concurrent mark began.
    pub mark_start: Option<Duration>,
    /// The last (successful) mark-termination pause began.
    pub mark_termination_start: Option<Duration>,
    /// Mark termination ended; concurrent sweep began.
    pub mark_done: Option<Duration>,
    /// Sweeping ended (the sweeper ran out of spans, or the next cycle began and finished it).
    pub sweep_end: Option<Duration>,
}

impl GcCycle {
    /// The phases this cycle reached, each with its start and end, those still running at
    /// `end` (the end of the recording) cut off there.
    pub fn phases(&self, end: Duration) -> Vec<(GcPhase, Duration, Duration)> {
        let bounds = [
            (GcPhase::SweepTermination, Some(self.start), self.mark_start),
            (GcPhase::ConcurrentMark, self.mark_start, self.mark_termination_start),
            (GcPhase::MarkTermination, self.mark_termination_start, self.mark_done),
            (GcPhase::ConcurrentSweep, self.mark_done, self.sweep_end),
        ];
        bounds
            .into_iter()
            .filter_map(|(p, from, to)| Some((p, from?, to.unwrap_or(end).max(from?))))
            .collect()
    }

    /// When the cycle's last phase reached so far ended (`end` if it was still running).
    pub fn end(&self, end: Duration) -> Duration {
        self.phases(end).last().map_or(self.start, |p| p.2)
    }
}

/// One stop-the-world pause. Times are from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// When the stop was requested.
    pub at: Duration,
    /// How long until the world ran again.
    pub duration: Duration,
    /// Why (`"GC sweep termination"`, `"GC mark termination"`).
    pub reason: &'static str,
    /// The cycle it belongs to.
    pub cycle: Option<u32>,
}

/// One goroutine's lifetime. Times are from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoroutineTrack {
    /// The goroutine's id.
    pub id: u64,
    /// When it was spawned.
    pub spawned: Duration,
    /// When it began to run.
    pub started: Duration,
    /// When it returned; `None` if it still ran when the recording ended.
    pub ended: Option<Duration>,
}

/// Everything a [`Recorder`] saw, with times from the start of the recording.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// How long the recording lasted.
    pub duration: Duration,
    /// The sampler's readings, in time order.
    pub samples: Vec<HeapSample>,
    /// GC cycles that began during the recording, in order.
    pub cycles: Vec<GcCycle>,
    /// Every stop-the-world pause the collector made, in order.
    pub pauses: Vec<Pause>,
    /// Every goroutine spawned during the recording, in order of start.
    pub goroutines: Vec<GoroutineTrack>,
}

impl Timeline {
    /// Assemble a timeline from raw records. `first_cycle` is the number the first cycle that
    /// begins in `events` gets; `t0` is the start of the recording, `t1` its end.
    pub fn assemble(
        t0: Instant,
        t1: Instant,
        first_cycle: u32,
        events: &[gomem_collector::events::GcEvent],
        goroutines: &[GoroutineSpan],
        samples: Vec<HeapSample>,
    ) -> Timeline {
        let rel = |t: Instant| t.saturating_duration_since(t0);
        let mut cycles: Vec<GcCycle> = Vec::new();
        let mut pauses: Vec<Pause> = Vec::new();
        for e in events {
            let at = rel(e.at);
            match e.kind {
                GcEventKind::CycleStart => {
                    if let Some(prev) = cycles.last_mut() {
                        // The new cycle's sweep termination finishes whatever is unswept.
                        if prev.mark_done.is_some() && prev.sweep_end.is_none() {
                            prev.sweep_end = Some(at);
                        }
                    }
                    let n = first_cycle + cycles.len() as u32;
                    cycles.push(GcCycle {
                        n,
                        start: at,
                        mark_start: None,
                        mark_termination_start: None,
                        mark_done: None,
                        sweep_end: None,
                    });
                }
                GcEventKind::MarkStart => {
                    if let Some(c) = cycles.last_mut().filter(|c| c.mark_start.is_none()) {
                        c.mark_start = Some(at);
                    }
                }
                GcEventKind::MarkDone => {
                    if let Some(c) = cycles.last_mut().filter(|c| c.mark_done.is_none()) {
                        let since = c.mark_start.unwrap_or(c.start);
                        // The last pause that began during mark is the one that terminated it.
                        let last = pauses.iter().rev().find(|p| p.at >= since).map(|p| p.at);
                        c.mark_termination_start = Some(last.unwrap_or(at));
                        c.mark_done = Some(at);
                    }
                }
                GcEventKind::SweepDone => {
                    if let Some(c) = cycles.last_mut() {
                        if c.mark_done.is_some_and(|d| d <= at) && c.sweep_end.is_none() {
                            c.sweep_end = Some(at);
                        }
                    }
                }
                GcEventKind::Pause { reason, duration } => {
                    // Only the collector stops the world through the events' door, so a pause
                    // belongs to the last cycle that began before it.
                    let cycle = cycles.last().map(|c| c.n);
                    pauses.push(Pause { at, duration, reason, cycle });
                }
            }
        }
        let mut goroutines: Vec<GoroutineTrack> = goroutines
            .iter()
            .map(|g| GoroutineTrack {
                id: g.id,
                spawned: rel(g.spawned),
                started: rel(g.started),
                ended: g.ended.map(rel),
            })
            .collect();
        goroutines.sort_by_key(|g| (g.started, g.id));
        Timeline { duration: rel(t1), samples, cycles, pauses, goroutines }
    }

    /// The largest byte count any sample shows (heap in use, goal or RSS), 0 for none.
    pub fn max_bytes(&self) -> u64 {
        self.samples.iter().map(|s| s.heap_live.max(s.heap_goal).max(s.rss)).max().unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------

/// Records a [`Timeline`] of a runtime from [`start`](Recorder::start) to
/// [`finish`](Recorder::finish).
#[derive(Debug)]
pub struct Recorder {
    t0: Instant,
    first_cycle: u32,
    events: Arc<GcEvents>,
    goroutines: Arc<GoroutineLog>,
    stop: std::sync::mpsc::Sender<()>,
    sampler: std::thread::JoinHandle<Vec<HeapSample>>,
}

impl Recorder {
    /// Switch recording on for `rt` and start the sampler thread. Only one recorder should run
    /// per runtime at a time (they share the runtime's logs).
    pub fn start(rt: &Runtime) -> Recorder {
        let events = rt.collector().events().clone();
        let goroutines = rt.goroutine_log().clone();
        // Drop anything left from an earlier recording.
        let _ = events.take();
        let _ = goroutines.take();
        let first_cycle = rt.collector().num_gc() + 1;
        events.set_enabled(true);
        goroutines.set_enabled(true);
        let t0 = Instant::now();
        let heap = rt.heap().clone();
        let collector = rt.collector().clone();
        let (stop, stop_rx) = std::sync::mpsc::channel::<()>();
        let sampler = std::thread::Builder::new()
            .name("gomem-timeline".into())
            .spawn(move || {
                let mut samples = Vec::new();
                loop {
                    samples.push(HeapSample {
                        at: t0.elapsed(),
                        heap_live: heap.heap_live(),
                        heap_goal: collector.heap_goal(),
                        rss: resident_set_bytes().unwrap_or(0),
                    });
                    match stop_rx.recv_timeout(SAMPLE_INTERVAL) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return samples,
                    }
                }
            })
            .expect("spawn the timeline sampler");
        Recorder { t0, first_cycle, events, goroutines, stop, sampler }
    }

    /// Stop recording (and the sampler, after one last sample) and assemble the timeline.
    pub fn finish(self) -> Timeline {
        let _ = self.stop.send(());
        let samples = self.sampler.join().expect("timeline sampler");
        let t1 = Instant::now();
        self.events.set_enabled(false);
        self.goroutines.set_enabled(false);
        let events = self.events.take();
        let goroutines = self.goroutines.take();
        Timeline::assemble(self.t0, t1, self.first_cycle, &events, &goroutines, samples)
    }
}

/// The process's resident set in bytes, from the `VmRSS` line of `/proc/self/status`.
pub fn resident_set_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests;
