//! `delivery = "exactly_once"`: on Apache Kafka (transactions committed,
//! aborted and redone, and `kestrel run` SIGKILLed between produce and
//! commit, while a read_committed consumer sees each alert exactly once),
//! and in this process against librdkafka's mock cluster (injected produce
//! errors, a broker without transactions).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kestrel::pipeline::{Counters, PipelineError, Stopped};
use kestrel_testkit::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: i32 = 3;

/// The pipeline of this process on the mock cluster of `posts` in
/// exactly-once mode, with a 5 s shutdown bound.
fn eos(posts: &MockPosts, group: &str) -> InProcess {
    let config = RunConfig::new(&posts.brokers, group, &posts.rules)
        .pipeline("delivery = \"exactly_once\"")
        .pipeline("shutdown_timeout_ms = 5000");
    InProcess::new(&config, "eos.toml")
}

/// Runs the pipeline until it has committed `n` posts in transactions,
/// then stops it. (The mock cluster accepts the offsets a transaction
/// carries but does not store them for OffsetFetch, so the transactions'
/// own count is what says the work is done here; the tests on Kafka check
/// committed offsets.)
fn run_until_done(p: InProcess, n: u64) -> (Result<Stopped, PipelineError>, Arc<Counters>) {
    let run = p.start(n, Duration::from_secs(120));
    let counters = run.counters.clone();
    let r = run.stop();
    if r.is_ok() {
        assert_eq!(counters.posts_finished.load(Ordering::Relaxed), n, "{r:?}");
        // Every post committed has its end-to-end latency observed.
        let observed: u64 = counters
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        assert_eq!(observed, n);
    }
    (r, counters)
}

#[test]
fn exactly_once_commits_every_alert_once_with_the_offsets() {
    let dir = tempdir();
    let n = 5_000;
    let posts = mock_posts(dir.path(), 3, PARTITIONS, n);
    let (brokers, expected, bad) = (&posts.brokers, &posts.expected, posts.bad);
    let (r, counters) = run_until_done(eos(&posts, "eos"), n as u64);
    assert_eq!(total(&posts.ends), n as i64);
    assert!(matches!(r, Ok(Stopped::Drained)), "{r:?}");
    let alerts = read_isolated(brokers, "alerts", "read_committed", expected.len());
    let pairs = alert_pairs(&alerts);
    // Exactly once: the same set as kestrel scan, and no copies.
    assert_eq!(pairs.len(), expected.len());
    assert_eq!(&pairs.into_iter().collect::<BTreeSet<_>>(), expected);
    let dlq = read_isolated(brokers, "posts.dlq", "read_committed", bad);
    assert_eq!(dlq.len(), bad);
    assert!(dlq.iter().all(|m| header(m, "kestrel.error").is_some()));
    assert!(counters.transactions_committed.load(Ordering::Relaxed) >= 1);
    assert_eq!(counters.transactions_aborted.load(Ordering::Relaxed), 0);
    assert_eq!(
        counters.alerts_acked.load(Ordering::Relaxed),
        expected.len() as u64
    );
}

#[test]
fn an_aborted_transaction_is_rewound_and_its_posts_redone_once() {
    let dir = tempdir();
    let n = 5_000;
    let posts = mock_posts(dir.path(), 3, PARTITIONS, n);
    let (brokers, expected) = (&posts.brokers, &posts.expected);
    // The first produce requests fail for good: the transaction holding
    // them cannot commit and must be aborted.
    posts.fail_produce_requests(RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 2);
    let (r, counters) = run_until_done(eos(&posts, "eos-abort"), n as u64);
    assert_eq!(total(&posts.ends), n as i64);
    assert!(matches!(r, Ok(Stopped::Drained)), "{r:?}");
    assert!(
        counters.transactions_aborted.load(Ordering::Relaxed) >= 1,
        "no transaction was aborted: the test proves nothing"
    );
    // The committed transactions hold every alert exactly once.
    assert_eq!(
        counters.alerts_acked.load(Ordering::Relaxed),
        expected.len() as u64
    );
    // Nothing is lost: every expected alert is on the topic. (The mock
    // cluster's Fetch never reports aborted transactions, so its
    // read_committed consumers also see the aborted attempts' records; a
    // real broker hides them, as the first test shows without aborts.)
    let alerts = read_isolated(brokers, "alerts", "read_committed", expected.len());
    let pairs: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(&pairs, expected);
}

#[test]
fn exactly_once_refuses_a_broker_without_transactions() {
    let dir = tempdir();
    let posts = mock_posts(dir.path(), 3, PARTITIONS, 100);
    // The brokers stop offering EndTxn before kestrel connects.
    posts
        .cluster
        .apiversion(RDKafkaApiKey::EndTxn, None, None)
        .unwrap();
    let (r, _) = run_until_done(eos(&posts, "eos-none"), 100);
    let e = r.unwrap_err();
    assert!(
        matches!(e, PipelineError::TransactionsUnsupported(_)),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("does not support transactions"),
        "{e}"
    );
    // Nothing was written before the refusal.
    let alerts = read_isolated(&posts.brokers, "alerts", "read_committed", 0);
    assert!(alerts.is_empty());
}

/// A broker with the three topics, the test rules and a kestrel config in
/// exactly-once mode. A killed instance's open transaction is aborted by
/// the broker after `transaction.timeout.ms`: 10 s here instead of
/// librdkafka's 60 s, so read_committed readers are held back less long.
fn eos_setup(group: &str, short_timeout: bool) -> (Broker, std::path::PathBuf, std::path::PathBuf) {
    let broker = Broker::memory();
    let rules = broker.prepare(PARTITIONS);
    let mut config =
        RunConfig::new(&broker.addr(), group, &rules).pipeline("delivery = \"exactly_once\"");
    if short_timeout {
        config = config.producer("transaction.timeout.ms", "10000");
    }
    let config = config.write(broker.dir.path());
    (broker, rules, config)
}

/// `kestrel_transactions_total{result="committed"}` of a running kestrel,
/// read from its metrics port (0 until it answers).
fn committed_transactions(k: &Kestrel) -> u64 {
    k.metrics_addr()
        .and_then(|addr| scrape(&addr).ok())
        .and_then(|s| sample(&s, "kestrel_transactions_total", &[("result", "committed")]))
        .map_or(0, |v| v as u64)
}

/// The last `n` lines of a log, for a failure message.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every (post, rule) of `expected` exactly once, nothing else.
fn assert_exactly_once(
    alerts: &[rdkafka::message::OwnedMessage],
    expected: &BTreeSet<(String, String)>,
) {
    let pairs = alert_pairs(alerts);
    let set: BTreeSet<(String, String)> = pairs.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&set).take(5).collect();
    assert!(missing.is_empty(), "alerts missing, e.g. {missing:?}");
    let extra: Vec<_> = set.difference(expected).take(5).collect();
    assert!(
        extra.is_empty(),
        "alerts kestrel scan does not give: {extra:?}"
    );
    assert_eq!(
        pairs.len(),
        expected.len(),
        "{} copies seen by a read_committed consumer",
        pairs.len() - expected.len()
    );
}

/// The broker refuses every alert and dead letter for a while (the topics'
/// `max.message.bytes` at 128: too small for any of kestrel's records, big
/// enough for the broker's own transaction markers, about 80 bytes): the
/// transactions holding them are aborted and their posts read again, and
/// once the limit is lifted they are redone and committed. A
/// read_committed consumer sees every alert and dead letter exactly once.
///
/// (This test used 64 bytes at first and kestrel stalled: Apache Kafka
/// cannot write abort markers into such a topic, treats that as fatal and
/// leaves the transaction half aborted for good. That case is now bounded:
/// `on_kafka_an_abort_the_broker_cannot_complete_stops_kestrel_with_a_clear_error`.)
#[test]
fn on_kafka_transactions_commit_and_an_aborted_one_is_redone_once() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, rules, config) = eos_setup("eos-kafka", false);
    let brokers = broker.addr();
    let n = 20_000;
    let (expected, bad) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    let first = produce_posts(&brokers, "posts", 0..n / 2);
    let mut k = Kestrel::start(&config, "eos-kafka");
    k.wait_ready();
    wait_for("the first half committed", Duration::from_secs(120), || {
        (committed(&brokers, "eos-kafka", "posts", PARTITIONS) == first).then_some(())
    });
    // The broker now refuses every alert and dead letter (too large for the
    // topic): each transaction holding one fails, is aborted and its posts
    // are read again, until the limit is lifted.
    broker.set_topic_config("alerts", &[("max.message.bytes", "128")]);
    broker.set_topic_config("posts.dlq", &[("max.message.bytes", "128")]);
    let mut ends = produce_posts(&brokers, "posts", n / 2..n);
    wait_for("a transaction aborted", Duration::from_secs(60), || {
        (!k.events("transaction aborted; rewinding to its first posts")
            .is_empty())
        .then_some(())
    });
    broker.set_topic_config("alerts", &[]);
    broker.set_topic_config("posts.dlq", &[]);
    merge_ends(&mut ends, first);
    wait_committed(
        &brokers,
        "eos-kafka",
        PARTITIONS,
        &ends,
        Duration::from_secs(180),
    );
    k.terminate(Duration::from_secs(30));
    let aborted = k
        .events("transaction aborted; rewinding to its first posts")
        .len();
    assert!(
        aborted >= 1,
        "no transaction was aborted: the test proves nothing"
    );

    let alerts = read_isolated(&brokers, "alerts", "read_committed", expected.len());
    assert_exactly_once(&alerts, &expected);
    let dlq = read_isolated(&brokers, "posts.dlq", "read_committed", bad);
    assert_eq!(dlq.len(), bad, "dead letters exactly once");
    eprintln!(
        "{n} posts, {} alerts exactly once, {aborted} transactions aborted and redone",
        expected.len()
    );
}

#[test]
fn on_kafka_a_sigkill_between_produce_and_commit_leaves_no_copy_for_read_committed() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, rules, config) = eos_setup("eos-kill", true);
    let brokers = broker.addr();
    let n = 30_000;
    let (expected, bad) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    // A backlog for each instance: kestrel takes full transactions of posts
    // back to back, so nearly all the time it is inside one that holds
    // records and has not committed: that is where the kills land. Each
    // round adds its third of the posts before its instance starts: with the
    // whole backlog up front, a fast instance finished it before the test
    // saw its first commit, and the next one, with nothing left to do, never
    // committed (its consumer lag 0 on every partition), which looked like a
    // stalled restart.
    let chunk = n / 3;
    let mut ends = produce_posts(&brokers, "posts", 0..chunk);
    let mut kills = 0;
    for round in 0..3 {
        if round > 0 {
            ends = produce_posts(&brokers, "posts", round * chunk..(round + 1) * chunk);
        }
        let k = Kestrel::start(&config, &format!("eos-kill-{round}"));
        k.wait_ready();
        // Once it has committed a transaction of its own it works through
        // the backlog one full transaction after another; a moment later
        // it is inside one. (Committed offsets are no clock here: while a
        // transaction carrying offsets is open the broker answers offset
        // fetches with UNSTABLE_OFFSET_COMMIT.)
        // A restart waits for the killed instance's open transaction to be
        // aborted by the broker (transaction.timeout.ms, 10 s here, plus the
        // broker's abort check) before the group's offsets are stable: about
        // 6-20 s when run alone, so 300 s only catches a hang.
        let committed = poll_for(Duration::from_secs(300), || {
            (committed_transactions(&k) >= 1).then_some(())
        });
        if committed.is_none() {
            // kestrel's own last log lines follow from its Drop.
            let metrics = k
                .metrics_addr()
                .and_then(|addr| scrape(&addr).ok())
                .map(|m| {
                    m.lines()
                        .filter(|l| l.starts_with("kestrel_") && !l.starts_with("kestrel_scan"))
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_else(|| "(no answer from /metrics)".into());
            panic!(
                "restart {round}: no transaction committed within 300 s\n\
                 -- kestrel's metrics:\n{metrics}\n-- the broker's log:\n{}",
                tail(&broker.log_text(), 60)
            );
        }
        // Its first transaction carries only offsets; the ones after it carry
        // alerts. It goes through thousands of posts a second, so the kill
        // comes at once, while most of its third of the posts is still ahead.
        std::thread::sleep(Duration::from_millis(50));
        k.signal(libc::SIGKILL);
        kills += 1;
        drop(k);
    }
    assert_eq!(total(&ends), n as i64);
    let mut k = Kestrel::start(&config, "eos-kill-last");
    k.wait_ready();
    wait_committed(
        &brokers,
        "eos-kill",
        PARTITIONS,
        &ends,
        Duration::from_secs(240),
    );
    k.terminate(Duration::from_secs(30));

    let committed_alerts = read_isolated(&brokers, "alerts", "read_committed", expected.len());
    assert_exactly_once(&committed_alerts, &expected);
    let dlq = read_isolated(&brokers, "posts.dlq", "read_committed", bad);
    assert_eq!(dlq.len(), bad, "dead letters exactly once");
    // The killed instances had written alerts they never committed: they
    // are in the log (a read_uncommitted consumer sees them), and the
    // broker aborted their transactions, so read_committed never does.
    let everything = read_isolated(&brokers, "alerts", "read_uncommitted", expected.len());
    assert!(
        everything.len() > expected.len(),
        "no kill landed inside a transaction with alerts ({} records in the log): the test proves nothing",
        everything.len()
    );
    eprintln!(
        "{kills} SIGKILLs: {} alert records in the log, {} seen by read_committed, exactly the {} expected",
        everything.len(),
        committed_alerts.len(),
        expected.len()
    );
}

/// Alerts and dead letters larger than their topics accept, for good (the
/// topics' `max.message.bytes` is 128: every record is refused, while the
/// broker's own transaction markers, about 80 bytes, still fit): kestrel
/// aborts and redoes the transaction a few times with growing pauses, then
/// stops with status 1 and an error that names the topic and the broker's
/// reason. Nothing is committed: the posts are read again once the topic
/// is fixed.
#[test]
fn on_kafka_a_record_refused_for_good_stops_kestrel_with_its_reason() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, _rules, config) = eos_setup("eos-refused", true);
    let brokers = broker.addr();
    broker.set_topic_config("alerts", &[("max.message.bytes", "128")]);
    broker.set_topic_config("posts.dlq", &[("max.message.bytes", "128")]);
    produce_posts(&brokers, "posts", 0..2_000);
    let started = std::time::Instant::now();
    let mut k = Kestrel::start(&config, "eos-refused");
    let status = k
        .wait_exit(Duration::from_secs(300))
        .expect("kestrel went on aborting instead of stopping");
    let log = k.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    let error = log
        .lines()
        .find(|l| l.starts_with("kestrel: error:"))
        .unwrap_or_else(|| panic!("no error line: {log}"));
    assert!(
        error.contains("the broker refused a record for alerts [")
            || error.contains("the broker refused a record for posts.dlq ["),
        "{error}"
    );
    assert!(error.contains("Message size too large"), "{error}");
    assert!(error.contains("max.message.bytes"), "{error}");
    let aborted = k
        .events("transaction aborted; rewinding to its first posts")
        .len();
    assert!(aborted >= 2, "{aborted} aborts: it gave up at once");
    // Nothing past the posts was committed, and no alert is visible.
    let offsets = committed(&brokers, "eos-refused", "posts", PARTITIONS);
    assert_eq!(total(&offsets), 0, "{offsets:?}");
    assert!(read_isolated(&brokers, "alerts", "read_committed", 0).is_empty());
    eprintln!(
        "refused records: {aborted} transactions aborted, then status 1 after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Apache Kafka cannot write a transaction's abort markers into a topic
/// whose `max.message.bytes` is smaller than a marker (64 bytes here): its
/// coordinator treats that as fatal and leaves the transaction half
/// aborted (PrepareAbort) for good, answering every later call with
/// CONCURRENT_TRANSACTIONS. This used to stall kestrel forever, calling
/// abort again and again; now the abort is bounded and kestrel stops with
/// status 1 and says why, for a supervisor to start it again with a new
/// producer.
#[test]
fn on_kafka_an_abort_the_broker_cannot_complete_stops_kestrel_with_a_clear_error() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let (broker, _rules, config) = eos_setup("eos-stuck", true);
    let brokers = broker.addr();
    let first = produce_posts(&brokers, "posts", 0..1_000);
    let mut k = Kestrel::start(&config, "eos-stuck");
    k.wait_ready();
    wait_for(
        "the first posts committed",
        Duration::from_secs(120),
        || (committed(&brokers, "eos-stuck", "posts", PARTITIONS) == first).then_some(()),
    );
    broker.set_topic_config("alerts", &[("max.message.bytes", "64")]);
    broker.set_topic_config("posts.dlq", &[("max.message.bytes", "64")]);
    produce_posts(&brokers, "posts", 1_000..3_000);
    let started = std::time::Instant::now();
    let status = k
        .wait_exit(Duration::from_secs(300))
        .expect("kestrel stalled on an abort that cannot complete");
    let log = k.log_text();
    assert_eq!(status.code(), Some(1), "{log}");
    let error = log
        .lines()
        .find(|l| l.starts_with("kestrel: error:"))
        .unwrap_or_else(|| panic!("no error line: {log}"));
    assert!(
        error.contains("the transaction could not be aborted within"),
        "{error}"
    );
    // What was committed before stays committed, nothing after it.
    assert_eq!(committed(&brokers, "eos-stuck", "posts", PARTITIONS), first);
    eprintln!(
        "an abort the broker cannot complete: status 1 after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
