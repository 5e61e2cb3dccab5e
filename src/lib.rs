//! kestrel: flags terrorist recruitment and financing signals in user posts.
//!
//! The matching core ([`rules`], [`normalize`], [`indicators`], [`engine`]) is
//! pure: no Kafka, no files beyond rule loading, no async. Everything with I/O
//! wraps it, behind the `service` feature (on by default): without it the
//! crate builds no Kafka client, async runtime, metrics or HTTP listener.
#![warn(missing_docs)]

pub mod alert;
#[cfg(feature = "service")]
pub mod config;
pub mod engine;
pub mod eval;
pub mod explain;
#[cfg(feature = "service")]
pub mod flood;
pub mod indicators;
pub mod lint;
#[cfg(feature = "service")]
pub mod logging;
#[cfg(feature = "service")]
pub mod metrics;
pub mod normalize;
#[cfg(feature = "service")]
pub mod ops;
#[cfg(feature = "service")]
pub mod pipeline;
pub mod post;
#[cfg(feature = "service")]
pub mod reload;
pub mod rules;
pub mod ruletest;
pub mod scan;
#[cfg(feature = "service")]
pub mod status;
#[cfg(test)]
mod testrng;
