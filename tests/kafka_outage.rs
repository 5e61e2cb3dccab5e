//! The broker goes away for 10 s while posts are still being produced, and
//! comes back: `kestrel run` rides it out on its own (no restart) and no post
//! ends up without its alerts. Apache Kafka keeps its data on disk, so the
//! posts survive its restart.

use std::time::{Duration, Instant};

use kestrel_testkit::*;

const PARTITIONS: i32 = 3;

#[test]
fn a_broker_outage_mid_stream_is_ridden_out_without_losing_a_post() {
    if skip_without_broker() {
        return;
    }
    let mut broker = Broker::memory();
    let rules = broker.prepare(PARTITIONS);
    let brokers = broker.addr();
    let n = 6_000;
    let (expected, bad) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    // A short delivery timeout, so the outage also goes through kestrel's
    // own re-send path, not only librdkafka's retries.
    let config = RunConfig::new(&brokers, "outage", &rules)
        .producer("message.timeout.ms", "3000")
        .write(broker.dir.path());
    let mut k = Kestrel::start(&config, "outage");

    // Posts keep coming, in small chunks, before, during and after the outage.
    let producer = {
        let brokers = brokers.clone();
        std::thread::spawn(move || {
            let mut ends = EndOffsets::new();
            for chunk in (0..n).step_by(200) {
                merge_ends(
                    &mut ends,
                    produce_posts(&brokers, "posts", chunk..chunk + 200),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            ends
        })
    };
    wait_for("kestrel at work", Duration::from_secs(60), || {
        (total(&committed(&brokers, "outage", "posts", PARTITIONS)) >= 1000).then_some(())
    });
    broker.stop();
    // The outage itself: ten seconds without a broker.
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(10) {
        assert!(
            k.is_running(),
            "kestrel exited during the outage:\n{}",
            k.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    broker.restart();
    let ends = producer.join().unwrap();
    assert_eq!(total(&ends), n as i64);
    wait_for(
        "every offset committed after the outage",
        Duration::from_secs(180),
        || (committed(&brokers, "outage", "posts", PARTITIONS) == ends).then_some(()),
    );
    assert!(k.is_running(), "kestrel had to be restarted");
    let log = k.log_text();
    eprintln!(
        "outage ridden out: {} consumer/producer warnings, {} records sent again",
        log.matches("\"WARN\"").count(),
        log.matches("delivery failed").count()
    );
    k.terminate(Duration::from_secs(15));

    let alerts = read_topic(
        &brokers,
        "alerts",
        Duration::from_secs(120),
        covers(&expected),
    );
    let got: std::collections::BTreeSet<(String, String)> =
        alert_pairs(&alerts).into_iter().collect();
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "posts without their alerts after the outage: {missing:?}"
    );
    assert!(got.is_subset(&expected));
    let dlq = read_topic(
        &brokers,
        "posts.dlq",
        Duration::from_secs(60),
        distinct_keys(bad),
    );
    let keys: std::collections::BTreeSet<Vec<u8>> = dlq
        .iter()
        .filter_map(|m| rdkafka::Message::key(m).map(<[u8]>::to_vec))
        .collect();
    assert_eq!(keys.len(), bad);
}
