//! What signals do to `kestrel run`, without a broker: kestrel waits for
//! one that never answers, which is where an operator's signals often land.
//! SIGHUP and SIGUSR1 act and never end the process; SIGTERM stops it within
//! the bound; a second stop signal ends it at once with status 1.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RULES: &str = "rules:\n  - id: t.donate\n    revision: 1\n    title: Donation appeal\n    category: financing\n    severity: high\n    terms:\n      appeal: { words: [donate] }\n    tests:\n      match: [\"donate now\"]\n";

/// `kestrel run` against a port nobody listens on, logging JSON to a file;
/// killed if a test fails before it exits.
struct Run {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Run {
    fn start() -> Run {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("r.yaml"), RULES).unwrap();
        let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = nobody.local_addr().unwrap().port();
        drop(nobody);
        let config = dir.path().join("kestrel.toml");
        std::fs::write(
            &config,
            format!(
                "[kafka]\nbrokers = \"127.0.0.1:{port}\"\n\n[rules]\ndir = \"{}\"\nreload = \"signal\"\n\n\
                 [pipeline]\nworkers = 1\nshutdown_timeout_ms = 8000\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
                rules.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("run.log");
        let child = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .env("KESTREL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting kestrel run");
        let mut run = Run {
            child,
            log,
            _dir: dir,
        };
        // The operations side is up once the reloader says so.
        run.wait_for_log("rule reload ready");
        run
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&mut self, message: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log_text().contains(message) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "kestrel run exited ({status}) before {message:?}:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {message:?} in:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// The exit code and how long it took, within `limit`.
    fn exit_within(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "kestrel run still runs {limit:?} after the signal:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_and_sigusr1_act_without_ending_the_run_and_sigterm_stops_it() {
    let mut run = Run::start();
    run.signal(libc::SIGHUP);
    run.wait_for_log("SIGHUP: reloading the rules");
    run.wait_for_log("rules reload: unchanged");
    run.signal(libc::SIGUSR1);
    run.wait_for_log("SIGUSR1: every flood guard demotion reset");
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "SIGHUP or SIGUSR1 ended the process:\n{}",
        run.log_text()
    );
    run.signal(libc::SIGTERM);
    let (code, took) = run.exit_within(Duration::from_secs(30));
    let log = run.log_text();
    assert_eq!(code, Some(0), "after {took:?}:\n{log}");
    assert!(
        log.contains("stopping: finishing the posts in flight"),
        "{log}"
    );
    assert!(log.contains("\"reason\":\"SIGTERM\""), "{log}");
    // Nothing was consumed: the stop is the bound's business only when posts
    // are in flight.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_second_stop_signal_ends_the_process_at_once_with_status_1() {
    let mut run = Run::start();
    run.signal(libc::SIGTERM);
    // The first one is taken (two pending signals of one kind would be one).
    run.wait_for_log("stopping: finishing the posts in flight");
    run.signal(libc::SIGINT);
    let (code, took) = run.exit_within(Duration::from_secs(10));
    assert_eq!(code, Some(1), "after {took:?}:\n{}", run.log_text());
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
