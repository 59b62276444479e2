//! The reporting figures the admin's report page shows, read from the reporting tables:
//! first-response percentiles (computed here, as SQLite has no percentile function), messages
//! and delivery outcomes per channel and day, and the backlog of unanswered messages.

use chrono::{DateTime, Days, NaiveDate, Utc};
use domain::{Channel, Direction};
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::sql::{Sql, Tables};
use crate::QueryError;

/// The reporting figures of a window of whole UTC days, and the backlog now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReportSummary {
    /// The first UTC day of the window.
    pub from: NaiveDate,
    /// The last UTC day of the window (today).
    pub to: NaiveDate,
    /// How many days the window spans.
    pub days: u32,
    /// How long inbound messages received in the window waited for the clinic's first answer.
    pub first_response: FirstResponse,
    /// Every channel's totals over the window, in the contract's channel order.
    pub channels: Vec<ChannelTotals>,
    /// The counts of each day, channel and direction of the window that had any message,
    /// oldest first.
    pub daily: Vec<DailyCounts>,
    /// Inbound messages still waiting for an answer in conversations that are not archived,
    /// however old.
    pub backlog: Backlog,
}

/// First-response times of the inbound messages received in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FirstResponse {
    /// How many were answered.
    pub answered: u64,
    /// How many are still unanswered (archived conversations included).
    pub unanswered: u64,
    /// The median response time in seconds (nearest rank), `null` when none was answered.
    pub median_seconds: Option<u64>,
    /// The 90th percentile in seconds (nearest rank), `null` when none was answered.
    pub p90_seconds: Option<u64>,
}

/// One channel's totals over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ChannelTotals {
    /// The channel.
    pub channel: Channel,
    /// Messages (or call logs) from the patient.
    pub inbound: u64,
    /// Messages (or call logs) from the clinic.
    pub outbound: u64,
    /// Of those with a delivery status, how many are `queued` now.
    pub queued: u64,
    /// … `sent`.
    pub sent: u64,
    /// … `delivered`.
    pub delivered: u64,
    /// … `failed`.
    pub failed: u64,
}

/// One day's counts of one channel and direction (a `report_daily` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DailyCounts {
    /// The UTC day the messages were recorded.
    pub day: NaiveDate,
    /// The channel.
    pub channel: Channel,
    /// `inbound` or `outbound`.
    pub direction: Direction,
    /// Every message or call log.
    pub messages: u64,
    /// Those whose delivery status is `queued` now.
    pub queued: u64,
    /// … `sent` now.
    pub sent: u64,
    /// … `delivered` now.
    pub delivered: u64,
    /// … `failed` now.
    pub failed: u64,
}

/// What waits for the clinic now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Backlog {
    /// Conversations (not archived) whose latest inbound messages are unanswered.
    pub conversations: u64,
    /// Their unanswered inbound messages.
    pub messages: u64,
    /// When the oldest of them was received, `null` when none waits.
    pub oldest_received_at: Option<DateTime<Utc>>,
    /// How long it has waited, in seconds, `null` when none waits.
    pub oldest_age_seconds: Option<u64>,
}

/// The nearest-rank `percent` percentile of `sorted` (ascending); `None` when it is empty.
pub(crate) fn percentile(sorted: &[u64], percent: u64) -> Option<u64> {
    let n = sorted.len() as u64;
    let rank = (percent * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn corrupt(what: &str) -> QueryError {
    QueryError::Corrupt(format!("reporting: {what}"))
}

/// The figures of the `days` UTC days up to `now`'s, and the backlog at `now`.
pub(crate) async fn summary(
    pool: &AnyPool,
    tables: &Tables,
    days: u32,
    now: DateTime<Utc>,
) -> Result<ReportSummary, QueryError> {
    let days = days.max(1);
    let to = now.date_naive();
    let from = to
        .checked_sub_days(Days::new(u64::from(days - 1)))
        .unwrap_or(NaiveDate::MIN);
    let daily = daily(pool, tables, from, to).await?;
    let channels = Channel::ALL
        .into_iter()
        .map(|channel| {
            let mut totals = ChannelTotals {
                channel,
                inbound: 0,
                outbound: 0,
                queued: 0,
                sent: 0,
                delivered: 0,
                failed: 0,
            };
            for row in daily.iter().filter(|row| row.channel == channel) {
                let entries = match row.direction {
                    Direction::Inbound => &mut totals.inbound,
                    Direction::Outbound => &mut totals.outbound,
                };
                for (total, count) in [
                    (entries, row.messages),
                    (&mut totals.queued, row.queued),
                    (&mut totals.sent, row.sent),
                    (&mut totals.delivered, row.delivered),
                    (&mut totals.failed, row.failed),
                ] {
                    *total = total.saturating_add(count);
                }
            }
            totals
        })
        .collect();
    Ok(ReportSummary {
        from,
        to,
        days,
        first_response: first_response(pool, tables, from, to).await?,
        channels,
        daily,
        backlog: backlog(pool, tables, now).await?,
    })
}

async fn daily(
    pool: &AnyPool,
    tables: &Tables,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DailyCounts>, QueryError> {
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT day, channel, direction, messages, queued, sent, delivered, failed FROM {} WHERE day >= ",
            tables.name("report_daily")
        ),
    );
    sql.text(from.to_string())
        .push(" AND day <= ")
        .text(to.to_string())
        .push(" ORDER BY day, channel, direction");
    let mut rows = Vec::new();
    for row in sql.query().fetch_all(pool).await? {
        let day: String = row.try_get(0)?;
        let channel: String = row.try_get(1)?;
        let direction: String = row.try_get(2)?;
        rows.push(DailyCounts {
            day: day.parse().map_err(|_| corrupt("day"))?,
            channel: channel.parse().map_err(|_| corrupt("channel"))?,
            direction: direction.parse().map_err(|_| corrupt("direction"))?,
            messages: count(row.try_get(3)?),
            queued: count(row.try_get(4)?),
            sent: count(row.try_get(5)?),
            delivered: count(row.try_get(6)?),
            failed: count(row.try_get(7)?),
        });
    }
    Ok(rows)
}

async fn first_response(
    pool: &AnyPool,
    tables: &Tables,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<FirstResponse, QueryError> {
    // Times are RFC 3339 text: a day's own text sorts before every time of that day.
    let after_to = to.succ_opt().unwrap_or(to);
    let mut sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT response_seconds, answered_at FROM {} WHERE received_at >= ",
            tables.name("report_first_responses")
        ),
    );
    sql.text(from.to_string())
        .push(" AND received_at < ")
        .text(after_to.to_string());
    let mut seconds = Vec::new();
    let mut unanswered = 0;
    for row in sql.query().fetch_all(pool).await? {
        let answered_at: Option<String> = row.try_get(1)?;
        match (answered_at, row.try_get::<Option<i64>, _>(0)?) {
            (Some(_), Some(s)) => seconds.push(count(s)),
            (Some(_), None) => return Err(corrupt("an answer without its response time")),
            (None, _) => unanswered += 1,
        }
    }
    seconds.sort_unstable();
    Ok(FirstResponse {
        answered: seconds.len() as u64,
        unanswered,
        median_seconds: percentile(&seconds, 50),
        p90_seconds: percentile(&seconds, 90),
    })
}

async fn backlog(
    pool: &AnyPool,
    tables: &Tables,
    now: DateTime<Utc>,
) -> Result<Backlog, QueryError> {
    let sql = Sql::new(
        tables.dialect(),
        format!(
            "SELECT count(*), count(DISTINCT r.conversation_id), min(r.received_at) FROM {} r JOIN {} c ON c.conversation_id = r.conversation_id WHERE r.answered_at IS NULL AND c.archived = 0",
            tables.name("report_first_responses"),
            tables.name("report_conversations"),
        ),
    );
    let row = sql.query().fetch_one(pool).await?;
    let oldest: Option<String> = row.try_get(2)?;
    let oldest = oldest
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| corrupt("received_at"))
        })
        .transpose()?;
    Ok(Backlog {
        messages: count(row.try_get(0)?),
        conversations: count(row.try_get(1)?),
        oldest_received_at: oldest,
        oldest_age_seconds: oldest.map(|t| count((now - t).num_seconds())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        let eleven: Vec<u64> = (1..=11).collect();
        assert_eq!(percentile(&eleven, 50), Some(6));
        assert_eq!(percentile(&eleven, 90), Some(10));
    }
}
