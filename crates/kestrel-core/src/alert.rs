//! Alerts out: one JSON object per post and rule that fired
//! (`kestrel.alert.v1`), written straight into a byte buffer.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::engine::{Evidence, Firing, Matches};
use crate::post::Post;
use crate::rules::{Rule, RuleSet};

/// The schema tag every alert carries.
pub const SCHEMA: &str = "kestrel.alert.v1";

/// How much of each evidence span goes into an alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceMode {
    /// The span's text as posted.
    #[default]
    Full,
    /// The first and last characters of the span, the rest as `*`.
    Masked,
    /// No text; offsets only.
    None,
}

/// Where a post came from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A JSONL file (`-` for stdin) and a 1-based line number.
    File {
        /// The file as named on the command line.
        file: &'a str,
        /// Line number.
        line: u64,
    },
    /// A Kafka message.
    Kafka {
        /// Topic.
        topic: &'a str,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
}

/// The deterministic id of the alert of `rule` on `post_id`: the same post,
/// rule id and revision always give the same id, so consumers can drop the
/// duplicates that at-least-once delivery allows.
pub fn alert_id(post_id: &str, rule_id: &str, revision: u32) -> String {
    let mut h = Sha256::new();
    h.update(post_id.as_bytes());
    h.update([0x1f]);
    h.update(rule_id.as_bytes());
    h.update([0x1f]);
    h.update(revision.to_string().as_bytes());
    let d = h.finalize();
    crate::rules::hex_digest(&d[..16])
}

/// The current time as an RFC 3339 UTC timestamp with milliseconds.
pub fn now_rfc3339() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{}.{:03}Z", date_and_time(t, 'T'), t.millisecond())
}

/// Normalises a post's time to RFC 3339 UTC where its form is known (RFC 3339,
/// `M/D/YYYY H:MM[:SS]`, Unix seconds or milliseconds); anything else is
/// copied as it is.
pub fn normalize_post_time(raw: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(raw, &Rfc3339) {
        return utc_seconds_or_millis(t);
    }
    if let Ok(n) = raw.parse::<i64>() {
        let t = if n.abs() >= 100_000_000_000 {
            time::OffsetDateTime::from_unix_timestamp_nanos(n as i128 * 1_000_000)
        } else {
            time::OffsetDateTime::from_unix_timestamp(n)
        };
        if let Ok(t) = t {
            return utc_seconds_or_millis(t);
        }
    }
    if let Some(t) = parse_us_datetime(raw) {
        return t;
    }
    raw.to_string()
}

/// RFC 3339 UTC, with milliseconds only when there are some.
fn utc_seconds_or_millis(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if t.millisecond() == 0 {
        format!("{}Z", date_and_time(t, 'T'))
    } else {
        format_time(t)
    }
}

/// `YYYY-MM-DD`, `sep`, `HH:MM:SS` of `t` as it is (no zone).
pub fn date_and_time(t: time::OffsetDateTime, sep: char) -> String {
    format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn parse_us_datetime(raw: &str) -> Option<String> {
    let (date, clock) = raw.trim().split_once(' ')?;
    let mut d = date.split('/');
    let month: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let year: i32 = d.next()?.parse().ok()?;
    let mut c = clock.split(':');
    let hour: u8 = c.next()?.parse().ok()?;
    let minute: u8 = c.next()?.parse().ok()?;
    let second: u8 = c.next().map(|s| s.parse().ok()).unwrap_or(Some(0))?;
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(hour, minute, second).ok()?;
    Some(utc_seconds_or_millis(date.with_time(t).assume_utc()))
}

/// Writes alerts (one JSON line each) for every firing of a scan.
pub struct AlertWriter<'a> {
    /// The rule set the engine was built from.
    pub set: &'a RuleSet,
    /// Evidence text mode.
    pub evidence: EvidenceMode,
    /// `detected_at`, shared by the alerts of one batch.
    pub detected_at: &'a str,
}

impl AlertWriter<'_> {
    /// Appends one alert as a JSON object (no newline) to `out`;
    /// `demoted_by` names what demoted it to shadow (the `demoted` member).
    pub fn write_one(
        &self,
        out: &mut Vec<u8>,
        post: &Post<'_>,
        matches: &Matches,
        firing: &Firing,
        source: Source<'_>,
        demoted_by: Option<&str>,
    ) {
        let rule: &Rule = &self.set.rules[firing.rule];
        out.extend_from_slice(b"{\"schema\":\"");
        out.extend_from_slice(SCHEMA.as_bytes());
        out.extend_from_slice(b"\",\"alert_id\":\"");
        out.extend_from_slice(alert_id(&post.id, &rule.id, rule.revision).as_bytes());
        out.extend_from_slice(b"\",\"post_id\":");
        json_str(out, &post.id);
        if let Some(t) = &post.time {
            out.extend_from_slice(b",\"post_time\":");
            json_str(out, &normalize_post_time(t));
        }
        out.extend_from_slice(b",\"rule\":{\"id\":");
        json_str(out, &rule.id);
        out.extend_from_slice(b",\"revision\":");
        push_uint(out, u64::from(rule.revision));
        out.extend_from_slice(b",\"title\":");
        json_str(out, &rule.title);
        out.extend_from_slice(b",\"category\":\"");
        out.extend_from_slice(rule.category.as_str().as_bytes());
        out.extend_from_slice(b"\",\"severity\":\"");
        out.extend_from_slice(firing.severity.as_str().as_bytes());
        out.extend_from_slice(b"\",\"tags\":[");
        for (i, t) in rule.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, t);
        }
        out.extend_from_slice(b"]}");
        if let Some(g) = firing.escalated_by.and_then(|i| rule.escalate.get(i)) {
            out.extend_from_slice(b",\"escalated_by\":");
            json_str(out, &g.when_src);
        }
        out.extend_from_slice(if firing.shadow {
            b",\"shadow\":true,\"evidence\":["
        } else {
            b",\"shadow\":false,\"evidence\":["
        });
        for (i, e) in matches.evidence[firing.evidence.clone()].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_evidence(out, post, rule, e);
        }
        out.push(b']');
        if firing.evidence_omitted > 0 {
            let _ = write!(out, ",\"evidence_omitted\":{}", firing.evidence_omitted);
        }
        out.extend_from_slice(b",\"ruleset\":");
        json_str(out, &self.set.hash);
        out.extend_from_slice(b",\"source\":");
        match source {
            Source::File { file, line } => {
                out.extend_from_slice(b"{\"file\":");
                json_str(out, file);
                out.extend_from_slice(b",\"line\":");
                push_uint(out, line);
                out.push(b'}');
            }
            Source::Kafka {
                topic,
                partition,
                offset,
            } => {
                out.extend_from_slice(b"{\"topic\":");
                json_str(out, topic);
                let _ = write!(out, ",\"partition\":{partition},\"offset\":{offset}}}");
            }
        }
        out.extend_from_slice(b",\"detected_at\":\"");
        out.extend_from_slice(self.detected_at.as_bytes());
        out.push(b'"');
        if let Some(by) = demoted_by {
            out.extend_from_slice(b",\"demoted\":");
            json_str(out, by);
        }
        out.push(b'}');
    }

    fn write_evidence(&self, out: &mut Vec<u8>, post: &Post<'_>, rule: &Rule, e: &Evidence) {
        let (field, text) = &post.fields[e.field as usize];
        out.extend_from_slice(b"{\"term\":");
        json_str(out, &rule.terms[e.term as usize].name);
        out.extend_from_slice(b",\"field\":");
        json_str(out, field);
        out.extend_from_slice(b",\"start\":");
        push_uint(out, e.start as u64);
        out.extend_from_slice(b",\"end\":");
        push_uint(out, e.end as u64);
        let span = text.get(e.start as usize..e.end as usize).unwrap_or("");
        match self.evidence {
            EvidenceMode::Full => {
                out.extend_from_slice(b",\"text\":");
                json_str(out, span);
            }
            EvidenceMode::Masked => {
                out.extend_from_slice(b",\"text\":");
                json_str(out, &mask(span));
            }
            EvidenceMode::None => {}
        }
        if let Some(k) = e.indicator {
            out.extend_from_slice(b",\"indicator\":\"");
            out.extend_from_slice(k.name().as_bytes());
            out.push(b'"');
        }
        if let Some(n) = e.note {
            out.extend_from_slice(b",\"note\":");
            json_str(out, n);
        }
        out.push(b'}');
    }
}

/// Keeps the first and last characters of a span; the rest become `*`.
pub fn mask(span: &str) -> String {
    let n = span.chars().count();
    if n <= 2 {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(span.len());
    for (i, c) in span.chars().enumerate() {
        if i == 0 || i == n - 1 {
            out.push(c);
        } else {
            out.push('*');
        }
    }
    out
}

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most strings (ids, rule names, evidence words) need no escape: copy
    // them. serde_json escapes exactly the quote, the backslash and the
    // control characters, and writes everything else as it is.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Writes `n` in decimal, as `write!` would, without the formatting machinery.
fn push_uint(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "quote \" inside",
            "back\\slash",
            "tab\tnew\nline\r",
            "\u{0}\u{1f}\u{7f}",
            "ünïcödé العربية ру́сский",
            "\u{2028}\u{2029}\u{200b}",
            "emoji 🗡️",
        ] {
            let mut out = Vec::new();
            json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
        for n in [0u64, 7, 10, 99, 1234567, u64::MAX] {
            let mut out = Vec::new();
            push_uint(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn alert_ids_are_deterministic_and_depend_on_each_part() {
        let a = alert_id("1179", "fin.x", 3);
        assert_eq!(a, alert_id("1179", "fin.x", 3));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id("1179", "fin.x", 4));
        assert_ne!(a, alert_id("1178", "fin.x", 3));
        assert_ne!(a, alert_id("1179", "fin.y", 3));
        // The separator keeps ("ab","c") apart from ("a","bc").
        assert_ne!(alert_id("ab", "c", 1), alert_id("a", "bc", 1));
    }

    #[test]
    fn post_times_are_normalised_when_their_form_is_known() {
        assert_eq!(
            normalize_post_time("1/6/2015 21:07"),
            "2015-01-06T21:07:00Z"
        );
        assert_eq!(
            normalize_post_time("2015-01-06T22:07:00+01:00"),
            "2015-01-06T21:07:00Z"
        );
        assert_eq!(normalize_post_time("1420578420"), "2015-01-06T21:07:00Z");
        assert_eq!(
            normalize_post_time("1420578420123"),
            "2015-01-06T21:07:00.123Z"
        );
        assert_eq!(normalize_post_time("last tuesday"), "last tuesday");
    }

    #[test]
    fn masking_keeps_first_and_last_characters() {
        assert_eq!(mask("Donate"), "D****e");
        assert_eq!(mask("ab"), "**");
        assert_eq!(mask("تبرع"), "ت**ع");
    }
}
