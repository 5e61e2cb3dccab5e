//! kestrel-core: the pure matching core of kestrel.
//!
//! Rules and lexicons ([`rules`]), folding ([`normalize`]), validated
//! detectors ([`indicators`]), the multi-pattern engine ([`engine`]), posts
//! ([`post`]), alerts ([`alert`]), explanations ([`explain`]), rule tests
//! ([`ruletest`]), loading a whole pack the one way ([`pack`]), evaluation on labelled posts ([`eval`]), lints ([`lint`]),
//! the file scanner behind `kestrel scan` ([`scan`]) and the post processor
//! both `scan` and `run` drive ([`process`]).
//!
//! No Kafka, no async runtime, no metrics, no HTTP, no file watching: the
//! service crate (`kestrel`) wraps this one. Rules load from a directory
//! ([`rules::load_dir`]) or from memory ([`rules::load_str`]).
#![warn(missing_docs)]

pub mod alert;
pub mod engine;
pub mod eval;
pub mod explain;
pub mod indicators;
pub mod lint;
pub mod normalize;
pub mod pack;
pub mod post;
pub mod process;
pub mod rules;
pub mod ruletest;
pub mod scan;
#[cfg(test)]
mod testrng;
