//! librdkafka client settings: kestrel's defaults, the user's pass-through
//! properties, and the few settings the delivery promises depend on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::IntoOpaque;
use rdkafka::ClientContext;

use crate::config::{Config, Delivery};
use crate::shutdown::Shutdown;

use super::PipelineError;

/// Consumer settings: kestrel's defaults, then `[kafka.properties]` and
/// `[kafka.consumer]`, then what
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
    for (key, value) in k.properties.iter().chain(&k.consumer) {
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

/// Producer settings: kestrel's defaults, then `[kafka.properties]` and
/// `[kafka.producer]`, then
/// idempotence (and a transactional id for exactly-once).
pub fn producer_config(config: &Config) -> ClientConfig {
    let k = &config.kafka;
    let mut c = ClientConfig::new();
    // No compression by default: every client can read the alerts (the
    // pure-Python kafka-python needs an extra package for lz4); set
    // "compression.type" in [kafka.producer] where bandwidth matters more.
    c.set("client.id", "kestrel").set("linger.ms", "5");
    for (key, value) in k.properties.iter().chain(&k.producer) {
        c.set(key, value);
    }
    c.set("bootstrap.servers", &k.brokers)
        .set("enable.idempotence", "true");
    if config.pipeline.delivery == Delivery::ExactlyOnce
        && !k.producer.contains_key("transactional.id")
        && !k.properties.contains_key("transactional.id")
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

/// The first TLS or SASL failure a client reported (its error callback
/// calls [`AuthFailure::note`]; clones share it, so the producer and the
/// consumer of a run note into one). librdkafka goes on retrying these, but a
/// CA that does not sign the broker's certificate, a wrong password or an
/// unknown user do not heal by waiting: while kestrel waits for its broker
/// at startup, such a failure stops it with the reason instead.
#[derive(Clone, Debug, Default)]
pub struct AuthFailure(Arc<Mutex<Option<String>>>);

impl AuthFailure {
    /// Keeps the reason of `error` if it is a TLS or SASL failure.
    pub fn note(&self, error: &KafkaError, reason: &str) {
        if !is_auth_failure(error) {
            return;
        }
        let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(reason.to_string());
        }
    }

    /// The first failure noted, if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Whether an error is a failed TLS handshake or SASL authentication.
pub fn is_auth_failure(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
        )
    )
}

/// Waits until the broker answers a metadata request (retrying with
/// backoff, so kestrel can start before its broker), then checks that every
/// named topic exists. Topics starting with `^` are patterns and are not
/// checked. A TLS or SASL failure noted in `auth` meanwhile ends the wait
/// with [`PipelineError::BrokerAuth`].
pub fn check_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[&str],
    auth: &AuthFailure,
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
                if let Some(reason) = auth.get() {
                    return Err(PipelineError::BrokerAuth(reason));
                }
                tracing::warn!(
                    error = %e,
                    waited_s = started.elapsed().as_secs(),
                    "the broker does not answer yet; retrying"
                );
                if shutdown.wait_timeout(super::backoff(attempt)) {
                    return Ok(());
                }
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
/// a slow broker slows the workers, and through them the consumer), until
/// `abandon` is triggered.
pub fn send_waiting<'a, C: ProducerContext + 'static>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'a, [u8], [u8], C::DeliveryOpaque>,
    abandon: &Shutdown,
) -> Sent<'a, C::DeliveryOpaque> {
    loop {
        match producer.send(record) {
            Ok(()) => return Sent::Queued,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                // librdkafka has no wait for room in its queue: a short
                // wait that a trigger of `abandon` ends at once.
                if abandon.wait_timeout(Duration::from_millis(2)) {
                    return Sent::Abandoned;
                }
                record = r;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn kafka_properties_go_to_both_clients_and_a_client_table_wins() {
        let config = Config::from_toml(
            "[kafka.properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"/ca.pem\"\n\
             [kafka.producer]\n\"ssl.ca.location\" = \"/producer-ca.pem\"\n",
            Path::new("k.toml"),
            Vec::new(),
        )
        .unwrap();
        let consumer = consumer_config(&config);
        let producer = producer_config(&config);
        assert_eq!(consumer.get("security.protocol"), Some("SSL"));
        assert_eq!(producer.get("security.protocol"), Some("SSL"));
        assert_eq!(consumer.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(producer.get("ssl.ca.location"), Some("/producer-ca.pem"));
    }

    #[test]
    fn only_tls_and_sasl_failures_are_auth_failures() {
        let auth = AuthFailure::default();
        let shared = auth.clone();
        shared.note(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(auth.get(), None);
        shared.note(
            &KafkaError::Global(RDKafkaErrorCode::SSL),
            "SSL handshake failed",
        );
        shared.note(
            &KafkaError::Global(RDKafkaErrorCode::Authentication),
            "later",
        );
        assert_eq!(auth.get().as_deref(), Some("SSL handshake failed"));
    }
}
