//! The Prometheus metrics of `kestrel run`, and the HTTP endpoint that
//! serves them with the health checks and the status page.
//!
//! Nothing is counted twice: every family is read at scrape time from where
//! the event is already counted (the pipeline's
//! [`Counters`](crate::pipeline::Counters) and their
//! [`Observed`](crate::pipeline::observed::Observed) part, the
//! reload [`History`](crate::reload::History), the
//! [`FloodGuard`](crate::flood::FloodGuard)). Label values are bounded: rule
//! ids, categories, severities, topics and partitions, reasons and results;
//! never a post id.

pub mod http;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};

use crate::pipeline::counters::{Counters, LATENCY_BOUNDS_MS};
use crate::pipeline::phase::Phase;
use crate::post::BadPost;
use crate::reload::ServingRules;
use crate::rules::Status;

/// The version in `kestrel_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a scrape reads.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The pipeline's counters.
    pub counters: std::sync::Arc<Counters>,
    /// The rules serving, their reload history and flood guard.
    pub rules: std::sync::Arc<ServingRules>,
    /// `[metrics] reset_token`: `POST /flood/reset` is off without one.
    pub reset_token: Option<String>,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(n, v)| {
            let mut l = LabelPair::default();
            l.set_name(n.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn counter(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::default();
    m.set_label(labels(pairs));
    m.set_counter(c);
    m
}

fn gauge(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::default();
    m.set_label(labels(pairs));
    m.set_gauge(g);
    m
}

/// Every metric family, in name order.
pub fn gather(s: &Sources) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE};
    let c = &s.counters;
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let mut out = Vec::new();

    out.push(family(
        "kestrel_build_info",
        "Always 1; the kestrel version as a label.",
        GAUGE,
        vec![gauge(&[("version", VERSION)], 1.0)],
    ));

    // Posts.
    out.push(family(
        "kestrel_posts_consumed_total",
        "Messages taken from the input topics.",
        COUNTER,
        vec![counter(&[], l(&c.posts_consumed))],
    ));
    out.push(family(
        "kestrel_scanned_bytes_total",
        "Bytes of message values taken from the input topics for scanning, bad inputs included.",
        COUNTER,
        vec![counter(&[], l(&c.bytes_consumed))],
    ));
    let scanned = c.posts_scanned.load(Ordering::Relaxed);
    let alerted = c.posts_with_alerts.load(Ordering::Relaxed);
    out.push(family(
        "kestrel_posts_scanned_total",
        "Posts by outcome: scanned and alerted, scanned and clean, or a bad input sent to the dead-letter topic.",
        COUNTER,
        vec![
            counter(&[("outcome", "alerted")], alerted as f64),
            counter(&[("outcome", "clean")], scanned.saturating_sub(alerted) as f64),
            counter(&[("outcome", "dead_letter")], c.bad_posts_total() as f64),
        ],
    ));
    out.push(family(
        "kestrel_posts_finished_total",
        "Posts whose offset was stored (every alert acknowledged) or committed in a transaction.",
        COUNTER,
        vec![counter(&[], l(&c.posts_finished))],
    ));
    out.push(family(
        "kestrel_posts_in_flight",
        "Posts consumed and not finished yet.",
        GAUGE,
        vec![gauge(&[], l(&c.in_flight))],
    ));
    out.push(family(
        "kestrel_dead_letters_total",
        "Bad inputs sent to the dead-letter topic, by reason.",
        COUNTER,
        BadPost::CODES
            .iter()
            .zip(c.bad_posts.iter())
            .map(|(reason, n)| counter(&[("reason", reason)], l(n)))
            .collect(),
    ));
    out.push(family(
        "kestrel_dead_letters_acknowledged_total",
        "Dead letters the broker acknowledged.",
        COUNTER,
        vec![counter(&[], l(&c.dead_letters_acked))],
    ));
    out.push(family(
        "kestrel_delivery_retries_total",
        "Alerts and dead letters sent again after a failed delivery.",
        COUNTER,
        vec![counter(&[], l(&c.delivery_retries))],
    ));
    out.push(family(
        "kestrel_transactions_total",
        "Transactions by result (exactly-once delivery).",
        COUNTER,
        vec![
            counter(&[("result", "committed")], l(&c.transactions_committed)),
            counter(&[("result", "aborted")], l(&c.transactions_aborted)),
        ],
    ));

    // Alerts. Every rule that runs has a series from the start (at 0), so
    // rate() and increase() see its first alert.
    let engine = s.rules.current();
    let set = engine.rule_set();
    let mut alert_counts: BTreeMap<(String, &str, &str, bool), u64> = BTreeMap::new();
    for r in set.rules.iter().filter(|r| r.status != Status::Disabled) {
        alert_counts.insert(
            (
                r.id.clone(),
                r.category.as_str(),
                r.severity.as_str(),
                r.status == Status::Shadow,
            ),
            0,
        );
    }
    for (rule_id, a) in c.observed.alerts() {
        for (lbl, n) in a.counts {
            alert_counts.insert((rule_id.clone(), lbl.category, lbl.severity, lbl.shadow), n);
        }
    }
    let alert_metrics = alert_counts
        .iter()
        .map(|((rule_id, category, severity, shadow), n)| {
            counter(
                &[
                    ("rule_id", rule_id),
                    ("category", category),
                    ("severity", severity),
                    ("shadow", if *shadow { "true" } else { "false" }),
                ],
                *n as f64,
            )
        })
        .collect();
    out.push(family(
        "kestrel_alerts_total",
        "Alerts published, by rule, category, severity and whether they were shadow.",
        COUNTER,
        alert_metrics,
    ));
    out.push(family(
        "kestrel_alerts_acknowledged_total",
        "Alerts the broker acknowledged.",
        COUNTER,
        vec![counter(&[], l(&c.alerts_acked))],
    ));

    // Latencies.
    let mut scan = prometheus::core::Collector::collect(&c.observed.scan_seconds);
    out.append(&mut scan);
    out.push(latency_family(c));

    // Kafka.
    out.push(family(
        "kestrel_consumer_lag",
        "Messages between the committed offset and the end of each assigned partition, from librdkafka statistics.",
        GAUGE,
        c.observed
            .lag()
            .iter()
            .map(|((topic, p), lag)| {
                gauge(&[("topic", topic), ("partition", &p.to_string())], *lag as f64)
            })
            .collect(),
    ));
    if let Some(now) = c.phase.get() {
        out.push(family(
            "kestrel_consumer_phase",
            "1 for the phase the at-least-once consumer is in, 0 for the others.",
            GAUGE,
            Phase::ALL
                .iter()
                .map(|p| gauge(&[("phase", p.as_str())], if *p == now { 1.0 } else { 0.0 }))
                .collect(),
        ));
    }
    out.push(family(
        "kestrel_partitions_assigned",
        "Input partitions assigned to this instance.",
        GAUGE,
        vec![gauge(&[], c.observed.assigned() as f64)],
    ));

    // Rules.
    out.push(family(
        "kestrel_rules_loaded",
        "Rules in the set serving now, by status.",
        GAUGE,
        Status::ALL
            .iter()
            .map(|st| {
                let n = set.rules.iter().filter(|r| r.status == *st).count();
                gauge(&[("status", st.as_str())], n as f64)
            })
            .collect(),
    ));
    out.push(family(
        "kestrel_ruleset_info",
        "Always 1; the hash of the rule set serving now as a label.",
        GAUGE,
        vec![gauge(&[("ruleset", set.hash.as_str())], 1.0)],
    ));
    let h = s.rules.history();
    out.push(family(
        "kestrel_rules_reloads_total",
        "Rule reload attempts by result: success (a new set serves), unchanged, error (the old set keeps serving).",
        COUNTER,
        vec![
            counter(&[("result", "success")], h.success as f64),
            counter(&[("result", "unchanged")], h.unchanged as f64),
            counter(&[("result", "error")], h.error as f64),
        ],
    ));
    out.push(family(
        "kestrel_rules_last_reload_timestamp_seconds",
        "When the rules were last loaded or reloaded, whatever the result (Unix time).",
        GAUGE,
        vec![gauge(&[], h.last_attempt_unix)],
    ));
    out.push(family(
        "kestrel_rules_last_reload_success_timestamp_seconds",
        "When the rules were last loaded or reloaded successfully (Unix time).",
        GAUGE,
        vec![gauge(&[], h.last_success_unix)],
    ));

    // Flood guard.
    let flood = s.rules.flood();
    out.push(family(
        "kestrel_flood_demotions_total",
        "Times the flood guard demoted a rule to shadow.",
        COUNTER,
        {
            let mut totals = flood.demotions_total();
            for r in set.rules.iter().filter(|r| r.status == Status::Active) {
                totals.entry(r.id.clone()).or_insert(0);
            }
            totals
                .iter()
                .map(|(id, n)| counter(&[("rule_id", id)], *n as f64))
                .collect()
        },
    ));
    let demoted = flood.demotions();
    out.push(family(
        "kestrel_rule_demoted",
        "1 while the flood guard holds the rule in shadow, else 0; one series per active rule.",
        GAUGE,
        set.rules
            .iter()
            .filter(|r| r.status == Status::Active)
            .map(|r| {
                let d = demoted.iter().any(|d| d.rule_id == r.id);
                gauge(&[("rule_id", &r.id)], if d { 1.0 } else { 0.0 })
            })
            .collect(),
    ));

    // Families without a series are left out, as the client libraries do.
    out.retain(|f| !f.get_metric().is_empty());
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out
}

fn latency_family(c: &Counters) -> MetricFamily {
    let mut cumulative = 0u64;
    let mut buckets = Vec::new();
    for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
        cumulative += c.latency[i].load(Ordering::Relaxed);
        let mut b = Bucket::default();
        b.set_upper_bound(*bound as f64 / 1000.0);
        b.set_cumulative_count(cumulative);
        buckets.push(b);
    }
    let total = cumulative + c.latency[LATENCY_BOUNDS_MS.len()].load(Ordering::Relaxed);
    let mut h = Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(total);
    h.set_sample_sum(c.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0);
    let mut m = Metric::default();
    m.set_histogram(h);
    family(
        "kestrel_end_to_end_latency_seconds",
        "From a post's message timestamp to the post finished: every alert it raised acknowledged by the broker.",
        MetricType::HISTOGRAM,
        vec![m],
    )
}

/// The metrics in the Prometheus text format.
pub fn render(s: &Sources) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&gather(s), &mut buf)
        .expect("encoding to a Vec cannot fail");
    String::from_utf8(buf).expect("the text format is UTF-8")
}

/// The content type of [`render`]'s output.
pub fn content_type() -> String {
    TextEncoder::new().format_type().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn sources() -> Sources {
        let loaded = crate::rules::load_str(
            std::path::Path::new("r.yaml"),
            "rules:\n  - id: fin.a\n    revision: 1\n    title: T\n    category: financing\n    severity: high\n    terms:\n      t: {words: [x]}\n",
        )
        .unwrap();
        let engine = crate::engine::Engine::build(
            Arc::new(loaded.set),
            &crate::engine::EngineOptions::default(),
        )
        .unwrap();
        Sources {
            counters: Arc::new(Counters::default()),
            rules: Arc::new(ServingRules::fixed(engine)),
            reset_token: None,
        }
    }

    #[test]
    fn the_consumer_phase_is_a_gauge_per_phase_once_a_consumer_runs() {
        let s = sources();
        assert!(
            !render(&s).contains("kestrel_consumer_phase"),
            "no series before an at-least-once consumer starts"
        );
        s.counters.phase.enter(Phase::Starting);
        s.counters.phase.enter(Phase::Consuming);
        s.counters.phase.enter(Phase::Draining);
        let text = render(&s);
        assert!(
            text.contains("kestrel_consumer_phase{phase=\"draining\"} 1"),
            "{text}"
        );
        assert!(text.contains("kestrel_consumer_phase{phase=\"consuming\"} 0"));
        let ones = text
            .lines()
            .filter(|l| l.starts_with("kestrel_consumer_phase{") && l.ends_with(" 1"))
            .count();
        assert_eq!(ones, 1);
    }

    #[test]
    fn the_status_page_shows_the_consumer_phase_from_its_snapshot() {
        let s = sources();
        let page = crate::status::render(&http::status_snapshot(&s));
        assert!(!page.contains("consumer<b>"));
        s.counters.phase.enter(Phase::Starting);
        s.counters.phase.enter(Phase::Consuming);
        s.counters.phase.enter(Phase::Paused);
        let page = crate::status::render(&http::status_snapshot(&s));
        assert!(page.contains("consumer<b>paused</b>"), "{page}");
        assert!(page.contains("not ready: no partitions assigned"));
    }
}
