//! What kestrel's integration tests (`tests/*.rs` of the root crate) share,
//! in one place:
//!
//! - [`cli`]: `kestrel` commands with a clean environment, stdin fed,
//!   rule files in temporary directories, `kestrel scan` read back;
//! - [`child`]: one `kestrel run` child process ([`Kestrel`]): start, wait
//!   until it consumes or serves, signal, kill, exit status, its JSON log;
//! - [`config`]: one writer of `kestrel run` configurations ([`RunConfig`]);
//! - [`inprocess`]: `kestrel run`'s pipeline on a thread of the test
//!   ([`InProcess`]), and librdkafka's mock cluster holding the test posts
//!   ([`mock_posts`]);
//! - [`broker`]: an Apache Kafka broker (or a 3-broker cluster) of a test's
//!   own, from the jars of `scripts/kafka-dev.sh install`, and whether a test
//!   without one skips or fails;
//! - [`kafka`]: one producer ([`Producer`]) and one reader ([`Reader`]), the
//!   committed offsets of a group, alert pairs;
//! - [`posts`]: the numbered test posts and the small rule set whose alerts
//!   `kestrel scan` predicts;
//! - [`metrics`]: plain HTTP against the metrics port, Prometheus scrapes,
//!   the metric names of the deploy files, `promtool`.
//!
//! docs/testing.md says what lives where.

pub mod broker;
pub mod child;
pub mod cli;
pub mod config;
pub mod inprocess;
pub mod kafka;
pub mod metrics;
pub mod posts;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use broker::{
    broker_required, kafka_tool, serial, skip_without_broker, Broker, Tls, SASL_PASSWORD, SASL_USER,
};
pub use child::Kestrel;
pub use cli::{kestrel, output_ok, rules_dir, run, scan, text, write_files};
pub use config::{RunConfig, CONSUMER_SECRET, RESET_TOKEN};
pub use inprocess::{mock_posts, InProcess, MockPosts, Running};
pub use kafka::{
    alert_pairs, committed, covers, distinct_keys, header, merge_ends, mock_cluster, produce,
    produce_posts, read_isolated, read_topic, total, wait_committed, EndOffsets, Producer, Reader,
};
pub use metrics::{
    family_names, http, http_with, metric_names_in, names_in_deploy_files, promtool, sample,
    samples, scrape, series, Sample,
};
pub use posts::{expected_by_scan, is_bad, post, write_rules, TEST_RULES};

/// The kestrel repository: the root crate's folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository above crates/kestrel-testkit")
}

/// The `kestrel` binary the running test was built with. Cargo builds a
/// package's binaries before its integration tests, next to their `deps`
/// folder; `CARGO_BIN_EXE_kestrel`, if set when the test runs, wins.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_BIN_EXE_kestrel") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dir = exe
        .parent()
        .expect("the test binary's folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("kestrel{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no kestrel binary at {} (run the tests of the root crate: cargo test --release --test NAME)",
        bin.display()
    );
    bin
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, failing the test after `within`.
pub fn wait_for<T>(what: &str, within: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll_for(within, f).unwrap_or_else(|| panic!("timed out after {within:?} waiting for {what}"))
}

/// Polls `f` every 50 ms until it returns `Some`; `None` once `within` has
/// passed, for a test that says more than [`wait_for`] when it gives up.
pub fn poll_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("making a temporary folder")
}
