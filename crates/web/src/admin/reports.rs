//! Reports: over the last days, how long patients waited for the clinic's first answer, what
//! waits for an answer now, messages per day and channel and delivery failures per channel, as
//! figures, tables and bar charts drawn on the server. Reads `GET /v1/reports/summary`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use maud::{html, Markup};
use serde::Deserialize;

use super::charts::{self, Bar, Column, CHANNELS};
use super::{respond, AdminSession};
use crate::api::{Api, Backlog, FirstResponse, ReportSummary};
use crate::clock::Clock;
use crate::page::{self, channel_label, Nav};
use crate::WebState;

/// The periods the page offers, in days; 30 unless asked.
const PERIODS: [u32; 4] = [7, 30, 90, 365];

/// `?days=`: the period.
#[derive(Debug, Default, Deserialize)]
pub struct ReportsQuery {
    #[serde(default)]
    days: String,
}

/// `GET /admin/reports`.
pub async fn show(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<ReportsQuery>,
) -> Response {
    let days = query
        .days
        .parse::<u32>()
        .ok()
        .filter(|days| PERIODS.contains(days))
        .unwrap_or(30);
    let api = Api::new(&state, &session);
    let summary = api
        .get::<ReportSummary>(&format!("/reports/summary?days={days}"))
        .await;
    let status = summary
        .as_ref()
        .map_or_else(|f| f.status, |_| StatusCode::OK);
    let clock = state.clock();
    let content = html! {
        div.page-head {
            div {
                h1 { "Reports" }
                @if let Ok(summary) = &summary {
                    p.hint id="report-period" {
                        "The last " (days) " days, " (summary.from) " to " (summary.to)
                        " (UTC days). Counts and times only: no patient data."
                    }
                }
            }
            form.report-period method="get" action="/admin/reports" {
                label for="days" { "Period" }
                select id="days" name="days" {
                    @for period in PERIODS {
                        option value=(period) selected[period == days] { "Last " (period) " days" }
                    }
                }
                button.secondary type="submit" { "Show" }
            }
        }
        @match &summary {
            Err(failure) => { (page::alert(failure)) }
            Ok(summary) => {
                div.report-figures {
                    (first_response(&summary.first_response))
                    (backlog(&summary.backlog, &clock))
                }
                (messages(summary))
                (failures(summary))
            }
        }
    };
    respond(&api, &session, status, "Reports", Nav::Reports, content).await
}

/// A time span for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
fn duration(seconds: u64) -> String {
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3_600 => format!("{minutes} min"),
        3_600..86_400 if minutes % 60 == 0 => format!("{hours} h"),
        3_600..86_400 => format!("{hours} h {} min", minutes % 60),
        _ if hours % 24 == 0 => format!("{days} d"),
        _ => format!("{days} d {} h", hours % 24),
    }
}

/// A time span, or a dash with what it means.
fn duration_or(seconds: Option<u64>, none: &str) -> Markup {
    html! {
        @match seconds {
            Some(seconds) => { (duration(seconds)) }
            None => { "–" span.visually-hidden { (none) } }
        }
    }
}

fn first_response(figures: &FirstResponse) -> Markup {
    html! {
        section.card aria-labelledby="response-title" {
            h2 id="response-title" { "First response" }
            p.hint {
                "How long messages from patients waited for the clinic's first answer "
                "(a reply or a logged call)."
            }
            dl.figures {
                div { dt { "Median" } dd id="first-response-median" { (duration_or(figures.median_seconds, "none answered")) } }
                div { dt { "90 % within" } dd id="first-response-p90" { (duration_or(figures.p90_seconds, "none answered")) } }
                div { dt { "Answered" } dd id="first-response-answered" { (figures.answered) } }
                div { dt { "Not answered yet" } dd id="first-response-unanswered" { (figures.unanswered) } }
            }
        }
    }
}

fn backlog(backlog: &Backlog, clock: &Clock) -> Markup {
    html! {
        section.card aria-labelledby="backlog-title" {
            h2 id="backlog-title" { "Waiting for the clinic" }
            p.hint { "Unanswered messages from patients in conversations that are not archived, however old." }
            dl.figures {
                div { dt { "Conversations" } dd id="backlog-conversations" { (backlog.conversations) } }
                div { dt { "Messages" } dd id="backlog-messages" { (backlog.messages) } }
                div {
                    dt { "Oldest waiting" }
                    dd id="backlog-oldest" {
                        (duration_or(backlog.oldest_age_seconds, "nothing waits"))
                        @if let Some(since) = &backlog.oldest_received_at {
                            span.since { " since " (clock.absolute(since)) }
                        }
                    }
                }
            }
        }
    }
}

/// Every day of the period with each channel's entries (both directions).
fn columns(summary: &ReportSummary) -> Vec<Column> {
    let mut by_day: BTreeMap<&str, [u64; 5]> = BTreeMap::new();
    for row in &summary.daily {
        if let Some(slot) = CHANNELS.iter().position(|c| *c == row.channel) {
            let count = &mut by_day.entry(row.day.as_str()).or_default()[slot];
            *count = count.saturating_add(row.messages);
        }
    }
    let (Ok(from), Ok(to)) = (
        summary.from.parse::<NaiveDate>(),
        summary.to.parse::<NaiveDate>(),
    ) else {
        return by_day
            .into_iter()
            .map(|(day, counts)| Column {
                day: day.to_owned(),
                counts,
            })
            .collect();
    };
    from.iter_days()
        .take_while(|day| *day <= to)
        .take(366)
        .map(|day| {
            let day = day.to_string();
            let counts = by_day.get(day.as_str()).copied().unwrap_or_default();
            Column { day, counts }
        })
        .collect()
}

fn messages(summary: &ReportSummary) -> Markup {
    html! {
        section.card aria-labelledby="messages-title" {
            h2 id="messages-title" { "Messages per day" }
            p.hint { "Messages and call logs, from patients and from the clinic, by channel." }
            (charts::legend())
            (charts::stacked_days("chart-daily", "Messages per day and channel", &columns(summary)))
            div.table-wrap {
                table id="channel-totals" {
                    caption { "Per channel over the period" }
                    thead { tr {
                        th scope="col" { "Channel" }
                        th scope="col" { "From patients" }
                        th scope="col" { "From the clinic" }
                        th scope="col" { "Failed" }
                    } }
                    tbody {
                        @for totals in &summary.channels {
                            tr data-channel=(totals.channel) {
                                th scope="row" { (channel_label(&totals.channel)) }
                                td.inbound { (totals.inbound) }
                                td.outbound { (totals.outbound) }
                                td.failed { (totals.failed) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `failed of all (rate)` for a channel with a delivery status.
fn failure_label(failed: u64, of: u64) -> String {
    if of == 0 {
        return "nothing sent".to_owned();
    }
    let percent = failed as f64 * 100.0 / of as f64;
    format!("{failed} of {of} failed ({percent:.1} %)")
}

fn failures(summary: &ReportSummary) -> Markup {
    let bars: Vec<Bar> = CHANNELS
        .into_iter()
        .filter(|channel| *channel != "call")
        .map(|channel| {
            let totals = summary.channels.iter().find(|c| c.channel == channel);
            let (failed, of) = totals.map_or((0, 0), |t| (t.failed, t.with_delivery_status()));
            Bar {
                channel,
                value: failed,
                label: failure_label(failed, of),
            }
        })
        .collect();
    html! {
        section.card aria-labelledby="failures-title" {
            h2 id="failures-title" { "Delivery failures per channel" }
            p.hint {
                "The clinic's messages that could not be delivered, of those sent in the period. "
                "Call logs are never sent."
            }
            (charts::bars("chart-failures", "Delivery failures per channel", &bars))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60), "1 min");
        assert_eq!(duration(3_599), "59 min");
        assert_eq!(duration(3_600), "1 h");
        assert_eq!(duration(3_900), "1 h 5 min");
        assert_eq!(duration(86_400), "1 d");
        assert_eq!(duration(93_600), "1 d 2 h");
        assert!(duration(u64::MAX).ends_with(" h"));
    }

    #[test]
    fn failures_read_as_a_share() {
        assert_eq!(failure_label(0, 0), "nothing sent");
        assert_eq!(failure_label(1, 3), "1 of 3 failed (33.3 %)");
    }

    #[test]
    fn every_day_of_the_period_is_a_column() {
        let summary: ReportSummary = serde_json::from_value(serde_json::json!({
            "from": "2026-02-27", "to": "2026-03-02", "days": 4,
            "first_response": { "answered": 0, "unanswered": 0, "median_seconds": null, "p90_seconds": null },
            "channels": [],
            "daily": [
                { "day": "2026-02-28", "channel": "sms", "direction": "inbound", "messages": 2 },
                { "day": "2026-02-28", "channel": "sms", "direction": "outbound", "messages": 1 },
                { "day": "2026-03-02", "channel": "call", "direction": "outbound", "messages": 4 },
            ],
            "backlog": { "conversations": 0, "messages": 0, "oldest_received_at": null, "oldest_age_seconds": null },
        }))
        .unwrap();
        let columns = columns(&summary);
        let days: Vec<&str> = columns.iter().map(|c| c.day.as_str()).collect();
        assert_eq!(
            days,
            ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
        );
        assert_eq!(columns[1].counts, [3, 0, 0, 0, 0]);
        assert_eq!(columns[3].counts, [0, 0, 0, 0, 4]);
    }
}
