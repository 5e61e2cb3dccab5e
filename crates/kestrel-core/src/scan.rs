//! `kestrel scan`: JSONL posts from files or stdin, alerts as JSONL, on every core.
//!
//! A reader cuts the input into batches of whole lines; workers parse, scan
//! and render each batch into bytes; the writer puts the batches back in input
//! order. Channels are bounded, so memory stays flat however large the input.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::{EvidenceMode, Source};
use crate::engine::Engine;
use crate::post::PostSchema;
use crate::process::{AdmitAll, PostProcessor};
use crate::rules::Category;

/// Target size of one batch of lines.
const BATCH_BYTES: usize = 256 * 1024;
/// Bytes asked of an input per read.
const READ_BYTES: usize = 64 * 1024;

/// Where posts are read from.
#[derive(Clone, Debug)]
pub enum Input {
    /// Standard input, named `-` in alerts.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// The name used in `source.file` and messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// A scan that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// An input could not be read.
    #[error("cannot read {file}")]
    Read {
        /// The input's name.
        file: String,
        /// Why.
        source: io::Error,
    },
    /// Alerts could not be written.
    #[error("writing alerts: {0}")]
    Write(io::Error),
}

/// Options of a scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Scan threads.
    pub workers: usize,
    /// Evidence text mode.
    pub evidence: EvidenceMode,
}

/// Counts of a finished (or running) scan.
#[derive(Clone, Debug, Default)]
pub struct ScanSummary {
    /// Lines that were posts (blank lines are not counted).
    pub posts: u64,
    /// Lines that were not valid posts.
    pub bad_lines: u64,
    /// Bad lines by reason code.
    pub bad_by_reason: BTreeMap<&'static str, u64>,
    /// Bytes of input read.
    pub bytes: u64,
    /// Alerts of active rules.
    pub alerts: u64,
    /// Alerts of shadow rules.
    pub shadow_alerts: u64,
    /// Per category: (active, shadow).
    pub by_category: BTreeMap<Category, (u64, u64)>,
    /// Per rule id: (active, shadow).
    pub by_rule: BTreeMap<String, (u64, u64)>,
    /// Posts with at least one alert.
    pub posts_with_alerts: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Inputs that could not be opened (reported, then skipped).
    pub unreadable: Vec<String>,
}

impl ScanSummary {
    fn add(&mut self, other: &BatchStats) {
        self.posts += other.posts;
        self.bad_lines += other.bad;
        self.bytes += other.bytes;
        self.posts_with_alerts += other.posts_with_alerts;
        for (k, v) in &other.bad_by_reason {
            *self.bad_by_reason.entry(k).or_default() += v;
        }
        for ((_, shadow), (cat, rule, n)) in &other.alerts {
            let c = self.by_category.entry(*cat).or_default();
            let r = self.by_rule.entry(rule.clone()).or_default();
            if *shadow {
                self.shadow_alerts += n;
                c.1 += n;
                r.1 += n;
            } else {
                self.alerts += n;
                c.0 += n;
                r.0 += n;
            }
        }
    }

    /// The human-readable summary printed on stderr.
    pub fn render(&self, ruleset: &str, rules: usize) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "kestrel scan: {} posts, {} bad lines, {:.1} MB in {:.2} s ({:.1} MB/s, {:.0} posts/s)\n",
            self.posts,
            self.bad_lines,
            self.bytes as f64 / 1e6,
            secs,
            self.bytes as f64 / 1e6 / secs,
            (self.posts + self.bad_lines) as f64 / secs
        );
        for (reason, n) in &self.bad_by_reason {
            s.push_str(&format!("  bad lines, {reason}: {n}\n"));
        }
        s.push_str(&format!(
            "alerts: {} active, {} shadow, on {} posts\n",
            self.alerts, self.shadow_alerts, self.posts_with_alerts
        ));
        for (cat, (a, sh)) in &self.by_category {
            s.push_str(&format!("  {cat}: {a} active, {sh} shadow\n"));
        }
        for (rule, (a, sh)) in &self.by_rule {
            s.push_str(&format!("  rule {rule}: {a} active, {sh} shadow\n"));
        }
        for file in &self.unreadable {
            s.push_str(&format!("not read: {file} (could not be opened)\n"));
        }
        s.push_str(&format!("ruleset: {ruleset} ({rules} rules)\n"));
        s
    }
}

#[derive(Default)]
struct BatchStats {
    posts: u64,
    bad: u64,
    bytes: u64,
    posts_with_alerts: u64,
    bad_by_reason: HashMap<&'static str, u64>,
    /// Alerts by rule (its address in the engine, which a batch does not
    /// outlive) and shadow: the id is copied once per batch, not per alert.
    alerts: HashMap<(usize, bool), (Category, String, u64)>,
}

struct Batch {
    seq: u64,
    input: usize,
    first_line: u64,
    data: Vec<u8>,
    /// Set instead of `data` for one line over the limit: its size in bytes.
    too_long: Option<u64>,
}

struct Done {
    seq: u64,
    alerts: Vec<u8>,
    messages: Vec<u8>,
    stats: BatchStats,
}

/// Scans every input in order and writes alerts to `out`, messages about bad
/// lines to `messages`; `progress` is called with the running totals after
/// each batch.
pub fn scan(
    inputs: &[Input],
    engine: Arc<Engine>,
    schema: Arc<PostSchema>,
    options: &ScanOptions,
    out: &mut dyn Write,
    messages: &mut dyn Write,
    progress: &mut dyn FnMut(&ScanSummary),
) -> Result<ScanSummary, ScanError> {
    // Open everything first: a file that cannot be opened is reported
    // before any output, and the other inputs are still scanned.
    let mut readers: Vec<Box<dyn Read + Send>> = Vec::new();
    let mut unreadable = Vec::new();
    for input in inputs {
        readers.push(match input {
            Input::Stdin => Box::new(io::stdin()),
            Input::File(p) => match File::open(p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    let _ = writeln!(messages, "kestrel: {}: cannot open: {e}", input.name());
                    unreadable.push(input.name());
                    Box::new(io::empty())
                }
            },
        });
    }
    let names: Arc<Vec<String>> = Arc::new(inputs.iter().map(Input::name).collect());
    let max_line = schema.max_post_bytes().saturating_add(1);
    let workers = options.workers.max(1);
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(workers * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(workers * 2);
    // Buffers go back to the reader (batch data) and to the workers (alert
    // text) once used: allocating them afresh for every batch cost page
    // faults and copies. Bounded, so a burst cannot keep memory forever.
    let (data_pool_tx, data_pool_rx) = crossbeam_channel::bounded::<Vec<u8>>(workers * 2 + 2);
    let (alert_pool_tx, alert_pool_rx) = crossbeam_channel::bounded::<Vec<u8>>(workers * 2 + 2);
    let started = Instant::now();
    let mut summary = ScanSummary {
        unreadable,
        ..ScanSummary::default()
    };

    std::thread::scope(|scope| -> Result<(), ScanError> {
        let reader = scope.spawn(move || {
            read_batches(
                readers,
                &names_of(inputs),
                max_line,
                batch_tx,
                &data_pool_rx,
            )
        });
        for _ in 0..workers {
            let rx = batch_rx.clone();
            let tx = done_tx.clone();
            let engine = engine.clone();
            let schema = schema.clone();
            let names = names.clone();
            let evidence = options.evidence;
            let data_pool = data_pool_tx.clone();
            let alert_pool = alert_pool_rx.clone();
            scope.spawn(move || {
                let mut worker = Worker::new(&engine, &schema, evidence);
                for batch in rx {
                    let alerts = alert_pool.try_recv().unwrap_or_default();
                    let done = worker.run(&batch, &names, alerts);
                    let _ = data_pool.try_send(batch.data);
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(batch_rx);
        drop(done_tx);
        // Write batches back in input order.
        let mut next = 0u64;
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut write_err = None;
        for done in done_rx {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next) {
                if write_err.is_none() {
                    if let Err(e) = out
                        .write_all(&d.alerts)
                        .and_then(|_| messages.write_all(&d.messages))
                    {
                        write_err = Some(e);
                    }
                }
                summary.add(&d.stats);
                let mut spare = d.alerts;
                spare.clear();
                let _ = alert_pool_tx.try_send(spare);
                summary.elapsed = started.elapsed();
                progress(&summary);
                next += 1;
            }
            if write_err.is_some() {
                // Stop reading; the reader and workers end when their
                // channels close.
                break;
            }
        }
        let read_result = reader.join().expect("reader thread panicked");
        if let Some(e) = write_err {
            return Err(ScanError::Write(e));
        }
        read_result
    })?;
    out.flush().map_err(ScanError::Write)?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn names_of(inputs: &[Input]) -> Vec<String> {
    inputs.iter().map(Input::name).collect()
}

/// Reads every input into batches of whole lines. A line longer than
/// `max_line` bytes is never held: the reader sends what came before it,
/// skips to its end counting bytes, and sends a marker in its place. Each
/// byte is searched for a newline once, so time is linear and memory is
/// bounded by the batch size plus `max_line` whatever the input.
fn read_batches(
    readers: Vec<Box<dyn Read + Send>>,
    names: &[String],
    max_line: usize,
    tx: crossbeam_channel::Sender<Batch>,
    pool: &crossbeam_channel::Receiver<Vec<u8>>,
) -> Result<(), ScanError> {
    let fresh = || {
        pool.try_recv()
            .map(|mut v| {
                v.clear();
                v
            })
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES + READ_BYTES))
    };
    let mut seq = 0u64;
    let mut send = |input: usize, first_line: u64, data: Vec<u8>, too_long: Option<u64>| {
        let ok = tx
            .send(Batch {
                seq,
                input,
                first_line,
                data,
                too_long,
            })
            .is_ok();
        seq += 1;
        ok
    };
    for (input, mut r) in readers.into_iter().enumerate() {
        let mut read = |buf: &mut [u8]| loop {
            match r.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ScanError::Read {
                        file: names[input].clone(),
                        source,
                    })
                }
            }
        };
        let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES + READ_BYTES);
        // Start of the line not yet ended by a newline.
        let mut line_start = 0usize;
        let mut line = 1u64;
        loop {
            let old = buf.len();
            buf.resize(old + READ_BYTES, 0);
            let n = read(&mut buf[old..])?;
            buf.truncate(old + n);
            let eof = n == 0;
            if let Some(i) = memchr::memrchr(b'\n', &buf[old..]) {
                line_start = old + i + 1;
            }
            if !eof && buf.len() - line_start > max_line {
                // An over-long line: send the lines before it, then skip it.
                let mut size = (buf.len() - line_start) as u64;
                buf.truncate(line_start);
                if !buf.is_empty() {
                    let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                    if !send(input, line, std::mem::take(&mut buf), None) {
                        return Ok(());
                    }
                    line += lines;
                }
                buf.resize(READ_BYTES, 0);
                let tail = loop {
                    let n = read(&mut buf[..READ_BYTES])?;
                    if n == 0 {
                        break None;
                    }
                    match memchr::memchr(b'\n', &buf[..n]) {
                        Some(i) => {
                            size += i as u64;
                            break Some(buf[i + 1..n].to_vec());
                        }
                        None => size += n as u64,
                    }
                };
                if !send(input, line, Vec::new(), Some(size)) {
                    return Ok(());
                }
                line += 1;
                let ended = tail.is_none();
                buf = tail.unwrap_or_default();
                buf.reserve(BATCH_BYTES + READ_BYTES);
                line_start = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                if ended {
                    break;
                }
                continue;
            }
            if eof || (line_start > 0 && buf.len() >= BATCH_BYTES) {
                let cut = if eof { buf.len() } else { line_start };
                let mut rest = fresh();
                rest.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                if !buf.is_empty() {
                    let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                    if !send(input, line, std::mem::take(&mut buf), None) {
                        return Ok(());
                    }
                    line += lines;
                }
                buf = rest;
                line_start = 0;
                if eof {
                    break;
                }
            }
        }
        if !buf.is_empty() && !send(input, line, buf, None) {
            return Ok(());
        }
    }
    Ok(())
}

/// Empties a vector of borrowed fields so its allocation can hold borrows of
/// the next post (the in-place collect keeps the buffer).
struct Worker<'e> {
    engine: &'e Engine,
    schema: &'e PostSchema,
    processor: PostProcessor,
}

impl<'e> Worker<'e> {
    fn new(engine: &'e Engine, schema: &'e PostSchema, evidence: EvidenceMode) -> Worker<'e> {
        Worker {
            engine,
            schema,
            processor: PostProcessor::new(engine, evidence),
        }
    }

    fn run(&mut self, batch: &Batch, names: &[String], mut alerts: Vec<u8>) -> Done {
        let mut messages = Vec::new();
        let mut stats = BatchStats {
            bytes: batch.data.len() as u64 + batch.too_long.unwrap_or(0),
            ..BatchStats::default()
        };
        let file = &names[batch.input];
        let detected_at = crate::alert::now_rfc3339();
        if let Some(size) = batch.too_long {
            let e = crate::post::BadPost::TooLarge {
                size: size as usize,
                limit: self.schema.max_post_bytes(),
            };
            stats.bad += 1;
            *stats.bad_by_reason.entry(e.code()).or_default() += 1;
            let _ = writeln!(messages, "{file}:{}: bad post: {e}", batch.first_line);
        }
        // Lines found with memchr: `split` on a closure tests byte by byte.
        let data = &batch.data[..];
        let mut from = 0;
        let ends = memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len()));
        for (i, end) in ends.enumerate() {
            let raw_line = &data[from..end];
            from = end + 1;
            let line_no = batch.first_line + i as u64;
            let line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
            // A byte order mark is not part of a post: editors write one at
            // the start of a file, and `cat` of such files puts it at the
            // start of a line.
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let source = Source::File {
                file,
                line: line_no,
            };
            let outcome = self.processor.process(
                self.engine,
                self.schema,
                line,
                source,
                &detected_at,
                &AdmitAll,
                &mut |a| {
                    alerts.extend_from_slice(a.json);
                    alerts.push(b'\n');
                    let key = (std::ptr::from_ref(a.rule) as usize, a.shadow);
                    stats
                        .alerts
                        .entry(key)
                        .or_insert_with(|| (a.rule.category, a.rule.id.clone(), 0))
                        .2 += 1;
                },
            );
            match outcome {
                Ok(scanned) => {
                    stats.posts += 1;
                    if scanned.alerts > 0 {
                        stats.posts_with_alerts += 1;
                    }
                }
                Err(e) => {
                    stats.bad += 1;
                    *stats.bad_by_reason.entry(e.code()).or_default() += 1;
                    let _ = writeln!(messages, "{file}:{line_no}: bad post: {e}");
                }
            }
        }
        Done {
            seq: batch.seq,
            alerts,
            messages,
            stats,
        }
    }
}
