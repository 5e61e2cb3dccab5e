//! The measurement: `kestrel run` end to end against a real broker.
//!
//! 1. Produces `--posts` posts (the corpus lines, cycled, each with a unique
//!    id) into a fresh topic, before anything reads it.
//! 2. Ceiling: a plain librdkafka consumer (no processing) reads the topic;
//!    its posts/s is the I/O ceiling of this broker on this machine.
//! 3. Throughput: `kestrel run` (a child process, fresh group) reads the same
//!    posts; posts/s is measured on its committed offsets.
//! 4. Latency: posts are produced into a second topic at a fixed rate (by
//!    default half the throughput just measured) while the same `kestrel run`
//!    works; each alert is timed from the moment its post was handed to the
//!    producer to the moment the alert reached this tool's consumer (so the
//!    figure includes both producers' linger and two fetches: an upper bound).
//! 5. Memory: the child's peak resident set (VmHWM).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The corpus could not be read.
    #[error("reading the corpus {path}: {source}")]
    Corpus {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A Kafka call failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// `kestrel run` could not be started or died.
    #[error("kestrel run: {0}")]
    Child(String),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

/// Options of `kestrel-load`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// JSONL file or directory of `*.jsonl` files.
    #[arg(long, default_value = "../shared/corpus")]
    pub corpus: PathBuf,
    /// Rule directory for `kestrel run`.
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// Posts for the throughput measurement.
    #[arg(long, default_value_t = 500_000)]
    pub posts: usize,
    /// Partitions of the topics created.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Rate of the latency phase, posts/s (default: half the measured
    /// throughput).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Length of the latency phase, seconds.
    #[arg(long, default_value_t = 20)]
    pub latency_secs: u64,
    /// The kestrel binary to run (default: the `kestrel` next to this
    /// tool, as `cargo build --release` leaves it in target/release).
    #[arg(long)]
    pub kestrel: Option<PathBuf>,
    /// One post in this many is a positive test case of an active rule
    /// (from the rule files), so that alerts are produced; 0 for corpus
    /// posts only.
    #[arg(long, default_value_t = 20)]
    pub signal_every: usize,
}

/// Texts that the active rules' own tests say must raise an alert.
fn signal_texts(rules: &std::path::Path) -> Vec<String> {
    let Ok(loaded) = kestrel::rules::load_dir(rules) else {
        return Vec::new();
    };
    loaded
        .set
        .rules
        .iter()
        .filter(|r| r.status == kestrel::rules::Status::Active)
        .flat_map(|r| r.tests.must_match.iter())
        .filter_map(|t| t.fields.first().map(|(_, text)| text.clone()))
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The corpus posts, as JSON objects.
fn read_corpus(
    path: &PathBuf,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, LoadError> {
    let err = |source| LoadError::Corpus {
        path: path.clone(),
        source,
    };
    let mut files = Vec::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).map_err(err)? {
            let p = e.map_err(err)?.path();
            if p.extension().is_some_and(|x| x == "jsonl") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.clone());
    }
    let mut posts = Vec::new();
    for f in files {
        let file = std::fs::File::open(&f).map_err(err)?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(err)?;
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&line) {
                posts.push(m);
            }
        }
    }
    if posts.is_empty() {
        return Err(err(std::io::Error::other("no JSON posts found")));
    }
    Ok(posts)
}

fn post_bytes(
    corpus: &[serde_json::Map<String, serde_json::Value>],
    signals: &[String],
    every: usize,
    i: usize,
    tag: &str,
) -> Vec<u8> {
    if every > 0 && !signals.is_empty() && i % every == every - 1 {
        let text = &signals[(i / every) % signals.len()];
        return serde_json::to_vec(&serde_json::json!({"id": format!("{tag}{i}"), "text": text}))
            .unwrap_or_default();
    }
    let mut m = corpus[i % corpus.len()].clone();
    m.insert("id".into(), serde_json::Value::String(format!("{tag}{i}")));
    serde_json::to_vec(&m).unwrap_or_default()
}

fn producer(brokers: &str) -> Result<BaseProducer, LoadError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "2")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .create()?)
}

fn send_blocking(p: &BaseProducer, topic: &str, key: &str, value: &[u8]) {
    let mut rec = BaseRecord::to(topic).key(key).payload(value);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

fn committed(c: &BaseConsumer, topic: &str, partitions: i32) -> Result<i64, LoadError> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(5))?;
    Ok(got
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum())
}

/// Prints the peak resident set of `kestrel run` during one phase.
fn print_peak_rss(pid: u32, phase: &str) {
    let rss = peak_rss_kib(pid).map_or("unknown".to_string(), |k| {
        format!("{:.1} MB", k as f64 / 1024.0)
    });
    println!("kestrel run peak RSS ({phase}): {rss}");
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the measurement and prints the figures.
pub fn run(args: LoadArgs) -> Result<(), LoadError> {
    let corpus = read_corpus(&args.corpus)?;
    let signals = signal_texts(&args.rules);
    let every = args.signal_every;
    println!(
        "{} corpus posts; {} positive rule-test texts, one post in {every} is one of them",
        corpus.len(),
        signals.len()
    );
    let tag = format!("load{}", now_ms());
    let posts_topic = format!("{tag}.posts");
    let rate_topic = format!("{tag}.rate");
    let alerts_topic = format!("{tag}.alerts");
    let dlq_topic = format!("{tag}.dlq");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .create()?;
    let topics: Vec<NewTopic<'_>> = [&posts_topic, &rate_topic, &alerts_topic, &dlq_topic]
        .iter()
        .map(|t| NewTopic::new(t, args.partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError::Child(e.to_string()))?;
    for r in rt.block_on(admin.create_topics(&topics, &AdminOptions::new()))? {
        if let Err((t, e)) = r {
            return Err(LoadError::Child(format!("creating topic {t}: {e}")));
        }
    }

    // 1. Fill the topic.
    let posts: Vec<Vec<u8>> = (0..args.posts)
        .map(|i| post_bytes(&corpus, &signals, every, i, "m"))
        .collect();
    let bytes: usize = posts.iter().map(Vec::len).sum();
    let p = producer(&args.brokers)?;
    let t = Instant::now();
    for (i, v) in posts.iter().enumerate() {
        send_blocking(&p, &posts_topic, &i.to_string(), v);
    }
    p.flush(Duration::from_secs(120))?;
    println!(
        "produced {} posts ({:.1} MB, {:.0} B/post) in {:.1} s",
        args.posts,
        bytes as f64 / 1e6,
        bytes as f64 / args.posts as f64,
        t.elapsed().as_secs_f64()
    );
    drop(posts);

    // 2. The ceiling: a plain consumer.
    let plain: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", format!("{tag}.plain"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    plain.subscribe(&[&posts_topic])?;
    let mut n = 0usize;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while n < args.posts {
        if Instant::now() > deadline {
            return Err(LoadError::Timeout("the plain consumer".into()));
        }
        if let Some(Ok(_m)) = plain.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            n += 1;
        }
    }
    let plain_secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let plain_rate = args.posts as f64 / plain_secs.max(1e-9);
    drop(plain);
    println!("plain consumer: {n} posts in {plain_secs:.2} s = {plain_rate:.0} posts/s");

    // 3. kestrel run on the same posts.
    let exe = match &args.kestrel {
        Some(p) => p.clone(),
        None => beside_this_tool()?,
    };
    let group = format!("{tag}.kestrel");
    let dir = std::env::temp_dir();
    let log1 = dir.join(format!("{tag}.throughput.log"));
    let mut child = spawn_kestrel(
        &exe,
        &args,
        &group,
        &posts_topic,
        &alerts_topic,
        &dlq_topic,
        &log1,
    )?;
    let pid = child.0.id();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &group)
        .create()?;
    let mut start: Option<(Instant, i64)> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    let total = args.posts as i64;
    let (end, kestrel_rate) = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(LoadError::Child(format!("exited early: {status}")));
        }
        if Instant::now() > deadline {
            return Err(LoadError::Timeout("kestrel run on the posts".into()));
        }
        let done = committed(&watcher, &posts_topic, args.partitions).unwrap_or(0);
        if done > 0 && start.is_none() {
            start = Some((Instant::now(), done));
        }
        if done >= total {
            let (t0, d0) = start.unwrap_or((Instant::now(), 0));
            let secs = t0.elapsed().as_secs_f64();
            break (secs, (total - d0) as f64 / secs.max(1e-9));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "kestrel run: {total} posts committed; steady window {end:.2} s = {kestrel_rate:.0} posts/s ({:.0}% of the plain consumer)",
        100.0 * kestrel_rate / plain_rate
    );
    print_peak_rss(pid, "throughput phase");
    stop(&mut child, &log1);

    // 4. Latency at a fixed rate.
    let rate = args.rate.unwrap_or((kestrel_rate / 2.0) as u64).max(1);
    let log2 = dir.join(format!("{tag}.latency.log"));
    let mut child = spawn_kestrel(
        &exe,
        &args,
        &format!("{tag}.kestrel2"),
        &rate_topic,
        &alerts_topic,
        &dlq_topic,
        &log2,
    )?;
    let pid = child.0.id();
    let assigned_deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log2)
        .unwrap_or_default()
        .contains("partitions assigned")
    {
        if Instant::now() > assigned_deadline {
            return Err(LoadError::Timeout("kestrel's assignment".into()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = (rate * args.latency_secs) as usize;
    let listener: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", format!("{tag}.listener"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .set("enable.auto.commit", "false")
        .create()?;
    // The listener also reads the posts themselves: one hop through the
    // broker, the floor under kestrel's two hops (post in, alert out).
    listener.subscribe(&[&alerts_topic, &rate_topic])?;
    // Join before producing, so no alert is missed.
    let join_deadline = Instant::now() + Duration::from_secs(30);
    while listener.assignment().map_or(0, |a| a.count()) == 0 {
        listener.poll(Duration::from_millis(100));
        if Instant::now() > join_deadline {
            return Err(LoadError::Timeout("the alert listener's assignment".into()));
        }
    }
    let tagged: Vec<Vec<u8>> = (0..count)
        .map(|i| post_bytes(&corpus, &signals, every, i, "r"))
        .collect();
    let lp: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut sent_at = vec![0i64; count];
    let mut latencies: Vec<i64> = Vec::with_capacity(count / 4);
    let mut hops: Vec<i64> = Vec::with_capacity(count);
    let t0 = Instant::now();
    let mut next = 0usize;
    let drain_until =
        |latencies: &mut Vec<i64>, hops: &mut Vec<i64>, sent_at: &[i64], timeout: Duration| {
            let mut wait = timeout;
            // Take everything at hand, so the listener never lags the posts.
            for _ in 0..10_000 {
                let Some(Ok(m)) = listener.poll(wait) else {
                    break;
                };
                wait = Duration::ZERO;
                let is_post = m.topic() == rate_topic;
                let id = m
                    .key()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(|k| k.strip_prefix('r'))
                    .and_then(|k| k.parse::<usize>().ok());
                if let Some(i) = id {
                    if i < sent_at.len() && sent_at[i] > 0 {
                        let l = now_ms() - sent_at[i];
                        if is_post {
                            hops.push(l);
                        } else {
                            latencies.push(l);
                        }
                    }
                }
            }
        };
    while next < count {
        let due = (t0.elapsed().as_secs_f64() * rate as f64) as usize;
        while next < due.min(count) {
            sent_at[next] = now_ms();
            send_blocking(&lp, &rate_topic, &format!("r{next}"), &tagged[next]);
            next += 1;
        }
        lp.poll(Duration::ZERO);
        drain_until(
            &mut latencies,
            &mut hops,
            &sent_at,
            Duration::from_micros(200),
        );
    }
    lp.flush(Duration::from_secs(30))?;
    let tail = Instant::now() + Duration::from_secs(5);
    while Instant::now() < tail {
        drain_until(
            &mut latencies,
            &mut hops,
            &sent_at,
            Duration::from_millis(10),
        );
    }
    latencies.sort_unstable();
    hops.sort_unstable();
    let q = |v: &[i64], f: f64| -> i64 {
        if v.is_empty() {
            return -1;
        }
        v[((v.len() as f64 - 1.0) * f).round() as usize]
    };
    println!(
        "latency at {rate} posts/s for {}s: {} alerts timed; p50 {} ms, p99 {} ms, max {} ms (post handed to the producer -> alert received)",
        args.latency_secs,
        latencies.len(),
        q(&latencies, 0.5),
        q(&latencies, 0.99),
        q(&latencies, 1.0)
    );
    println!(
        "broker floor, same run: {} posts read back directly; p50 {} ms, p99 {} ms, max {} ms (post handed to the producer -> post received)",
        hops.len(),
        q(&hops, 0.5),
        q(&hops, 0.99),
        q(&hops, 1.0)
    );
    print_peak_rss(pid, "latency phase");
    stop(&mut child, &log2);
    // kestrel's own view: message timestamp to alerts acknowledged and
    // offset stored, as bucket bounds.
    let text = std::fs::read_to_string(&log2).unwrap_or_default();
    if let Some(v) = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "stopped")
    {
        println!(
            "kestrel's own latency (message timestamp -> acknowledged), bucket bounds: p50 <= {} ms, p99 <= {} ms",
            v["fields"]["latency_p50_ms"], v["fields"]["latency_p99_ms"]
        );
    }
    Ok(())
}

/// The `kestrel` binary in the folder of this tool's own executable.
fn beside_this_tool() -> Result<PathBuf, LoadError> {
    let me = std::env::current_exe().map_err(|e| LoadError::Child(e.to_string()))?;
    kestrel_beside(&me)
}

/// The `kestrel` binary in the folder of `tool`, when it is there.
fn kestrel_beside(tool: &std::path::Path) -> Result<PathBuf, LoadError> {
    let exe = tool
        .with_file_name("kestrel")
        .with_extension(std::env::consts::EXE_EXTENSION);
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(LoadError::Child(format!(
            "no kestrel binary at {} (build it with `cargo build --release`, or name one with --kestrel)",
            exe.display()
        )))
    }
}

fn spawn_kestrel(
    exe: &std::path::Path,
    args: &LoadArgs,
    group: &str,
    topic: &str,
    alerts: &str,
    dlq: &str,
    log: &std::path::Path,
) -> Result<ChildGuard, LoadError> {
    let err = std::fs::File::create(log).map_err(|e| LoadError::Child(e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg("--log-format")
        .arg("json")
        .env("KESTREL_KAFKA__BROKERS", &args.brokers)
        .env("KESTREL_KAFKA__GROUP_ID", group)
        .env("KESTREL_KAFKA__INPUT_TOPICS", format!("[\"{topic}\"]"))
        .env("KESTREL_KAFKA__ALERT_TOPIC", alerts)
        .env("KESTREL_KAFKA__DEAD_LETTER_TOPIC", dlq)
        .env("KESTREL_KAFKA__CONSUMER__AUTO_COMMIT_INTERVAL_MS", "100")
        .env("KESTREL_RULES__DIR", &args.rules)
        .env("KESTREL_LOG", "info,librdkafka=warn")
        // Any free port: the measured service must not collide with one
        // already running on the default.
        .env("KESTREL_METRICS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(err);
    let child = cmd
        .spawn()
        .map_err(|e| LoadError::Child(format!("{}: {e}", exe.display())))?;
    Ok(ChildGuard(child))
}

/// Stops a kestrel child the way an operator would, and says how it went.
fn stop(child: &mut ChildGuard, log: &std::path::Path) {
    send_sigterm(child.0.id());
    let stop_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            println!(
                "kestrel run stopped on SIGTERM: {status} (log: {})",
                log.display()
            );
            return;
        }
        if Instant::now() > stop_deadline {
            println!("kestrel run did not stop within 15 s of SIGTERM");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_kestrel_is_the_one_beside_the_tool() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("kestrel-load");
        let err = kestrel_beside(&tool).unwrap_err().to_string();
        assert!(err.contains("no kestrel binary at"), "{err}");
        assert!(err.contains("--kestrel"), "{err}");

        let exe = dir
            .path()
            .join("kestrel")
            .with_extension(std::env::consts::EXE_EXTENSION);
        std::fs::write(&exe, b"").unwrap();
        assert_eq!(kestrel_beside(&tool).unwrap(), exe);
    }
}
