//! The bad input catalogue (see `bad_input.rs`) through `kestrel run`
//! against a real broker: every bad message is dead-lettered with its
//! reason and its topic/partition/offset, the good posts around it are
//! scanned, the metrics count both, and no log line (at trace level) nor
//! alert (with `evidence = "none"`) holds post text.

use std::collections::BTreeMap;
use std::time::Duration;

use kestrel_testkit::*;
use rdkafka::message::OwnedMessage;
use rdkafka::Message;

/// In every post's text: it must appear in no log line.
const MARKER: &str = "zqxvmarkerzqxv";

/// A message value (None: a tombstone) and what must become of it.
type Case = (Option<Vec<u8>>, Result<bool, &'static str>);

/// The catalogue, in offset order: the message value (None: a tombstone)
/// and what must become of it (`Ok(flagged)`: scanned, and whether it raises
/// an alert; `Err(reason)`: dead-lettered).
fn catalogue() -> Vec<Case> {
    let m = MARKER;
    let json = |id: &str, text: &str| serde_json::json!({"id": id, "text": text}).to_string();
    let big = json(
        "big",
        &format!("donate {m} {}", "x".repeat(10 * 1024 * 1024)),
    );
    let deep = format!(
        "{{\"id\": \"deep\", \"text\": \"donate {m}\", \"x\": {}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let v = |s: String| Some(s.into_bytes());
    vec![
        (v(json("g0", &format!("donate {m}"))), Ok(true)),
        (
            Some(format!("{{\"id\": \"u1\", \"text\": \"donate {m} \u{0}").into_bytes()).map(
                |mut b| {
                    b.extend_from_slice(b"\xff\"}");
                    b
                },
            ),
            Err("not_utf8"),
        ),
        (v(json("g2", &format!("{m} an ordinary post"))), Ok(false)),
        (
            v(format!("{{\"id\": \"n3\", \"text\": \"donate\0{m}\"}}")),
            Err("not_json"),
        ),
        (v(json("n4", &format!("donate\u{0}{m}"))), Ok(true)),
        (
            v(format!("{{\"id\": \"t5\", \"text\": \"donate {m}")),
            Err("not_json"),
        ),
        (v(format!("[1, \"{m}\"]")), Err("not_object")),
        (v(format!("\"donate {m}\"")), Err("not_object")),
        (
            v(format!("{{\"id\": true, \"text\": \"donate {m}\"}}")),
            Err("invalid_id"),
        ),
        (
            v(format!(
                "{{\"id\": \"w9\", \"text\": 5, \"note\": \"{m}\"}}"
            )),
            Err("invalid_text"),
        ),
        (
            v(format!("{{\"text\": \"donate {m}\"}}")),
            Err("missing_id"),
        ),
        (
            v(format!(
                "{{\"id\": \"d11\", \"text\": \"{m} hello\", \"text\": \"donate {m}\"}}"
            )),
            Ok(true),
        ),
        (
            v(format!(
                "{{\"id\": \"e12\", \"text\": \"\", \"note\": \"{m}\"}}"
            )),
            Ok(false),
        ),
        (v(big), Err("too_large")),
        (v(json("b14", &format!("don\u{202E}ate {m}"))), Ok(true)),
        (
            v(json(
                "e15",
                &format!("👨‍👩‍👧 d\u{301}o\u{308}nate 👍🏽 {m} {}", "\u{301}".repeat(300)),
            )),
            Ok(true),
        ),
        (v(deep), Err("too_deep")),
        (None, Err("not_json")),
        (v(json("g18", &format!("donate {m}"))), Ok(true)),
    ]
}

fn produce_cases(brokers: &str, messages: &[Case]) {
    let producer = Producer::with(brokers, &[("message.max.bytes", "20000000")]);
    for (i, (value, _)) in messages.iter().enumerate() {
        producer.send("posts", i.to_string().as_bytes(), value.as_deref(), None);
        // One at a time: offsets follow the catalogue's order.
        producer.flush();
    }
}

#[test]
fn every_bad_message_is_dead_lettered_in_place_and_the_stream_goes_on() {
    if skip_without_broker() {
        return;
    }
    let _turn = serial();
    let broker = Broker::memory();
    let rules = broker.prepare(1);
    broker.set_topic_config("posts", &[("max.message.bytes", "20000000")]);
    let brokers = broker.addr();
    let cases = catalogue();
    produce_cases(&brokers, &cases);

    let dir = broker.dir.path();
    let config = RunConfig::new(&brokers, "bad-input", &rules)
        .tables("[alerts]\nevidence = \"none\"\n")
        .write(dir);
    let mut k = Kestrel::start_with_env(&config, "bad-input", &[("KESTREL_LOG", "trace")]);
    let addr: String = wait_for("the metrics address", Duration::from_secs(60), || {
        k.metrics_addr()
    });
    let n = cases.len() as f64;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let metrics = loop {
        if let Some(st) = k.try_status() {
            panic!("kestrel run exited ({st}):\n{}", k.log_text());
        }
        let m = series(&scrape(&addr).unwrap());
        if m.get("kestrel_posts_finished_total") == Some(&n) {
            break m;
        }
        if std::time::Instant::now() > deadline {
            let tail: Vec<String> = k
                .log_text()
                .lines()
                .filter(|l| !l.contains("\"TRACE\"") && !l.contains("\"DEBUG\""))
                .map(|l| l.chars().take(400).collect())
                .collect();
            panic!(
                "not every message finished: {:?}\n{}",
                m.iter()
                    .filter(|(k, _)| k.starts_with("kestrel_posts")
                        || k.starts_with("kestrel_dead")
                        || k.starts_with("kestrel_delivery"))
                    .collect::<Vec<_>>(),
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    k.terminate(Duration::from_secs(300));

    // The metrics count every case once.
    let scanned = cases.iter().filter(|(_, e)| e.is_ok()).count() as f64;
    assert_eq!(metrics["kestrel_posts_consumed_total"], n);
    let outcome = |o: &str| metrics[&format!("kestrel_posts_scanned_total{{outcome=\"{o}\"}}")];
    assert_eq!(outcome("alerted") + outcome("clean"), scanned);
    assert_eq!(outcome("dead_letter"), n - scanned);
    let mut by_reason: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, e) in &cases {
        if let Err(r) = e {
            *by_reason.entry(r).or_default() += 1.0;
        }
    }
    for reason in kestrel::post::BadPost::CODES {
        let key = format!("kestrel_dead_letters_total{{reason=\"{reason}\"}}");
        assert_eq!(
            metrics.get(&key).copied(),
            Some(by_reason.get(reason).copied().unwrap_or(0.0)),
            "{key}"
        );
    }

    // Each bad message in the dead-letter topic, with its reason and place.
    let bad = by_reason.values().sum::<f64>() as usize;
    let dlq = read_topic(
        &brokers,
        "posts.dlq",
        Duration::from_secs(60),
        distinct_keys(bad),
    );
    assert_eq!(dlq.len(), bad);
    let index = |m: &OwnedMessage| -> usize {
        std::str::from_utf8(m.key().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    for m in &dlq {
        let i = index(m);
        let Err(reason) = cases[i].1 else {
            panic!("message {i} is good but was dead-lettered");
        };
        let error = header(m, "kestrel.error").unwrap();
        assert!(error.starts_with(reason), "{i}: {error}");
        assert_eq!(header(m, "kestrel.source.topic").as_deref(), Some("posts"));
        assert_eq!(header(m, "kestrel.source.partition").as_deref(), Some("0"));
        assert_eq!(
            header(m, "kestrel.source.offset"),
            Some(i.to_string()),
            "{i}"
        );
        if reason == "too_large" {
            // Too large for the dead-letter topic as well: its place is kept.
            assert!(header(m, "kestrel.value_dropped").is_some());
            assert!(m.payload().is_none());
        } else {
            assert_eq!(m.payload(), cases[i].0.as_deref(), "{i}: the value as sent");
        }
    }

    // The good posts around them were scanned; alerts carry no post text.
    let flagged: Vec<usize> = (0..cases.len())
        .filter(|&i| cases[i].1 == Ok(true))
        .collect();
    let alerts = read_topic(
        &brokers,
        "alerts",
        Duration::from_secs(60),
        |a: &[OwnedMessage]| a.len() >= flagged.len(),
    );
    let mut got: Vec<String> = alerts
        .iter()
        .map(|m| {
            let text = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            assert!(!text.contains(MARKER), "post text in an alert: {text}");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(v["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e.get("text").is_none()));
            v["post_id"].as_str().unwrap().to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = flagged
        .iter()
        .map(|&i| {
            let v: serde_json::Value =
                serde_json::from_slice(cases[i].0.as_deref().unwrap()).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    want.sort();
    assert_eq!(got, want);

    // Logs at trace level name places, never post text.
    let text = k.log_text();
    assert!(text.lines().count() > 10, "{text}");
    assert!(
        text.contains("bad post sent to the dead-letter topic"),
        "the debug events are on"
    );
    for line in text.lines() {
        assert!(!line.contains(MARKER), "post text in a log line: {line}");
    }
}
