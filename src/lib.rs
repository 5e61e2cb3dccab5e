//! kestrel: flags terrorist recruitment and financing signals in user posts.
//!
//! This crate is the service around the pure matching core, `kestrel-core`
//! (rules, folding, indicators, engine, posts, alerts, explain, eval): the
//! configuration, the Kafka pipeline, hot reload, the flood guard, metrics,
//! the status page and logging. The core's modules are re-exported here under
//! their own names, so `kestrel::engine` is `kestrel_core::engine`.
#![warn(missing_docs)]

pub use kestrel_core::{
    alert, engine, eval, explain, indicators, lint, normalize, pack, post, process, rules,
    ruletest, scan,
};

pub mod config;
pub mod flood;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod reload;
pub mod shutdown;
pub mod status;
