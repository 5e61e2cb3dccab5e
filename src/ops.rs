//! The operations side of `kestrel run`, started beside the pipeline: the
//! metrics/health/status endpoint, the rule reloader, and the signals an
//! operator sends (SIGHUP reloads the rules, SIGUSR1 resets every flood
//! guard demotion).

use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGUSR1};
use signal_hook::iterator::{Handle, Signals};

use crate::config::{Config, ReloadMode};
use crate::metrics::http::{HttpError, MetricsServer};
use crate::metrics::Sources;
use crate::pipeline::Counters;
use crate::reload::{ReloadError, ReloadTrigger, Reloader, ServingRules};

/// The operations side could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The HTTP endpoint.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The reloader.
    #[error(transparent)]
    Reload(#[from] ReloadError),
    /// The signal handlers.
    #[error("installing the SIGHUP/SIGUSR1 handlers: {0}")]
    Signals(std::io::Error),
}

/// Everything started; stops when dropped.
pub struct Ops {
    server: MetricsServer,
    signals: Handle,
    signal_thread: Option<JoinHandle<()>>,
    _reloader: Option<Reloader>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("server", &self.server).finish()
    }
}

impl Ops {
    /// Starts the endpoint on `[metrics] listen`, the reloader as
    /// `[rules] reload` asks, and the signal handlers.
    pub fn start(
        config: &Config,
        rules: Arc<ServingRules>,
        counters: Arc<Counters>,
    ) -> Result<Ops, OpsError> {
        let server = MetricsServer::start(
            &config.metrics.listen,
            Sources {
                counters,
                rules: rules.clone(),
                reset_token: Some(config.metrics.reset_token.clone()).filter(|t| !t.is_empty()),
            },
        )?;
        let mode = config.rules.reload;
        let reloader = match mode {
            ReloadMode::Off => None,
            ReloadMode::Signal => Some(Reloader::start(rules.clone(), false)?),
            ReloadMode::Watch => Some(Reloader::start(rules.clone(), true)?),
        };
        let trigger = reloader.as_ref().map(Reloader::trigger_handle);
        // SIGHUP's default action ends the process: it is always handled,
        // and ignored (with a log line) when reload is off.
        let mut signals = Signals::new([SIGHUP, SIGUSR1]).map_err(OpsError::Signals)?;
        let handle = signals.handle();
        let signal_thread = std::thread::Builder::new()
            .name("kestrel-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    on_signal(signal, trigger.as_ref(), &rules);
                }
            })
            .map_err(OpsError::Signals)?;
        tracing::info!(
            reload = ?mode,
            dir = %config.rules.dir.display(),
            "rule reload ready"
        );
        Ok(Ops {
            server,
            signals: handle,
            signal_thread: Some(signal_thread),
            _reloader: reloader,
        })
    }

    /// The address of the HTTP endpoint.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }
}

fn on_signal(signal: i32, trigger: Option<&ReloadTrigger>, rules: &ServingRules) {
    match signal {
        SIGHUP => match trigger {
            Some(t) => {
                tracing::info!("SIGHUP: reloading the rules");
                t.trigger();
            }
            None => tracing::warn!("SIGHUP ignored: [rules] reload = \"off\""),
        },
        SIGUSR1 => {
            let lifted = rules.flood().reset(None);
            tracing::info!(rules = ?lifted, "SIGUSR1: every flood guard demotion reset");
        }
        _ => {}
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.signals.close();
        if let Some(t) = self.signal_thread.take() {
            let _ = t.join();
        }
    }
}
