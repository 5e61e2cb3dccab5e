//! `delivery = "exactly_once"` against librdkafka's mock cluster, which
//! implements transactions (tansu, the broker of the other Kafka tests, does
//! not: it has no EndTxn). The pipeline runs in this process.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kestrel::config::Config;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::pipeline::{self, Counters, PipelineError, RunContext, Shutdown, Stopped};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use support::*;

const PARTITIONS: i32 = 3;

fn context(brokers: &str, rules: &Path, group: &str) -> (RunContext, Arc<Counters>, Shutdown) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_test_writer()
        .try_init();
    let text = format!(
        r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
[kafka.consumer]
"session.timeout.ms" = "6000"
[rules]
dir = "{}"
reload = "off"
[pipeline]
workers = 2
delivery = "exactly_once"
shutdown_timeout_ms = 5000
"#,
        rules.display()
    );
    let config = Config::from_toml(&text, Path::new("eos.toml"), Vec::new()).unwrap();
    let loaded = kestrel::rules::load_dir(rules).unwrap();
    let engine = Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap();
    let counters = Arc::new(Counters::default());
    let shutdown = Shutdown::new();
    let ctx = RunContext {
        schema: Arc::new(config.posts.schema().unwrap()),
        config,
        engine: Arc::new(kestrel::reload::ServingRules::fixed(engine)),
        counters: counters.clone(),
        shutdown: shutdown.clone(),
    };
    (ctx, counters, shutdown)
}

fn read_committed(brokers: &str, topic: &str, want: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("check-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut quiet = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(m.detach());
                quiet = std::time::Instant::now();
            }
            _ if out.len() >= want && quiet.elapsed() > Duration::from_secs(2) => break,
            _ => {}
        }
    }
    out
}

fn cluster() -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(3).unwrap();
    for t in ["posts", "alerts", "posts.dlq"] {
        cluster.create_topic(t, PARTITIONS, 3).unwrap();
    }
    cluster
}

/// Runs the pipeline until it has committed `n` posts in transactions,
/// then stops it. (The mock cluster accepts the offsets a transaction
/// carries but does not store them for OffsetFetch, so the transactions'
/// own count is what says the work is done here; the tansu tests check
/// committed offsets.)
fn run_until_done(
    ctx: RunContext,
    counters: &Counters,
    shutdown: Shutdown,
    n: u64,
) -> Result<Stopped, PipelineError> {
    let handle = std::thread::spawn(move || pipeline::run(ctx));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline
        && !handle.is_finished()
        && counters.posts_finished.load(Ordering::Relaxed) < n
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    shutdown.trigger();
    let r = handle.join().unwrap();
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
    r
}

#[test]
fn exactly_once_commits_every_alert_once_with_the_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let n = 5_000;
    let ends = produce_posts(&brokers, "posts", 0..n);
    let (expected, bad) = expected_by_scan(dir.path(), &rules, 0..n);
    let (ctx, counters, shutdown) = context(&brokers, &rules, "eos");
    let r = run_until_done(ctx, &counters, shutdown, n as u64);
    assert_eq!(total(&ends), n as i64);
    assert!(matches!(r, Ok(Stopped::Drained)), "{r:?}");
    let alerts = read_committed(&brokers, "alerts", expected.len());
    let pairs = alert_pairs(&alerts);
    // Exactly once: the same set as kestrel scan, and no copies.
    assert_eq!(pairs.len(), expected.len());
    assert_eq!(pairs.into_iter().collect::<BTreeSet<_>>(), expected);
    let dlq = read_committed(&brokers, "posts.dlq", bad);
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
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let cluster = cluster();
    let brokers = cluster.bootstrap_servers();
    let n = 5_000;
    let ends = produce_posts(&brokers, "posts", 0..n);
    let (expected, _) = expected_by_scan(dir.path(), &rules, 0..n);
    // The first produce requests fail for good: the transaction holding
    // them cannot commit and must be aborted.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 2],
    );
    let (ctx, counters, shutdown) = context(&brokers, &rules, "eos-abort");
    let r = run_until_done(ctx, &counters, shutdown, n as u64);
    assert_eq!(total(&ends), n as i64);
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
    let alerts = read_committed(&brokers, "alerts", expected.len());
    let pairs: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(pairs, expected);
}

#[test]
fn exactly_once_refuses_a_broker_without_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(dir.path());
    let cluster = cluster();
    cluster
        .apiversion(RDKafkaApiKey::EndTxn, None, None)
        .unwrap();
    let brokers = cluster.bootstrap_servers();
    produce_posts(&brokers, "posts", 0..100);
    let (ctx, counters, shutdown) = context(&brokers, &rules, "eos-none");
    let r = run_until_done(ctx, &counters, shutdown, 100);
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
    let alerts = read_committed(&brokers, "alerts", 0);
    assert!(alerts.is_empty());
}

#[test]
fn kestrel_run_refuses_exactly_once_on_tansu_which_has_no_transactions() {
    let broker = Broker::memory();
    for t in ["posts", "alerts", "posts.dlq"] {
        broker.create_topic(t, PARTITIONS);
    }
    let rules = write_rules(broker.dir.path());
    let brokers = broker.addr();
    produce_posts(&brokers, "posts", 0..500);
    let config = write_config(
        broker.dir.path(),
        &brokers,
        "eos-tansu",
        &rules,
        "delivery = \"exactly_once\"",
    );
    let mut k = Kestrel::start(&config, "eos-tansu");
    let status = k
        .wait_exit(Duration::from_secs(60))
        .expect("kestrel run exits");
    assert_eq!(status.code(), Some(1), "{}", k.log_text());
    let log = k.log_text();
    assert!(
        log.contains("the broker does not support transactions"),
        "{log}"
    );
    // Refused before writing anything, and without committing a post.
    let alerts = read_topic(&brokers, "alerts", Duration::from_secs(5), |_| true);
    assert!(alerts.is_empty(), "{} alerts written", alerts.len());
    assert!(total(&committed(&brokers, "eos-tansu", "posts", PARTITIONS)) == 0);
}
