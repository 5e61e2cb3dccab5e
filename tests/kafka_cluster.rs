//! Broker faults in a 3-broker Apache Kafka cluster (replication factor 3,
//! min.insync.replicas 2) while posts flow: the leader of a partition is
//! SIGKILLed, another broker is stopped for 20 s and brought back, then the
//! whole cluster restarts. One `kestrel run` (at least once) goes on through
//! all of it without a restart, and no post is lost: every alert `kestrel
//! scan` gives for the same posts is on the alert topic, and every bad post
//! has its dead letter.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kestrel_testkit::*;

const PARTITIONS: i32 = 3;

/// Waits until every partition of the three topics has all three replicas
/// in sync again.
fn wait_in_sync(broker: &Broker) {
    wait_for(
        "every replica back in sync",
        Duration::from_secs(120),
        || {
            ["posts", "alerts", "posts.dlq"]
                .iter()
                .all(|t| (0..PARTITIONS).all(|p| broker.isr(t, p).len() == 3))
                .then_some(())
        },
    );
}

fn progress(brokers: &str) -> i64 {
    total(&committed(brokers, "cluster", "posts", PARTITIONS))
}

#[test]
fn kestrel_rides_out_a_killed_leader_a_stopped_broker_and_a_cluster_restart() {
    if skip_without_broker() {
        return;
    }
    let mut broker = Broker::cluster();
    let rules = broker.prepare(PARTITIONS);
    let brokers = broker.brokers();
    let n = 40_000;
    let (expected, bad) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    let config = RunConfig::new(&brokers, "cluster", &rules).write(broker.dir.path());
    let mut k = Kestrel::start(&config, "cluster");
    k.wait_ready();

    // Posts keep coming through every fault.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let brokers = brokers.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut ends = EndOffsets::new();
            for chunk in (0..n).step_by(250) {
                merge_ends(
                    &mut ends,
                    produce_posts(&brokers, "posts", chunk..chunk + 250),
                );
                if !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(400));
                }
            }
            ends
        })
    };
    let alive = |k: &mut Kestrel, when: &str| {
        assert!(k.is_running(), "kestrel exited {when}:\n{}", k.log_text());
    };
    let started = Instant::now();

    // 1. SIGKILL the leader of posts/0 mid-stream.
    wait_for("kestrel at work", Duration::from_secs(120), || {
        (progress(&brokers) >= 2_000).then_some(())
    });
    let leader = broker.leader("posts", 0).expect("posts/0 has a leader");
    let before = progress(&brokers);
    broker.kill_node(leader);
    eprintln!(
        "{:?}: killed node {leader}, the leader of posts/0, at {before} posts committed",
        started.elapsed()
    );
    wait_for(
        "progress without the killed leader",
        Duration::from_secs(120),
        || (progress(&brokers) >= before + 2_000).then_some(()),
    );
    alive(&mut k, "after the leader was killed");
    broker.start_node(leader);
    wait_in_sync(&broker);

    // 2. Stop another broker for 20 s, then bring it back.
    let other = broker.leader("alerts", 1).expect("alerts/1 has a leader");
    let before = progress(&brokers);
    broker.stop_node(other);
    eprintln!(
        "{:?}: stopped node {other} for 20 s at {before} posts committed",
        started.elapsed()
    );
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(20) {
        alive(&mut k, "while a broker was stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        progress(&brokers) > before,
        "no post committed while one broker of three was down"
    );
    broker.start_node(other);
    wait_in_sync(&broker);

    // 3. Restart the whole cluster.
    let before = progress(&brokers);
    eprintln!(
        "{:?}: restarting the whole cluster at {before} posts committed",
        started.elapsed()
    );
    broker.restart();
    alive(&mut k, "after the cluster restarted");

    stop.store(true, Ordering::Relaxed);
    let ends = producer.join().unwrap();
    assert_eq!(total(&ends), n as i64);
    wait_for(
        "every offset committed after the faults",
        Duration::from_secs(240),
        || (committed(&brokers, "cluster", "posts", PARTITIONS) == ends).then_some(()),
    );
    alive(&mut k, "before the end");
    eprintln!("{:?}: every post committed", started.elapsed());
    k.terminate(Duration::from_secs(30));

    let alerts = read_topic(
        &brokers,
        "alerts",
        Duration::from_secs(120),
        covers(&expected),
    );
    let got: BTreeSet<(String, String)> = alert_pairs(&alerts).into_iter().collect();
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "posts without their alerts after the faults, e.g. {missing:?}"
    );
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    assert!(
        extra.is_empty(),
        "alerts kestrel scan does not give: {extra:?}"
    );
    let dlq = read_topic(
        &brokers,
        "posts.dlq",
        Duration::from_secs(60),
        distinct_keys(bad),
    );
    let keys: BTreeSet<Vec<u8>> = dlq
        .iter()
        .filter_map(|m| rdkafka::Message::key(m).map(<[u8]>::to_vec))
        .collect();
    assert_eq!(keys.len(), bad, "every bad post has its dead letter");
    eprintln!(
        "{n} posts through three faults: {} alerts ({} copies), {} dead letters",
        alerts.len(),
        alerts.len() - expected.len(),
        dlq.len()
    );
}
