//! Minimal SVG charts: a line through points and sorted bars, with axes and labels. No
//! dependency, so the plots open in any browser.

use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const MARGIN: f64 = 60.0;

fn frame(title: &str, x_label: &str, y_label: &str, x_max: f64, y_max: f64) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    let (left, bottom, right, top) = (MARGIN, HEIGHT - MARGIN, WIDTH - 20.0, 40.0);
    let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"black\"/>");
    let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{left}\" y2=\"{top}\" stroke=\"black\"/>");
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let x = left + f * (right - left);
        let y = bottom - f * (bottom - top);
        let _ =
            writeln!(svg, "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>", bottom + 16.0, tick(f * x_max));
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            tick(f * y_max)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        HEIGHT - 16.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>",
        HEIGHT / 2.0,
        HEIGHT / 2.0,
        escape(y_label)
    );
    svg
}

fn tick(value: f64) -> String {
    if value >= 100.0 || value == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn scale(points: &[(f64, f64)]) -> (f64, f64) {
    let x = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
    let y = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
    (x, y)
}

/// A line chart of `points` (x, y), both from 0.
pub fn line(title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    let (x_max, y_max) = scale(points);
    let mut svg = frame(title, x_label, y_label, x_max, y_max);
    if points.is_empty() {
        let _ =
            writeln!(svg, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>", WIDTH / 2.0, HEIGHT / 2.0);
    } else {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| {
                let px = MARGIN + x / x_max * (WIDTH - 20.0 - MARGIN);
                let py = HEIGHT - MARGIN - y / y_max * (HEIGHT - MARGIN - 40.0);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A bar per value, in the given order.
pub fn bars(title: &str, x_label: &str, y_label: &str, values: &[f64]) -> String {
    let y_max = values.iter().copied().fold(0.0, f64::max).max(1e-9);
    let mut svg = frame(title, x_label, y_label, values.len() as f64, y_max);
    let width = (WIDTH - 20.0 - MARGIN) / values.len().max(1) as f64;
    for (i, value) in values.iter().enumerate() {
        let height = value / y_max * (HEIGHT - MARGIN - 40.0);
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{height:.1}\" fill=\"#ff7f0e\"/>",
            MARGIN + i as f64 * width,
            HEIGHT - MARGIN - height,
            width.max(0.5)
        );
    }
    svg.push_str("</svg>\n");
    svg
}
