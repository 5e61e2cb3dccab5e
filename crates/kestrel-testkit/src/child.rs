//! One `kestrel run` child process with its JSON log in a file.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::wait_for;

/// The log event kestrel writes once its metrics port listens.
const LISTENING: &str = "metrics, health and status page listening";

/// A `kestrel run --config FILE --log-format json` child. Its log (level
/// `info` unless the test sets `KESTREL_LOG`) goes to `NAME.log` beside the
/// configuration. Dropping it kills the process; when the test is failing,
/// the last lines of the log are printed first.
pub struct Kestrel {
    child: Option<Child>,
    /// The log file.
    pub log: PathBuf,
    /// The metrics port's `host:port`, once known (see [`Kestrel::serve`]).
    pub metrics: String,
}

impl Kestrel {
    /// Starts `kestrel run` on `config`; returns at once.
    pub fn start(config: &Path, name: &str) -> Kestrel {
        Kestrel::start_with_env(config, name, &[])
    }

    /// Like [`Kestrel::start`], with `env` set (e.g. a password in
    /// `KESTREL_KAFKA__PROPERTIES__SASL_PASSWORD`, or `KESTREL_LOG`). No
    /// other `KESTREL_…` variable of the test's environment is passed on.
    pub fn start_with_env(config: &Path, name: &str, env: &[(&str, &str)]) -> Kestrel {
        let log = config.with_file_name(format!("{name}.log"));
        let child = crate::kestrel()
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--log-format")
            .arg("json")
            .env("KESTREL_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting kestrel run");
        Kestrel {
            child: Some(child),
            log,
            metrics: String::new(),
        }
    }

    /// Starts `kestrel run` on `config` and waits until its metrics port
    /// answers `/healthz` (failing the test, with the log, if it exits
    /// first).
    pub fn serve(config: &Path, name: &str) -> Kestrel {
        let mut k = Kestrel::start(config, name);
        k.wait_serving();
        k
    }

    /// Waits until the metrics port answers `/healthz`; sets `metrics`.
    pub fn wait_serving(&mut self) {
        let addr = wait_for("the metrics port", Duration::from_secs(60), || {
            self.assert_running();
            self.metrics_addr()
        });
        wait_for("/healthz", Duration::from_secs(30), || {
            self.assert_running();
            crate::http(&addr, "GET", "/healthz").ok()
        });
        self.metrics = addr;
    }

    /// Waits until `/readyz` answers 200 (partitions assigned).
    pub fn wait_readyz(&self) {
        wait_for("/readyz to answer 200", Duration::from_secs(60), || {
            (self.get("/readyz").0 == 200).then_some(())
        });
    }

    /// Waits until it consumes (its signal handlers are installed by then).
    pub fn wait_ready(&self) {
        wait_for(
            "kestrel run to start consuming",
            Duration::from_secs(60),
            || (!self.events("consuming").is_empty()).then_some(()),
        );
    }

    /// The metrics port's `host:port`, from the log, once it listens.
    pub fn metrics_addr(&self) -> Option<String> {
        self.events(LISTENING)
            .first()
            .and_then(|e| e["addr"].as_str().map(str::to_string))
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("kestrel run was stopped")
    }

    pub fn pid(&self) -> i32 {
        self.child().id() as i32
    }

    /// Sends `sig` (e.g. `libc::SIGTERM`, `libc::SIGKILL`, `libc::SIGHUP`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill failed");
    }

    /// The exit status if it has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .expect("kestrel run was stopped")
            .try_wait()
            .unwrap()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    fn assert_running(&mut self) {
        if let Some(st) = self.try_status() {
            panic!("kestrel run exited ({st}):\n{}", self.log_text());
        }
    }

    /// Waits for the exit; `None` if it did not exit within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits up to `within` for the exit, which must be a
    /// success: the test fails with the log otherwise.
    pub fn terminate(&mut self, within: Duration) {
        self.signal(libc::SIGTERM);
        let status = self.wait_exit(within).expect("exit after SIGTERM");
        assert!(status.success(), "{status:?}\n{}", self.log_text());
    }

    /// SIGTERM, then the exit code within 30 s (`None`: it did not exit in
    /// time and was killed, or died of a signal).
    pub fn stop(&mut self) -> Option<i32> {
        self.child.as_ref()?;
        self.signal(libc::SIGTERM);
        let code = self
            .wait_exit(Duration::from_secs(30))
            .and_then(|s| s.code());
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        code
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every JSON log event so far: its `fields` (with `message`), plus its
    /// `level`.
    pub fn log_events(&self) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|mut e| {
                let level = e["level"].take();
                let mut fields = e["fields"].take();
                fields["level"] = level;
                fields
            })
            .collect()
    }

    /// The log events (as [`Kestrel::log_events`]) with this message.
    pub fn events(&self, message: &str) -> Vec<serde_json::Value> {
        self.log_events()
            .into_iter()
            .filter(|f| f["message"] == message)
            .collect()
    }

    /// `GET path` on the metrics port: status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        crate::http(&self.metrics, "GET", path).expect("HTTP request")
    }

    /// `POST path` with the reset token of [`crate::RunConfig::observed`].
    pub fn post(&self, path: &str) -> (u16, String) {
        let auth = format!("Bearer {}", crate::RESET_TOKEN);
        crate::http_with(&self.metrics, "POST", path, &[("Authorization", &auth)], "")
            .expect("HTTP request")
    }

    /// The metrics page, which must answer 200.
    pub fn scrape(&self) -> String {
        crate::scrape(&self.metrics).expect("scraping /metrics")
    }
}

impl Drop for Kestrel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // What kestrel said, for the failure report.
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of {}:", self.log.display());
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}
