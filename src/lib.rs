//! kestrel: flags terrorist recruitment and financing signals in user posts.
//!
//! The matching core ([`rules`], [`normalize`], [`indicators`], [`engine`]) is
//! pure: no Kafka, no files beyond rule loading, no async. Everything with I/O
//! wraps it.
#![warn(missing_docs)]

pub mod alert;
pub mod config;
pub mod engine;
pub mod eval;
pub mod explain;
pub mod flood;
pub mod indicators;
pub mod logging;
pub mod metrics;
pub mod normalize;
pub mod ops;
pub mod pipeline;
pub mod post;
pub mod reload;
pub mod rules;
pub mod ruletest;
pub mod scan;
pub mod status;
#[cfg(test)]
mod testrng;
