//! Charts drawn on the server as inline SVG (no script, no CDN): bars of calls per interval with
//! their 4xx and 5xx, and lines of latency percentiles. Each has a text summary for screen readers.

use maud::{Markup, PreEscaped, html};

const W: f64 = 720.0;
const H: f64 = 160.0;
const PAD: f64 = 28.0;

/// One interval: calls, 4xx, 5xx, p50, p95, p99 (milliseconds; `None` when no call).
pub struct Point {
    pub calls: u64,
    pub client_errors: u64,
    pub errors: u64,
    pub p: [Option<f64>; 3],
}

fn frame(title: &str, max: &str, body: String) -> Markup {
    let svg = format!(
        r##"<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{title}" class="chart"><line x1="{PAD}" y1="{y0}" x2="{W}" y2="{y0}" stroke="#aab1bf"/><text x="0" y="12" font-size="11" fill="#5b6475">{max}</text><text x="0" y="{y0}" font-size="11" fill="#5b6475">0</text>{body}</svg>"##,
        y0 = H - 2.0,
        max = escape(max),
        title = escape(title),
    );
    html! { (PreEscaped(svg)) }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// Calls per interval as bars, the 5xx in red and the 4xx in amber at their foot.
pub fn calls(points: &[Point]) -> Markup {
    let max = points.iter().map(|p| p.calls).max().unwrap_or(0).max(1) as f64;
    let n = points.len().max(1) as f64;
    let step = (W - PAD) / n;
    let scale = |v: u64| (v as f64 / max) * (H - 16.0);
    let mut body = String::new();
    for (i, p) in points.iter().enumerate() {
        let x = PAD + i as f64 * step;
        let w = (step - 1.0).max(1.0);
        for (v, colour) in [
            (p.calls, "#7a1f1f55"),
            (p.client_errors + p.errors, "#8a5a00"),
            (p.errors, "#a12020"),
        ] {
            let h = scale(v);
            if h > 0.0 {
                body.push_str(&format!(r#"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" fill="{colour}"/>"#, H - 2.0 - h));
            }
        }
    }
    frame(
        "Calls per interval, 4xx and 5xx",
        &format!("{max:.0}"),
        body,
    )
}

/// p50, p95 and p99 latency per interval as three lines.
pub fn latency(points: &[Point]) -> Markup {
    let max = points
        .iter()
        .flat_map(|p| p.p.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b))
        .max(1.0);
    let n = points.len().max(2) as f64 - 1.0;
    let x = |i: usize| PAD + i as f64 * (W - PAD) / n;
    let y = |v: f64| H - 2.0 - (v / max) * (H - 16.0);
    let mut body = String::new();
    for (k, colour) in [(0, "#1f6f3a"), (1, "#8a5a00"), (2, "#a12020")] {
        let pts: Vec<String> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.p[k].map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect();
        if !pts.is_empty() {
            body.push_str(&format!(
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                pts.join(" ")
            ));
        }
    }
    frame(
        "Latency p50, p95, p99 per interval",
        &format!("{max:.0} ms"),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_a_shape_per_interval() {
        let points: Vec<Point> = (0..3)
            .map(|i| Point {
                calls: 10 * (i + 1),
                client_errors: i,
                errors: 1,
                p: [Some(1.0), Some(2.0), Some(3.0 + i as f64)],
            })
            .collect();
        let bars = calls(&points).into_string();
        assert_eq!(bars.matches("<rect").count(), 3 * 3, "{bars}");
        let lines = latency(&points).into_string();
        assert_eq!(lines.matches("<polyline").count(), 3);
        assert!(lines.contains("aria-label=\"Latency"));
    }
}
