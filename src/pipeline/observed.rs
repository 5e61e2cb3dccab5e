//! What the pipeline observes besides plain counts, kept next to its
//! [`Counters`](super::Counters): alerts per rule (with a one-hour
//! history for the status page), scan durations, consumer lag per partition
//! from librdkafka's statistics, and the partitions assigned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Histogram, HistogramOpts};

use crate::rules::Rule;

/// Upper bounds (seconds) of the scan duration buckets: one post through the
/// engine, from a few microseconds to a pathological second.
pub const SCAN_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 1.0,
];

/// Minutes of alert history kept per rule.
const HISTORY_MINUTES: usize = 60;

/// The labels an alert is counted under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertLabels {
    /// Category.
    pub category: &'static str,
    /// Severity.
    pub severity: &'static str,
    /// Published as shadow (rule status or flood guard).
    pub shadow: bool,
}

#[derive(Debug)]
struct RuleAlerts {
    counts: Vec<(AlertLabels, u64)>,
    /// (minute since the epoch, alerts in it), a ring of [`HISTORY_MINUTES`].
    minutes: [(u64, u64); HISTORY_MINUTES],
}

/// Alerts per rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleAlertCounts {
    /// Alerts since start by labels.
    pub counts: Vec<(AlertLabels, u64)>,
    /// Alerts within the last hour.
    pub last_hour: u64,
}

/// Pipeline observations the metrics endpoint and the status page read.
pub struct Observed {
    /// Seconds the engine took per post.
    pub scan_seconds: Histogram,
    alerts: Mutex<HashMap<String, RuleAlerts>>,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    assigned: AtomicUsize,
}

impl Default for Observed {
    fn default() -> Self {
        let opts = HistogramOpts::new(
            "kestrel_scan_duration_seconds",
            "Time the engine took to scan one post.",
        )
        .buckets(SCAN_BUCKETS.to_vec());
        Observed {
            scan_seconds: Histogram::with_opts(opts).expect("static histogram options are valid"),
            alerts: Mutex::new(HashMap::new()),
            lag: Mutex::new(BTreeMap::new()),
            assigned: AtomicUsize::new(0),
        }
    }
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("scans", &self.scan_seconds.get_sample_count())
            .field("assigned", &self.assigned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or(0)
}

impl Observed {
    /// Counts one published alert of `rule`.
    pub fn alert(&self, rule: &Rule, shadow: bool) {
        self.alert_at(rule, shadow, minute_now());
    }

    fn alert_at(&self, rule: &Rule, shadow: bool, minute: u64) {
        let labels = AlertLabels {
            category: rule.category.as_str(),
            severity: rule.severity.as_str(),
            shadow,
        };
        let mut all = self.alerts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = match all.get_mut(rule.id.as_str()) {
            Some(e) => e,
            None => all.entry(rule.id.clone()).or_insert_with(|| RuleAlerts {
                counts: Vec::new(),
                minutes: [(u64::MAX, 0); HISTORY_MINUTES],
            }),
        };
        match entry.counts.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, n)) => *n += 1,
            None => entry.counts.push((labels, 1)),
        }
        let slot = &mut entry.minutes[(minute % HISTORY_MINUTES as u64) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
    }

    /// Alerts per rule id since start, and within the last hour.
    pub fn alerts(&self) -> BTreeMap<String, RuleAlertCounts> {
        let now = minute_now();
        let oldest = now.saturating_sub(HISTORY_MINUTES as u64 - 1);
        let all = self.alerts.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(id, a)| {
                let last_hour = a
                    .minutes
                    .iter()
                    .filter(|(m, _)| *m != u64::MAX && *m >= oldest && *m <= now)
                    .map(|(_, n)| n)
                    .sum();
                let mut counts = a.counts.clone();
                counts.sort();
                (id.clone(), RuleAlertCounts { counts, last_hour })
            })
            .collect()
    }

    /// Takes the consumer lag of every partition this consumer fetches
    /// from a librdkafka statistics report.
    ///
    /// A fetched partition whose lag this report does not know (librdkafka
    /// writes -1 while it refreshes the end offset) keeps the last lag
    /// reported for it, so the gauge and the status page do not lose a
    /// partition between two reports; a partition no longer fetched is
    /// dropped.
    pub fn record_stats(&self, stats: &rdkafka::Statistics) {
        let mut held = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        let mut lag = BTreeMap::new();
        for (name, topic) in &stats.topics {
            for (p, part) in &topic.partitions {
                // -1 is librdkafka's internal unassigned partition.
                if *p < 0 || !part.desired {
                    continue;
                }
                let key = (name.clone(), *p);
                if part.consumer_lag >= 0 {
                    lag.insert(key, part.consumer_lag);
                } else if let Some(&last) = held.get(&key) {
                    lag.insert(key, last);
                }
            }
        }
        *held = lag;
    }

    /// Consumer lag (messages) per topic and partition, from the last
    /// statistics report.
    pub fn lag(&self) -> BTreeMap<(String, i32), i64> {
        self.lag.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records how many partitions the consumer holds after a rebalance;
    /// lag of partitions it gave up is forgotten at the next report.
    pub fn set_assigned(&self, partitions: usize) {
        self.assigned.store(partitions, Ordering::Release);
        if partitions == 0 {
            self.lag.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Partitions assigned to this consumer.
    pub fn assigned(&self) -> usize {
        self.assigned.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> Rule {
        crate::rules::load_str(
            std::path::Path::new("r.yaml"),
            &format!("rules:\n  - id: {id}\n    revision: 1\n    title: T\n    category: financing\n    severity: high\n    terms:\n      t: {{words: [x]}}\n"),
        )
        .unwrap()
        .set
        .rules
        .remove(0)
    }

    #[test]
    fn alerts_are_counted_per_rule_and_labels_with_an_hour_of_history() {
        let o = Observed::default();
        let r = rule("fin.a");
        let now = minute_now();
        o.alert_at(&r, false, now - 90);
        o.alert_at(&r, false, now - 30);
        o.alert_at(&r, true, now);
        o.alert(&r, true);
        let a = o.alerts();
        let fin = &a["fin.a"];
        assert_eq!(
            fin.last_hour, 3,
            "the alert 90 minutes ago is out of the hour"
        );
        let total: u64 = fin.counts.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 4);
        assert!(fin
            .counts
            .iter()
            .any(|(l, n)| l.shadow && *n == 2 && l.category == "financing"));
    }

    /// A consumer's statistics report on topic `posts` with the given
    /// partitions: (partition, fetched, consumer_lag); partition -1 is
    /// librdkafka's internal unassigned one.
    fn report(parts: &[(i32, bool, i64)]) -> rdkafka::Statistics {
        let partitions: serde_json::Map<String, serde_json::Value> = parts
            .iter()
            .map(|&(p, desired, lag)| {
                (
                    p.to_string(),
                    serde_json::json!({"partition":p,"broker":1,"leader":1,"desired":desired,"unknown":false,"msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,"fetchq_size":0,"fetch_state":"active","query_offset":0,"next_offset":0,"app_offset":0,"stored_offset":0,"committed_offset":0,"eof_offset":0,"lo_offset":0,"hi_offset":0,"ls_offset":0,"consumer_lag":lag,"consumer_lag_stored":lag,"txmsgs":0,"txbytes":0,"rxmsgs":0,"rxbytes":0,"msgs":0,"rx_ver_drops":0,"msgs_inflight":0,"next_ack_seq":0,"next_err_seq":0,"acked_msgid":0}),
                )
            })
            .collect();
        let window = serde_json::json!({"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0});
        serde_json::from_value(serde_json::json!({"name":"c","client_id":"k","type":"consumer","ts":1,"time":1,"age":1,"replyq":0,
            "msg_cnt":0,"msg_size":0,"msg_max":0,"msg_size_max":0,"simple_cnt":0,"metadata_cache_cnt":0,
            "tx":0,"tx_bytes":0,"rx":0,"rx_bytes":0,"txmsgs":0,"txmsg_bytes":0,"rxmsgs":0,"rxmsg_bytes":0,
            "brokers":{},"topics":{"posts":{"topic":"posts","age":1,"metadata_age":1,
            "batchsize":window,"batchcnt":window,"partitions":partitions}}}))
        .unwrap()
    }

    #[test]
    fn lag_comes_from_the_statistics_of_assigned_partitions() {
        let stats = report(&[(0, true, 7), (1, false, 3), (-1, false, -1)]);
        let o = Observed::default();
        o.record_stats(&stats);
        assert_eq!(
            o.lag().into_iter().collect::<Vec<_>>(),
            vec![(("posts".to_string(), 0), 7)]
        );
        o.set_assigned(0);
        assert!(o.lag().is_empty());
    }

    #[test]
    fn a_partition_whose_lag_is_briefly_unknown_keeps_its_last_lag() {
        let o = Observed::default();
        o.record_stats(&report(&[(0, true, 4), (1, true, 9)]));
        // Partition 1's end offset is being refreshed: it keeps 9.
        o.record_stats(&report(&[(0, true, 2), (1, true, -1)]));
        let key = |p| ("posts".to_string(), p);
        assert_eq!(o.lag(), BTreeMap::from([(key(0), 2), (key(1), 9)]));
        // Partition 0 is no longer fetched, and partition 2 is new without a
        // lag yet: neither is shown.
        o.record_stats(&report(&[(0, false, 2), (1, true, 0), (2, true, -1)]));
        assert_eq!(o.lag(), BTreeMap::from([(key(1), 0)]));
    }
}
