//! Helpers of the Kafka integration tests: a tansu broker of the test's own
//! on a free port, a `kestrel run` child, producing posts and reading topics
//! back with exact counts.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// The tansu binary: on PATH or in ~/.cargo/bin. Missing is a failure, not a
/// skip: `scripts/kafka-dev.sh install` (run by `scripts/test.sh`) puts it
/// there.
pub fn tansu() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cargo/bin/tansu");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "the Kafka tests need the tansu broker (0.6.0) and it is not on PATH or in ~/.cargo/bin: \
         run `scripts/kafka-dev.sh install` (scripts/test.sh does)"
    );
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, failing the test after `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tansu broker owned by one test.
pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    storage: String,
    pub dir: tempfile::TempDir,
}

impl Broker {
    /// A broker keeping everything in memory.
    pub fn memory() -> Broker {
        Broker::start("memory://tansu/".to_string(), tempfile::tempdir().unwrap())
    }

    /// A broker on SQLite, so it can be stopped and started again.
    pub fn sqlite() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        // tansu reads the SQLite path relative to its working directory,
        // which is the test's directory.
        let storage = "sqlite://tansu.db".to_string();
        Broker::start(storage, dir)
    }

    fn start(storage: String, dir: tempfile::TempDir) -> Broker {
        let mut b = Broker {
            child: None,
            port: free_port(),
            storage,
            dir,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        let child = Command::new(tansu())
            .arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg(&self.storage)
            .env("RUST_LOG", "warn")
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting tansu");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for(
            "the broker to accept connections",
            Duration::from_secs(30),
            || TcpStream::connect(&addr).ok(),
        );
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let st = Command::new(tansu())
            .args(["topic", "create", name, "--partitions"])
            .arg(partitions.to_string())
            .arg("--broker")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "creating topic {name}");
    }

    /// Kills the broker.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The small rule set of the tests: counts come out exact and are checked
/// against `kestrel scan` anyway.
pub const TEST_RULES: &str = r#"
rules:
  - id: t.donate
    revision: 1
    title: Donation appeal
    description: Asks for money.
    category: financing
    severity: high
    status: active
    terms:
      appeal: { words: [donate] }
    condition: appeal
  - id: t.join
    revision: 2
    title: Joining appeal
    description: Asks readers to join.
    category: recruitment
    severity: medium
    status: active
    terms:
      call: { words: ["join us"] }
    condition: call
  - id: t.wallet-appeal
    revision: 1
    title: Donation with a wallet word
    description: Money and a wallet.
    category: financing
    severity: critical
    status: active
    terms:
      appeal: { words: [donate] }
      wallet: { words: [wallet] }
    condition: appeal and wallet
"#;

/// Writes the test rules into `dir/rules` and returns that path.
pub fn write_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("test.yaml"), TEST_RULES).unwrap();
    rules
}

/// Post number `i`: one in 50 is bad (three kinds in turn); the rest fire
/// zero, one, two or three rules.
pub fn post(i: usize) -> Vec<u8> {
    if i % 50 == 49 {
        return match (i / 50) % 3 {
            0 => b"{\"id\": \"broken".to_vec(),
            1 => format!("{{\"text\": \"no id here {i}\"}}").into_bytes(),
            _ => format!("{{\"id\": \"p{i}\"}}").into_bytes(),
        };
    }
    let text = match i % 7 {
        0 => "please donate today",
        1 => "join us now, brothers",
        2 => "donate to this wallet and join us",
        3 => "donate what you can, the wallet is open",
        _ => "an ordinary post about the weather",
    };
    format!(
        "{{\"id\": \"p{i}\", \"created_at\": \"2015-01-06T21:07:00Z\", \"text\": \"{text} #{i}\"}}"
    )
    .into_bytes()
}

/// Whether post `i` is bad.
pub fn is_bad(i: usize) -> bool {
    i % 50 == 49
}

/// Per partition, the offset after the last message produced.
pub type EndOffsets = BTreeMap<i32, i64>;

/// Produces posts `range` to `topic`, keyed by the post number, with a
/// header on every 10th; returns the end offsets it saw acknowledged.
pub fn produce_posts(brokers: &str, topic: &str, range: std::ops::Range<usize>) -> EndOffsets {
    // One post per record batch: tansu 0.6.0 answers a fetch from an offset
    // inside a batch with the NEXT batch, so a consumer resuming from a
    // committed offset mid-batch would silently skip the rest of that batch
    // (any consumer; see docs/operations.md). Batches of one keep every
    // committed offset on a batch boundary, so what the tests check is
    // kestrel, not that broker bug.
    let producer: BaseProducer<EndTracker> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("batch.num.messages", "1")
        .set("linger.ms", "0")
        .set("enable.idempotence", "true")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(EndTracker::default())
        .unwrap();
    for i in range {
        let value = post(i);
        let key = i.to_string();
        let mut rec = BaseRecord::to(topic).key(&key).payload(&value);
        if i % 10 == 0 {
            rec = rec.headers(OwnedHeaders::new().insert(rdkafka::message::Header {
                key: "origin",
                value: Some("test"),
            }));
        }
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let ctx = producer.context().clone();
    assert_eq!(
        *ctx.failed.lock().unwrap(),
        0,
        "some posts were not produced"
    );
    let ends = ctx.ends.lock().unwrap().clone();
    ends
}

#[derive(Default)]
pub struct EndTracker {
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

/// Reads a topic from the beginning until `done` says it has everything (or
/// `within` passes) and returns all messages.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    within: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", free_port()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + within;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(m.detach());
                quiet_since = Instant::now();
            }
            _ => {
                // Done once the predicate holds and nothing more came for a
                // moment (so extra messages would be seen too).
                if done(&out) && quiet_since.elapsed() > Duration::from_millis(1500) {
                    break;
                }
            }
        }
    }
    out
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
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            (
                v["post_id"].as_str().unwrap().to_string(),
                v["rule"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What `kestrel scan` says about posts `range`: the set of (post id, rule
/// id) and the number of bad lines.
pub fn expected_by_scan(
    dir: &Path,
    rules: &Path,
    range: std::ops::Range<usize>,
) -> (BTreeSet<(String, String)>, usize) {
    let file = dir.join(format!("posts-{}-{}.jsonl", range.start, range.end));
    let mut text = Vec::new();
    for i in range {
        text.extend_from_slice(&post(i));
        text.push(b'\n');
    }
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("scan")
        .arg("--rules")
        .arg(rules)
        .arg("--quiet")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pairs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["post_id"].as_str().unwrap().to_string(),
                v["rule"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let bad = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("bad post"))
        .count();
    (pairs, bad)
}

/// A configuration file for `kestrel run` against `brokers`.
pub fn write_config(dir: &Path, brokers: &str, group: &str, rules: &Path, extra: &str) -> PathBuf {
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
input_topics = ["posts"]
alert_topic = "alerts"
dead_letter_topic = "posts.dlq"

[kafka.consumer]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"auto.commit.interval.ms" = "200"

[rules]
dir = "{}"
reload = "off"

[pipeline]
workers = 2
{extra}

[metrics]
listen = "127.0.0.1:0"
"#,
            rules.display()
        ),
    )
    .unwrap();
    path
}

/// A `kestrel run` child process; its log goes to a file.
pub struct Kestrel {
    pub child: Child,
    pub log: PathBuf,
}

impl Kestrel {
    pub fn start(config: &Path, name: &str) -> Kestrel {
        let log = config.with_file_name(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
        for (k, _) in std::env::vars() {
            if k.starts_with("KESTREL_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .env("KESTREL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Kestrel { child, log }
    }

    /// Waits until it consumes (its signal handlers are installed by then).
    pub fn wait_ready(&self) {
        wait_for(
            "kestrel run to start consuming",
            Duration::from_secs(60),
            || (!self.events("consuming").is_empty()).then_some(()),
        );
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill failed");
    }

    /// The `fields` of every log event with this message.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .map(|v| v["fields"].clone())
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the exit; `None` if it did not exit within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kestrel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // What kestrel said, for the failure report.
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {}:", self.log.display());
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
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

/// The sum of a partition map.
pub fn total(m: &EndOffsets) -> i64 {
    m.values().sum()
}

/// Kafka tests of one binary take turns: each starts a broker and a few
/// processes, and two cores do not run several of those well at once.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
