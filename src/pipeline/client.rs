//! librdkafka client settings: kestrel's defaults, the user's pass-through
//! properties, and the few settings the delivery promises depend on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::IntoOpaque;
use rdkafka::ClientContext;

use crate::config::{Config, Delivery};

use super::{PipelineError, Shutdown};

/// Consumer settings: kestrel's defaults, then `[kafka.consumer]`, then what
/// at-least-once needs (offsets are stored by kestrel, never by librdkafka).
pub fn consumer_config(config: &Config) -> ClientConfig {
    let k = &config.kafka;
    let mut c = ClientConfig::new();
    c.set("client.id", "kestrel")
        // Incremental rebalances: when an instance joins or leaves, only
        // the partitions that move stop, and each is drained on its own.
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.partition.eof", "false")
        // How long a fetch may wait for data. Kafka answers as soon as data
        // arrives, so this only bounds idle polling there; brokers that
        // hold every fetch for the full wait (tansu does) add it to the
        // latency of each post.
        .set("fetch.wait.max.ms", "100")
        .set("isolation.level", "read_committed")
        // Consumer lag per partition for the metrics comes from these reports.
        .set("statistics.interval.ms", "5000");
    for (key, value) in &k.consumer {
        c.set(key, value);
    }
    c.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        .set("enable.auto.offset.store", "false");
    if config.pipeline.delivery == Delivery::ExactlyOnce {
        // Offsets travel inside the transactions.
        c.set("enable.auto.commit", "false");
    }
    c.set_log_level(RDKafkaLogLevel::Info);
    c
}

/// Producer settings: kestrel's defaults, then `[kafka.producer]`, then
/// idempotence (and a transactional id for exactly-once).
pub fn producer_config(config: &Config) -> ClientConfig {
    let k = &config.kafka;
    let mut c = ClientConfig::new();
    // No compression by default: every client can read the alerts (the
    // pure-Python kafka-python needs an extra package for lz4); set
    // "compression.type" in [kafka.producer] where bandwidth matters more.
    c.set("client.id", "kestrel").set("linger.ms", "5");
    for (key, value) in &k.producer {
        c.set(key, value);
    }
    c.set("bootstrap.servers", &k.brokers)
        .set("enable.idempotence", "true");
    if config.pipeline.delivery == Delivery::ExactlyOnce
        && !k.producer.contains_key("transactional.id")
    {
        c.set(
            "transactional.id",
            format!("kestrel-{}-{}", k.group_id, instance_suffix()),
        );
    }
    c.set_log_level(RDKafkaLogLevel::Info);
    c
}

/// Unique enough per process: the host name and the process id.
fn instance_suffix() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!("{host}-{}", std::process::id())
}

/// Routes librdkafka's log lines and errors into `tracing`.
pub fn log_rdkafka(role: &'static str, level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(client = role, facility = fac, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(client = role, facility = fac, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(client = role, facility = fac, "{message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(client = role, facility = fac, "{message}"),
    }
}

/// Waits until the broker answers a metadata request (retrying with
/// backoff, so kestrel can start before its broker), then checks that every
/// named topic exists. Topics starting with `^` are patterns and are not
/// checked.
pub fn check_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[&str],
    shutdown: &Shutdown,
) -> Result<(), PipelineError> {
    let mut attempt = 0;
    let started = Instant::now();
    let metadata = loop {
        match client.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(m) => break m,
            Err(e) => {
                if shutdown.is_triggered() {
                    return Ok(());
                }
                tracing::warn!(
                    error = %e,
                    waited_s = started.elapsed().as_secs(),
                    "the broker does not answer yet; retrying"
                );
                std::thread::sleep(super::backoff(attempt));
                attempt += 1;
            }
        }
    };
    for t in topics {
        if t.starts_with('^') {
            continue;
        }
        let found = metadata
            .topics()
            .iter()
            .any(|mt| mt.name() == *t && mt.error().is_none() && !mt.partitions().is_empty());
        if !found {
            return Err(PipelineError::MissingTopic(t.to_string()));
        }
    }
    Ok(())
}

/// A client's error callback: an error the client recovers from is logged
/// and gives `None`; a fatal one (the client can never be used again) gives
/// its reason, for the pipeline to stop on.
pub fn fatal_reason(role: &'static str, error: &KafkaError, reason: &str) -> Option<String> {
    if is_fatal(error) {
        return Some(reason.to_string());
    }
    tracing::warn!(client = role, error = %error, "{reason}");
    None
}

/// What became of a record handed to [`send_waiting`].
pub enum Sent<'a, D: IntoOpaque> {
    /// In the producer's queue.
    Queued,
    /// Dropped while waiting for room: the pipeline is being abandoned.
    Abandoned,
    /// Refused before it reached the queue; the record comes back.
    Refused(KafkaError, BaseRecord<'a, [u8], [u8], D>),
}

/// Sends a record, waiting while the producer's queue is full (which is how
/// a slow broker slows the workers, and through them the consumer), unless
/// `abandon` is set.
pub fn send_waiting<'a, C: ProducerContext + 'static>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'a, [u8], [u8], C::DeliveryOpaque>,
    abandon: &AtomicBool,
) -> Sent<'a, C::DeliveryOpaque> {
    loop {
        match producer.send(record) {
            Ok(()) => return Sent::Queued,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                if abandon.load(Ordering::Acquire) {
                    return Sent::Abandoned;
                }
                record = r;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, r)) => return Sent::Refused(e, r),
        }
    }
}

/// Whether an error means the producer can never be used again.
pub fn is_fatal(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::Fatal)
    )
}

/// Subscribes the consumer to the configured input topics.
pub fn subscribe<C, X>(consumer: &C, config: &Config) -> Result<(), PipelineError>
where
    C: rdkafka::consumer::Consumer<X>,
    X: rdkafka::consumer::ConsumerContext,
{
    let topics = &config.kafka.input_topics;
    let inputs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&inputs)
        .map_err(|source| PipelineError::Subscribe {
            topics: topics.clone(),
            source,
        })
}
