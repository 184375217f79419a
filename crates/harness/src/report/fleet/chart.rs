//! The charts of the fleet `report.html`, as inline SVG: the latency percentile spectrum per
//! operation, and throughput with latency over the run.

use std::fmt::{self, Write};

use hdrhistogram::Histogram;

use super::number;
use crate::record::{FleetRecord, Interval, LatencyBook};
use crate::report::kit::Esc;
use jobcert_contract::Operation;

/// Series colours, in order.
const COLOURS: [&str; 8] = [
    "#4a78c2", "#e8953a", "#3a9e5c", "#c2453f", "#8a5cc2", "#8c6d3f", "#d16fb0", "#6e6e73",
];
/// Decades of 1/(1-p) on the spectrum's x axis: 0% to 99.999%.
const DECADES: u32 = 5;
/// Points per spectrum line.
const SPECTRUM_POINTS: u32 = 100;

fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// How values map onto the y axis.
#[derive(Clone, Copy)]
enum Scale {
    /// From 0 to `max`.
    Linear { max: f64 },
    /// From `min` to `max` (both positive), by decades; smaller values sit on the axis.
    Log { min: f64, max: f64 },
}

impl Scale {
    /// Where `v` falls, from 0 (bottom) to 1 (top).
    fn fraction(self, v: f64) -> f64 {
        match self {
            Scale::Linear { max } => v / max,
            Scale::Log { min, max } => (v.max(min) / min).log10() / (max / min).log10(),
        }
    }
}

/// A plot area, its x range (from 0) and its y scale.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x_max: f64,
    scale: Scale,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        self.left + v / self.x_max * self.width
    }

    fn y(&self, v: f64) -> f64 {
        self.top + self.height * (1.0 - self.scale.fraction(v))
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// Grid lines and labels at `y_ticks`, labels at `x_ticks`, the axes and their titles.
    fn axes(
        &self,
        out: &mut String,
        x_ticks: &[(f64, String)],
        y_ticks: &[f64],
        titles: (&str, &str),
    ) -> fmt::Result {
        let (left, right, bottom) = (self.left, self.left + self.width, self.bottom());
        for &v in y_ticks {
            let y = self.y(v);
            writeln!(
                out,
                r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#e3e3e8"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left - 6.0,
                y + 4.0,
                number(v)
            )?;
        }
        for (v, label) in x_ticks {
            let x = self.x(*v);
            writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#1d1d1f"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 5.0,
                bottom + 18.0,
                Esc(label)
            )?;
        }
        let (x_title, y_title) = titles;
        let middle = self.top + self.height / 2.0;
        writeln!(
            out,
            r##"<path d="M{left:.1} {:.1}V{bottom:.1}H{right:.1}" fill="none" stroke="#1d1d1f"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate({:.1} {middle:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
            self.top,
            left + self.width / 2.0,
            bottom + 36.0,
            Esc(x_title),
            left - 50.0,
            Esc(y_title)
        )
    }

    /// One line through `points` (data coordinates).
    fn polyline(&self, out: &mut String, points: &[(f64, f64)], colour: &str) -> fmt::Result {
        let coords: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.x(x), self.y(y)))
            .collect();
        writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            coords.join(" ")
        )
    }
}

/// Round tick values from 0 up to at least `max`, about four steps.
fn ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let steps = (max / step - 1e-9).ceil().max(1.0) as u32;
    (0..=steps).map(|i| f64::from(i) * step).collect()
}

/// Powers of ten from the one at or below `low` to the one at or above `high` (at least two).
fn decades(low: f64, high: f64) -> Vec<f64> {
    let exponent = |v: f64| {
        if v.is_finite() && v > 0.0 {
            v.log10()
        } else {
            0.0
        }
    };
    let from = exponent(low).floor() as i32;
    let to = (exponent(high).ceil() as i32).max(from + 1);
    (from..=to).map(|e| 10f64.powi(e)).collect()
}

/// A log scale over `ticks` (from [`decades`]).
fn log_scale(ticks: &[f64]) -> Scale {
    Scale::Log {
        min: ticks.first().copied().unwrap_or(1.0),
        max: ticks.last().copied().unwrap_or(10.0),
    }
}

/// Swatches and names, one per row, starting at (`x`, `y`).
fn legend(out: &mut String, x: f64, y: f64, entries: &[(&str, &str)]) -> fmt::Result {
    for (i, (name, colour)) in entries.iter().enumerate() {
        let row = y + 18.0 * i as f64;
        writeln!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            row - 10.0,
            x + 18.0,
            row,
            Esc(name)
        )?;
    }
    Ok(())
}

fn open_svg(out: &mut String, id: &str, width: f64, height: f64, title: &str) -> fmt::Result {
    writeln!(
        out,
        r#"<svg id="{id}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" font-size="12" font-family="system-ui,sans-serif"><title>{}</title>"#,
        Esc(title)
    )
}

/// The label of x = log10(1/(1-p)) on the spectrum axis: 0%, 90%, 99%, 99.9%, …
fn percentile_label(decade: u32) -> String {
    match decade {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)),
    }
}

/// (log10(1/(1-p)), milliseconds) along the percentiles of `h`.
fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=SPECTRUM_POINTS)
        .map(|i| {
            let x = f64::from(DECADES) * f64::from(i) / f64::from(SPECTRUM_POINTS);
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// Each operation's spectrum, all its outcomes together, in name order.
fn spectra(book: &LatencyBook) -> Vec<(&str, Vec<(f64, f64)>)> {
    let mut operations: Vec<&str> = book
        .histograms()
        .map(|(k, _)| k.operation.as_str())
        .collect();
    operations.dedup();
    operations
        .into_iter()
        .map(|op| (op, spectrum(&book.combined(|k| k.operation == op))))
        .collect()
}

/// Chart 1: latency by percentile, one line per operation, on the usual HdrHistogram scale.
pub(super) fn percentile_spectrum(out: &mut String, book: &LatencyBook) -> fmt::Result {
    let series = spectra(book);
    if series.is_empty() {
        return writeln!(out, r#"<p class="muted">No latency was recorded.</p>"#);
    }
    let values = || {
        series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
    };
    let y_ticks = decades(
        values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let frame = Frame {
        left: 70.0,
        top: 16.0,
        width: 640.0,
        height: 300.0,
        x_max: f64::from(DECADES),
        scale: log_scale(&y_ticks),
    };
    let x_ticks: Vec<(f64, String)> = (0..=DECADES)
        .map(|d| (f64::from(d), percentile_label(d)))
        .collect();
    let title = "Latency by percentile, per operation";
    open_svg(out, "spectrum", 1000.0, 380.0, title)?;
    frame.axes(out, &x_ticks, &y_ticks, ("Percentile", "Latency (ms)"))?;
    let mut entries = Vec::new();
    for (i, (operation, points)) in series.iter().enumerate() {
        frame.polyline(out, points, colour(i))?;
        entries.push((*operation, colour(i)));
    }
    let (x, y) = (frame.left + frame.width + 20.0, frame.top + 10.0);
    legend(out, x, y, &entries)?;
    writeln!(out, "</svg>")
}

/// One interval of the run: when, how many data-plane requests completed per second, and their
/// p50 and p99 in milliseconds (none when nothing completed).
struct Slice {
    from: f64,
    length: f64,
    rate: f64,
    p50: Option<f64>,
    p99: Option<f64>,
}

fn slices(record: &FleetRecord) -> Vec<Slice> {
    let mut intervals: Vec<&Interval> = record.intervals.iter().collect();
    intervals.sort_by_key(|i| i.start_ms);
    intervals
        .into_iter()
        .map(|i| {
            let h = i
                .latency
                .combined(|k| Operation::from_name(&k.operation).is_some());
            let length = i.length_ms as f64 / 1000.0;
            let at = |q| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0);
            Slice {
                from: i.start_ms.saturating_sub(record.started_at_ms) as f64 / 1000.0,
                length,
                rate: if length > 0.0 {
                    h.len() as f64 / length
                } else {
                    0.0
                },
                p50: at(0.5),
                p99: at(0.99),
            }
        })
        .collect()
}

fn bars(out: &mut String, frame: &Frame, slices: &[Slice], colour: &str) -> fmt::Result {
    for s in slices.iter().filter(|s| s.rate > 0.0) {
        let (x0, x1) = (frame.x(s.from), frame.x(s.from + s.length));
        let y = frame.y(s.rate);
        writeln!(
            out,
            r#"<rect class="bar" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
            (x1 - x0 - 1.0).max(1.0),
            frame.bottom() - y
        )?;
    }
    Ok(())
}

/// The points of one latency line, at the middle of each interval with completions.
fn line(slices: &[Slice], value: impl Fn(&Slice) -> Option<f64>) -> Vec<(f64, f64)> {
    slices
        .iter()
        .filter_map(|s| value(s).map(|v| (s.from + s.length / 2.0, v)))
        .collect()
}

/// Ticks of the time axis (seconds since the start, labelled) up to the end of the last
/// interval or of the run, whichever is later.
fn time_ticks(slices: &[Slice], duration_ms: u64) -> Vec<(f64, String)> {
    let end = slices
        .iter()
        .map(|s| s.from + s.length)
        .fold(duration_ms as f64 / 1000.0, f64::max);
    ticks(end).into_iter().map(|v| (v, number(v))).collect()
}

/// The two panels on one time axis: requests per second above, latency below.
fn panels(x_max: f64, rate_ticks: &[f64], latency_ticks: &[f64]) -> (Frame, Frame) {
    let rates = Frame {
        left: 70.0,
        top: 16.0,
        width: 800.0,
        height: 140.0,
        x_max,
        scale: Scale::Linear {
            max: rate_ticks.last().copied().unwrap_or(1.0),
        },
    };
    let latency = Frame {
        top: 216.0,
        height: 180.0,
        scale: log_scale(latency_ticks),
        ..rates
    };
    (rates, latency)
}

/// Chart 2: completed data-plane requests per second (bars) above their p50 and p99 (lines),
/// on one time axis in seconds since the run's start.
pub(super) fn over_time(out: &mut String, record: &FleetRecord) -> fmt::Result {
    let slices = slices(record);
    if slices.is_empty() {
        return writeln!(out, r#"<p class="muted">No intervals were recorded.</p>"#);
    }
    let x_ticks = time_ticks(&slices, record.duration_ms);
    let rate_ticks = ticks(slices.iter().map(|s| s.rate).fold(0.0, f64::max));
    let (p50, p99) = (line(&slices, |s| s.p50), line(&slices, |s| s.p99));
    let latency_ticks = decades(
        p50.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        p99.iter().map(|p| p.1).fold(0.0, f64::max),
    );
    let x_max = x_ticks.last().map_or(1.0, |t| t.0);
    let (rates, latency) = panels(x_max, &rate_ticks, &latency_ticks);
    let title = "Data-plane requests completed per second, and their p50 and p99 latency";
    open_svg(out, "over-time", 1020.0, 450.0, title)?;
    rates.axes(out, &x_ticks, &rate_ticks, ("", "Requests/s"))?;
    bars(out, &rates, &slices, COLOURS[7])?;
    let titles = ("Seconds since the start", "Latency (ms)");
    latency.axes(out, &x_ticks, &latency_ticks, titles)?;
    latency.polyline(out, &p50, COLOURS[0])?;
    latency.polyline(out, &p99, COLOURS[1])?;
    let entries = [
        ("completed/s", COLOURS[7]),
        ("p50", COLOURS[0]),
        ("p99", COLOURS[1]),
    ];
    let (x, y) = (rates.left + rates.width + 20.0, rates.top + 10.0);
    legend(out, x, y, &entries)?;
    writeln!(out, "</svg>")
}

/// Lines of `series` (name, `(x, y)` points) over minutes, on a linear scale from 0: a job's
/// executions by status, minute by minute.
pub(super) fn minute_lines(
    out: &mut String,
    id: &str,
    title: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> fmt::Result {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (x_last, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let x_ticks: Vec<(f64, String)> = ticks(x_last.max(1.0))
        .into_iter()
        .map(|m| (m, number(m)))
        .collect();
    let y_ticks = ticks(y_max);
    let frame = Frame {
        left: 80.0,
        top: 20.0,
        width: 760.0,
        height: 260.0,
        x_max: x_ticks.last().map_or(1.0, |t| t.0),
        scale: Scale::Linear {
            max: *y_ticks.last().unwrap_or(&1.0),
        },
    };
    open_svg(out, id, 1020.0, 340.0, title)?;
    frame.axes(
        out,
        &x_ticks,
        &y_ticks,
        ("Minutes since the job was created", "Executions"),
    )?;
    let mut entries = Vec::new();
    for (i, (name, points)) in series.iter().enumerate() {
        frame.polyline(out, points, colour(i))?;
        entries.push((*name, colour(i)));
    }
    legend(
        out,
        frame.left + frame.width + 20.0,
        frame.top + 10.0,
        &entries,
    )?;
    writeln!(out, "</svg>")
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    fn svg(render: impl Fn(&mut String) -> fmt::Result) -> String {
        let mut out = String::new();
        render(&mut out).unwrap();
        out
    }

    #[test]
    fn one_spectrum_line_per_operation() {
        let (record, _) = fixture::sample();
        let text = svg(|out| percentile_spectrum(out, &record.latency));
        // CreateJob, StartNextPendingJobExecution, UpdateJobExecution.
        assert_eq!(text.matches("<polyline ").count(), 3);
        assert!(text.contains(">UpdateJobExecution</text>"));
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"] {
            assert!(text.contains(&format!(">{label}</text>")), "{label}");
        }
        assert!(text.contains(">Latency (ms)</text>") && text.contains(">Percentile</text>"));
        let empty = svg(|out| percentile_spectrum(out, &LatencyBook::default()));
        assert!(!empty.contains("<svg"));
    }

    #[test]
    fn spectrum_runs_from_the_minimum_to_the_maximum() {
        let mut book = LatencyBook::default();
        for us in [1_000, 2_000, 400_000] {
            book.record_value("UpdateJobExecution", "answered", us);
        }
        let (_, points) = &spectra(&book)[0];
        assert_eq!(points.len(), SPECTRUM_POINTS as usize + 1);
        assert_eq!(points[0], (0.0, 1.0));
        assert!((points[SPECTRUM_POINTS as usize].1 - 400.0).abs() < 0.5);
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn over_time_has_a_bar_per_busy_interval_and_two_lines() {
        let (mut record, _) = fixture::sample();
        let text = svg(|out| over_time(out, &record));
        assert_eq!(text.matches(r#"<rect class="bar""#).count(), 3);
        assert_eq!(text.matches("<polyline ").count(), 2);
        assert!(text.contains(">Seconds since the start</text>"));
        // Interval 0 has 10 + 5 data-plane completions in one second.
        let slices = slices(&record);
        assert_eq!(slices[0].rate, 15.0);
        assert_eq!(slices[2].from, 2.0);
        record.intervals.clear();
        assert!(!svg(|out| over_time(out, &record)).contains("<svg"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(3.0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(4.2), [0.0, 2.0, 4.0, 6.0]);
        assert_eq!(ticks(0.0), [0.0, 0.5, 1.0]);
        assert_eq!(*ticks(5001.2).last().unwrap(), 6000.0);
        assert_eq!(
            decades(0.8, 5001.2),
            [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
        );
        assert_eq!(decades(1.0, 1.0), [1.0, 10.0]);
        assert_eq!(decades(f64::INFINITY, 0.0), [1.0, 10.0]);
        let log = Scale::Log {
            min: 0.1,
            max: 1000.0,
        };
        assert_eq!(log.fraction(0.1), 0.0);
        assert_eq!(log.fraction(0.01), 0.0);
        assert!((log.fraction(10.0) - 0.5).abs() < 1e-12);
    }
}
