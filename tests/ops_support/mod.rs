//! Helpers of the operations tests: a `kestrel run` child with its config
//! and JSON logs, posts in, alerts out, plain HTTP against the metrics port,
//! and reading scrapes and deploy files. The broker comes from
//! `tests/support` (the Kafka tests' helpers).
#![allow(dead_code, unused_imports)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message};

// The broker, ports and polling come from the Kafka tests' helpers.
#[path = "../support/mod.rs"]
mod support;
pub use support::{free_port, kafka_tool, skip_without_broker, wait_for, Broker};

/// A `kestrel run` child with JSON logs in a file.
pub struct Kestrel {
    child: Option<Child>,
    pub metrics: String,
    pub log: PathBuf,
}

impl Kestrel {
    /// Starts `kestrel run --config <dir>/kestrel.toml` with `toml`, and
    /// waits for the metrics port.
    pub fn start(dir: &Path, name: &str, toml: &str, metrics_port: u16) -> Kestrel {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .env("KESTREL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting kestrel run");
        let mut k = Kestrel {
            child: Some(child),
            metrics: format!("127.0.0.1:{metrics_port}"),
            log,
        };
        wait_for("the metrics port", Duration::from_secs(30), || {
            if let Some(st) = k.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kestrel run exited ({st}):\n{}", k.logs());
            }
            http(&k.metrics, "GET", "/healthz").ok()
        });
        k
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log events: each one's `fields` (with `message`), plus
    /// its `level`.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|mut e| {
                let level = e["level"].take();
                let mut fields = e["fields"].take();
                fields["level"] = level;
                fields
            })
            .collect()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.metrics, "GET", path).expect("HTTP request")
    }

    /// A POST with the reset token of [`config`].
    pub fn post(&self, path: &str) -> (u16, String) {
        let auth = format!("Bearer {RESET_TOKEN}");
        http_with(&self.metrics, "POST", path, &[("Authorization", &auth)], "")
            .expect("HTTP request")
    }

    pub fn scrape(&self) -> String {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200);
        body
    }

    /// SIGTERM and wait for the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kestrel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One HTTP/1.0 request; the status code and the body.
pub fn http(addr: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, &[], "")
}

/// The reset token [`config`] sets.
pub const RESET_TOKEN: &str = "ops-test-reset-token";

/// One HTTP/1.0 request with extra headers and a body.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// One sample of a scrape: name, labels, value.
pub type Sample = (String, std::collections::BTreeMap<String, String>, f64);

/// Every sample of a Prometheus text scrape.
pub fn samples(scrape: &str) -> Vec<Sample> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value))
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(scrape).into_iter().find_map(|(n, l, v)| {
        (n == name
            && labels
                .iter()
                .all(|(k, want)| l.get(*k).map(String::as_str) == Some(*want)))
        .then_some(v)
    })
}

/// Metric family names of a scrape (from its `# TYPE` lines).
pub fn family_names(scrape: &str) -> std::collections::BTreeSet<String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every `kestrel_…` metric name in an expression text, with the
/// histogram suffixes taken off.
pub fn metric_names_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("kestrel_") {
        let start = i + pos;
        let boundary = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_')
        };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            let mut name = &text[start..end];
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = name.strip_suffix(suffix) {
                    if base.ends_with("_seconds") {
                        name = base;
                    }
                }
            }
            out.insert(name.to_string());
        }
        i = end;
    }
    out
}

/// Runs `promtool ARGS` with `stdin`; its success and output.
pub fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: `apt-get install prometheus` (scripts/test.sh does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The metric names the Grafana dashboard and the Prometheus alert rules
/// use.
pub fn names_in_deploy_files() -> std::collections::BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/kestrel.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    let alerts = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&alerts).unwrap();
    for group in docs[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(!exprs.is_empty());
    exprs.iter().flat_map(|e| metric_names_in(e)).collect()
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// Produces `(key, value)` messages and waits for every acknowledgement.
pub fn produce(brokers: &str, topic: &str, posts: &[(String, String)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value) in posts {
        let mut rec = BaseRecord::to(topic).key(key).payload(value);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

/// Reads the JSON values of `topic` from the start, in the background.
pub struct TopicReader {
    consumer: BaseConsumer,
    pub seen: Vec<serde_json::Value>,
}

impl TopicReader {
    pub fn new(brokers: &str, topic: &str) -> TopicReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("reader-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        TopicReader {
            consumer,
            seen: Vec::new(),
        }
    }

    /// Reads until `done` holds on everything read so far, or fails after
    /// `within`.
    pub fn until(
        &mut self,
        what: &str,
        within: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> &[serde_json::Value] {
        let deadline = Instant::now() + within;
        while !done(&self.seen) {
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; read {} messages",
                self.seen.len()
            );
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(100)) {
                if let Some(v) = m.payload().and_then(|p| serde_json::from_slice(p).ok()) {
                    self.seen.push(v);
                }
            }
        }
        &self.seen
    }
}

/// A kestrel configuration for tests, with `extra` appended.
pub fn config(
    brokers: &str,
    group: &str,
    rules: &Path,
    reload: &str,
    metrics_port: u16,
    extra: &str,
) -> String {
    format!(
        r#"[kafka]
brokers = "{brokers}"
group_id = "{group}"
input_topics = ["posts"]
alert_topic = "alerts"
dead_letter_topic = "posts.dlq"

[kafka.consumer]
"statistics.interval.ms" = 500
"session.timeout.ms" = 6000
"sasl.password" = "hunter2-never-in-logs"

[rules]
dir = "{}"
reload = "{reload}"

[pipeline]
workers = 2
shutdown_timeout_ms = 5000

[metrics]
listen = "127.0.0.1:{metrics_port}"
reset_token = "{RESET_TOKEN}"
{extra}
"#,
        rules.display(),
    )
}
