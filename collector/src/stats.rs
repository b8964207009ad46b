//! Cycle statistics and the gctrace line (Go's `mstats.go` GC fields and the statistics and
//! `gctrace` part of `gcMarkTermination`).
//!
//! [`GcStats`] is what [`Collector::stats`] copies out for `MemStats`; each cycle adds to it in
//! `record_cycle`, after its last stop-the-world pause, and prints the gctrace line when
//! `GODEBUG=gctrace=1` asks for it. The line's format is Go's (see `extern.go` in Go's runtime
//! and `docs/collector.md`); [`fmt_ms`] is its number format. `GODEBUG=gcpacertrace=1` adds
//! Go's two `pacer:` lines per cycle, so that gomem's pacer and Go's can be compared figure by
//! figure.

use crate::cycle::{Collector, Cycle, MarkWorkerMode};
use crate::pacer::{EndCycle, Pacer, GC_BACKGROUND_UTILIZATION};
use crate::sync::{lock, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size of the pause rings (Go's `PauseNs[256]`).
pub const PAUSE_RING: usize = 256;

/// Cycle statistics kept for MemStats (Go's `memstats` GC fields) and gctrace.
#[derive(Clone, Debug)]
pub struct GcStats {
    /// Completed cycles (Go's `NumGC`).
    pub num_gc: u32,
    /// Cycles forced by [`Collector::gc`] (Go's `NumForcedGC`).
    pub num_forced_gc: u32,
    /// Circular buffer of recent pause totals, ns (`PauseNs`).
    pub pause_ns: [u64; PAUSE_RING],
    /// Circular buffer of recent pause end times, Unix ns (`PauseEnd`).
    pub pause_end: [u64; PAUSE_RING],
    /// Total stop-the-world time, ns (`PauseTotalNs`).
    pub pause_total_ns: u64,
    /// Unix ns of the last mark termination (`LastGC`).
    pub last_gc: u64,
    /// The largest single pause so far, ns.
    pub pause_max_ns: u64,
    /// Every pause so far, ns (for percentiles; bounded to the last 4096).
    pub pauses: Vec<u64>,
    /// GC CPU time (pauses × GOMAXPROCS + workers + assists), ns (Go's `GCTotalTime` of
    /// `work.cpuStats`).
    pub gc_cpu_ns: u64,
    /// Mark assist time, ns (Go's `GCAssistTime`): a part of `gc_cpu_ns`, as are the four
    /// below.
    pub gc_assist_ns: u64,
    /// Dedicated mark worker time, the controller's root marking included, ns (Go's
    /// `GCDedicatedTime` less its fractional share).
    pub gc_dedicated_ns: u64,
    /// Fractional mark worker time, ns (Go counts it in `GCDedicatedTime`).
    pub gc_fractional_ns: u64,
    /// Idle-priority mark worker time, ns (Go's `GCIdleTime`).
    pub gc_idle_ns: u64,
    /// Stop-the-world time × GOMAXPROCS, ns (Go's `GCPauseTime`).
    pub gc_pause_ns: u64,
    /// Go's `GCCPUFraction` as of the last mark termination: `gc_cpu_ns` over GOMAXPROCS ×
    /// the wall time since the collector started.
    pub gc_cpu_fraction: f64,
    /// Bytes marked by the last cycle (the live heap).
    pub heap_marked: u64,
    /// The largest `heap_live` seen at a mark termination so far (the top of each cycle's
    /// sawtooth; gctrace's middle heap figure).
    pub peak_heap_live: u64,
}

impl Default for GcStats {
    fn default() -> Self {
        GcStats {
            num_gc: 0,
            num_forced_gc: 0,
            pause_ns: [0; PAUSE_RING],
            pause_end: [0; PAUSE_RING],
            pause_total_ns: 0,
            last_gc: 0,
            pause_max_ns: 0,
            pauses: Vec::new(),
            gc_cpu_ns: 0,
            gc_assist_ns: 0,
            gc_dedicated_ns: 0,
            gc_fractional_ns: 0,
            gc_idle_ns: 0,
            gc_pause_ns: 0,
            gc_cpu_fraction: 0.0,
            heap_marked: 0,
            peak_heap_live: 0,
        }
    }
}

/// Go's number format for gctrace: ≥ 10 → integer; else 2 significant digits, ≤ 3 decimals.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{}", ms as u64)
    } else if ms >= 1.0 {
        format!("{:.1}", (ms * 10.0).floor() / 10.0)
    } else if ms >= 0.1 {
        format!("{:.2}", (ms * 100.0).floor() / 100.0)
    } else {
        format!("{:.3}", (ms * 1000.0).floor() / 1000.0)
    }
}

/// Write one trace line to stderr in a single write, so that a line is never cut in two by
/// the process exiting while the controller prints (`eprintln!` writes each piece of its
/// format separately).
fn trace_line(mut line: String) {
    use std::io::Write;
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

impl Collector {
    /// Add the cycle `cy` to the statistics and the CPU limiter, and print its gctrace line
    /// if asked (the end of Go's `gcMarkTermination`). `mark_wall` is the concurrent mark's
    /// wall time (from mark start to the end of mark termination, pauses excluded).
    pub(crate) fn record_cycle(&self, cy: &Cycle, mark_wall: Duration) {
        let assist = self.gc_controller.assist_ns.load(Ordering::Relaxed) - cy.assist0;
        let mode =
            |m: MarkWorkerMode| self.gc_controller.mode_ns[m as usize].load(Ordering::Relaxed);
        let (dedicated, fractional, idle) = (
            mode(MarkWorkerMode::Dedicated),
            mode(MarkWorkerMode::Fractional),
            mode(MarkWorkerMode::Idle),
        );
        let total_pause = cy.pause1 + cy.pause2;
        let now_unix =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let (num_gc, cpu_frac) = {
            let mut st = lock(&self.stats);
            let i = st.num_gc as usize % PAUSE_RING;
            st.pause_ns[i] = total_pause.as_nanos() as u64;
            st.pause_end[i] = now_unix;
            st.pause_total_ns += total_pause.as_nanos() as u64;
            for p in [cy.pause1, cy.pause2] {
                let ns = p.as_nanos() as u64;
                st.pause_max_ns = st.pause_max_ns.max(ns);
                if st.pauses.len() == 4096 {
                    st.pauses.remove(0);
                }
                st.pauses.push(ns);
            }
            st.last_gc = now_unix;
            st.num_gc += 1;
            if cy.forced {
                st.num_forced_gc += 1;
            }
            let pause = total_pause.as_nanos() as u64 * self.gomaxprocs as u64;
            st.gc_assist_ns += assist;
            st.gc_dedicated_ns += dedicated;
            st.gc_fractional_ns += fractional;
            st.gc_idle_ns += idle;
            st.gc_pause_ns += pause;
            st.gc_cpu_ns += pause + assist + dedicated + fractional + idle;
            // Stopped time is GC time on every P, for the CPU limiter too.
            self.limiter.add_gc_time(total_pause.as_nanos() as u64 * self.gomaxprocs as u64);
            st.heap_marked = cy.marked_total;
            st.peak_heap_live = st.peak_heap_live.max(cy.heap1);
            let wall = self.start.elapsed().as_nanos() as f64 * self.gomaxprocs as f64;
            st.gc_cpu_fraction = if wall > 0.0 { st.gc_cpu_ns as f64 / wall } else { 0.0 };
            (st.num_gc, st.gc_cpu_fraction)
        };
        if self.debug.gctrace > 0 {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let procs =
                self.gomaxprocs.min(std::thread::available_parallelism().map_or(1, |n| n.get()))
                    as f64;
            trace_line(format!(
                "gc {} @{:.3}s {}%: {}+{}+{} ms clock, {}+{}/{}/{}+{} ms cpu, {}->{}->{} MB, {} MB goal, {} MB stacks, {} MB globals, {} P{}",
                num_gc,
                cy.at.as_secs_f64(),
                (cpu_frac * 100.0) as u64,
                fmt_ms(ms(cy.pause1)),
                fmt_ms(ms(mark_wall)),
                fmt_ms(ms(cy.pause2)),
                fmt_ms(ms(cy.pause1) * procs),
                fmt_ms(assist as f64 / 1e6),
                fmt_ms((dedicated + fractional) as f64 / 1e6),
                fmt_ms(idle as f64 / 1e6),
                fmt_ms(ms(cy.pause2) * procs),
                cy.heap0 >> 20,
                cy.heap1 >> 20,
                cy.marked_total >> 20,
                cy.goal >> 20,
                cy.stack_scan >> 20,
                cy.globals_scan >> 20,
                self.gomaxprocs,
                if cy.forced { " (forced)" } else { "" }
            ));
        }
    }

    /// The first `gcpacertrace` line, at mark start (Go's in `startCycle`): the assist ratio,
    /// the scannable heap, `heap_live` at the trigger, the goal and the worker counts.
    pub(crate) fn print_pacer_start(&self, pacer: &Pacer, heap_live: u64) {
        trace_line(format!(
            "pacer: assist ratio={} (scan {} MB in {}->{} MB) workers={}+{}",
            pacer.assist_work_per_byte(),
            pacer.heap_scan() >> 20,
            heap_live >> 20,
            pacer.heap_goal() >> 20,
            pacer.dedicated_workers(),
            pacer.fractional_goal()
        ));
    }

    /// The second `gcpacertrace` line, at the end of mark (Go's in `endCycle`; call it after
    /// [`Pacer::end_cycle`] and before [`Pacer::commit`]): the GC CPU utilization against the
    /// 25 % goal, the scan work done (heap + stacks + globals) against the expected, `heap_live`
    /// at the trigger and now, how far that is from the goal, and the cons/mark estimate the
    /// cycle was paced with. gomem adds the idle utilization (the worker time beyond 25 %) and
    /// the cons/mark measured, which Go's line leaves out.
    pub(crate) fn print_pacer_end(&self, pacer: &Pacer, ended: &EndCycle, cy: &Cycle, heap: u64) {
        let live = pacer.heap_live();
        trace_line(format!(
            "pacer: {}% CPU ({} exp.) for {}+{}+{} B work ({} B exp.) in {} B -> {} B (∆goal {}, cons/mark {}) idle {}% measured cons/mark {}",
            (ended.utilization * 100.0) as i64,
            (GC_BACKGROUND_UTILIZATION * 100.0) as i64,
            heap,
            cy.stack_scan,
            cy.globals_scan,
            pacer.expected_scan_work(),
            pacer.triggered().unwrap_or(0),
            live,
            live as i64 - pacer.last_heap_goal() as i64,
            ended.old_cons_mark,
            (ended.idle_utilization * 100.0) as i64,
            ended.measured_cons_mark.map_or_else(|| "-".to_string(), |c| c.to_string()),
        ));
    }
}
