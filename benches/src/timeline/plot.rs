//! A [`Timeline`] as an SVG chart, drawn with `plotters`: heap in use, heap goal and resident
//! set over time, each GC cycle as a shaded band (from the start of sweep termination to the end
//! of mark termination, numbered along the bottom when there are few enough to read) and each
//! stop-the-world pause as a red vertical line. See the module docs of [`gomem::timeline`] for the sources.

use gomem::timeline::{HeapSample, Timeline};
use plotters::prelude::*;
use std::time::Duration;

/// The chart's size in pixels.
pub const SIZE: (u32, u32) = (1100, 560);

/// Legend labels of the series, in drawing order (tests look for them in the SVG).
pub const LABELS: [&str; 5] = [
    "GC cycle (sweep termination to mark termination)",
    "stop-the-world pause",
    "heap in use (heap_live)",
    "heap goal",
    "RSS",
];

/// Cycles are numbered on the chart only when there are at most this many.
const NUMBERED_CYCLES: usize = 40;

const HEAP_COLOR: RGBColor = RGBColor(31, 119, 180);
const GOAL_COLOR: RGBColor = RGBColor(255, 127, 14);
const RSS_COLOR: RGBColor = RGBColor(44, 160, 44);
const CYCLE_COLOR: RGBColor = RGBColor(190, 190, 215);
const PAUSE_COLOR: RGBColor = RGBColor(214, 39, 40);

/// The chart of `t` as an SVG document, with `title` above it.
pub fn svg(t: &Timeline, title: &str) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        draw(&root, t, title).map_err(|e| format!("cannot draw the chart: {e}"))?;
        root.present().map_err(|e| format!("cannot draw the chart: {e}"))?;
    }
    Ok(buf)
}

/// Which value of a sample a line shows.
type Reading = fn(&HeapSample) -> u64;

type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    t: &Timeline,
    title: &str,
) -> DrawResult {
    root.fill(&WHITE)?;
    // Seconds on the axis, or milliseconds for runs under two seconds.
    let (unit, scale) = if t.duration < Duration::from_secs(2) { ("ms", 1e3) } else { ("s", 1.0) };
    let x = |d: Duration| d.as_secs_f64() * scale;
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let x_max = x(t.duration).max(1e-3 * scale);
    // Head room above the highest line for the legend.
    let y_max = (mib(t.max_bytes()) * 1.35).max(1.0);

    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("time ({unit})"))
        .y_desc("MiB")
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;

    let end = t.duration;
    chart
        .draw_series(t.cycles.iter().map(|c| {
            let to = c.mark_done.unwrap_or(end);
            Rectangle::new([(x(c.start), 0.0), (x(to), y_max)], CYCLE_COLOR.mix(0.5).filled())
        }))?
        .label(LABELS[0])
        .legend(|(lx, ly)| {
            Rectangle::new([(lx, ly - 5), (lx + 18, ly + 5)], CYCLE_COLOR.mix(0.5).filled())
        });
    if t.cycles.len() <= NUMBERED_CYCLES {
        chart.draw_series(t.cycles.iter().map(|c| {
            Text::new(
                c.n.to_string(),
                (x(c.start), y_max * 0.04),
                ("sans-serif", 13).into_font().color(&BLACK.mix(0.6)),
            )
        }))?;
    }
    chart
        .draw_series(t.pauses.iter().map(|p| {
            let at = x(p.at + p.duration / 2);
            PathElement::new(vec![(at, 0.0), (at, y_max)], PAUSE_COLOR.stroke_width(1))
        }))?
        .label(LABELS[1])
        .legend(|(lx, ly)| PathElement::new(vec![(lx + 9, ly - 6), (lx + 9, ly + 6)], PAUSE_COLOR));

    let series: [(usize, RGBColor, Reading); 3] = [
        (2, HEAP_COLOR, |s| s.heap_live),
        (3, GOAL_COLOR, |s| s.heap_goal),
        (4, RSS_COLOR, |s| s.rss),
    ];
    for (label, color, value) in series {
        chart
            .draw_series(LineSeries::new(
                t.samples.iter().map(|s| (x(s.at), mib(value(s)))),
                color.stroke_width(2),
            ))?
            .label(LABELS[label])
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 18, ly)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 16))
        .draw()?;
    Ok(())
}
