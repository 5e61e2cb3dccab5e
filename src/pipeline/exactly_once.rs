//! Exactly-once delivery: each batch of posts becomes one Kafka transaction
//! holding its alerts, its dead letters and the consumer offsets past it.
//! A failed transaction is aborted and the partitions are rewound to the
//! batch's first posts, so every post is either fully in a committed
//! transaction or read again.
//!
//! Polling happens only between transactions, so a rebalance never cuts
//! through one: posts of revoked partitions that were polled but not yet
//! in a transaction are dropped (their new owner reads them from the
//! committed offset).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::shutdown::{Reason, Shutdown};

use super::client::{self, log_rdkafka};
use super::work::{spawn_workers, BatchSink, InMessage, OutRecord, RecordKind, ScanSetup, Work};
use super::{backoff, PipelineError, RunContext, Stopped};

/// Posts per transaction at most.
const TXN_POSTS: usize = 2000;
/// How long a transaction waits for more posts once it has one.
const TXN_LINGER: Duration = Duration::from_millis(100);
/// Posts per worker batch inside a transaction.
const CHUNK_POSTS: usize = 256;
/// Bound on each transactional call to the broker.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);
/// Transactions aborted one after another because the broker refused one
/// of their records for good (e.g. too large for the topic) before kestrel
/// stops: the same posts give the same records, so redoing them again
/// cannot succeed until the topic's limit is raised. With the backoff
/// between attempts this is about a minute.
const MAX_REFUSED_TRANSACTIONS: u32 = 8;

struct ConsumerCtx {
    revoked: AtomicBool,
    auth: client::AuthFailure,
    counters: Arc<super::Counters>,
}

impl ClientContext for ConsumerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_rdkafka("consumer", level, fac, log_message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.auth.note(&error, reason);
        tracing::warn!(client = "consumer", error = %error, "{reason}");
    }
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.counters.observed.record_stats(&statistics);
    }
}

impl ConsumerContext for ConsumerCtx {
    fn post_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let assigned = c.assignment().map_or(0, |a| a.count());
        self.counters.observed.set_assigned(assigned);
        match rebalance {
            Rebalance::Revoke(tpl) => {
                self.revoked.store(true, Ordering::Release);
                tracing::info!(partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions assigned")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// A record the broker refused inside the current transaction.
#[derive(Clone, Debug)]
struct Refusal {
    topic: String,
    partition: i32,
    error: KafkaError,
}

impl Refusal {
    /// Whether sending the same record again is refused again: the broker
    /// judged the record itself, not its own state.
    fn is_permanent(&self) -> bool {
        matches!(
            self.error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::InvalidMessage
                    | RDKafkaErrorCode::InvalidRecord
                    | RDKafkaErrorCode::PolicyViolation
                    | RDKafkaErrorCode::TopicAuthorizationFailed
            )
        )
    }
}

struct ProducerCtx {
    /// A TLS or SASL failure (shared with the consumer's context).
    auth: client::AuthFailure,
    /// The first delivery the broker refused since the last transaction
    /// ended (records purged by an abort do not count).
    refused: Mutex<Option<Refusal>>,
}

impl ProducerCtx {
    fn take_refusal(&self) -> Option<Refusal> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl ClientContext for ProducerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_rdkafka("producer", level, fac, log_message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.auth.note(&error, reason);
        tracing::warn!(client = "producer", error = %error, "{reason}");
    }
}

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = ();
    // Failed deliveries make the transaction fail (it is aborted); the
    // first one is kept to say why, and whether redoing can help.
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        let Err((error, message)) = result else {
            return;
        };
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
        ) {
            return;
        }
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.is_none() {
            *refused = Some(Refusal {
                topic: rdkafka::Message::topic(message).to_string(),
                partition: rdkafka::Message::partition(message),
                error: error.clone(),
            });
        }
    }
}

/// A worker batch inside a transaction.
struct Chunk {
    alerts: AtomicU64,
    dead_letters: AtomicU64,
    done: crossbeam_channel::Sender<(u64, u64)>,
}

struct Sink {
    producer: ThreadedProducer<ProducerCtx>,
    /// A record the producer refused: the transaction must abort.
    refused: Mutex<Option<KafkaError>>,
    /// Triggered when the run is over: a send waiting for room gives up.
    abandon: Shutdown,
}

impl BatchSink for Sink {
    type Ticket = Chunk;

    fn send(&self, chunk: &Chunk, r: OutRecord<'_>) {
        let mut record: BaseRecord<'_, [u8], [u8], ()> =
            BaseRecord::with_opaque_to(r.topic, ()).headers(r.headers);
        record.key = r.key;
        record.payload = r.value;
        match client::send_waiting(&self.producer, record, &self.abandon) {
            client::Sent::Queued => {}
            client::Sent::Abandoned => return,
            client::Sent::Refused(e, _) => {
                *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return;
            }
        }
        match r.kind {
            RecordKind::Alert => chunk.alerts.fetch_add(1, Ordering::Relaxed),
            RecordKind::DeadLetter => chunk.dead_letters.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn scanned(&self, chunk: Chunk) {
        let _ = chunk.done.send((
            chunk.alerts.load(Ordering::Relaxed),
            chunk.dead_letters.load(Ordering::Relaxed),
        ));
    }
}

fn unsupported(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnsupportedFeature
                | RDKafkaErrorCode::UnsupportedVersion
                | RDKafkaErrorCode::UnsupportedForMessageFormat
                | RDKafkaErrorCode::InvalidRequest
        )
    )
}

/// How a failed transactional call is handled.
enum Failure {
    /// Call it again.
    Retry,
    /// Abort the transaction and rewind.
    Abort,
    /// Stop the pipeline.
    Fatal(PipelineError),
}

fn classify(e: KafkaError) -> Failure {
    if unsupported(&e) {
        return Failure::Fatal(PipelineError::TransactionsUnsupported(e.to_string()));
    }
    if let KafkaError::Transaction(ref t) = e {
        if t.is_fatal() {
            return Failure::Fatal(PipelineError::Transaction(e));
        }
        if t.txn_requires_abort() {
            return Failure::Abort;
        }
        if t.is_retriable() {
            return Failure::Retry;
        }
    }
    Failure::Abort
}

/// Calls a transactional step until it succeeds, needs an abort, or fails.
/// A step that keeps failing with retriable errors for longer than `bound`
/// (or a few times once a stop is requested) aborts the transaction.
fn step(
    what: &str,
    shutdown: &Shutdown,
    bound: Duration,
    mut f: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Failure> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        match f() {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, step = what, attempt, "transaction step failed");
                let patient = if shutdown.is_triggered() {
                    attempt < 3
                } else {
                    started.elapsed() < bound
                };
                match classify(e) {
                    Failure::Retry if patient => {
                        std::thread::sleep(backoff(attempt));
                        attempt += 1;
                    }
                    Failure::Retry => return Err(Failure::Abort),
                    other => return Err(other),
                }
            }
        }
    }
}

/// Aborts the current transaction. An abort that fails without being fatal
/// (it timed out, e.g. while records wait on a broker that is away) is
/// still in progress: librdkafka wants it called again until it completes,
/// and every other transactional call fails meanwhile ("Conflicting
/// abort_transaction API call is already in progress"). So it is called
/// again, with backoff, up to `bound`; on a stop a few attempts are enough
/// (the broker aborts what is left after `transaction.timeout.ms`).
///
/// An abort that has not completed within `bound` never will with this
/// producer: the broker's side of the transaction is stuck (Apache Kafka
/// leaves a transaction whose abort markers it cannot write, e.g. into a
/// topic whose `max.message.bytes` is smaller than a marker, in
/// PrepareAbort for good and answers every later call with
/// CONCURRENT_TRANSACTIONS). kestrel then stops with an error rather than
/// retry forever; its next start uses a new producer.
fn abort<P: ProducerContext>(
    producer: &ThreadedProducer<P>,
    shutdown: &Shutdown,
    bound: Duration,
) -> Result<(), PipelineError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let timeout = TXN_TIMEOUT.min(bound.saturating_sub(started.elapsed()));
        let Err(e) = producer.abort_transaction(timeout.max(Duration::from_secs(1))) else {
            return Ok(());
        };
        tracing::warn!(error = %e, step = "abort", attempt, "transaction step failed");
        let last = e.to_string();
        if let Failure::Fatal(fatal) = classify(e) {
            return Err(fatal);
        }
        if shutdown.is_triggered() && attempt >= 3 {
            return Ok(());
        }
        if started.elapsed() >= bound {
            return Err(PipelineError::AbortStuck {
                waited_s: started.elapsed().as_secs(),
                last,
            });
        }
        std::thread::sleep(backoff(attempt));
        attempt += 1;
    }
}

/// How long an abort may take before kestrel gives up on its producer:
/// twice the producer's `transaction.timeout.ms` (by then the broker has
/// aborted any transaction of a producer that went quiet), and at least a
/// minute.
fn abort_bound(config: &crate::config::Config) -> Duration {
    let txn_ms = config
        .kafka
        .producer
        .get("transaction.timeout.ms")
        .or_else(|| config.kafka.properties.get("transaction.timeout.ms"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(60_000);
    Duration::from_millis(txn_ms.saturating_mul(2)).max(Duration::from_secs(60))
}

/// Runs the exactly-once pipeline on the calling thread until shutdown.
pub fn run(ctx: RunContext) -> Result<Stopped, PipelineError> {
    let RunContext {
        config,
        engine,
        schema,
        counters,
        shutdown,
    } = ctx;
    let k = &config.kafka;
    let auth = client::AuthFailure::default();
    let producer: ThreadedProducer<ProducerCtx> = client::producer_config(&config)
        .create_with_context(ProducerCtx {
            auth: auth.clone(),
            refused: Mutex::new(None),
        })
        .map_err(|source| PipelineError::Client {
            role: "producer",
            source,
        })?;
    let consumer: BaseConsumer<ConsumerCtx> = client::consumer_config(&config)
        .create_with_context(ConsumerCtx {
            revoked: AtomicBool::new(false),
            auth: auth.clone(),
            counters: counters.clone(),
        })
        .map_err(|source| PipelineError::Client {
            role: "consumer",
            source,
        })?;
    let mut all: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    all.push(&k.alert_topic);
    all.push(&k.dead_letter_topic);
    client::check_topics(consumer.client(), &all, &consumer.context().auth, &shutdown)?;
    if let Err(e) = producer.init_transactions(TXN_TIMEOUT) {
        return Err(if unsupported(&e) {
            PipelineError::TransactionsUnsupported(e.to_string())
        } else {
            PipelineError::Transaction(e)
        });
    }
    client::subscribe(&consumer, &config)?;

    let setup = ScanSetup::from_config(&config, engine, schema, counters.clone());
    let sink = Arc::new(Sink {
        producer: producer.clone(),
        refused: Mutex::new(None),
        abandon: Shutdown::new(),
    });
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<Work<Chunk>>();
    let workers = config.pipeline.worker_count();
    let handles =
        spawn_workers(workers, &setup, sink.clone(), work_rx).map_err(PipelineError::Thread)?;
    tracing::info!(topics = ?k.input_topics, group = %k.group_id, workers, delivery = "exactly_once", "consuming");

    let mut topics: Vec<Arc<str>> = Vec::new();
    let mut probed = false;
    let abort_bound = abort_bound(&config);
    // Transactions aborted in a row because the broker refused a record.
    let mut refused_in_a_row = 0u32;
    let mut result = Ok(Stopped::Drained);
    let max_batch = TXN_POSTS.min(config.pipeline.max_in_flight).max(1);
    'run: while !shutdown.is_triggered() {
        // Collect a batch outside any transaction.
        let mut batch: Vec<InMessage> = Vec::new();
        let mut first_at: Option<Instant> = None;
        while batch.len() < max_batch && !shutdown.is_triggered() {
            let timeout = match first_at {
                None => Duration::from_millis(100),
                Some(t) => TXN_LINGER.saturating_sub(t.elapsed()),
            };
            if first_at.is_some() && timeout.is_zero() {
                break;
            }
            match consumer.poll(timeout) {
                Some(Ok(m)) => {
                    let topic = match topics.iter().find(|t| ***t == *rdkafka::Message::topic(&m)) {
                        Some(t) => t.clone(),
                        None => {
                            let t: Arc<str> = Arc::from(rdkafka::Message::topic(&m));
                            topics.push(t.clone());
                            t
                        }
                    };
                    batch.push(InMessage::from_borrowed(&m, topic));
                    first_at.get_or_insert_with(Instant::now);
                }
                Some(Err(e)) => tracing::warn!(error = %e, "consumer error; retrying"),
                None => {
                    if first_at.is_none() {
                        continue 'run;
                    }
                }
            }
            if consumer.context().revoked.swap(false, Ordering::AcqRel) {
                // Keep only posts of partitions still ours.
                let assigned = consumer.assignment().unwrap_or_default();
                batch.retain(|m| assigned.find_partition(&m.topic, m.partition).is_some());
            }
        }
        if batch.is_empty() {
            continue;
        }
        let n = batch.len() as u64;
        counters.posts_consumed.fetch_add(n, Ordering::Relaxed);
        counters.in_flight.fetch_add(n, Ordering::Relaxed);

        // Per partition: the first offset (to rewind to) and the next one
        // (to commit).
        let mut firsts = TopicPartitionList::new();
        let mut nexts = TopicPartitionList::new();
        for m in &batch {
            if firsts.find_partition(&m.topic, m.partition).is_none() {
                let _ =
                    firsts.add_partition_offset(&m.topic, m.partition, Offset::Offset(m.offset));
            }
            match nexts.find_partition(&m.topic, m.partition) {
                Some(mut e) => {
                    let _ = e.set_offset(Offset::Offset(m.offset + 1));
                }
                None => {
                    let _ = nexts.add_partition_offset(
                        &m.topic,
                        m.partition,
                        Offset::Offset(m.offset + 1),
                    );
                }
            }
        }
        let Some(group) = consumer.group_metadata() else {
            result = Err(PipelineError::FatalConsumer(
                "no consumer group metadata".into(),
            ));
            break;
        };

        if !probed {
            // A first transaction with offsets only, at the positions this
            // run starts from (a no-op commit): a broker that cannot run
            // transactions is found out before a record is written.
            let probe = producer
                .begin_transaction()
                .and_then(|_| producer.send_offsets_to_transaction(&firsts, &group, TXN_TIMEOUT))
                .and_then(|_| producer.commit_transaction(TXN_TIMEOUT));
            if let Err(e) = probe {
                tracing::warn!(error = %e, "the first transaction failed");
                if let Failure::Fatal(fatal) = classify(e) {
                    result = Err(fatal);
                    break;
                }
                if let Err(fatal) = abort(&producer, &shutdown, abort_bound) {
                    result = Err(fatal);
                    break;
                }
                rewind(&consumer, &firsts);
                counters.in_flight.fetch_sub(n, Ordering::Relaxed);
                counters.posts_consumed.fetch_sub(n, Ordering::Relaxed);
                std::thread::sleep(backoff(0));
                continue;
            }
            probed = true;
        }

        let stamps: Vec<i64> = batch.iter().filter_map(|m| m.timestamp_ms).collect();
        // A refusal belongs to the transaction it failed.
        producer.context().take_refusal();
        let outcome = transaction(
            &sink,
            &work_tx,
            batch,
            &nexts,
            &group,
            &shutdown,
            abort_bound,
        );
        counters.in_flight.fetch_sub(n, Ordering::Relaxed);
        match outcome {
            Ok((alerts, dead_letters)) => {
                refused_in_a_row = 0;
                counters
                    .transactions_committed
                    .fetch_add(1, Ordering::Relaxed);
                counters.alerts_acked.fetch_add(alerts, Ordering::Relaxed);
                counters
                    .dead_letters_acked
                    .fetch_add(dead_letters, Ordering::Relaxed);
                counters.posts_finished.fetch_add(n, Ordering::Relaxed);
                counters.observe_latencies_since(&stamps);
            }
            Err(Failure::Fatal(e)) => {
                let _ = producer.abort_transaction(TXN_TIMEOUT);
                result = Err(e);
                break;
            }
            Err(_) => {
                counters
                    .transactions_aborted
                    .fetch_add(1, Ordering::Relaxed);
                counters.posts_consumed.fetch_sub(n, Ordering::Relaxed);
                if let Err(fatal) = abort(&producer, &shutdown, abort_bound) {
                    result = Err(fatal);
                    break;
                }
                let refusal = producer.context().take_refusal();
                tracing::warn!(
                    posts = n,
                    refused_topic = refusal.as_ref().map(|r| r.topic.as_str()),
                    refused_partition = refusal.as_ref().map(|r| r.partition),
                    refused_because = refusal.as_ref().map(|r| r.error.to_string()),
                    "transaction aborted; rewinding to its first posts"
                );
                match refusal {
                    Some(r) if r.is_permanent() => {
                        refused_in_a_row += 1;
                        if refused_in_a_row >= MAX_REFUSED_TRANSACTIONS {
                            result = Err(PipelineError::RecordRefused {
                                topic: r.topic,
                                partition: r.partition,
                                reason: r.error.to_string(),
                                attempts: refused_in_a_row,
                            });
                            break;
                        }
                        // Give whoever fixes the topic some time.
                        std::thread::sleep(backoff(refused_in_a_row + 2));
                    }
                    _ => refused_in_a_row = 0,
                }
                rewind(&consumer, &firsts);
            }
        }
    }
    sink.abandon.trigger(Reason::DrainOver);
    drop(work_tx);
    for h in handles {
        let _ = h.join();
    }
    drop(consumer);
    let s = counters.snapshot();
    tracing::info!(
        consumed = s.posts_consumed,
        alerts = s.alerts_acked,
        dead_letters = s.dead_letters_acked,
        "stopped"
    );
    result
}

/// One transaction: scan the batch on the workers, send everything, commit
/// the offsets past it. Returns (alerts, dead letters) committed.
fn transaction(
    sink: &Sink,
    work_tx: &crossbeam_channel::Sender<Work<Chunk>>,
    batch: Vec<InMessage>,
    nexts: &TopicPartitionList,
    group: &rdkafka::consumer::ConsumerGroupMetadata,
    shutdown: &Shutdown,
    bound: Duration,
) -> Result<(u64, u64), Failure> {
    let producer = &sink.producer;
    step("begin", shutdown, bound, || producer.begin_transaction())?;
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let chunks = AtomicUsize::new(0);
    let mut rest = batch;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(CHUNK_POSTS));
        let messages = std::mem::replace(&mut rest, tail);
        chunks.fetch_add(1, Ordering::Relaxed);
        let chunk = Chunk {
            alerts: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            done: done_tx.clone(),
        };
        if work_tx
            .send(Work {
                messages,
                ticket: chunk,
            })
            .is_err()
        {
            return Err(Failure::Abort);
        }
    }
    let (mut alerts, mut dead_letters) = (0, 0);
    for _ in 0..chunks.load(Ordering::Relaxed) {
        match done_rx.recv() {
            Ok((a, d)) => {
                alerts += a;
                dead_letters += d;
            }
            Err(_) => return Err(Failure::Abort),
        }
    }
    if let Some(e) = sink
        .refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        tracing::warn!(error = %e, "the producer refused a record");
        return Err(Failure::Abort);
    }
    step("send offsets", shutdown, bound, || {
        producer.send_offsets_to_transaction(nexts, group, TXN_TIMEOUT)
    })?;
    step("commit", shutdown, bound, || {
        producer.commit_transaction(TXN_TIMEOUT)
    })?;
    Ok((alerts, dead_letters))
}

/// Moves each partition of an aborted batch back to its first post.
fn rewind(consumer: &BaseConsumer<ConsumerCtx>, firsts: &TopicPartitionList) {
    let assigned = consumer.assignment().unwrap_or_default();
    let mut tpl = TopicPartitionList::new();
    for e in firsts.elements() {
        if assigned.find_partition(e.topic(), e.partition()).is_some() {
            let _ = tpl.add_partition_offset(e.topic(), e.partition(), e.offset());
        }
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = consumer.seek_partitions(tpl, Duration::from_secs(10)) {
        tracing::warn!(error = %e, "rewinding failed");
    }
}
