//! `kestrel run`: posts from Kafka, scanned on every core, alerts and dead
//! letters back to Kafka, offsets committed only behind what the broker has
//! acknowledged.
//!
//! ```text
//!  consumer thread ──batches──▶ scan workers ──records──▶ producer
//!        ▲                                                   │ acks
//!        └──── offsets stored in order per partition ◀───────┘
//! ```
//!
//! Two delivery modes share the workers: [`at_least_once`] (the default:
//! idempotent producer, offsets stored after acknowledgement through an
//! ordered [`tracker`]) and [`exactly_once`] (alerts, dead letters and
//! offsets in one transaction per batch).

pub mod at_least_once;
pub mod client;
pub mod counters;
pub mod exactly_once;
pub mod observed;
pub mod phase;
pub mod tracker;
pub mod work;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::config::{Config, Delivery};
use crate::post::PostSchema;
use crate::reload::ServingRules;

pub use crate::shutdown::{Reason, Shutdown};
pub use counters::Counters;

/// Why the pipeline could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A Kafka client could not be created (usually a bad property).
    #[error("creating the Kafka {role}: {source}")]
    Client {
        /// consumer or producer.
        role: &'static str,
        /// What librdkafka said.
        source: KafkaError,
    },
    /// The broker refused the connection's TLS or SASL credentials.
    #[error("the broker refused kestrel's TLS or SASL credentials: {0}; check security.protocol, ssl.ca.location, sasl.mechanisms, sasl.username and sasl.password in [kafka.properties] (or [kafka.consumer] and [kafka.producer])")]
    BrokerAuth(String),
    /// A topic the configuration names does not exist.
    #[error(
        "topic '{0}' does not exist on the broker; create it (kestrel does not create topics)"
    )]
    MissingTopic(String),
    /// Subscribing failed.
    #[error("subscribing to {topics:?}: {source}")]
    Subscribe {
        /// The input topics.
        topics: Vec<String>,
        /// What librdkafka said.
        source: KafkaError,
    },
    /// The broker cannot run transactions, which `exactly_once` needs.
    #[error("the broker does not support transactions ({0}); delivery = \"exactly_once\" cannot run against it: use delivery = \"at_least_once\"")]
    TransactionsUnsupported(String),
    /// A transaction step failed in a way that cannot be retried.
    #[error("transaction: {0}")]
    Transaction(KafkaError),
    /// The broker refused a record for good, transaction after transaction
    /// (e.g. an alert larger than the topic's `max.message.bytes`): the
    /// posts are left uncommitted, to be read again once the topic accepts
    /// them.
    #[error("the broker refused a record for {topic} [{partition}] in {attempts} transactions in a row ({reason}); its posts stay uncommitted: fix the topic (e.g. raise max.message.bytes) and start kestrel again")]
    RecordRefused {
        /// The topic of the refused record.
        topic: String,
        /// Its partition.
        partition: i32,
        /// What the broker said.
        reason: String,
        /// Transactions aborted in a row for it.
        attempts: u32,
    },
    /// Aborting a transaction did not complete within the bound: the
    /// broker's side of it is stuck, and this producer cannot go on.
    #[error("the transaction could not be aborted within {waited_s} s ({last}); nothing of it is committed: stopping so that a new producer takes over")]
    AbortStuck {
        /// How long the abort was tried.
        waited_s: u64,
        /// The last error.
        last: String,
    },
    /// The producer hit a fatal error (e.g. its idempotence state is lost).
    #[error("fatal producer error: {0}")]
    FatalProducer(String),
    /// The consumer hit a fatal error.
    #[error("fatal consumer error: {0}")]
    FatalConsumer(String),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Everything taken from Kafka was finished and committed.
    Drained,
    /// The shutdown bound passed with posts still in flight; they were not
    /// committed and will be read again.
    TimedOut {
        /// Posts consumed but not finished.
        in_flight: u64,
    },
}

/// Everything a run needs.
pub struct RunContext {
    /// The configuration.
    pub config: Config,
    /// The rules serving (swapped whole on reload) and their flood guard.
    pub engine: Arc<ServingRules>,
    /// The post reader.
    pub schema: Arc<PostSchema>,
    /// Where the counting goes.
    pub counters: Arc<Counters>,
    /// Stops the run.
    pub shutdown: Shutdown,
}

/// Runs the pipeline until `ctx.shutdown` is triggered or a fatal error.
/// Blocking: call it from a thread of its own or `spawn_blocking`.
pub fn run(ctx: RunContext) -> Result<Stopped, PipelineError> {
    match ctx.config.pipeline.delivery {
        Delivery::AtLeastOnce => at_least_once::run(ctx),
        Delivery::ExactlyOnce => exactly_once::run(ctx),
    }
}

/// Exponential backoff: 100 ms doubling to at most 10 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << attempt.min(7));
    Duration::from_millis(ms.min(10_000))
}
