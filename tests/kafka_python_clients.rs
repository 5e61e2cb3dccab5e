//! Clients nobody here wrote: Python's `confluent-kafka` and the pure-Python
//! `kafka-python` produce the posts, and both read the alerts and dead
//! letters back. The script is tests/python/clients.py; scripts/test.sh
//! installs both packages. Kafka's own `kafka-consumer-groups` tool shows
//! kestrel's group and its lag.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kestrel_testkit::*;

const PARTITIONS: i32 = 3;

fn python(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/clients.py");
    let out = output_ok(
        Command::new("python3").arg(script).args(args),
        &format!("python3 clients.py {args:?}"),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_clients_produce_posts_and_read_alerts_and_dead_letters() {
    if skip_without_broker() {
        return;
    }
    let broker = Broker::memory();
    let rules = broker.prepare(PARTITIONS);
    let brokers = broker.addr();
    let n = 2_000;
    let (expected, bad) = expected_by_scan(broker.dir.path(), &rules, 0..n);
    let posts_file = broker.dir.path().join(format!("posts-0-{n}.jsonl"));
    python(&["produce", &brokers, "posts", posts_file.to_str().unwrap()]);

    let config = RunConfig::new(&brokers, "py", &rules).write(broker.dir.path());
    let mut k = Kestrel::start(&config, "py");
    wait_for("every post finished", Duration::from_secs(120), || {
        (total(&committed(&brokers, "py", "posts", PARTITIONS)) == n as i64).then_some(())
    });
    k.terminate(Duration::from_secs(15));

    // Kafka's own consumer-groups tool sees kestrel's group: its committed
    // offsets cover the posts it read, and posts produced since are its lag.
    let more = 300;
    produce_posts(&brokers, "posts", n..n + more);
    let (ok, out) = kafka_tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &[
            "--bootstrap-server",
            &brokers,
            "--describe",
            "--group",
            "py",
        ],
    );
    assert!(ok, "kafka-consumer-groups --describe failed:\n{out}");
    let (mut current, mut lag, mut rows) = (0i64, 0i64, 0);
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
        if cols.len() >= 6 && cols[0] == "py" && cols[1] == "posts" {
            current += cols[3].parse::<i64>().expect(line);
            lag += cols[5].parse::<i64>().expect(line);
            rows += 1;
        }
    }
    assert_eq!(rows, PARTITIONS, "one row per partition:\n{out}");
    assert_eq!(current, n as i64, "kestrel's committed offsets:\n{out}");
    assert_eq!(lag, more as i64, "kestrel's lag:\n{out}");

    let seen: serde_json::Value = serde_json::from_str(&python(&[
        "read",
        &brokers,
        "alerts",
        "posts.dlq",
        &expected.len().to_string(),
        &bad.to_string(),
    ]))
    .unwrap();
    for client in ["confluent-kafka", "kafka-python"] {
        let alerts = seen[client]["alerts"].as_array().unwrap();
        let pairs: Vec<(String, String)> = alerts
            .iter()
            .map(|a| {
                let v: serde_json::Value =
                    serde_json::from_str(a["value"].as_str().unwrap()).unwrap();
                assert_eq!(a["key"], v["post_id"], "{client}: alert key");
                assert_eq!(
                    a["headers"]["rule_id"], v["rule"]["id"],
                    "{client}: rule_id header"
                );
                assert_eq!(a["headers"]["category"], v["rule"]["category"]);
                assert_eq!(a["headers"]["severity"], v["rule"]["severity"]);
                (
                    v["post_id"].as_str().unwrap().to_string(),
                    v["rule"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(pairs.len(), expected.len(), "{client}: alert count");
        assert_eq!(
            pairs.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "{client}"
        );
        let dlq = seen[client]["posts.dlq"].as_array().unwrap();
        assert_eq!(dlq.len(), bad, "{client}: dead letters");
        for d in dlq {
            let i: usize = d["key"].as_str().unwrap().parse().unwrap();
            assert!(is_bad(i));
            // The original value and the producing client's header, unchanged.
            assert_eq!(d["value"].as_str().unwrap().as_bytes(), post(i).as_slice());
            let origin = if i < n / 2 {
                "confluent-kafka"
            } else {
                "kafka-python"
            };
            assert_eq!(d["headers"]["client"], origin);
            assert!(d["headers"]["kestrel.error"].as_str().is_some());
            assert_eq!(d["headers"]["kestrel.source.topic"], "posts");
        }
    }
}
