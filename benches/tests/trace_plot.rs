//! `gomem run --trace FILE` and `--plot FILE.svg` on small runs: the trace is Chrome trace-event
//! JSON with the GC phases of every cycle, every pause (adding up to the report's total), heap
//! counters and one track per goroutine; the chart is an SVG document with its series, one band
//! per cycle and one line per pause.

use std::path::PathBuf;
use std::process::Output;

use gomem_benches::workloads::report::Report;
use serde_json::Value;

mod common;
use common::{gomem_env, text};

fn gomem(args: &[&str]) -> Output {
    gomem_env(args, &[])
}

/// A fresh path in the test's scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace_plot");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// A churn run small enough for a test that still runs several GC cycles with two goroutines,
/// recording to `extra` (`--trace F`, `--plot F`); returns the report.
fn churn(extra: &[&str]) -> Report {
    let mut args = vec!["run", "churn", "--live", "1MiB", "--total", "24MiB", "--goroutines", "2"];
    args.extend(["--gogc", "50", "--json"]);
    args.extend(extra);
    let out = gomem(&args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a report on stdout")
}

fn events<'a>(trace: &'a Value, ph: &str) -> Vec<&'a Value> {
    trace["traceEvents"].as_array().expect("traceEvents").iter().filter(|e| e["ph"] == ph).collect()
}

fn span(e: &Value) -> (u64, u64) {
    let ts = e["ts"].as_u64().expect("ts");
    (ts, ts + e["dur"].as_u64().expect("dur"))
}

#[test]
fn trace_is_chrome_json_with_phases_pauses_counters_and_goroutines() {
    let path = scratch("churn.json");
    let r = churn(&["--trace", path.to_str().unwrap()]);
    assert!(r.num_gc >= 2, "the run must collect: {r:?}");
    let trace: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("trace written"))
            .expect("JSON");
    assert_eq!(trace["otherData"]["workload"], "churn");
    let xs = events(&trace, "X");

    // Cycles: every completed one, perhaps one more still running when the workload ended.
    let cycles: Vec<&Value> = xs
        .iter()
        .copied()
        .filter(|e| e["tid"] == 1 && e["name"].as_str().unwrap().starts_with("GC "))
        .collect();
    let n = cycles.len() as u64;
    assert!(n == r.num_gc || n == r.num_gc + 1, "{n} cycle events, {} cycles", r.num_gc);
    for c in cycles.iter().filter(|c| c["args"]["cycle"].as_u64().unwrap() <= r.num_gc) {
        let id = &c["args"]["cycle"];
        let phases: Vec<(&str, (u64, u64))> = xs
            .iter()
            .filter(|e| e["tid"] == 1 && &e["args"]["cycle"] == id && e["name"] != c["name"])
            .map(|e| (e["name"].as_str().unwrap(), span(e)))
            .collect();
        let names: Vec<&str> = phases.iter().map(|p| p.0).collect();
        assert_eq!(
            names,
            ["sweep termination", "concurrent mark", "mark termination", "concurrent sweep"]
                [..names.len()],
            "cycle {id}"
        );
        assert!(names.len() >= 3, "a completed cycle got past mark termination: {names:?}");
        // The phases follow each other inside the cycle's event.
        let (c0, c1) = span(c);
        assert_eq!(phases[0].1 .0, c0, "cycle {id}");
        assert!(phases.windows(2).all(|w| w[0].1 .1 == w[1].1 .0), "cycle {id}: {phases:?}");
        assert!(phases.last().unwrap().1 .1 <= c1, "cycle {id}");
    }

    // Pauses: on their own track, each inside its cycle, adding up to the report's total.
    let pauses: Vec<&Value> = xs.iter().copied().filter(|e| e["tid"] == 2).collect();
    assert!(pauses.len() as u64 >= 2 * r.num_gc, "{} pauses, {} cycles", pauses.len(), r.num_gc);
    let mut total_us = 0.0;
    for p in &pauses {
        let name = p["name"].as_str().unwrap();
        assert!(name == "GC sweep termination" || name == "GC mark termination", "{name}");
        let id = &p["args"]["cycle"];
        let c = cycles.iter().find(|c| &c["args"]["cycle"] == id).expect("its cycle");
        let ((p0, p1), (c0, c1)) = (span(p), span(c));
        assert!(c0 <= p0 && p1 <= c1, "pause {p} outside cycle {c}");
        if id.as_u64().unwrap() <= r.num_gc {
            total_us += p["args"]["pause_us"].as_f64().unwrap();
        }
    }
    let report_us = r.pause_total_ns as f64 / 1e3;
    assert!(
        (total_us - report_us).abs() < 1.0,
        "pauses add up to {total_us} µs, report {report_us}"
    );

    // Counters, one track each, sampled through the run.
    let counters = events(&trace, "C");
    for name in ["heap in use", "heap goal", "RSS"] {
        let v: Vec<u64> = counters
            .iter()
            .filter(|e| e["name"] == name)
            .map(|e| e["args"]["bytes"].as_u64().expect("bytes"))
            .collect();
        assert!(v.len() >= 5, "{name}: {} samples", v.len());
        assert!(v.iter().any(|&b| b > 0), "{name}: {v:?}");
    }
    let goal = counters
        .iter()
        .filter(|e| e["name"] == "heap goal")
        .map(|e| e["args"]["bytes"].as_u64().unwrap());
    // Go's minimum heap goal is 4 MiB × GOGC/100: 2 MiB at the GOGC=50 of this run.
    assert!(goal.max().unwrap() >= 2 << 20, "below the minimum heap goal");

    // One named track per goroutine, each with its lifetime, ended by the time the run did.
    let tracks: Vec<(u64, String)> = events(&trace, "M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| (e["tid"].as_u64().unwrap(), e["args"]["name"].as_str().unwrap().to_owned()))
        .collect();
    let goroutines: Vec<&(u64, String)> =
        tracks.iter().filter(|t| t.1.starts_with("goroutine ")).collect();
    assert_eq!(goroutines.len(), 2, "{tracks:?}");
    for (tid, name) in goroutines {
        let life =
            xs.iter().find(|e| e["tid"] == *tid && e["name"] == name.as_str()).expect("lifetime");
        assert_eq!(life["args"]["running_at_end"], false, "{life}");
        assert!(span(life).1 > span(life).0, "{life}");
    }
}

#[test]
fn plot_is_an_svg_with_the_series_cycles_and_pauses() {
    let path = scratch("churn.svg");
    let trace = scratch("churn-with-plot.json");
    let r = churn(&["--plot", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&path).expect("chart written");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    for label in gomem_benches::timeline::plot::LABELS {
        assert!(texts.iter().any(|t| t == label), "legend {label:?} in {texts:?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("gomem churn")), "title");

    // Each series is a polyline in its colour with a point per sample (plus its legend swatch).
    let lines = |colour: &str| -> Vec<usize> {
        doc.descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(colour))
            .map(|n| n.attribute("points").unwrap_or("").split_whitespace().count())
            .collect()
    };
    for colour in ["#1F77B4", "#FF7F0E", "#2CA02C"] {
        let l = lines(colour);
        assert!(l.iter().any(|&points| points >= 5), "{colour}: {l:?}");
    }
    // One band per cycle and one line per pause, each plus its legend entry; the trace of the
    // same run says how many there were.
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let xs = events(&trace, "X");
    let cycles = xs
        .iter()
        .filter(|e| e["tid"] == 1 && e["name"].as_str().unwrap().starts_with("GC "))
        .count();
    let pauses = xs.iter().filter(|e| e["tid"] == 2).count();
    let bands = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#BEBED7"))
        .count();
    assert_eq!(bands, cycles + 1, "bands");
    assert_eq!(lines("#D62728").len(), pauses + 1, "pause lines");
    assert!(cycles as u64 >= r.num_gc && r.num_gc >= 2);

    // The pause lane: a bar per pause, its height proportional to the pause's length, so the
    // longest pause is the tallest bar and a pause half as long is half as tall.
    let mut heights: Vec<f64> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#D62728"))
        .map(|n| n.attribute("height").unwrap().parse().unwrap())
        .collect();
    assert_eq!(heights.len(), pauses, "a bar per pause");
    let mut durs: Vec<f64> =
        xs.iter().filter(|e| e["tid"] == 2).map(|e| e["dur"].as_f64().unwrap()).collect();
    heights.sort_by(f64::total_cmp);
    durs.sort_by(f64::total_cmp);
    let (hmax, dmax) = (*heights.last().unwrap(), *durs.last().unwrap());
    assert!(hmax >= 50.0, "the longest pause fills the lane: {hmax}");
    for (h, d) in heights.iter().zip(&durs) {
        // Whole pixels, and the trace's whole microseconds: a few pixels of slack.
        assert!((h - d / dmax * hmax).abs() <= 3.0, "bar {h} for {d} µs (longest {dmax} µs)");
    }
    title_and_cycle_numbers_fit(&doc);
}

/// The title fits the canvas (its estimated width at its font size), and no two cycle numbers
/// overlap.
fn title_and_cycle_numbers_fit(doc: &roxmltree::Document<'_>) {
    let texts: Vec<(f64, f64, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let num = |a: &str| n.attribute(a).unwrap_or("0").parse::<f64>().unwrap();
            (num("x"), num("font-size"), n.text().unwrap_or("").trim().to_owned())
        })
        .collect();
    let width = gomem_benches::timeline::plot::SIZE.0 as f64;
    let (x, size, title) = texts.iter().find(|t| t.2.starts_with("gomem ")).expect("title");
    let half = title.chars().count() as f64 * size * 0.6 / 2.0;
    assert!(x - half >= 0.0 && x + half <= width, "title {title:?} at {size} px: {half}");
    // Cycle numbers are the whole-number texts at the size the chart gives them (13; plotters
    // writes font sizes divided by 1.24 into the SVG).
    let mut numbers: Vec<(f64, f64, usize)> = texts
        .iter()
        .filter(|t| !t.2.is_empty() && t.2.bytes().all(|b| b.is_ascii_digit()))
        .map(|t| (t.0, t.1, t.2.len()))
        .collect();
    numbers.sort_by(|a, b| a.0.total_cmp(&b.0));
    let labels: Vec<_> = numbers.iter().filter(|n| (n.1 * 1.24 - 13.0).abs() < 0.5).collect();
    assert!(labels.len() >= 2, "cycle numbers drawn: {numbers:?}");
    for w in labels.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert!(b.0 - a.0 >= a.2 as f64 * a.1 * 0.5, "cycle numbers overlap: {a:?} {b:?}");
    }
}

#[test]
fn unwritable_outputs_are_usage_errors_before_the_run() {
    for flag in ["--trace", "--plot"] {
        let out = gomem(&["run", "alloc", "--count", "10", flag, "/nonexistent-dir/x"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains(flag) && err.contains("cannot create"), "{flag}: {err}");
        assert!(out.stdout.is_empty(), "nothing ran: {}", text(&out.stdout));
    }
    let out = gomem(&["run", "alloc", "--trace"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
