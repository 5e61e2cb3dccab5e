//! The CPU side of the pipeline: posts taken from Kafka are parsed, scanned
//! and turned into records (alerts, dead letters) on a pool of plain
//! threads, never on the async runtime.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::Message;

use crate::alert::{EvidenceMode, Source};
use crate::engine::Engine;
use crate::post::PostSchema;
use crate::process::PostProcessor;
use crate::reload::ServingRules;

use super::counters::Counters;

/// Header names of dead letters.
pub const HEADER_ERROR: &str = "kestrel.error";
/// See [`HEADER_ERROR`].
pub const HEADER_SOURCE_TOPIC: &str = "kestrel.source.topic";
/// See [`HEADER_ERROR`].
pub const HEADER_SOURCE_PARTITION: &str = "kestrel.source.partition";
/// See [`HEADER_ERROR`].
pub const HEADER_SOURCE_OFFSET: &str = "kestrel.source.offset";

/// A message taken from an input topic, owned so it can cross threads.
#[derive(Debug)]
pub struct InMessage {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The message timestamp (create or log-append time), milliseconds.
    pub timestamp_ms: Option<i64>,
    /// Key, as sent.
    pub key: Option<Vec<u8>>,
    /// Value, as sent.
    pub payload: Option<Vec<u8>>,
    /// Headers, as sent.
    pub headers: Option<OwnedHeaders>,
}

impl InMessage {
    /// Copies a message out of the consumer's buffers.
    pub fn from_borrowed(m: &BorrowedMessage<'_>, topic: Arc<str>) -> InMessage {
        InMessage {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers: m.headers().map(|h| h.detach()),
        }
    }
}

/// What a record is, for counting its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// An alert.
    Alert,
    /// A dead letter.
    DeadLetter,
}

/// One record for the producer.
pub struct OutRecord<'a> {
    /// Alert or dead letter.
    pub kind: RecordKind,
    /// Destination topic.
    pub topic: &'a str,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: OwnedHeaders,
}

/// Where a worker's records go, and how it says a batch is scanned.
pub trait BatchSink: Send + Sync + 'static {
    /// What travels with a batch (its acknowledgement state).
    type Ticket: Send + 'static;
    /// Hands one record of the batch to the producer.
    fn send(&self, ticket: &Self::Ticket, record: OutRecord<'_>);
    /// Every post of the batch has been scanned and its records sent.
    fn scanned(&self, ticket: Self::Ticket);
}

/// A batch of posts for one worker.
pub struct Work<T> {
    /// The posts, in consumption order.
    pub messages: Vec<InMessage>,
    /// The batch's acknowledgement state.
    pub ticket: T,
}

/// Parses, scans and renders posts into records; one per worker thread.
pub struct Scanner {
    engine: Arc<ServingRules>,
    schema: Arc<PostSchema>,
    alert_topic: String,
    dead_letter_topic: String,
    counters: Arc<Counters>,
    processor: PostProcessor,
}

/// What a scanner needs besides its scratch space.
#[derive(Clone)]
pub struct ScanSetup {
    /// The rules serving; each batch takes one engine snapshot.
    pub engine: Arc<ServingRules>,
    /// The post reader.
    pub schema: Arc<PostSchema>,
    /// Evidence text mode.
    pub evidence: EvidenceMode,
    /// Where alerts go.
    pub alert_topic: String,
    /// Where bad posts go.
    pub dead_letter_topic: String,
    /// Counters.
    pub counters: Arc<Counters>,
}

impl ScanSetup {
    /// The setup both delivery modes use, from the configuration.
    pub fn from_config(
        config: &crate::config::Config,
        engine: Arc<ServingRules>,
        schema: Arc<PostSchema>,
        counters: Arc<Counters>,
    ) -> ScanSetup {
        ScanSetup {
            engine,
            schema,
            evidence: config.alerts.evidence,
            alert_topic: config.kafka.alert_topic.clone(),
            dead_letter_topic: config.kafka.dead_letter_topic.clone(),
            counters,
        }
    }
}

impl Scanner {
    /// A scanner with its own scratch space.
    pub fn new(setup: ScanSetup) -> Scanner {
        let processor = PostProcessor::new(&setup.engine.current(), setup.evidence).timed();
        Scanner {
            engine: setup.engine,
            schema: setup.schema,
            alert_topic: setup.alert_topic,
            dead_letter_topic: setup.dead_letter_topic,
            counters: setup.counters,
            processor,
        }
    }

    /// Scans a batch and hands every record to `send`.
    pub fn process_batch(&mut self, messages: &[InMessage], send: &mut dyn FnMut(OutRecord<'_>)) {
        let started = Instant::now();
        let detected_at = crate::alert::now_rfc3339();
        // One snapshot per batch: a reload swaps the engine for the next
        // batch, never in the middle of this one.
        let engine = self.engine.current();
        for m in messages {
            self.process(&engine, m, &detected_at, send);
        }
        self.counters
            .scan_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn process(
        &mut self,
        engine: &Engine,
        m: &InMessage,
        detected_at: &str,
        send: &mut dyn FnMut(OutRecord<'_>),
    ) {
        let payload = m.payload.as_deref().unwrap_or(&[]);
        let source = Source::Kafka {
            topic: &m.topic,
            partition: m.partition,
            offset: m.offset,
        };
        let counters = &self.counters;
        let alert_topic = self.alert_topic.as_str();
        let outcome = self.processor.process(
            engine,
            &self.schema,
            payload,
            source,
            detected_at,
            self.engine.flood(),
            &mut |a| {
                counters.observed.alert(a.rule, a.shadow);
                let headers = OwnedHeaders::new_with_capacity(3)
                    .insert(Header {
                        key: "rule_id",
                        value: Some(a.rule.id.as_str()),
                    })
                    .insert(Header {
                        key: "category",
                        value: Some(a.rule.category.as_str()),
                    })
                    .insert(Header {
                        key: "severity",
                        value: Some(a.severity.as_str()),
                    });
                send(OutRecord {
                    kind: RecordKind::Alert,
                    topic: alert_topic,
                    key: Some(a.post_id.as_bytes()),
                    value: Some(a.json),
                    headers,
                });
            },
        );
        let reason = match outcome {
            Ok(scanned) => {
                counters.posts_scanned.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = scanned.scan_time {
                    counters.observed.scan_seconds.observe(t.as_secs_f64());
                }
                if scanned.alerts > 0 {
                    counters.posts_with_alerts.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Err(reason) => reason,
        };
        self.counters.bad_post(&reason);
        tracing::debug!(
            topic = %m.topic,
            partition = m.partition,
            offset = m.offset,
            reason = reason.code(),
            "bad post sent to the dead-letter topic"
        );
        let mut headers = m.headers.clone().unwrap_or_default();
        let error = reason.to_string();
        let partition = m.partition.to_string();
        let offset = m.offset.to_string();
        headers = headers
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(error.as_str()),
            })
            .insert(Header {
                key: HEADER_SOURCE_TOPIC,
                value: Some(&*m.topic),
            })
            .insert(Header {
                key: HEADER_SOURCE_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: HEADER_SOURCE_OFFSET,
                value: Some(offset.as_str()),
            });
        send(OutRecord {
            kind: RecordKind::DeadLetter,
            topic: &self.dead_letter_topic,
            key: m.key.as_deref(),
            value: m.payload.as_deref(),
            headers,
        });
    }
}

/// Starts `count` worker threads that take batches from `rx` until it
/// closes.
pub fn spawn_workers<S: BatchSink>(
    count: usize,
    setup: &ScanSetup,
    sink: Arc<S>,
    rx: crossbeam_channel::Receiver<Work<S::Ticket>>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(count);
    for i in 0..count.max(1) {
        let rx = rx.clone();
        let sink = sink.clone();
        let mut scanner = Scanner::new(setup.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("kestrel-scan-{i}"))
                .spawn(move || {
                    for work in rx {
                        scanner.process_batch(&work.messages, &mut |r| sink.send(&work.ticket, r));
                        sink.scanned(work.ticket);
                    }
                })?,
        );
    }
    Ok(handles)
}
