//! `kestrel run`'s pipeline in the test's own process (no child): for the
//! tests that read its counters or make librdkafka's mock cluster fail
//! requests under it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kestrel::config::Config;
use kestrel::engine::{Engine, EngineOptions};
use kestrel::pipeline::{self, Counters, PipelineError, Reason, RunContext, Shutdown, Stopped};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use crate::{expected_by_scan, mock_cluster, produce_posts, write_rules, EndOffsets, RunConfig};

/// What a pipeline of this process needs: the context it runs with, and
/// what the test keeps to watch and stop it.
pub struct InProcess {
    /// What [`InProcess::start`] runs the pipeline with.
    pub ctx: RunContext,
    /// The run's counters.
    pub counters: Arc<Counters>,
    /// Stops the run.
    pub shutdown: Shutdown,
}

impl InProcess {
    /// `config` read as `kestrel run` reads its file (`name` is the file
    /// name its errors would give), the rules of its `[rules] dir` loaded
    /// and built once (no reload), fresh counters and a shutdown of its own.
    /// Its logs, at info, go to the test's output: shown when it fails.
    pub fn new(config: &RunConfig, name: &str) -> InProcess {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_test_writer()
            .try_init();
        let config = Config::from_toml(&config.text(), Path::new(name), Vec::new())
            .unwrap_or_else(|e| panic!("the test's configuration: {e}"));
        let loaded = kestrel::rules::load_dir(&config.rules.dir)
            .unwrap_or_else(|e| panic!("the test's rules: {e}"));
        let engine = Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap();
        let counters = Arc::new(Counters::default());
        let shutdown = Shutdown::new();
        let ctx = RunContext {
            schema: Arc::new(config.posts.schema().unwrap()),
            config,
            engine: Arc::new(kestrel::reload::ServingRules::fixed(engine)),
            counters: counters.clone(),
            shutdown: shutdown.clone(),
        };
        InProcess {
            ctx,
            counters,
            shutdown,
        }
    }

    /// Runs the pipeline on a thread of its own and returns once it has
    /// finished `n` posts (their alerts and dead letters acknowledged), has
    /// stopped by itself, or `within` has passed, whichever comes first: the
    /// test checks which, then [`Running::stop`]s it.
    pub fn start(self, n: u64, within: Duration) -> Running {
        let InProcess {
            ctx,
            counters,
            shutdown,
        } = self;
        let handle = std::thread::spawn(move || pipeline::run(ctx));
        let deadline = Instant::now() + within;
        while counters.posts_finished.load(Ordering::Relaxed) < n
            && Instant::now() < deadline
            && !handle.is_finished()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        Running {
            counters,
            shutdown,
            handle,
        }
    }
}

/// A pipeline running on a thread of the test.
pub struct Running {
    /// The run's counters.
    pub counters: Arc<Counters>,
    shutdown: Shutdown,
    handle: JoinHandle<Result<Stopped, PipelineError>>,
}

impl Running {
    /// Asks the pipeline to stop (as SIGTERM would) and returns how it
    /// ended.
    pub fn stop(self) -> Result<Stopped, PipelineError> {
        self.shutdown.trigger(Reason::Requested);
        self.handle.join().expect("the pipeline thread panicked")
    }
}

/// librdkafka's mock cluster ([`mock_cluster`]) holding `n` test posts on
/// `posts`, the test rules, and what `kestrel scan` says a run must
/// publish for those posts.
pub struct MockPosts {
    /// The cluster, to make it fail requests.
    pub cluster: MockCluster<'static, DefaultProducerContext>,
    /// Its bootstrap servers.
    pub brokers: String,
    /// The rule folder ([`write_rules`]).
    pub rules: PathBuf,
    /// The end offsets of `posts` after producing.
    pub ends: EndOffsets,
    /// Every (post id, rule id) alert a run must publish.
    pub expected: BTreeSet<(String, String)>,
    /// How many of the posts are bad (dead letters).
    pub bad: usize,
}

impl MockPosts {
    /// The next `times` produce requests fail with `error`, for every
    /// record in them (librdkafka's own retries do not get past it).
    pub fn fail_produce_requests(&self, error: RDKafkaRespErr, times: usize) {
        self.cluster
            .request_errors(RDKafkaApiKey::Produce, &vec![error; times]);
    }
}

/// [`MockPosts`] with `brokers` mock brokers and `partitions` partitions a
/// topic, the rules and the scan's files in `dir`.
pub fn mock_posts(dir: &Path, brokers: i32, partitions: i32, n: usize) -> MockPosts {
    let rules = write_rules(dir);
    let cluster = mock_cluster(brokers, partitions);
    let servers = cluster.bootstrap_servers();
    let ends = produce_posts(&servers, "posts", 0..n);
    let (expected, bad) = expected_by_scan(dir, &rules, 0..n);
    MockPosts {
        cluster,
        brokers: servers,
        rules,
        ends,
        expected,
        bad,
    }
}
