//! The status page at `/` on the metrics port: for a person without
//! Grafana, what the instance runs and how it is doing. Plain HTML, inline
//! style, no script and no external asset; every text that comes from rule
//! files (titles are user content) or the system is escaped.
//!
//! The page is rendered from a [`Snapshot`] of the instance, which the HTTP
//! endpoint takes when the page is asked for: this module knows nothing of
//! where the figures come from.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::Engine;
use crate::flood::{Demotion, FloodGuardConfig};
use crate::pipeline::observed::RuleAlertCounts;
use crate::pipeline::phase::Phase;
use crate::reload::{History, Outcome};
use crate::rules::Status;

/// What the page shows, taken at one moment.
#[derive(Clone)]
pub struct Snapshot {
    /// The kestrel version.
    pub version: &'static str,
    /// The engine serving now (its rules and ruleset hash).
    pub engine: Arc<Engine>,
    /// Where the rules are read from.
    pub rules_dir: PathBuf,
    /// Ready to take traffic, or why not.
    pub ready: Result<(), String>,
    /// Where the at-least-once consumer is; `None` in exactly-once.
    pub phase: Option<Phase>,
    /// Messages taken from the input topics.
    pub posts_consumed: u64,
    /// Bad posts sent to the dead-letter topic.
    pub dead_letters: u64,
    /// Posts consumed and not finished yet.
    pub in_flight: u64,
    /// Input partitions assigned.
    pub partitions: usize,
    /// Alerts per rule id.
    pub alerts: BTreeMap<String, RuleAlertCounts>,
    /// Consumer lag per topic and partition.
    pub lag: BTreeMap<(String, i32), i64>,
    /// Rules the flood guard holds in shadow.
    pub demotions: Vec<Demotion>,
    /// The flood guard's settings.
    pub flood: FloodGuardConfig,
    /// Reload counts and recent attempts.
    pub history: History,
    /// Whether `POST /flood/reset` is on (a reset token is configured).
    pub reset_enabled: bool,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
fn url_param(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn time_of(unix: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .map(|t| format!("{} UTC", crate::alert::date_and_time(t, ' ')))
        .unwrap_or_else(|_| "-".into())
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}\
th{background:#f4f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.ok{color:#0a7a2f;font-weight:600}.bad{color:#b3261e;font-weight:600}.warn{color:#9a5b00;font-weight:600}\
.muted{color:#666}code{font-size:.92em}.cards{display:flex;gap:.8em;flex-wrap:wrap}\
.card{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;min-width:9em}.card b{display:block;font-size:1.3em}\
form{margin:0}button{font:inherit;padding:.1em .6em}";

/// The page.
pub fn render(s: &Snapshot) -> String {
    let set = s.engine.rule_set();
    let alerts = &s.alerts;
    let demotions = &s.demotions;
    let history = &s.history;
    let flood = &s.flood;

    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str(
        "<meta name=\"viewport\" content=\"width=device-width\"><title>kestrel status</title>",
    );
    let _ = write!(h, "<style>{STYLE}</style></head><body>");
    let _ = write!(
        h,
        "<h1>kestrel {}</h1><p class=\"muted\">ruleset <code>{}</code> · rules from <code>{}</code> · page generated {}</p>",
        escape(s.version),
        escape(&set.hash),
        escape(&s.rules_dir.display().to_string()),
        time_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        )
    );
    let ready = match &s.ready {
        Ok(()) => "<span class=\"ok\">ready</span>".to_string(),
        Err(why) => format!("<span class=\"bad\">not ready: {}</span>", escape(why)),
    };
    let total_alerts: u64 = alerts
        .values()
        .flat_map(|a| a.counts.iter().map(|(_, n)| *n))
        .sum();
    h.push_str("<div class=\"cards\">");
    let mut cards = vec![("state", ready)];
    if let Some(phase) = s.phase {
        cards.push(("consumer", phase.as_str().to_string()));
    }
    cards.extend([
        ("posts consumed", s.posts_consumed.to_string()),
        ("alerts published", total_alerts.to_string()),
        ("dead letters", s.dead_letters.to_string()),
        ("in flight", s.in_flight.to_string()),
        ("partitions", s.partitions.to_string()),
        ("rules demoted", demotions.len().to_string()),
    ]);
    for (label, value) in cards {
        let _ = write!(h, "<div class=\"card\">{label}<b>{value}</b></div>");
    }
    h.push_str("</div>");

    // Rules.
    let _ = write!(
        h,
        "<h2>Rules ({})</h2><table><tr><th>rule</th><th>rev</th><th>status</th><th>category</th><th>severity</th><th>title</th><th>alerts, last hour</th><th>alerts since start</th></tr>",
        set.rules.len()
    );
    for r in &set.rules {
        let a = alerts.get(&r.id);
        let hour = a.map_or(0, |a| a.last_hour);
        let total: u64 = a.map_or(0, |a| a.counts.iter().map(|(_, n)| *n).sum());
        let status = if demotions.iter().any(|d| d.rule_id == r.id) {
            "<span class=\"bad\">demoted to shadow (flood guard)</span>".to_string()
        } else {
            match r.status {
                Status::Active => "<span class=\"ok\">active</span>".to_string(),
                Status::Shadow => "<span class=\"warn\">shadow</span>".to_string(),
                Status::Disabled => "<span class=\"muted\">disabled</span>".to_string(),
            }
        };
        let _ = write!(
            h,
            "<tr id=\"rule-{}\"><td><code>{}</code></td><td class=\"n\">{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{hour}</td><td class=\"n\">{total}</td></tr>",
            escape(&r.id),
            escape(&r.id),
            r.revision,
            r.category,
            r.severity,
            escape(&r.title)
        );
    }
    h.push_str("</table>");

    // Flood guard.
    let _ = write!(
        h,
        "<h2>Flood guard</h2><p class=\"muted\">A rule that raises more than its ceiling of alerts within {} s is published as shadow until its revision changes or it is reset. Default ceiling: {}.</p>",
        flood.window_secs,
        if flood.max_alerts_per_window == 0 {
            "none".to_string()
        } else {
            flood.max_alerts_per_window.to_string()
        }
    );
    if demotions.is_empty() {
        h.push_str("<p>No rule is demoted.</p>");
    } else {
        h.push_str("<table><tr><th>rule</th><th>rev</th><th>demoted since</th><th>ceiling</th><th>alerts shadowed</th><th></th></tr>");
        for d in demotions {
            // The reset needs the token: the form asks for it. Without a
            // token configured the endpoint is off, and the page says so.
            let reset_form = if s.reset_enabled {
                format!(
                    "<form method=\"post\" action=\"/flood/reset?rule={}\"><input type=\"password\" name=\"token\" placeholder=\"reset token\" autocomplete=\"off\" required> <button type=\"submit\">reset</button></form>",
                    escape(&url_param(&d.rule_id))
                )
            } else {
                "<span class=\"muted\">reset: SIGUSR1, or set [metrics] reset_token</span>"
                    .to_string()
            };
            let _ = write!(
                h,
                "<tr class=\"demotion\"><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&d.rule_id),
                d.revision,
                time_of(d.since_unix as f64),
                d.ceiling,
                d.shadowed_alerts,
                reset_form
            );
        }
        h.push_str("</table>");
    }

    // Reloads.
    let _ = write!(
        h,
        "<h2>Reloads</h2><p class=\"muted\">{} succeeded, {} unchanged, {} failed · last success {}</p>",
        history.success,
        history.unchanged,
        history.error,
        time_of(history.last_success_unix)
    );
    if history.recent.is_empty() {
        h.push_str("<p>No reload since start.</p>");
    } else {
        h.push_str("<table><tr><th>when</th><th>trigger</th><th>result</th><th>detail</th></tr>");
        for a in &history.recent {
            let (result, detail) = match &a.outcome {
                Outcome::Swapped { ruleset, rules, .. } => (
                    "<span class=\"ok\">reloaded</span>",
                    format!("{rules} rules, <code>{}</code>", escape(ruleset)),
                ),
                Outcome::Unchanged { ruleset } => {
                    ("unchanged", format!("<code>{}</code>", escape(ruleset)))
                }
                Outcome::Failed { problems } => (
                    "<span class=\"bad\">failed; previous rules kept</span>",
                    problems
                        .iter()
                        .map(|p| format!("<code>{}</code>", escape(p)))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ),
            };
            let _ = write!(
                h,
                "<tr class=\"reload\"><td>{}</td><td>{}</td><td>{result}</td><td>{detail}</td></tr>",
                time_of(a.at_unix),
                a.cause.as_str()
            );
        }
        h.push_str("</table>");
    }

    // Lag.
    let lag = &s.lag;
    h.push_str("<h2>Consumer lag</h2>");
    if lag.is_empty() {
        h.push_str("<p>No lag reported yet (librdkafka reports it every few seconds once partitions are assigned).</p>");
    } else {
        h.push_str("<table><tr><th>topic</th><th>partition</th><th>messages behind</th></tr>");
        for ((topic, p), n) in lag {
            let _ = write!(
                h,
                "<tr class=\"lag\"><td>{}</td><td class=\"n\">{p}</td><td class=\"n\">{n}</td></tr>",
                escape(topic)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<p class=\"muted\">Machine-readable: <a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(url_param("fin.a b/c"), "fin.a%20b%2Fc");
    }
}
