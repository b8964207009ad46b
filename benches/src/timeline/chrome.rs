//! A [`Timeline`] as a Chrome trace-event file (the JSON object format that Perfetto and
//! `chrome://tracing` load). See the module docs of [`gomem::timeline`] for what is recorded.
//!
//! One process (pid 1) with these tracks (tids):
//!
//! | tid | track | events |
//! |---|---|---|
//! | 1 | `GC` | one complete (`X`) event per cycle (`GC 7`), with its phases nested inside: `sweep termination`, `concurrent mark`, `mark termination`, `concurrent sweep` |
//! | 2 | `stop-the-world` | one `X` event per pause, named by its reason |
//! | 100 + id | `goroutine <id>` | `runnable` from spawn until the goroutine got a P, then `goroutine <id>` while it ran |
//!
//! and three counters (`C` events, one track each): `heap in use`, `heap goal` and `RSS`, in
//! bytes. Timestamps and durations are whole microseconds from the start of the recording: a
//! phase that ends where its cycle ends then ends at exactly the same number, so viewers nest
//! the slices without rounding trouble (pauses also carry their exact length in `pause_us`).

use gomem::timeline::{GcPhase, Timeline};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The process id every event carries.
const PID: u32 = 1;
/// The GC track.
pub const GC_TID: u64 = 1;
/// The pause track.
pub const PAUSE_TID: u64 = 2;
/// Goroutine `id`'s track is `GOROUTINE_TID_BASE + id`.
pub const GOROUTINE_TID_BASE: u64 = 100;

/// Whole microseconds (rounded down).
fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// A complete event.
fn complete(name: &str, cat: &str, tid: u64, from: Duration, to: Duration, args: Value) -> Value {
    json!({
        "name": name,
        "cat": cat,
        "ph": "X",
        "pid": PID,
        "tid": tid,
        "ts": us(from),
        "dur": us(to).saturating_sub(us(from)),
        "args": args,
    })
}

/// Metadata naming and ordering a track.
fn thread_meta(tid: u64, name: &str, sort: u64) -> [Value; 2] {
    [
        json!({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": name}}),
        json!({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid,
               "args": {"sort_index": sort}}),
    ]
}

/// The trace-event object for `t`. `process` names the process track (`gomem churn`);
/// `metadata` goes into the file's `otherData` (the workload's parameters, the configuration).
pub fn trace_json(t: &Timeline, process: &str, metadata: Map<String, Value>) -> Value {
    let end = t.duration;
    let mut ev: Vec<Value> = Vec::new();
    ev.push(json!({"name": "process_name", "ph": "M", "pid": PID, "args": {"name": process}}));
    ev.extend(thread_meta(GC_TID, "GC", 0));
    ev.extend(thread_meta(PAUSE_TID, "stop-the-world", 1));

    for c in &t.cycles {
        let phases = c.phases(end);
        let finished = c.sweep_end.is_some();
        ev.push(complete(
            &format!("GC {}", c.n),
            "gc",
            GC_TID,
            c.start,
            c.end(end),
            json!({"cycle": c.n, "finished": finished}),
        ));
        for (phase, from, to) in phases {
            let mut args = json!({"cycle": c.n});
            if phase == GcPhase::MarkTermination || phase == GcPhase::SweepTermination {
                let pauses = t.pauses.iter().filter(|p| p.at >= from && p.at <= to).count();
                args["pauses"] = pauses.into();
            }
            ev.push(complete(phase.name(), "gc", GC_TID, from, to, args));
        }
    }
    for p in &t.pauses {
        ev.push(complete(
            p.reason,
            "stw",
            PAUSE_TID,
            p.at,
            p.at + p.duration,
            json!({"cycle": p.cycle, "pause_us": p.duration.as_secs_f64() * 1e6}),
        ));
    }
    for (i, g) in t.goroutines.iter().enumerate() {
        let tid = GOROUTINE_TID_BASE + g.id;
        ev.extend(thread_meta(tid, &format!("goroutine {}", g.id), 10 + i as u64));
        if g.started > g.spawned {
            ev.push(complete("runnable", "goroutine", tid, g.spawned, g.started, json!({})));
        }
        ev.push(complete(
            &format!("goroutine {}", g.id),
            "goroutine",
            tid,
            g.started,
            g.ended.unwrap_or(end),
            json!({"goid": g.id, "running_at_end": g.ended.is_none()}),
        ));
    }
    for s in &t.samples {
        for (name, v) in [("heap in use", s.heap_live), ("heap goal", s.heap_goal), ("RSS", s.rss)]
        {
            ev.push(json!({
                "name": name, "cat": "memory", "ph": "C", "pid": PID, "ts": us(s.at),
                "args": {"bytes": v},
            }));
        }
    }
    json!({
        "traceEvents": ev,
        "displayTimeUnit": "ms",
        "otherData": Value::Object(metadata),
    })
}
