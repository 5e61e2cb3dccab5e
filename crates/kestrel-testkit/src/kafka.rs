//! Kafka clients of the tests: one producer, one reader, the committed
//! offsets of a group, and what alert messages say.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedHeaders, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer as _};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::free_port;
use crate::posts::{alert_pair, post};

/// Per partition, the offset after the last message produced.
pub type EndOffsets = BTreeMap<i32, i64>;

/// A producer batched as real producers batch (many messages per record
/// batch, compressed, idempotent), which counts what the broker
/// acknowledged.
pub struct Producer {
    inner: BaseProducer<EndTracker>,
}

impl Producer {
    pub fn new(brokers: &str) -> Producer {
        Producer::with(brokers, &[])
    }

    /// With more client properties (e.g. `message.max.bytes`).
    pub fn with(brokers: &str, properties: &[(&str, &str)]) -> Producer {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("enable.idempotence", "true")
            .set("queue.buffering.max.messages", "1000000");
        for (k, v) in properties {
            config.set(*k, *v);
        }
        Producer {
            inner: config.create_with_context(EndTracker::default()).unwrap(),
        }
    }

    /// Queues one message (`value` None: a tombstone), waiting while the
    /// queue is full.
    pub fn send(
        &self,
        topic: &str,
        key: &[u8],
        value: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) {
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).key(key);
        if let Some(v) = value {
            rec = rec.payload(v);
        }
        if let Some(h) = headers {
            rec = rec.headers(h);
        }
        loop {
            match self.inner.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    self.inner.poll(Duration::from_millis(5));
                }
            }
        }
        self.inner.poll(Duration::ZERO);
    }

    /// Waits for every acknowledgement, fails the test if any message was
    /// not produced, and returns the end offsets acknowledged so far.
    pub fn flush(&self) -> EndOffsets {
        self.inner.flush(Duration::from_secs(120)).unwrap();
        let ctx = self.inner.context();
        assert_eq!(
            *ctx.failed.lock().unwrap(),
            0,
            "some messages were not produced"
        );
        let ends = ctx.ends.lock().unwrap().clone();
        ends
    }
}

/// Produces posts `range` to `topic`, keyed by the post number, with a
/// header on every 10th; returns the end offsets it saw acknowledged.
pub fn produce_posts(brokers: &str, topic: &str, range: std::ops::Range<usize>) -> EndOffsets {
    let p = Producer::new(brokers);
    for i in range {
        let headers = (i % 10 == 0).then(|| {
            OwnedHeaders::new().insert(rdkafka::message::Header {
                key: "origin",
                value: Some("test"),
            })
        });
        p.send(topic, i.to_string().as_bytes(), Some(&post(i)), headers);
    }
    p.flush()
}

/// Produces `(key, value)` messages and waits for every acknowledgement.
pub fn produce(brokers: &str, topic: &str, messages: &[(String, String)]) -> EndOffsets {
    let p = Producer::new(brokers);
    for (key, value) in messages {
        p.send(topic, key.as_bytes(), Some(value.as_bytes()), None);
    }
    p.flush()
}

#[derive(Default)]
struct EndTracker {
    ends: std::sync::Mutex<EndOffsets>,
    failed: std::sync::Mutex<usize>,
}

impl rdkafka::ClientContext for EndTracker {}

impl rdkafka::producer::ProducerContext for EndTracker {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        match r {
            Ok(m) => {
                let mut e = self.ends.lock().unwrap();
                let v = e.entry(m.partition()).or_insert(0);
                *v = (*v).max(m.offset() + 1);
            }
            Err(_) => *self.failed.lock().unwrap() += 1,
        }
    }
}

/// Merges two end-offset maps (the furthest per partition).
pub fn merge_ends(a: &mut EndOffsets, b: EndOffsets) {
    for (p, o) in b {
        let v = a.entry(p).or_insert(0);
        *v = (*v).max(o);
    }
}

/// The sum of a partition map.
pub fn total(m: &EndOffsets) -> i64 {
    m.values().sum()
}

/// Reads one topic from the beginning with a group of its own that
/// commits nothing. Keeps every message read, and the JSON of those whose
/// value is JSON.
pub struct Reader {
    consumer: BaseConsumer,
    /// Every message read so far.
    pub messages: Vec<OwnedMessage>,
    /// The values read so far that are JSON.
    pub values: Vec<serde_json::Value>,
}

impl Reader {
    /// At the client's default isolation (`read_committed`).
    pub fn new(brokers: &str, topic: &str) -> Reader {
        Reader::with(brokers, topic, &[])
    }

    /// At `isolation`: `read_committed` or `read_uncommitted`.
    pub fn isolated(brokers: &str, topic: &str, isolation: &str) -> Reader {
        Reader::with(brokers, topic, &[("isolation.level", isolation)])
    }

    fn with(brokers: &str, topic: &str, properties: &[(&str, &str)]) -> Reader {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("reader-{topic}-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        for (k, v) in properties {
            config.set(*k, *v);
        }
        let consumer: BaseConsumer = config.create().unwrap();
        consumer.subscribe(&[topic]).unwrap();
        Reader {
            consumer,
            messages: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Waits up to 100 ms for one message; whether one came.
    fn poll(&mut self) -> bool {
        match self.consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let m = m.detach();
                if let Some(v) = m.payload().and_then(|p| serde_json::from_slice(p).ok()) {
                    self.values.push(v);
                }
                self.messages.push(m);
                true
            }
            _ => false,
        }
    }

    /// Reads until `done` holds on the JSON values read so far; fails the
    /// test after `within`.
    pub fn until(
        &mut self,
        what: &str,
        within: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> &[serde_json::Value] {
        let deadline = Instant::now() + within;
        while !done(&self.values) {
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; read {} messages",
                self.values.len()
            );
            self.poll();
        }
        &self.values
    }

    /// Reads until `done` holds on the messages read and nothing more came
    /// for `quiet` (so extra messages would be seen too), or until `within`
    /// passes; returns every message read.
    pub fn settle(
        mut self,
        within: Duration,
        quiet: Duration,
        mut done: impl FnMut(&[OwnedMessage]) -> bool,
    ) -> Vec<OwnedMessage> {
        let deadline = Instant::now() + within;
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            if self.poll() {
                quiet_since = Instant::now();
            } else if done(&self.messages) && quiet_since.elapsed() > quiet {
                break;
            }
        }
        self.messages
    }
}

/// Reads a topic from the beginning until `done` says it has everything (or
/// `within` passes) and returns all messages.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    within: Duration,
    done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    Reader::new(brokers, topic).settle(within, Duration::from_millis(1500), done)
}

/// Reads every message of `topic` at `isolation` (`read_committed` or
/// `read_uncommitted`), until nothing more comes for 3 s after at least
/// `want`, or for 120 s.
pub fn read_isolated(
    brokers: &str,
    topic: &str,
    isolation: &str,
    want: usize,
) -> Vec<OwnedMessage> {
    Reader::isolated(brokers, topic, isolation).settle(
        Duration::from_secs(120),
        Duration::from_secs(3),
        |m| m.len() >= want,
    )
}

/// The committed offsets of `group` on `topic`, per partition.
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> EndOffsets {
    // One client per group, kept: polling committed offsets every few
    // milliseconds must not cost a connection each time.
    type Clients = std::collections::HashMap<(String, String), std::sync::Arc<BaseConsumer>>;
    static CLIENTS: std::sync::Mutex<Option<Clients>> = std::sync::Mutex::new(None);
    let c = {
        let mut guard = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .get_or_insert_with(Default::default)
            .entry((brokers.to_string(), group.to_string()))
            .or_insert_with(|| {
                std::sync::Arc::new(
                    ClientConfig::new()
                        .set("bootstrap.servers", brokers)
                        .set("group.id", group)
                        .create()
                        .unwrap(),
                )
            })
            .clone()
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    match c.committed_offsets(tpl, Duration::from_secs(10)) {
        Ok(got) => got
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect(),
        Err(_) => EndOffsets::new(),
    }
}

/// Waits until `group` has committed exactly `ends` on `posts` (of
/// `partitions` partitions), failing the test after `within`.
pub fn wait_committed(
    brokers: &str,
    group: &str,
    partitions: i32,
    ends: &EndOffsets,
    within: Duration,
) {
    crate::wait_for("every offset committed", within, || {
        (committed(brokers, group, "posts", partitions) == *ends).then_some(())
    });
}

/// A header's value as text.
pub fn header(m: &OwnedMessage, key: &str) -> Option<String> {
    let h = m.headers()?;
    h.iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// (post id, rule id) of every alert message.
pub fn alert_pairs(alerts: &[OwnedMessage]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|m| alert_pair(&serde_json::from_slice(m.payload().unwrap()).unwrap()))
        .collect()
}

/// A `read_topic` predicate: true once the alerts read cover every
/// (post id, rule id) of `expected` (copies do not count twice, so a broker
/// that pauses cannot make a read with copies stop short).
pub fn covers(expected: &BTreeSet<(String, String)>) -> impl FnMut(&[OwnedMessage]) -> bool + '_ {
    let mut seen = 0;
    let mut got: BTreeSet<(String, String)> = BTreeSet::new();
    move |msgs| {
        got.extend(alert_pairs(&msgs[seen..]));
        seen = msgs.len();
        expected.is_subset(&got)
    }
}

/// A `read_topic` predicate: true once `want` distinct keys were read.
pub fn distinct_keys(want: usize) -> impl FnMut(&[OwnedMessage]) -> bool {
    let mut seen = 0;
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    move |msgs| {
        keys.extend(
            msgs[seen..]
                .iter()
                .filter_map(|m| m.key().map(<[u8]>::to_vec)),
        );
        seen = msgs.len();
        keys.len() >= want
    }
}

/// librdkafka's in-process mock cluster of `brokers` brokers with kestrel's
/// three topics, `partitions` each, replicated on every broker.
pub fn mock_cluster(brokers: i32, partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(brokers).unwrap();
    for t in crate::broker::TOPICS {
        cluster.create_topic(t, partitions, brokers).unwrap();
    }
    cluster
}
