//! A [`Timeline`] as an SVG chart, drawn with `plotters`: heap in use, heap goal and resident
//! set over time, each GC cycle as a shaded band (from the start of sweep termination to the end
//! of mark termination, numbered along the bottom where the numbers do not overlap) and each
//! stop-the-world pause as a thin red line across the chart. Below it, a lane on the same time
//! axis draws each pause as a red bar whose height is its length in milliseconds, so a pause's
//! duration can be read off an axis. A title too long for the width is set smaller. See the
//! module docs of [`gomem::timeline`] for the sources.

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

/// Height of the pause lane below the chart, pixels.
const PAUSE_LANE: u32 = 130;
/// Title font size when the title fits, and the smallest it is shrunk to.
const TITLE_FONT: u32 = 22;
const TITLE_FONT_MIN: u32 = 10;
/// Width of a sans-serif character as a share of the font size: a generous average, so the
/// estimate errs towards a title that fits.
const CHAR_WIDTH: f64 = 0.6;
/// Font size of the cycle numbers, and the gap kept between two of them, pixels.
const CYCLE_FONT: u32 = 13;
const CYCLE_GAP: f64 = 6.0;
/// The plotting area's horizontal offset and width inside the chart, pixels (margin and the y
/// label area on the left, the margin on the right).
const PLOT_LEFT: f64 = 12.0 + 70.0;
const PLOT_WIDTH: f64 = SIZE.0 as f64 - PLOT_LEFT - 12.0;

/// The font size at which `title` fits the chart's width (22 px, shrunk down to 10 px at most).
pub fn title_font_size(title: &str) -> u32 {
    let chars = title.chars().count().max(1) as f64;
    let fit = ((SIZE.0 as f64 - 24.0) / (chars * CHAR_WIDTH)).floor() as u32;
    fit.clamp(TITLE_FONT_MIN, TITLE_FONT)
}

/// `title` cut with an ellipsis to what fits at the smallest font size.
fn fitted_title(title: &str) -> String {
    let max = ((SIZE.0 as f64 - 24.0) / (TITLE_FONT_MIN as f64 * CHAR_WIDTH)) as usize;
    if title.chars().count() <= max {
        return title.to_owned();
    }
    let mut t: String = title.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Which cycles get their number drawn: left to right, each one only if it starts at least its
/// own label's width (plus a gap) after the previous numbered one ends. `starts` are the cycles'
/// x positions in pixels.
pub(crate) fn numbered(starts: &[(u32, f64)]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut free_from = f64::NEG_INFINITY;
    for (i, &(n, px)) in starts.iter().enumerate() {
        if px >= free_from {
            out.push(i);
            let width = n.to_string().len() as f64 * CYCLE_FONT as f64 * CHAR_WIDTH;
            free_from = px + width + CYCLE_GAP;
        }
    }
    out
}

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
    let title = fitted_title(title);
    let root = root.titled(&title, ("sans-serif", title_font_size(&title)))?;
    let (root, lane) = root.split_vertically(root.dim_in_pixel().1 - PAUSE_LANE);
    // Seconds on the axis, or milliseconds for runs under two seconds.
    let (unit, scale) = if t.duration < Duration::from_secs(2) { ("ms", 1e3) } else { ("s", 1.0) };
    let x = |d: Duration| d.as_secs_f64() * scale;
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let x_max = x(t.duration).max(1e-3 * scale);
    // Head room above the highest line for the legend.
    let y_max = (mib(t.max_bytes()) * 1.35).max(1.0);

    let mut chart = ChartBuilder::on(&root)
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
    let starts: Vec<(u32, f64)> =
        t.cycles.iter().map(|c| (c.n, x(c.start) / x_max * PLOT_WIDTH)).collect();
    chart.draw_series(numbered(&starts).into_iter().map(|i| {
        let c = &t.cycles[i];
        Text::new(
            c.n.to_string(),
            (x(c.start), y_max * 0.04),
            ("sans-serif", CYCLE_FONT).into_font().color(&BLACK.mix(0.6)),
        )
    }))?;
    chart
        .draw_series(t.pauses.iter().map(|p| {
            let at = x(p.at + p.duration / 2);
            PathElement::new(vec![(at, 0.0), (at, y_max)], PAUSE_COLOR.mix(0.5).stroke_width(1))
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

    // The pause lane: one bar per pause, as high as the pause is long, on a millisecond axis.
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let longest = t.pauses.iter().map(|p| ms(p.duration)).fold(0.0, f64::max);
    let mut lane = ChartBuilder::on(&lane)
        .margin_left(12)
        .margin_right(12)
        .margin_bottom(4)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..(longest * 1.15).max(0.01))?;
    lane.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(3)
        .y_desc("pause (ms)")
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    // At least a pixel wide, whatever the time scale.
    let min_width = x_max / PLOT_WIDTH;
    lane.draw_series(t.pauses.iter().map(|p| {
        let from = x(p.at);
        let to = x(p.at + p.duration).max(from + min_width);
        Rectangle::new([(from, 0.0), (to, ms(p.duration))], PAUSE_COLOR.filled())
    }))?;
    Ok(())
}
