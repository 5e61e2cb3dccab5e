//! An Apache Kafka broker (KRaft) of a test's own, or a cluster of three,
//! on free ports of 127.0.0.1, run from the jars that
//! `scripts/kafka-dev.sh install` leaves in its cache folder (Maven Central).
//!
//! Without them, or without Java, the tests that need a broker skip with
//! one message, unless `CI` is set or `KAFKA_TESTS_REQUIRED=1`: then they
//! fail.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::{free_port, root, wait_for};

/// The three topics of kestrel's default configuration.
pub const TOPICS: [&str; 3] = ["posts", "alerts", "posts.dlq"];

/// Apache Kafka as `scripts/kafka-dev.sh install` leaves it.
pub struct Kafka {
    /// The folder of jars: the classpath is `libs/*`.
    pub libs: PathBuf,
    /// The class-data archive that makes a broker start faster, if made.
    jsa: Option<PathBuf>,
    log4j: PathBuf,
}

/// The Kafka version `scripts/kafka-dev.sh` pins (its `KAFKA_VERSION=` line),
/// so the script and the tests cannot disagree.
pub fn kafka_version() -> String {
    let script = root().join("scripts/kafka-dev.sh");
    let text = std::fs::read_to_string(&script).expect("reading scripts/kafka-dev.sh");
    text.lines()
        .find_map(|l| l.strip_prefix("KAFKA_VERSION="))
        .expect("KAFKA_VERSION= in scripts/kafka-dev.sh")
        .trim()
        .to_string()
}

fn find_kafka() -> Result<Kafka, String> {
    let version = kafka_version();
    let cache = match std::env::var_os("KAFKA_DEV_CACHE") {
        Some(c) => PathBuf::from(c),
        None => {
            let base = match std::env::var_os("XDG_CACHE_HOME") {
                Some(x) => PathBuf::from(x),
                None => {
                    Path::new(&std::env::var_os("HOME").ok_or("HOME is not set")?).join(".cache")
                }
            };
            base.join("kestrel").join(format!("kafka-{version}"))
        }
    };
    match Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        _ => return Err("java is not installed (Kafka needs Java 17 or later)".to_string()),
    }
    if !cache.join(".complete").is_file() {
        return Err(format!(
            "Apache Kafka {version} is not in {}",
            cache.display()
        ));
    }
    let jsa = cache.join("kafka.jsa");
    Ok(Kafka {
        libs: cache.join("libs"),
        jsa: jsa.is_file().then_some(jsa),
        log4j: cache.join("log4j2.properties"),
    })
}

/// Whether a missing broker fails the tests instead of skipping them: in CI
/// (`CI` set, as CI services do) and with `KAFKA_TESTS_REQUIRED=1`.
pub fn broker_required() -> bool {
    let set = |k: &str| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") || set("KAFKA_TESTS_REQUIRED")
}

fn kafka_or_err() -> &'static Result<Kafka, String> {
    static KAFKA: OnceLock<Result<Kafka, String>> = OnceLock::new();
    KAFKA.get_or_init(find_kafka)
}

/// Kafka, or a failure saying how to get it.
pub fn kafka() -> &'static Kafka {
    match kafka_or_err() {
        Ok(k) => k,
        Err(why) => panic!(
            "the Kafka tests need Apache Kafka: {why}; run `scripts/kafka-dev.sh install` \
             (scripts/test.sh does)"
        ),
    }
}

/// True when this test must skip because no broker can be started here.
/// Says so once per test binary, on stderr past the test harness's capture.
/// In CI or with `KAFKA_TESTS_REQUIRED=1` a missing broker is a failure.
pub fn skip_without_broker() -> bool {
    let Err(why) = kafka_or_err() else {
        return false;
    };
    if broker_required() {
        kafka();
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPING the tests that need a Kafka broker: {why}. Run `scripts/kafka-dev.sh install` \
             (needs java and mvn) to run them; CI=true or KAFKA_TESTS_REQUIRED=1 makes this a failure."
        );
    });
    true
}

/// Kafka's own command-line tools (`org.apache.kafka.tools.…`), run with
/// Kafka's classpath; their exit status and standard output.
pub fn kafka_tool(class: &str, args: &[&str]) -> (bool, String) {
    let k = kafka();
    let mut cmd = Command::new("java");
    cmd.args([
        "-Xms32m",
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
    ]);
    if let Some(jsa) = &k.jsa {
        cmd.arg(format!("-XX:SharedArchiveFile={}", jsa.display()))
            .arg("-Xlog:cds=off")
            .arg("-Xlog:cds+dynamic=off");
    }
    let out = cmd
        .arg(format!("-Dlog4j2.configurationFile={}", k.log4j.display()))
        .arg("-cp")
        .arg(k.libs.join("*"))
        .arg(class)
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .expect("running java");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One Kafka process: broker and controller of a one-node cluster, or one of
/// three of a cluster.
struct Node {
    id: usize,
    port: u16,
    controller_port: u16,
    child: Option<Child>,
}

/// The settings of one KRaft node, the same file `scripts/kafka-dev.sh`
/// fills in for its broker.
const SERVER_PROPERTIES: &str = include_str!("../../../scripts/kafka-server.properties");

/// What a broker with SSL and SASL_SSL listeners adds after them, the same
/// file as `scripts/kafka-dev.sh start-secure`'s.
const SECURE_PROPERTIES: &str = include_str!("../../../scripts/kafka-server-secure.properties");

/// The tests' own tuning after the shared settings: small segments, and a
/// cluster that notices a stopped or killed node within seconds.
const TEST_TUNING: &str = "log.segment.bytes=16777216
replica.lag.time.max.ms=10000
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=500
controlled.shutdown.enable=true
";

/// The password of the keystore `scripts/kafka-dev.sh certs` makes.
const STORE_PASSWORD: &str = "kestrel-dev-store";

/// `template` with each `@NAME@` replaced by its value; a placeholder left
/// over is a mistake of the template or of the caller, and panics naming it.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_string();
    for (name, value) in values {
        text = text.replace(&format!("@{name}@"), value);
    }
    // As the script's check: an @, capitals or _, an @.
    let left = text.match_indices('@').find_map(|(i, _)| {
        let rest = &text[i + 1..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        (len > 0 && rest[len..].starts_with('@')).then(|| rest[..len].to_string())
    });
    if let Some(name) = left {
        panic!("no value for @{name}@ in a broker properties template");
    }
    text
}

/// The SASL user of a broker started by [`Broker::secure`], for PLAIN and
/// SCRAM-SHA-256.
pub const SASL_USER: &str = "kestrel";
/// Its password (a test's own: it must never show up in kestrel's output).
pub const SASL_PASSWORD: &str = "kestrel-test-password-5d1e";

/// The TLS side of a broker started by [`Broker::secure`].
pub struct Tls {
    /// The SSL listener's port.
    pub ssl_port: u16,
    /// The SASL_SSL listener's port (PLAIN and SCRAM-SHA-256).
    pub sasl_port: u16,
    /// The CA that signed the broker's certificate (PEM).
    pub ca: PathBuf,
    /// A CA that signed nothing the broker has.
    pub other_ca: PathBuf,
    keystore: PathBuf,
}

impl Tls {
    /// `host:port` of the SSL listener.
    pub fn ssl_addr(&self) -> String {
        format!("127.0.0.1:{}", self.ssl_port)
    }

    /// `host:port` of the SASL_SSL listener.
    pub fn sasl_addr(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_port)
    }
}

/// An Apache Kafka broker (KRaft) owned by one test, or a cluster of three
/// (replication factor 3, min.insync.replicas 2). Its data lives in `dir`
/// and survives stopping and starting.
pub struct Broker {
    nodes: Vec<Node>,
    /// The client port of the first node.
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// SSL and SASL_SSL listeners beside the plaintext one, if started by
    /// [`Broker::secure`].
    pub tls: Option<Tls>,
}

impl Broker {
    /// A one-node broker (the name is from the tests' first broker, which
    /// kept everything in memory).
    pub fn memory() -> Broker {
        Broker::start(1)
    }

    /// A one-node broker whose data survives `stop` and `restart`.
    pub fn sqlite() -> Broker {
        Broker::start(1)
    }

    /// Three brokers, each also a controller: topics get replication
    /// factor 3 and min.insync.replicas 2.
    pub fn cluster() -> Broker {
        Broker::start(3)
    }

    /// One broker with three client listeners: PLAINTEXT (on `port`, for
    /// the tests' own admin, producing and reading), SSL and SASL_SSL
    /// (PLAIN and SCRAM-SHA-256 for [`SASL_USER`]), with a CA and a PKCS12
    /// keystore made by `scripts/kafka-dev.sh certs`.
    pub fn secure() -> Broker {
        Broker::start_with(1, true)
    }

    fn start(n: usize) -> Broker {
        Broker::start_with(n, false)
    }

    fn start_with(n: usize, secure: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let tls = secure.then(|| {
            let certs = dir.path().join("tls");
            let script = root().join("scripts/kafka-dev.sh");
            crate::output_ok(
                Command::new(&script).arg("certs").arg(&certs),
                "making certificates with scripts/kafka-dev.sh certs",
            );
            Tls {
                ssl_port: free_port(),
                sasl_port: free_port(),
                ca: certs.join("ca.pem"),
                other_ca: certs.join("other-ca.pem"),
                keystore: certs.join("broker.p12"),
            }
        });
        let nodes: Vec<Node> = (1..=n)
            .map(|id| Node {
                id,
                port: free_port(),
                controller_port: free_port(),
                child: None,
            })
            .collect();
        let mut b = Broker {
            port: nodes[0].port,
            nodes,
            dir,
            tls,
        };
        // Any 16 bytes in base64url, as `kafka-storage random-uuid` prints.
        let cluster_id = "G7-4Qqd9TeSCf_iXAPjTzQ";
        // The SCRAM user is part of the cluster's first metadata.
        let scram = format!("SCRAM-SHA-256=[name={SASL_USER},password={SASL_PASSWORD}]");
        for i in 0..n {
            let config = b.write_config(i);
            let mut args = vec!["format", "-t", cluster_id, "-c", config.to_str().unwrap()];
            if b.tls.is_some() {
                args.extend(["--add-scram", &scram]);
            }
            let (ok, out) = kafka_tool("kafka.tools.StorageTool", &args);
            assert!(ok, "formatting Kafka storage: {out}");
        }
        for i in 0..n {
            b.spawn(i);
        }
        for i in 0..n {
            b.wait_accepting(i);
        }
        // Every node registered, so topics get all their replicas.
        wait_for("every broker to register", Duration::from_secs(60), || {
            (b.live_broker_ids().len() == n).then_some(())
        });
        b
    }

    fn voters(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn write_config(&self, i: usize) -> PathBuf {
        let data = self.dir.path().join(format!("node-{}", self.nodes[i].id));
        std::fs::create_dir_all(&data).unwrap();
        let path = data.join("server.properties");
        std::fs::write(&path, self.server_properties(i, &data)).unwrap();
        path
    }

    /// server.properties of node `i`, its data under `data`: the settings
    /// `scripts/kafka-dev.sh` starts its broker with, the tests' tuning, and
    /// a secure broker's listeners and keys (later keys win).
    fn server_properties(&self, i: usize, data: &Path) -> String {
        let node = &self.nodes[i];
        let (rf, isr) = if self.nodes.len() >= 3 {
            ("3", "2")
        } else {
            ("1", "1")
        };
        let (port, cport) = (node.port.to_string(), node.controller_port.to_string());
        let mut text = fill(
            SERVER_PROPERTIES,
            &[
                ("NODE_ID", &node.id.to_string()),
                ("VOTERS", &self.voters()),
                ("PORT", &port),
                ("CONTROLLER_PORT", &cport),
                ("NODE_DIR", &data.display().to_string()),
                ("RF", rf),
                ("ISR", isr),
            ],
        );
        text.push_str(TEST_TUNING);
        if let Some(t) = &self.tls {
            text.push_str(&fill(
                SECURE_PROPERTIES,
                &[
                    ("PORT", &port),
                    ("SSL_PORT", &t.ssl_port.to_string()),
                    ("SASL_PORT", &t.sasl_port.to_string()),
                    ("CONTROLLER_PORT", &cport),
                    ("KEYSTORE", &t.keystore.display().to_string()),
                    ("STORE_PASSWORD", STORE_PASSWORD),
                    ("SASL_USER", SASL_USER),
                    ("SASL_PASSWORD", SASL_PASSWORD),
                ],
            ));
        }
        text
    }

    fn spawn(&mut self, i: usize) {
        let k = kafka();
        let id = self.nodes[i].id;
        let node_dir = self.dir.path().join(format!("node-{id}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node_dir.join("kafka.log"))
            .unwrap();
        let mut cmd = Command::new("java");
        cmd.args(["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC"]);
        if let Some(jsa) = &k.jsa {
            cmd.arg(format!("-XX:SharedArchiveFile={}", jsa.display()))
                .arg("-Xlog:cds=off")
                .arg("-Xlog:cds+dynamic=off");
        }
        cmd.arg(format!("-Dlog4j2.configurationFile={}", k.log4j.display()))
            .arg("-cp")
            .arg(k.libs.join("*"))
            .arg("kafka.Kafka")
            .arg(node_dir.join("server.properties"))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // The broker dies with the test process, even one killed by a
        // timeout: no stray JVMs.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.nodes[i].child = Some(cmd.spawn().expect("starting java"));
    }

    fn wait_accepting(&mut self, i: usize) {
        let addr = format!("127.0.0.1:{}", self.nodes[i].port);
        let id = self.nodes[i].id;
        let log = self.dir.path().join(format!("node-{id}/kafka.log"));
        let child = self.nodes[i].child.as_mut().unwrap();
        wait_for(
            &format!("Kafka node {id} to accept connections"),
            Duration::from_secs(90),
            || {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!(
                        "Kafka node {id} exited ({st}): {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                TcpStream::connect(&addr).ok()
            },
        );
    }

    /// Every node's own log (warnings and errors, and the transaction and
    /// group coordinators' lines), node by node: for a failing test to show.
    pub fn log_text(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let path = self.dir.path().join(format!("node-{}/kafka.log", n.id));
                format!(
                    "[node {}]\n{}",
                    n.id,
                    std::fs::read_to_string(path).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `host:port` of the first node.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every node's `host:port`, comma-separated: a bootstrap list.
    pub fn brokers(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The ids of the brokers the cluster's metadata lists now.
    pub fn live_broker_ids(&self) -> BTreeSet<i32> {
        let live: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        if live.is_empty() {
            return BTreeSet::new();
        }
        let c: BaseConsumer = match ClientConfig::new()
            .set("bootstrap.servers", live.join(","))
            .create()
        {
            Ok(c) => c,
            Err(_) => return BTreeSet::new(),
        };
        match c.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(m) => m.brokers().iter().map(|b| b.id()).collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// The leader (node id) of `topic`'s `partition`, if it has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.live_brokers())
            .create()
            .ok()?;
        let m = c.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
        let t = m.topics().first()?;
        let p = t.partitions().iter().find(|p| p.id() == partition)?;
        (p.leader() >= 0).then_some(p.leader())
    }

    /// The in-sync replicas of `topic`'s `partition`.
    pub fn isr(&self, topic: &str, partition: i32) -> Vec<i32> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.live_brokers())
            .create()
            .unwrap();
        c.fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| {
                m.topics().first().and_then(|t| {
                    t.partitions()
                        .iter()
                        .find(|p| p.id() == partition)
                        .map(|p| p.isr().to_vec())
                })
            })
            .unwrap_or_default()
    }

    fn live_brokers(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Creates a topic with `partitions` partitions, replicated on every
    /// node, and waits until each partition has a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.live_brokers())
            .create()
            .unwrap();
        let topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(self.nodes.len() as i32),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let r = rt
            .block_on(admin.create_topics([&topic], &opts))
            .expect("creating a topic");
        for t in r {
            if let Err((name, e)) = t {
                panic!("creating topic {name}: {e}");
            }
        }
        wait_for(
            &format!("every partition of {name} to have a leader"),
            Duration::from_secs(30),
            || {
                (0..partitions)
                    .all(|p| self.leader(name, p).is_some())
                    .then_some(())
            },
        );
    }

    /// Makes the broker ready for a test run of kestrel: its three topics
    /// ([`TOPICS`]), each with `partitions` partitions, and the test rules
    /// ([`crate::TEST_RULES`]) in the broker's folder, whose path it returns.
    pub fn prepare(&self, partitions: i32) -> PathBuf {
        for t in TOPICS {
            self.create_topic(t, partitions);
        }
        crate::write_rules(self.dir.path())
    }

    /// Replaces `topic`'s configuration overrides with `entries` (none: every
    /// key back to the broker's default).
    pub fn set_topic_config(&self, topic: &str, entries: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.live_brokers())
            .create()
            .unwrap();
        let mut change = AlterConfig::new(ResourceSpecifier::Topic(topic));
        for (k, v) in entries {
            change = change.set(k, v);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for r in rt
            .block_on(admin.alter_configs([&change], &opts))
            .expect("altering a topic's configuration")
        {
            if let Err((_, e)) = r {
                panic!("altering {topic}'s configuration: {e}");
            }
        }
    }

    /// Stops every node the way an operator would (SIGTERM, controlled
    /// shutdown) and waits for each to exit.
    pub fn stop(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node_by_index(i);
        }
    }

    /// Starts every stopped node again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.start_stopped();
    }

    /// Starts every stopped node again and waits for them.
    pub fn start_stopped(&mut self) {
        let stopped: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].child.is_none())
            .collect();
        for &i in &stopped {
            self.spawn(i);
        }
        for &i in &stopped {
            self.wait_accepting(i);
        }
        let n = self.nodes.len();
        wait_for(
            "every broker to register again",
            Duration::from_secs(90),
            || (self.live_broker_ids().len() == n).then_some(()),
        );
    }

    /// SIGKILLs node `id` (1-based): a crash, no controlled shutdown.
    pub fn kill_node(&mut self, id: i32) {
        let i = self.index(id);
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops node `id` (1-based) with SIGTERM and waits for it to exit.
    pub fn stop_node(&mut self, id: i32) {
        let i = self.index(id);
        self.stop_node_by_index(i);
    }

    /// Starts node `id` (1-based) again and waits until it accepts
    /// connections.
    pub fn start_node(&mut self, id: i32) {
        let i = self.index(id);
        if self.nodes[i].child.is_none() {
            self.spawn(i);
            self.wait_accepting(i);
        }
    }

    fn index(&self, id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id as i32 == id)
            .unwrap_or_else(|| panic!("no Kafka node {id}"))
    }

    fn stop_node_by_index(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Kafka tests of one binary take turns: each starts a broker and a few
/// processes, and two cores do not run several of those well at once.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker that is only described: nothing started.
    fn described(n: usize, secure: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let tls = secure.then(|| Tls {
            ssl_port: 7001,
            sasl_port: 7002,
            ca: dir.path().join("tls/ca.pem"),
            other_ca: dir.path().join("tls/other-ca.pem"),
            keystore: dir.path().join("tls/broker.p12"),
        });
        let nodes: Vec<Node> = (1..=n)
            .map(|id| Node {
                id,
                port: 6000 + id as u16,
                controller_port: 6100 + id as u16,
                child: None,
            })
            .collect();
        Broker {
            port: nodes[0].port,
            nodes,
            dir,
            tls,
        }
    }

    /// The value a broker reads for `key`: the last one given.
    fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        let t = fill(
            "a=@A@\nb=@B_C@,@A@\n# @…@ is not one\n",
            &[("A", "1&\\"), ("B_C", "x@y")],
        );
        assert_eq!(t, "a=1&\\\nb=x@y,1&\\\n# @…@ is not one\n");
    }

    #[test]
    #[should_panic(expected = "no value for @B@")]
    fn fill_names_a_placeholder_left_over() {
        fill("a=@A@\nb=@B@\n", &[("A", "1")]);
    }

    #[test]
    fn a_cluster_node_has_the_shared_settings_and_the_tests_tuning() {
        let b = described(3, false);
        let data = b.dir.path().join("node-2");
        let text = b.server_properties(1, &data);
        assert_eq!(value(&text, "node.id"), Some("2"));
        assert_eq!(
            value(&text, "controller.quorum.voters"),
            Some("1@127.0.0.1:6101,2@127.0.0.1:6102,3@127.0.0.1:6103")
        );
        assert_eq!(
            value(&text, "listeners"),
            Some("PLAINTEXT://127.0.0.1:6002,CONTROLLER://127.0.0.1:6102")
        );
        assert_eq!(
            value(&text, "log.dirs"),
            Some(format!("{}/data", data.display()).as_str())
        );
        assert_eq!(value(&text, "min.insync.replicas"), Some("2"));
        assert_eq!(
            value(&text, "transaction.state.log.replication.factor"),
            Some("3")
        );
        assert_eq!(value(&text, "log.segment.bytes"), Some("16777216"));
        assert_eq!(value(&text, "broker.session.timeout.ms"), Some("6000"));
    }

    #[test]
    fn a_secure_node_ends_with_its_listeners_and_the_tests_password() {
        let b = described(1, true);
        let text = b.server_properties(0, &b.dir.path().join("node-1"));
        assert_eq!(
            value(&text, "listeners"),
            Some("PLAINTEXT://127.0.0.1:6001,SSL://127.0.0.1:7001,SASL_SSL://127.0.0.1:7002,CONTROLLER://127.0.0.1:6101")
        );
        assert_eq!(value(&text, "ssl.keystore.password"), Some(STORE_PASSWORD));
        let jaas = value(&text, "listener.name.sasl_ssl.plain.sasl.jaas.config").unwrap();
        assert!(
            jaas.ends_with(&format!("user_{SASL_USER}=\"{SASL_PASSWORD}\";")),
            "{jaas}"
        );
    }
}
