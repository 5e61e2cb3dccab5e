//! At-least-once delivery: an idempotent producer, offsets stored by kestrel
//! only once every alert (or the dead letter) of a post and of every post
//! before it on its partition is acknowledged, and auto-commit of those
//! stored offsets.
//!
//! One consumer thread polls librdkafka and cuts what it gets into batches;
//! scan workers send records with a delivery ticket; the producer's delivery
//! callbacks release the ticket, and the last release of a batch moves the
//! partition offsets through the [`OffsetTracker`]. Revoked partitions are
//! drained (bounded) before they are given up, so a partition changes hands
//! with its offset committed exactly behind what is done.
//!
//! The consumer goes through the [`Phase`]s of [`super::phase`]; its stop
//! is driven by the run's [`Shutdown`] and two more of the same kind, one
//! that makes pending sends give up and one that ends the retry thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::shutdown::{Reason, Shutdown};

use super::client::{self, log_rdkafka};
use super::counters::Counters;
use super::phase::Phase;
use super::tracker::{OffsetTracker, TopicPartition};
use super::work::{spawn_workers, BatchSink, InMessage, OutRecord, RecordKind, ScanSetup, Work};
use super::{backoff, PipelineError, RunContext, Stopped};

/// Posts per batch at most; fewer when the consumer has no more at hand.
const BATCH_POSTS: usize = 256;

/// State shared by the consumer thread, the workers and the producer's
/// delivery callbacks.
struct Shared {
    tracker: Mutex<OffsetTracker>,
    /// Signalled whenever a batch finishes.
    finished: Condvar,
    /// Where offsets are stored; cleared before the consumer closes.
    consumer: Mutex<Option<Weak<BaseConsumer<ConsumerCtx>>>>,
    counters: Arc<Counters>,
    fatal: Mutex<Option<PipelineError>>,
    /// Triggered once the drain at shutdown is over (finished or out of
    /// time): pending sends give up.
    abandon: Shutdown,
    retry_tx: crossbeam_channel::Sender<Retry>,
    /// A TLS or SASL failure of either client, which stops the wait for
    /// the broker at startup.
    auth: client::AuthFailure,
}

impl Shared {
    fn lock_tracker(&self) -> MutexGuard<'_, OffsetTracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_fatal(&self, e: PipelineError) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            tracing::error!(error = %e, "the pipeline must stop");
            *f = Some(e);
        }
        drop(f);
        self.finished.notify_all();
    }

    fn has_fatal(&self) -> bool {
        self.fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// A batch is scanned and all its records acknowledged: store whatever
    /// offsets that frees, in order.
    fn finish_batch(&self, ack: &BatchAck) {
        let mut stores = Vec::new();
        {
            let mut tracker = self.lock_tracker();
            tracker.complete(ack.id, &ack.partitions, &mut stores);
            if !stores.is_empty() {
                // Stored under the tracker lock so that two batches finishing
                // at once cannot store a partition's offsets out of order.
                let consumer = self
                    .consumer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .and_then(Weak::upgrade);
                if let Some(consumer) = consumer {
                    let mut tpl = TopicPartitionList::new();
                    for ((topic, partition), offset) in &stores {
                        let _ =
                            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
                    }
                    if let Err(e) = consumer.store_offsets(&tpl) {
                        // The partition was revoked meanwhile: its next owner
                        // reads these posts again.
                        tracing::debug!(error = %e, "offsets not stored");
                    }
                }
            }
        }
        let n = ack.timestamps.len() as u64;
        let c = &self.counters;
        c.posts_finished.fetch_add(n, Ordering::Relaxed);
        c.in_flight.fetch_sub(n, Ordering::Relaxed);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for ts in &ack.timestamps {
            if *ts > 0 {
                c.observe_latency(Duration::from_millis(
                    now_ms.saturating_sub(*ts).max(0) as u64
                ));
            }
        }
        self.finished.notify_all();
    }

    /// Waits until `done` holds or `deadline` passes; true if it held.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&OffsetTracker) -> bool) -> bool {
        let mut tracker = self.lock_tracker();
        loop {
            if done(&tracker) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || self.has_fatal() {
                return false;
            }
            tracker = self
                .finished
                .wait_timeout(tracker, (deadline - now).min(Duration::from_millis(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A batch's acknowledgement state: one hold for the scan, one per record.
struct BatchAck {
    id: u64,
    pending: AtomicUsize,
    partitions: Vec<TopicPartition>,
    /// Message timestamps (ms, -1 when absent), one per post.
    timestamps: Vec<i64>,
    shared: Arc<Shared>,
}

impl BatchAck {
    fn hold(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    fn release(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.finish_batch(self);
        }
    }
}

/// Rides with each produced record to its delivery callback.
struct Delivery {
    ack: Arc<BatchAck>,
    kind: RecordKind,
    attempt: u32,
}

/// A record whose delivery failed, to be sent again.
struct Retry {
    topic: String,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: OwnedHeaders,
    delivery: Box<Delivery>,
    due: Instant,
}

/// Posts taken from the consumer but not yet handed to the workers, and the
/// way to hand them over. Only the consumer thread touches it (the poll loop
/// and the rebalance callbacks that run inside `poll`).
struct Feed {
    pending: Vec<InMessage>,
    next_batch: u64,
    tx: Option<crossbeam_channel::Sender<Work<Arc<BatchAck>>>>,
}

struct ConsumerCtx {
    shared: Arc<Shared>,
    feed: Mutex<Feed>,
    drain_timeout: Duration,
}

impl ConsumerCtx {
    fn lock_feed(&self) -> MutexGuard<'_, Feed> {
        self.feed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the pending posts to the workers as one batch, registering its
    /// partitions' offsets first.
    fn dispatch(&self, feed: &mut Feed) {
        if feed.pending.is_empty() {
            return;
        }
        let messages = std::mem::replace(&mut feed.pending, Vec::with_capacity(BATCH_POSTS));
        let id = feed.next_batch;
        feed.next_batch += 1;
        let mut parts: Vec<(TopicPartition, i64)> = Vec::new();
        for m in &messages {
            match parts
                .iter_mut()
                .find(|((t, p), _)| *p == m.partition && **t == *m.topic)
            {
                Some(entry) => entry.1 = m.offset + 1,
                None => parts.push(((m.topic.clone(), m.partition), m.offset + 1)),
            }
        }
        {
            let mut tracker = self.shared.lock_tracker();
            for (tp, next) in &parts {
                tracker.register(id, tp, *next);
            }
        }
        let ack = Arc::new(BatchAck {
            id,
            pending: AtomicUsize::new(1),
            partitions: parts.into_iter().map(|(tp, _)| tp).collect(),
            timestamps: messages
                .iter()
                .map(|m| m.timestamp_ms.unwrap_or(-1))
                .collect(),
            shared: self.shared.clone(),
        });
        match &feed.tx {
            Some(tx) => {
                if let Err(e) = tx.send(Work {
                    messages,
                    ticket: ack,
                }) {
                    // Workers are gone (shutting down): nothing will finish.
                    drop(e);
                }
            }
            None => drop(ack),
        }
    }

    fn dispatch_pending(&self) {
        let mut feed = self.lock_feed();
        self.dispatch(&mut feed);
    }
}

impl ClientContext for ConsumerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_rdkafka("consumer", level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.auth.note(&error, reason);
        if let Some(r) = client::fatal_reason("consumer", &error, reason) {
            self.shared.set_fatal(PipelineError::FatalConsumer(r));
        }
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        self.shared.counters.observed.record_stats(&statistics);
    }
}

impl ConsumerContext for ConsumerCtx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let tps: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| (Arc::from(e.topic()), e.partition()))
            .collect();
        if tps.is_empty() {
            return;
        }
        // Finish what was taken from these partitions before giving them up;
        // while the consumer closes, what is left was already given its
        // bound.
        let phase = &self.shared.counters.phase;
        let closing = phase.get() == Some(Phase::Closing);
        let before = if closing {
            None
        } else {
            phase.enter(Phase::Rebalancing)
        };
        self.dispatch_pending();
        let lost = consumer.assignment_lost();
        let drained = !lost
            && !closing
            && self
                .shared
                .wait_until(Instant::now() + self.drain_timeout, |t| {
                    tps.iter().all(|tp| t.pending(tp) == 0)
                });
        if !drained {
            let mut tracker = self.shared.lock_tracker();
            let batches: usize = tps.iter().map(|tp| tracker.forget(tp)).sum();
            if batches > 0 {
                tracing::warn!(
                    batches,
                    lost,
                    "partitions revoked with posts still in flight; their next owner reads them again"
                );
            }
        }
        if !lost {
            commit(consumer, "revoke");
        }
        if let Some(before) = before {
            phase.enter(before);
        }
        tracing::info!(partitions = ?tps.iter().map(|(t, p)| format!("{t}/{p}")).collect::<Vec<_>>(), lost, "partitions revoked");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let assigned = consumer.assignment().map_or(0, |a| a.count());
        self.shared.counters.observed.set_assigned(assigned);
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(
                partitions = ?tpl.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect::<Vec<_>>(),
                "partitions assigned"
            );
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "committing offsets failed; retried at the next commit")
            }
        }
    }
}

fn commit(consumer: &BaseConsumer<ConsumerCtx>, when: &str) -> bool {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => true,
        Err(e) => {
            tracing::warn!(error = %e, when, "committing offsets failed");
            false
        }
    }
}

struct ProducerCtx {
    shared: Arc<Shared>,
}

impl ClientContext for ProducerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_rdkafka("producer", level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.auth.note(&error, reason);
        if let Some(r) = client::fatal_reason("producer", &error, reason) {
            self.shared.set_fatal(PipelineError::FatalProducer(r));
        }
    }
}

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        match result {
            Ok(_) => {
                let c = &self.shared.counters;
                match delivery.kind {
                    RecordKind::Alert => c.alerts_acked.fetch_add(1, Ordering::Relaxed),
                    RecordKind::DeadLetter => c.dead_letters_acked.fetch_add(1, Ordering::Relaxed),
                };
                delivery.ack.release();
            }
            Err((e, msg)) => {
                if client::is_fatal(e) {
                    // The batch is never released: its offsets stay behind.
                    self.shared
                        .set_fatal(PipelineError::FatalProducer(e.to_string()));
                    return;
                }
                let (value, headers) = drop_oversized_dead_letter(
                    delivery.kind,
                    e,
                    msg.payload().map(<[u8]>::to_vec),
                    msg.headers().map(|h| h.detach()).unwrap_or_default(),
                );
                tracing::warn!(
                    error = %e,
                    topic = msg.topic(),
                    attempt = delivery.attempt,
                    "delivery failed; sending again after a backoff"
                );
                self.shared
                    .counters
                    .delivery_retries
                    .fetch_add(1, Ordering::Relaxed);
                let due = Instant::now() + backoff(delivery.attempt);
                let retry = Retry {
                    topic: msg.topic().to_string(),
                    key: msg.key().map(<[u8]>::to_vec),
                    value,
                    headers,
                    delivery: Box::new(Delivery {
                        ack: delivery.ack.clone(),
                        kind: delivery.kind,
                        attempt: delivery.attempt + 1,
                    }),
                    due,
                };
                let _ = self.shared.retry_tx.send(retry);
            }
        }
    }
}

/// A bad post too large for the dead-letter topic (the broker's limit, or
/// the producer's `message.max.bytes` before it is sent) would be refused
/// for ever and stall its partition: its dead letter keeps its place (key
/// and headers) and loses its value.
fn drop_oversized_dead_letter(
    kind: RecordKind,
    e: &rdkafka::error::KafkaError,
    value: Option<Vec<u8>>,
    headers: OwnedHeaders,
) -> (Option<Vec<u8>>, OwnedHeaders) {
    if kind == RecordKind::DeadLetter
        && value.is_some()
        && e.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge)
    {
        let headers = headers.insert(Header {
            key: "kestrel.value_dropped",
            value: Some("too large for the dead-letter topic"),
        });
        return (None, headers);
    }
    (value, headers)
}

/// Sends one record, waiting while the producer's queue is full (which is
/// how a slow broker slows the workers, and through them the consumer).
fn send(
    producer: &ThreadedProducer<ProducerCtx>,
    shared: &Shared,
    topic: &str,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: OwnedHeaders,
    delivery: Box<Delivery>,
) {
    let mut record: BaseRecord<'_, [u8], [u8], Box<Delivery>> =
        BaseRecord::with_opaque_to(topic, delivery).headers(headers);
    record.key = key;
    record.payload = value;
    if let client::Sent::Refused(e, r) = client::send_waiting(producer, record, &shared.abandon) {
        // Refused before it reached the queue: same path as a failed
        // delivery.
        tracing::warn!(error = %e, topic, "the producer refused a record; sending again after a backoff");
        shared
            .counters
            .delivery_retries
            .fetch_add(1, Ordering::Relaxed);
        let delivery = r.delivery_opaque;
        let due = Instant::now() + backoff(delivery.attempt);
        let (value, headers) = drop_oversized_dead_letter(
            delivery.kind,
            &e,
            value.map(<[u8]>::to_vec),
            r.headers.unwrap_or_default(),
        );
        let _ = shared.retry_tx.send(Retry {
            topic: topic.to_string(),
            key: key.map(<[u8]>::to_vec),
            value,
            headers,
            delivery: Box::new(Delivery {
                ack: delivery.ack.clone(),
                kind: delivery.kind,
                attempt: delivery.attempt + 1,
            }),
            due,
        });
    }
}

struct Sink {
    producer: ThreadedProducer<ProducerCtx>,
    shared: Arc<Shared>,
}

impl BatchSink for Sink {
    type Ticket = Arc<BatchAck>;

    fn send(&self, ack: &Arc<BatchAck>, record: OutRecord<'_>) {
        ack.hold();
        let delivery = Box::new(Delivery {
            ack: ack.clone(),
            kind: record.kind,
            attempt: 0,
        });
        send(
            &self.producer,
            &self.shared,
            record.topic,
            record.key,
            record.value,
            record.headers,
            delivery,
        );
    }

    fn scanned(&self, ack: Arc<BatchAck>) {
        ack.release();
    }
}

/// Sends failed records again when their backoff is over, until `stop`.
fn retry_loop(
    producer: ThreadedProducer<ProducerCtx>,
    shared: Arc<Shared>,
    rx: crossbeam_channel::Receiver<Retry>,
    stop: Shutdown,
) {
    let mut waiting: Vec<Retry> = Vec::new();
    loop {
        let next_due = match waiting.iter().map(|r| r.due).min() {
            Some(due) => crossbeam_channel::at(due),
            None => crossbeam_channel::never(),
        };
        crossbeam_channel::select! {
            recv(rx) -> r => match r {
                Ok(r) => waiting.push(r),
                Err(_) => return,
            },
            recv(stop.channel()) -> _ => return,
            recv(next_due) -> _ => {}
        }
        let now = Instant::now();
        let mut i = 0;
        while i < waiting.len() {
            if waiting[i].due <= now {
                let r = waiting.swap_remove(i);
                send(
                    &producer,
                    &shared,
                    &r.topic,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    r.headers,
                    r.delivery,
                );
            } else {
                i += 1;
            }
        }
    }
}

/// Runs the at-least-once pipeline on the calling thread until shutdown.
pub fn run(ctx: RunContext) -> Result<Stopped, PipelineError> {
    let counters = ctx.counters.clone();
    counters.phase.enter(Phase::Starting);
    let result = run_phases(ctx);
    counters.phase.enter(Phase::Stopped);
    result
}

/// Everything from creating the clients to closing them; [`run`] marks the
/// start and the end.
fn run_phases(ctx: RunContext) -> Result<Stopped, PipelineError> {
    let RunContext {
        config,
        engine,
        schema,
        counters,
        shutdown,
    } = ctx;
    let bound = Duration::from_millis(config.pipeline.shutdown_timeout_ms);
    let (retry_tx, retry_rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        tracker: Mutex::new(OffsetTracker::new()),
        finished: Condvar::new(),
        consumer: Mutex::new(None),
        counters: counters.clone(),
        fatal: Mutex::new(None),
        abandon: Shutdown::new(),
        retry_tx,
        auth: client::AuthFailure::default(),
    });
    let producer: ThreadedProducer<ProducerCtx> = client::producer_config(&config)
        .create_with_context(ProducerCtx {
            shared: shared.clone(),
        })
        .map_err(|source| PipelineError::Client {
            role: "producer",
            source,
        })?;
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<Work<Arc<BatchAck>>>();
    let consumer: Arc<BaseConsumer<ConsumerCtx>> = Arc::new(
        client::consumer_config(&config)
            .create_with_context(ConsumerCtx {
                shared: shared.clone(),
                feed: Mutex::new(Feed {
                    pending: Vec::with_capacity(BATCH_POSTS),
                    next_batch: 0,
                    tx: Some(work_tx),
                }),
                drain_timeout: bound,
            })
            .map_err(|source| PipelineError::Client {
                role: "consumer",
                source,
            })?,
    );
    *shared.consumer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(&consumer));

    let k = &config.kafka;
    let mut all: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    all.push(&k.alert_topic);
    all.push(&k.dead_letter_topic);
    client::check_topics(consumer.client(), &all, &shared.auth, &shutdown)?;
    client::subscribe(&*consumer, &config)?;

    let setup = ScanSetup::from_config(&config, engine, schema, counters.clone());
    let sink = Arc::new(Sink {
        producer: producer.clone(),
        shared: shared.clone(),
    });
    let workers = config.pipeline.worker_count();
    let handles = spawn_workers(workers, &setup, sink, work_rx).map_err(PipelineError::Thread)?;
    let retry_stop = Shutdown::new();
    let retry_handle = {
        let producer = producer.clone();
        let shared = shared.clone();
        let stop = retry_stop.clone();
        std::thread::Builder::new()
            .name("kestrel-retry".into())
            .spawn(move || retry_loop(producer, shared, retry_rx, stop))
            .map_err(PipelineError::Thread)?
    };
    tracing::info!(
        topics = ?k.input_topics,
        group = %k.group_id,
        workers,
        max_in_flight = config.pipeline.max_in_flight,
        delivery = "at_least_once",
        "consuming"
    );

    let stop_at = consume(&consumer, &shared, &shutdown, config.pipeline.max_in_flight);

    // Stop: hand over what was taken, wait for it within the bound, commit.
    let phase = &counters.phase;
    phase.enter(Phase::Draining);
    let deadline = stop_at + bound;
    let ctx = consumer.context().clone();
    ctx.dispatch_pending();
    let drained = shared.wait_until(deadline, |t| t.is_empty());
    phase.enter(Phase::Committing);
    commit(&consumer, "shutdown");
    let in_flight = counters.in_flight.load(Ordering::Relaxed);
    // Revokes from here on need no drain (see pre_rebalance).
    phase.enter(Phase::Closing);
    shared.abandon.trigger(Reason::DrainOver);
    ctx.lock_feed().tx = None;
    for h in handles {
        let _ = h.join();
    }
    retry_stop.trigger(Reason::OwnerDone);
    let _ = retry_handle.join();
    let left = deadline.saturating_duration_since(Instant::now());
    if let Err(e) = producer.flush(left.max(Duration::from_millis(100))) {
        tracing::warn!(error = %e, "some records were not flushed at shutdown");
    }
    // No more offset stores from here on; then wait out any store that
    // already holds the consumer before closing it.
    *shared.consumer.lock().unwrap_or_else(|p| p.into_inner()) = None;
    drop(shared.lock_tracker());
    close(consumer, deadline);

    let fatal = shared
        .fatal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(e) = fatal {
        return Err(e);
    }
    let s = counters.snapshot();
    tracing::info!(
        consumed = s.posts_consumed,
        scanned = s.posts_scanned,
        bad = s.bad_posts,
        alerts = s.alerts_acked,
        dead_letters = s.dead_letters_acked,
        drained,
        latency_p50_ms = counters.latency_quantile_ms(0.5).unwrap_or(0),
        latency_p99_ms = counters.latency_quantile_ms(0.99).unwrap_or(0),
        "stopped"
    );
    Ok(if drained {
        Stopped::Drained
    } else {
        Stopped::TimedOut { in_flight }
    })
}

/// The poll loop. Returns when shutdown is requested or a fatal error was
/// seen, with the moment it noticed.
fn consume(
    consumer: &BaseConsumer<ConsumerCtx>,
    shared: &Shared,
    shutdown: &Shutdown,
    max_in_flight: usize,
) -> Instant {
    let ctx = consumer.context().clone();
    let counters = &shared.counters;
    let max = max_in_flight as u64;
    let resume_below = max - max / 4;
    let mut topics: Vec<Arc<str>> = Vec::new();
    let mut paused = false;
    let mut last_error: Option<Instant> = None;
    let mut last_report = Instant::now();
    counters.phase.enter(Phase::Consuming);
    loop {
        if shutdown.is_triggered() || shared.has_fatal() {
            return Instant::now();
        }
        // Backpressure: at the bound, take nothing more until a quarter of
        // the posts in flight are finished. Not polling is what holds the
        // posts back (librdkafka keeps only its bounded prefetch). Pausing
        // partitions instead drops that prefetch and fetches again from the
        // next post on resume, usually from inside a record batch, which
        // some brokers answer wrongly (tansu 0.6.0 skips to the next
        // batch); not polling never fetches anything twice.
        // A rebalance waits meanwhile, which is bounded by how fast the
        // broker acknowledges; past max.poll.interval.ms the consumer
        // leaves the group and its partitions are read again from their
        // committed offsets.
        let in_flight = counters.in_flight.load(Ordering::Relaxed);
        if in_flight >= max || (paused && in_flight >= resume_below) {
            if !paused {
                tracing::debug!(in_flight, "in-flight bound reached");
                counters.phase.enter(Phase::Paused);
                paused = true;
            }
            ctx.dispatch_pending();
            shared.wait_until(Instant::now() + Duration::from_millis(100), |_| {
                counters.in_flight.load(Ordering::Relaxed) < resume_below
            });
            continue;
        }
        if paused {
            counters.phase.enter(Phase::Consuming);
            paused = false;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            let s = counters.snapshot();
            tracing::info!(
                consumed = s.posts_consumed,
                scanned = s.posts_scanned,
                bad = s.bad_posts,
                alerts = s.alerts_acked,
                dead_letters = s.dead_letters_acked,
                in_flight = s.in_flight,
                retries = s.delivery_retries,
                "progress"
            );
        }
        let has_pending = !ctx.lock_feed().pending.is_empty();
        let timeout = if has_pending {
            Duration::ZERO
        } else if paused {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(100)
        };
        match consumer.poll(timeout) {
            None => {
                if has_pending {
                    ctx.dispatch_pending();
                }
            }
            Some(Ok(m)) => {
                let topic = match topics.iter().find(|t| ***t == *m.topic()) {
                    Some(t) => t.clone(),
                    None => {
                        let t: Arc<str> = Arc::from(m.topic());
                        topics.push(t.clone());
                        t
                    }
                };
                let msg = InMessage::from_borrowed(&m, topic);
                drop(m);
                counters.posts_consumed.fetch_add(1, Ordering::Relaxed);
                counters.bytes_consumed.fetch_add(
                    msg.payload.as_ref().map_or(0, |p| p.len() as u64),
                    Ordering::Relaxed,
                );
                counters.in_flight.fetch_add(1, Ordering::Relaxed);
                let mut feed = ctx.lock_feed();
                feed.pending.push(msg);
                if feed.pending.len() >= BATCH_POSTS {
                    ctx.dispatch(&mut feed);
                }
            }
            Some(Err(e)) => {
                if let KafkaError::MessageConsumptionFatal(code) = e {
                    shared.set_fatal(PipelineError::FatalConsumer(code.to_string()));
                    continue;
                }
                // Transient (broker down, rebalancing): librdkafka retries on
                // its own; say so at most once a second.
                if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    last_error = Some(Instant::now());
                    tracing::warn!(error = %e, "consumer error; retrying");
                }
            }
        }
    }
}

/// Closes the consumer (leaves the group) without passing `deadline`: a
/// consumer that cannot reach its broker is left behind for the process
/// exit to end.
fn close(consumer: Arc<BaseConsumer<ConsumerCtx>>, deadline: Instant) {
    consumer.unsubscribe();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("kestrel-close".into())
        .spawn(move || {
            drop(consumer);
            let _ = tx.send(());
        });
    if spawned.is_ok() {
        let left = deadline.saturating_duration_since(Instant::now());
        if rx
            .recv_timeout(left.max(Duration::from_millis(500)))
            .is_err()
        {
            tracing::warn!(
                "the consumer did not close in time; leaving the group to the session timeout"
            );
        }
    }
}
