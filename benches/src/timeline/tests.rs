//! Assembling timelines from synthetic records, and their trace-event and SVG forms.

use super::{chrome, plot};
use gomem::collector::events::{GcEvent, GcEventKind};
use gomem::timeline::{GcPhase, GoroutineSpan, HeapSample, Timeline};
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Two cycles: the first restarts its mark once (two mark-termination pauses) and is swept
/// by the sweeper; the second is still sweeping when the recording ends at 100 ms.
fn synthetic() -> Timeline {
    let t0 = Instant::now();
    let at = |n: u64| t0 + ms(n);
    let pause = |n: u64, d: u64, reason: &'static str| GcEvent {
        at: at(n),
        kind: GcEventKind::Pause { reason, duration: ms(d) },
    };
    let ev = |n: u64, kind: GcEventKind| GcEvent { at: at(n), kind };
    let mut events = vec![
        ev(10, GcEventKind::CycleStart),
        pause(11, 1, "GC sweep termination"),
        ev(12, GcEventKind::MarkStart),
        pause(20, 2, "GC mark termination"), // found work: mark restarted
        pause(30, 3, "GC mark termination"),
        ev(33, GcEventKind::MarkDone),
        ev(40, GcEventKind::SweepDone),
        ev(45, GcEventKind::SweepDone), // a second report (gc() after the sweeper): ignored
        ev(60, GcEventKind::CycleStart),
        pause(61, 1, "GC sweep termination"),
        ev(62, GcEventKind::MarkStart),
        pause(70, 1, "GC mark termination"),
        ev(71, GcEventKind::MarkDone),
    ];
    // Out of order on purpose: `assemble` relies on `GcEvents::take`'s sort, so sort here too.
    events.reverse();
    events.sort_by_key(|e| e.at);
    let goroutines = [
        GoroutineSpan { id: 1, spawned: at(1), started: at(2), ended: Some(at(90)) },
        GoroutineSpan { id: 2, spawned: at(1), started: at(3), ended: None },
    ];
    let samples = (0..=20)
        .map(|i| HeapSample {
            at: ms(5 * i),
            heap_live: (1 + i % 7) << 20,
            heap_goal: 8 << 20,
            rss: 12 << 20,
        })
        .collect();
    Timeline::assemble(t0, at(100), 5, &events, &goroutines, samples)
}

#[test]
fn phases_follow_from_the_events() {
    let t = synthetic();
    assert_eq!(t.duration, ms(100));
    assert_eq!(t.cycles.len(), 2);
    let c = t.cycles[0];
    assert_eq!(c.n, 5);
    assert_eq!(
        (c.start, c.mark_start, c.mark_termination_start, c.mark_done, c.sweep_end),
        (ms(10), Some(ms(12)), Some(ms(30)), Some(ms(33)), Some(ms(40)))
    );
    let names: Vec<(&str, Duration, Duration)> =
        c.phases(t.duration).into_iter().map(|(p, a, b)| (p.name(), a, b)).collect();
    assert_eq!(
        names,
        [
            ("sweep termination", ms(10), ms(12)),
            ("concurrent mark", ms(12), ms(30)),
            ("mark termination", ms(30), ms(33)),
            ("concurrent sweep", ms(33), ms(40)),
        ]
    );
    // The second cycle's sweep is cut off by the end of the recording.
    let c = t.cycles[1];
    assert_eq!((c.n, c.sweep_end), (6, None));
    assert_eq!(
        c.phases(t.duration).last().copied(),
        Some((GcPhase::ConcurrentSweep, ms(71), ms(100)))
    );
    assert_eq!(c.end(t.duration), ms(100));
    // Pauses belong to their cycles.
    let p: Vec<(Duration, Option<u32>)> = t.pauses.iter().map(|p| (p.at, p.cycle)).collect();
    assert_eq!(
        p,
        [
            (ms(11), Some(5)),
            (ms(20), Some(5)),
            (ms(30), Some(5)),
            (ms(61), Some(6)),
            (ms(70), Some(6))
        ]
    );
}

#[test]
fn an_unswept_cycle_ends_its_sweep_when_the_next_begins() {
    let t0 = Instant::now();
    let ev = |n: u64, kind| GcEvent { at: t0 + ms(n), kind };
    let events = [
        ev(1, GcEventKind::CycleStart),
        ev(2, GcEventKind::MarkStart),
        ev(3, GcEventKind::MarkDone),
        ev(9, GcEventKind::CycleStart),
    ];
    let t = Timeline::assemble(t0, t0 + ms(10), 1, &events, &[], Vec::new());
    assert_eq!(t.cycles[0].sweep_end, Some(ms(9)));
    // No pause seen during mark: mark termination is an instant at its end.
    assert_eq!(t.cycles[0].mark_termination_start, Some(ms(3)));
    assert_eq!(t.cycles[1].phases(t.duration), [(GcPhase::SweepTermination, ms(9), ms(10))]);
}

#[test]
fn trace_has_nested_phases_pauses_counters_and_goroutine_tracks() {
    let t = synthetic();
    let v = chrome::trace_json(&t, "gomem test", serde_json::Map::new());
    let ev = v["traceEvents"].as_array().expect("traceEvents");
    let named = |name: &str, ph: &str| {
        ev.iter().filter(|e| e["name"] == name && e["ph"] == ph).cloned().collect::<Vec<_>>()
    };
    assert_eq!(named("GC 5", "X").len(), 1);
    assert_eq!(named("concurrent mark", "X").len(), 2);
    let mt = named("mark termination", "X");
    assert_eq!((mt[0]["ts"].as_u64(), mt[0]["dur"].as_u64()), (Some(30_000), Some(3000)));
    assert_eq!(mt[0]["args"]["pauses"], 1);
    assert_eq!(named("GC mark termination", "X").len(), 3);
    assert!(named("GC mark termination", "X").iter().all(|e| e["tid"] == chrome::PAUSE_TID));
    assert_eq!(named("heap in use", "C").len(), 21);
    assert_eq!(named("heap goal", "C")[0]["args"]["bytes"], 8 << 20);
    let g2 = named("goroutine 2", "X");
    assert_eq!(g2[0]["tid"], chrome::GOROUTINE_TID_BASE + 2);
    assert_eq!(g2[0]["args"]["running_at_end"], true);
    assert_eq!(g2[0]["dur"].as_u64(), Some(97_000));
    let tracks: Vec<&str> = ev
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tracks, ["GC", "stop-the-world", "goroutine 1", "goroutine 2"]);
    // The phases tile their cycle's event exactly, in order.
    let span = |e: &serde_json::Value| {
        let ts = e["ts"].as_u64().unwrap();
        (ts, ts + e["dur"].as_u64().unwrap())
    };
    let cycle = span(&named("GC 5", "X")[0]);
    let phases: Vec<(u64, u64)> = ev
        .iter()
        .filter(|e| e["args"]["cycle"] == 5 && e["tid"] == chrome::GC_TID)
        .map(span)
        .collect();
    assert_eq!(phases.len(), 5, "the cycle and its four phases");
    assert_eq!(phases[0], cycle);
    assert_eq!((phases[1].0, phases[4].1), cycle);
    assert!(phases[1..].windows(2).all(|w| w[0].1 == w[1].0), "{phases:?}");
}

#[test]
fn svg_chart_has_every_series() {
    let t = synthetic();
    let svg = plot::svg(&t, "gomem test chart").expect("svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", &svg[..80]);
    for label in plot::LABELS {
        assert!(svg.contains(label), "{label}");
    }
    assert!(svg.contains("gomem test chart"));
    assert!(svg.matches("<polyline").count() >= 3, "the three lines");
}

#[test]
fn a_long_title_is_set_small_enough_to_fit() {
    let long = "gomem burst (duration_ms=2000 goroutines=1 keep=8388608 peak=67108864 \
                rate=67108864)  GOGC=100 GOMEMLIMIT=off GOMAXPROCS=2";
    let size = plot::title_font_size(long) as f64;
    assert!(size < 22.0, "shrunk: {size}");
    assert!(long.chars().count() as f64 * size * 0.6 <= plot::SIZE.0 as f64 - 24.0);
    assert_eq!(plot::title_font_size("gomem churn"), 22, "a short title keeps its size");
    let svg = plot::svg(&synthetic(), long).expect("svg");
    assert!(svg.contains("peak=67108864"), "the whole title is drawn");
}

#[test]
fn cycle_numbers_are_thinned_to_what_does_not_overlap() {
    // Cycles 1..=30 two pixels apart: two-digit numbers need about 16 px each plus the gap.
    let starts: Vec<(u32, f64)> = (1..=30).map(|n| (n, 2.0 * n as f64)).collect();
    let shown = plot::numbered(&starts);
    assert!(shown.len() > 1 && shown.len() < 10, "{shown:?}");
    for w in shown.windows(2) {
        let (a, b) = (starts[w[0]], starts[w[1]]);
        assert!(b.1 - a.1 >= a.0.to_string().len() as f64 * 13.0 * 0.6, "{a:?} {b:?}");
    }
    // Far apart, every cycle is numbered.
    let wide: Vec<(u32, f64)> = (1..=5).map(|n| (n, 100.0 * n as f64)).collect();
    assert_eq!(plot::numbered(&wide), [0, 1, 2, 3, 4]);
}
