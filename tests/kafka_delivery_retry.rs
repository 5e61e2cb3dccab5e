//! At least once when the broker refuses alerts: librdkafka's mock cluster
//! fails the first produce requests for good, and kestrel must send those
//! records again itself (with a backoff) before it stores any offset past
//! them. The pipeline runs in this process.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kestrel::pipeline::Stopped;
use kestrel_testkit::*;
use rdkafka::types::RDKafkaRespErr;

#[test]
fn alerts_the_broker_refuses_are_sent_again_before_their_offsets_move() {
    let dir = tempdir();
    let n = 3_000;
    let posts = mock_posts(dir.path(), 1, 3, n);
    let brokers = &posts.brokers;
    // From now on, the next produce requests fail with an error no retry of
    // librdkafka's own fixes: every record in them comes back failed.
    posts.fail_produce_requests(
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        3,
    );
    let config = RunConfig::new(brokers, "retry", &posts.rules);
    let run = InProcess::new(&config, "retry.toml").start(n as u64, Duration::from_secs(120));
    let counters = run.counters.clone();
    // Every post finished means every alert and dead letter acknowledged.
    assert_eq!(counters.posts_finished.load(Ordering::Relaxed), n as u64);
    wait_committed(brokers, "retry", 3, &posts.ends, Duration::from_secs(30));
    assert_eq!(run.stop().unwrap(), Stopped::Drained);
    assert!(
        counters.delivery_retries.load(Ordering::Relaxed) > 0,
        "no record was refused: the test proves nothing"
    );
    assert_eq!(
        counters.alerts_acked.load(Ordering::Relaxed),
        posts.expected.len() as u64
    );
    assert_eq!(
        counters.dead_letters_acked.load(Ordering::Relaxed),
        posts.bad as u64
    );
    let alerts = read_topic(
        brokers,
        "alerts",
        Duration::from_secs(60),
        covers(&posts.expected),
    );
    let got: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    assert_eq!(got, posts.expected);
}
