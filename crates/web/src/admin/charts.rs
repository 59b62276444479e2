//! Bar charts drawn as SVG on the server, without a script: columns of messages per day stacked
//! by channel, and one horizontal bar per channel. The colours come from the stylesheet
//! (`.bar-<channel>`); every chart is an image named by its title, and every bar carries its
//! figure as a tooltip. The figures themselves are in tables beside the charts.

use maud::{html, Markup};

use crate::page::channel_label;

/// The channels in the order the charts stack and list them.
pub const CHANNELS: [&str; 5] = ["sms", "email", "portal", "whatsapp", "call"];

/// One day's column: its date (`YYYY-MM-DD`) and each channel's count in [`CHANNELS`] order.
pub struct Column {
    /// The day.
    pub day: String,
    /// The counts, in [`CHANNELS`] order.
    pub counts: [u64; 5],
}

/// One channel's horizontal bar: its length and the words beside it.
pub struct Bar {
    /// The channel's wire name.
    pub channel: &'static str,
    /// What the bar's length shows.
    pub value: u64,
    /// The figure written beside the bar.
    pub label: String,
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `max` (at least 1): the top of a chart's scale.
fn scale_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let top = step.saturating_mul(factor);
            if top >= max || top == u64::MAX {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A column's messages, all channels together.
fn total(column: &Column) -> u64 {
    column
        .counts
        .iter()
        .fold(0, |sum, count| sum.saturating_add(*count))
}

/// The channels of a column with a count, each with the count stacked below it.
fn stack(counts: &[u64; 5]) -> Vec<(&'static str, u64, u64)> {
    let mut below = 0u64;
    let mut stacked = Vec::new();
    for (channel, count) in CHANNELS.into_iter().zip(*counts) {
        if count > 0 {
            stacked.push((channel, below, count));
            below = below.saturating_add(count);
        }
    }
    stacked
}

/// A coordinate as SVG text.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

/// The chart's width and height in its own units (it scales to the page's width).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
/// Room for the scale on the left and the dates below.
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// Columns of messages per day, each stacked by channel, with the scale and the first, middle
/// and last dates.
pub fn stacked_days(id: &str, title: &str, columns: &[Column]) -> Markup {
    let top = scale_top(columns.iter().map(total).max().unwrap_or(0));
    let (plot_width, plot_height) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let slot = plot_width / columns.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let height = |count: u64| count as f64 / top as f64 * plot_height;
    let baseline = TOP + plot_height;
    let labelled: Vec<usize> = match columns.len() {
        0 => vec![],
        1 => vec![0],
        n => vec![0, n / 2, n - 1],
    };
    let title_id = format!("{id}-title");
    html! {
        svg.chart.columns id=(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby=(title_id) {
            title id=(title_id) { (title) }
            @for (value, y) in [(0, baseline), (top, TOP)] {
                line.grid x1=(at(LEFT)) x2=(at(WIDTH - RIGHT)) y1=(at(y)) y2=(at(y)) {}
                text.axis x=(at(LEFT - 6.0)) y=(at(y + 4.0)) text-anchor="end" { (value) }
            }
            @for (i, column) in columns.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                g.day {
                    title { (column.day) ": " (total(column)) " messages" }
                    @for (channel, below, count) in stack(&column.counts) {
                        rect class={ "bar-" (channel) } x=(at(x)) y=(at(baseline - height(below.saturating_add(count))))
                            width=(at(bar)) height=(at(height(count))) {
                            title { (column.day) ": " (count) " " (channel_label(channel)) }
                        }
                    }
                }
            }
            @for i in labelled {
                @let anchor = if i == 0 { "start" } else if i + 1 == columns.len() { "end" } else { "middle" };
                @let x = if i == 0 { LEFT } else if i + 1 == columns.len() { WIDTH - RIGHT } else { LEFT + slot * (i as f64 + 0.5) };
                text.axis x=(at(x)) y=(at(HEIGHT - 6.0)) text-anchor=(anchor) {
                    (columns[i].day.get(5..).unwrap_or(&columns[i].day))
                }
            }
        }
    }
}

/// The width of [`bars`] in its own units: narrow, so that its words stay readable on a phone.
const BARS_WIDTH: f64 = 360.0;
/// Height of one bar's row in [`bars`]: its words, then the bar.
const ROW: f64 = 46.0;

/// One horizontal bar per channel, scaled to the largest value, each under its channel's name
/// and figure.
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let top = scale_top(bars.iter().map(|b| b.value).max().unwrap_or(0));
    let height = ROW * bars.len() as f64;
    let title_id = format!("{id}-title");
    html! {
        svg.chart.bars id=(id) viewBox={ "0 0 " (BARS_WIDTH) " " (at(height)) } role="img" aria-labelledby=(title_id) {
            title id=(title_id) { (title) }
            @for (i, b) in bars.iter().enumerate() {
                @let y = ROW * i as f64;
                @let length = b.value as f64 / top as f64 * BARS_WIDTH;
                text.figure x="0" y=(at(y + 15.0)) {
                    tspan.channel { (channel_label(b.channel)) } " " (b.label)
                }
                line.grid x1="0" x2=(at(BARS_WIDTH)) y1=(at(y + 36.0)) y2=(at(y + 36.0)) {}
                rect class={ "bar-" (b.channel) } x="0" y=(at(y + 22.0)) width=(at(length)) height="14" {
                    title { (channel_label(b.channel)) ": " (b.label) }
                }
            }
        }
    }
}

/// The colour of each channel, as the stacked chart uses them.
pub fn legend() -> Markup {
    html! {
        ul.legend {
            @for channel in CHANNELS {
                li {
                    svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false" {
                        rect class={ "bar-" (channel) } width="12" height="12" rx="2" {}
                    }
                    (channel_label(channel))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_end_on_a_round_number() {
        assert_eq!(scale_top(0), 1);
        assert_eq!(scale_top(1), 1);
        assert_eq!(scale_top(3), 5);
        assert_eq!(scale_top(7), 10);
        assert_eq!(scale_top(11), 20);
        assert_eq!(scale_top(2_000), 2_000);
        assert_eq!(scale_top(u64::MAX), u64::MAX);
    }

    #[test]
    fn stacked_columns_sit_on_each_other() {
        let chart = stacked_days(
            "c",
            "Messages",
            &[Column {
                day: "2026-03-02".into(),
                counts: [2, 0, 3, 0, 0],
            }],
        )
        .into_string();
        // Scale 5 over 204 units: SMS from the baseline up 81.6, portal above it to the top.
        assert!(
            chart.contains(r#"class="bar-sms" x="142.4" y="132.4" width="403.2" height="81.6""#)
        );
        assert!(
            chart.contains(r#"class="bar-portal" x="142.4" y="10.0" width="403.2" height="122.4""#)
        );
        assert!(!chart.contains("bar-email"));
        assert!(chart.contains("2026-03-02: 5 messages"));
    }
}
