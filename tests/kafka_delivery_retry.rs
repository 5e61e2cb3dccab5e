//! At least once when the broker refuses alerts: librdkafka's mock cluster
//! fails the first produce requests for good, and kestrel must send those
//! records again itself (with a backoff) before it stores any offset past
//! them. The pipeline runs in this process.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel::config::Config;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::pipeline::{self, Counters, Reason, RunContext, Shutdown, Stopped};
use kestrel_testkit::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

#[test]
fn alerts_the_broker_refuses_are_sent_again_before_their_offsets_move() {
    let dir = tempdir();
    let rules = write_rules(dir.path());
    let cluster = mock_cluster(1, 3);
    let brokers = cluster.bootstrap_servers();
    let n = 3_000;
    let ends = produce_posts(&brokers, "posts", 0..n);
    let (expected, bad) = expected_by_scan(dir.path(), &rules, 0..n);
    // From now on, the next produce requests fail with an error no retry of
    // librdkafka's own fixes: every record in them comes back failed.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 3],
    );
    let text = RunConfig::new(&brokers, "retry", &rules).text();
    let config = Config::from_toml(&text, Path::new("retry.toml"), Vec::new()).unwrap();
    let loaded = kestrel::rules::load_dir(&rules).unwrap();
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
    let handle = std::thread::spawn(move || pipeline::run(ctx));
    let deadline = Instant::now() + Duration::from_secs(120);
    while counters.posts_finished.load(Ordering::Relaxed) < n as u64
        && Instant::now() < deadline
        && !handle.is_finished()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every post finished means every alert and dead letter acknowledged.
    assert_eq!(counters.posts_finished.load(Ordering::Relaxed), n as u64);
    wait_committed(&brokers, "retry", 3, &ends, Duration::from_secs(30));
    shutdown.trigger(Reason::Requested);
    assert_eq!(handle.join().unwrap().unwrap(), Stopped::Drained);
    assert!(
        counters.delivery_retries.load(Ordering::Relaxed) > 0,
        "no record was refused: the test proves nothing"
    );
    assert_eq!(
        counters.alerts_acked.load(Ordering::Relaxed),
        expected.len() as u64
    );
    assert_eq!(
        counters.dead_letters_acked.load(Ordering::Relaxed),
        bad as u64
    );
    let alerts = read_topic(
        &brokers,
        "alerts",
        Duration::from_secs(60),
        covers(&expected),
    );
    let got: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(got, expected);
}
