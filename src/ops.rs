//! The operations side of `kestrel run`, started beside the pipeline: the
//! metrics/health/status endpoint and the rule reloader, and what an
//! operator's signals do to them ([`Operator`]: SIGHUP reloads the rules,
//! SIGUSR1 resets every flood guard demotion). The binary's one signal
//! thread receives the signals and calls the [`Operator`]; nothing here
//! installs a signal handler.

use std::sync::Arc;

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
}

/// Everything started; stops when dropped.
pub struct Ops {
    server: MetricsServer,
    operator: Operator,
    _reloader: Option<Reloader>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("server", &self.server).finish()
    }
}

impl Ops {
    /// Starts the endpoint on `[metrics] listen` and the reloader as
    /// `[rules] reload` asks.
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
        let operator = Operator {
            reload: reloader.as_ref().map(Reloader::trigger_handle),
            rules,
        };
        tracing::info!(
            reload = ?mode,
            dir = %config.rules.dir.display(),
            "rule reload ready"
        );
        Ok(Ops {
            server,
            operator,
            _reloader: reloader,
        })
    }

    /// The address of the HTTP endpoint.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }

    /// What the operator's signals act on, for the signal thread.
    pub fn operator(&self) -> Operator {
        self.operator.clone()
    }
}

/// What an operator's signals do to a running service.
#[derive(Clone, Debug)]
pub struct Operator {
    reload: Option<ReloadTrigger>,
    rules: Arc<ServingRules>,
}

impl Operator {
    /// SIGHUP: asks the reloader for a reload; logged and ignored with
    /// `[rules] reload = "off"` (it never ends the process).
    pub fn reload_rules(&self) {
        match &self.reload {
            Some(t) => {
                tracing::info!("SIGHUP: reloading the rules");
                t.trigger();
            }
            None => tracing::warn!("SIGHUP ignored: [rules] reload = \"off\""),
        }
    }

    /// SIGUSR1: lifts every flood guard demotion.
    pub fn reset_flood(&self) {
        let lifted = self.rules.flood().reset(None);
        tracing::info!(rules = ?lifted, "SIGUSR1: every flood guard demotion reset");
    }
}
