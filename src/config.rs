//! Configuration: one TOML file, every key overridable by a `KESTREL_…`
//! environment variable (`__` for nesting), unknown keys rejected, checked
//! before anything starts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::alert::EvidenceMode;
use crate::post::{Pointer, PostSchema};

/// Environment variables that start with `KESTREL_` but are not configuration.
const NOT_CONFIG_VARS: &[&str] = &["KESTREL_LOG", "KESTREL_CONFIG"];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong or unknown key.
    #[error("{path}:{line}:{col}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// An environment override is wrong.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The values parse but do not fit together.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Brokers, group, topics and librdkafka properties.
    pub kafka: KafkaConfig,
    /// Where the members of a post are.
    pub posts: PostsConfig,
    /// The rule directory and how it reloads.
    pub rules: RulesConfig,
    /// What alerts carry.
    pub alerts: AlertsConfig,
    /// Workers, in-flight bound, delivery mode.
    pub pipeline: PipelineConfig,
    /// The metrics and health endpoint.
    pub metrics: MetricsConfig,
    /// Demotion of runaway rules to shadow (see [`crate::flood`]).
    pub flood_guard: crate::flood::FloodGuardConfig,
}

/// `[kafka]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Topics of posts.
    pub input_topics: Vec<String>,
    /// Where alerts go.
    pub alert_topic: String,
    /// Where bad posts go.
    pub dead_letter_topic: String,
    /// librdkafka properties of both clients (TLS, SASL), passed through
    /// before the client's own table.
    #[serde(deserialize_with = "properties")]
    pub properties: BTreeMap<String, String>,
    /// librdkafka consumer properties, passed through.
    #[serde(deserialize_with = "properties")]
    pub consumer: BTreeMap<String, String>,
    /// librdkafka producer properties, passed through.
    #[serde(deserialize_with = "properties")]
    pub producer: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "kestrel".into(),
            input_topics: vec!["posts".into()],
            alert_topic: "alerts".into(),
            dead_letter_topic: "posts.dlq".into(),
            properties: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
        }
    }
}

/// `[posts]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostsConfig {
    /// JSON pointer to the post id.
    pub id_field: String,
    /// JSON pointer to the post time; empty to ignore.
    pub time_field: String,
    /// Larger messages are dead letters.
    pub max_post_bytes: usize,
    /// Deeper nesting of JSON arrays and objects is a dead letter.
    pub max_depth: usize,
    /// Bytes of one text field that are scanned; the rest is not.
    pub max_field_bytes: usize,
    /// Named text fields (name -> JSON pointer), in file order.
    #[serde(deserialize_with = "ordered_fields")]
    pub text_fields: Vec<(String, String)>,
}

impl Default for PostsConfig {
    fn default() -> Self {
        PostsConfig {
            id_field: "/id".into(),
            time_field: "/created_at".into(),
            max_post_bytes: 1024 * 1024,
            max_depth: crate::post::DEFAULT_MAX_DEPTH,
            max_field_bytes: 1024 * 1024,
            text_fields: vec![("text".into(), "/text".into())],
        }
    }
}

impl PostsConfig {
    /// The post reader this section describes.
    pub fn schema(&self) -> Result<PostSchema, ConfigError> {
        let p = |key: &str, v: &str| {
            Pointer::parse(v).map_err(|e| ConfigError::Invalid(format!("posts.{key}: {e}")))
        };
        let id = p("id_field", &self.id_field)?;
        let time = if self.time_field.is_empty() {
            None
        } else {
            Some(p("time_field", &self.time_field)?)
        };
        if self.text_fields.is_empty() {
            return Err(ConfigError::Invalid(
                "posts.text_fields is empty: there would be nothing to scan".into(),
            ));
        }
        let mut fields = Vec::new();
        for (name, ptr) in &self.text_fields {
            fields.push((name.clone(), p(&format!("text_fields.{name}"), ptr)?));
        }
        if self.text_fields.len() > MAX_TEXT_FIELDS {
            return Err(ConfigError::Invalid(format!(
                "posts.text_fields has {} fields; at most {MAX_TEXT_FIELDS}",
                self.text_fields.len()
            )));
        }
        if self.max_post_bytes == 0 {
            return Err(ConfigError::Invalid(
                "posts.max_post_bytes must be at least 1".into(),
            ));
        }
        if self.max_depth == 0 || self.max_depth > crate::post::MAX_DEPTH {
            return Err(ConfigError::Invalid(format!(
                "posts.max_depth must be between 1 and {}, not {}",
                crate::post::MAX_DEPTH,
                self.max_depth
            )));
        }
        if self.max_field_bytes == 0 {
            return Err(ConfigError::Invalid(
                "posts.max_field_bytes must be at least 1".into(),
            ));
        }
        Ok(PostSchema::new(id, time, fields, self.max_post_bytes)
            .with_limits(self.max_depth, self.max_field_bytes))
    }

    /// The text field names in order.
    pub fn field_names(&self) -> Vec<String> {
        self.text_fields.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Text fields a post may have: the engine keeps one bit per field (and
/// rules may name two more of their own).
pub const MAX_TEXT_FIELDS: usize = 60;

/// How rule changes reach a running service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadMode {
    /// On file change and on SIGHUP.
    #[default]
    Watch,
    /// On SIGHUP only.
    Signal,
    /// Never.
    Off,
}

/// `[rules]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The rule directory.
    pub dir: PathBuf,
    /// watch | signal | off.
    pub reload: ReloadMode,
    /// How large the rule set may be.
    pub limits: crate::rules::RuleLimits,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::from("rules"),
            reload: ReloadMode::Watch,
            limits: crate::rules::RuleLimits::default(),
        }
    }
}

/// `[alerts]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// full | masked | none.
    pub evidence: EvidenceMode,
}

/// Delivery guarantee of `kestrel run`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Offsets stored after alerts are acknowledged; duplicates possible.
    #[default]
    AtLeastOnce,
    /// Alerts and offsets in one transaction.
    ExactlyOnce,
}

/// `[pipeline]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Scan workers; 0 means one per core.
    pub workers: usize,
    /// Posts consumed but not yet committed, at most.
    pub max_in_flight: usize,
    /// at_least_once | exactly_once.
    pub delivery: Delivery,
    /// On SIGTERM/SIGINT, and when partitions are revoked, how long posts in
    /// flight may take to finish before kestrel gives up on them (they are
    /// then not committed, and read again).
    pub shutdown_timeout_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 0,
            max_in_flight: 10_000,
            delivery: Delivery::AtLeastOnce,
            shutdown_timeout_ms: 10_000,
        }
    }
}

impl PipelineConfig {
    /// Workers to start: the configured number, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint.
    pub listen: String,
    /// The bearer token `POST /flood/reset` requires; empty (the default)
    /// turns the endpoint off.
    pub reset_token: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9898".into(),
            reset_token: String::new(),
        }
    }
}

impl Config {
    /// Reads `path` (or the defaults when `None`) and applies the `KESTREL_…`
    /// variables of `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, label) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.to_path_buf(),
            ),
            None => (String::new(), PathBuf::from("(defaults)")),
        };
        Config::from_toml(&text, &label, env)
    }

    /// Parses TOML text (named `label` in errors) and applies overrides.
    pub fn from_toml(
        text: &str,
        label: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file_error = |e: toml::de::Error| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::File {
                path: label.to_path_buf(),
                line,
                col,
                message: e.message().to_string(),
            }
        };
        // Parse once from the text so file mistakes carry their position.
        let mut config: Config = toml::from_str(text).map_err(file_error)?;
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("KESTREL_") && !NOT_CONFIG_VARS.contains(&k.as_str()))
            .collect();
        overrides.sort();
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(file_error)?;
            for (var, value) in &overrides {
                apply_override(&mut table, var, value)?;
            }
            config =
                Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Env {
                    var: overrides
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    message: e.message().to_string(),
                })?;
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.posts.schema()?;
        self.rules.limits.check().map_err(ConfigError::Invalid)?;
        if self.metrics.reset_token.trim() != self.metrics.reset_token {
            return Err(ConfigError::Invalid(
                "metrics.reset_token has spaces around it (a bearer token has none)".into(),
            ));
        }
        if self.kafka.input_topics.is_empty() {
            return Err(ConfigError::Invalid("kafka.input_topics is empty".into()));
        }
        if self.pipeline.max_in_flight == 0 {
            return Err(ConfigError::Invalid(
                "pipeline.max_in_flight must be at least 1".into(),
            ));
        }
        for (section, props) in [
            ("properties", &self.kafka.properties),
            ("consumer", &self.kafka.consumer),
            ("producer", &self.kafka.producer),
        ] {
            for key in props.keys() {
                if matches!(key.as_str(), "bootstrap.servers" | "group.id") {
                    return Err(ConfigError::Invalid(format!(
                        "kafka.{section}.\"{key}\" is set by kafka.brokers / kafka.group_id; set it there"
                    )));
                }
                // The delivery promises rest on these two.
                let owned = match section {
                    "consumer" => key == "enable.auto.offset.store",
                    "producer" => key == "enable.idempotence",
                    _ => key == "enable.auto.offset.store" || key == "enable.idempotence",
                };
                if owned {
                    return Err(ConfigError::Invalid(format!(
                        "kafka.{section}.\"{key}\" is set by kestrel (the delivery promises depend on it) and cannot be overridden"
                    )));
                }
            }
        }
        self.flood_guard.check().map_err(ConfigError::Invalid)?;
        if self.pipeline.shutdown_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "pipeline.shutdown_timeout_ms must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML, with every secret replaced by `"***"`.
    pub fn to_masked_toml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let k = &self.kafka;
        out.push_str("[kafka]\n");
        out.push_str(&format!("brokers = {}\n", q(&k.brokers)));
        out.push_str(&format!("group_id = {}\n", q(&k.group_id)));
        let topics: Vec<String> = k.input_topics.iter().map(|t| q(t)).collect();
        out.push_str(&format!("input_topics = [{}]\n", topics.join(", ")));
        out.push_str(&format!("alert_topic = {}\n", q(&k.alert_topic)));
        out.push_str(&format!(
            "dead_letter_topic = {}\n",
            q(&k.dead_letter_topic)
        ));
        for (name, props) in [
            ("properties", &k.properties),
            ("consumer", &k.consumer),
            ("producer", &k.producer),
        ] {
            out.push_str(&format!("\n[kafka.{name}]\n"));
            for (key, value) in props {
                let shown = if is_secret(key) {
                    "***".to_string()
                } else {
                    value.clone()
                };
                out.push_str(&format!("{} = {}\n", q(key), q(&shown)));
            }
        }
        let p = &self.posts;
        out.push_str("\n[posts]\n");
        out.push_str(&format!("id_field = {}\n", q(&p.id_field)));
        out.push_str(&format!("time_field = {}\n", q(&p.time_field)));
        out.push_str(&format!("max_post_bytes = {}\n", p.max_post_bytes));
        out.push_str(&format!("max_depth = {}\n", p.max_depth));
        out.push_str(&format!("max_field_bytes = {}\n", p.max_field_bytes));
        out.push_str("\n[posts.text_fields]\n");
        for (n, ptr) in &p.text_fields {
            out.push_str(&format!("{} = {}\n", q(n), q(ptr)));
        }
        out.push_str("\n[rules]\n");
        out.push_str(&format!("dir = {}\n", q(&self.rules.dir.to_string_lossy())));
        let reload = match self.rules.reload {
            ReloadMode::Watch => "watch",
            ReloadMode::Signal => "signal",
            ReloadMode::Off => "off",
        };
        out.push_str(&format!("reload = {}\n", q(reload)));
        let l = &self.rules.limits;
        out.push_str(&format!(
            "\n[rules.limits]\nmax_rules = {}\nmax_terms_per_rule = {}\nmax_list_entries = {}\nmax_pattern_bytes = {}\nregex_size_limit = {}\nregex_dfa_size_limit = {}\n",
            l.max_rules,
            l.max_terms_per_rule,
            l.max_list_entries,
            l.max_pattern_bytes,
            l.regex_size_limit,
            l.regex_dfa_size_limit
        ));
        let evidence = match self.alerts.evidence {
            EvidenceMode::Full => "full",
            EvidenceMode::Masked => "masked",
            EvidenceMode::None => "none",
        };
        out.push_str(&format!("\n[alerts]\nevidence = {}\n", q(evidence)));
        let delivery = match self.pipeline.delivery {
            Delivery::AtLeastOnce => "at_least_once",
            Delivery::ExactlyOnce => "exactly_once",
        };
        out.push_str(&format!(
            "\n[pipeline]\nworkers = {}\nmax_in_flight = {}\ndelivery = {}\nshutdown_timeout_ms = {}\n",
            self.pipeline.workers,
            self.pipeline.max_in_flight,
            q(delivery),
            self.pipeline.shutdown_timeout_ms
        ));
        out.push_str(&format!(
            "\n[metrics]\nlisten = {}\nreset_token = {}\n",
            q(&self.metrics.listen),
            q(if self.metrics.reset_token.is_empty() {
                ""
            } else {
                "***"
            })
        ));
        let f = &self.flood_guard;
        out.push_str(&format!(
            "\n[flood_guard]\nwindow_secs = {}\nmax_alerts_per_window = {}\n\n[flood_guard.rules]\n",
            f.window_secs, f.max_alerts_per_window
        ));
        for (rule, n) in &f.rules {
            out.push_str(&format!("{} = {n}\n", q(rule)));
        }
        out
    }
}

/// librdkafka properties whose values are secrets: passwords, secrets,
/// tokens, credentials, and key material (`ssl.key.pem`, a keystore); a
/// property that only names where a key is (`ssl.key.location`) is not.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let words = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "jaas",
        "oauthbearer.config",
        "apikey",
        "api.key",
        "private",
    ];
    if words.iter().any(|w| k.contains(w)) {
        return true;
    }
    let names_a_place = k.ends_with(".location") || k.ends_with(".path");
    let key_material = k
        .split(['.', '_', '-'])
        .any(|seg| matches!(seg, "key" | "keystore" | "pem" | "keytab"));
    key_material && !names_a_place
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// `KESTREL_KAFKA__BROKERS=x` sets `kafka.brokers`. Inside `kafka.consumer`,
/// `kafka.producer` and `kafka.properties`, single underscores become dots, so
/// `KESTREL_KAFKA__CONSUMER__SESSION_TIMEOUT_MS` sets `session.timeout.ms`.
fn apply_override(table: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Env {
        var: var.to_string(),
        message,
    };
    let path: Vec<String> = var["KESTREL_".len()..]
        .split("__")
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if path.iter().any(String::is_empty) || path.len() < 2 {
        return Err(err(
            "expected KESTREL_SECTION__KEY (double underscore between levels)".into(),
        ));
    }
    let is_props = path.len() == 3
        && path[0] == "kafka"
        && matches!(path[1].as_str(), "consumer" | "producer" | "properties");
    let mut cur = table;
    for seg in &path[..path.len() - 1] {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(err(format!("'{seg}' is not a section"))),
        };
    }
    let last = path.last().expect("two or more segments");
    let (key, parsed) = if is_props {
        (
            last.replace('_', "."),
            toml::Value::String(value.to_string()),
        )
    } else {
        // A value that reads as TOML (a number, a list) is taken as such;
        // anything else is a string.
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        (last.clone(), parsed)
    };
    cur.insert(key, parsed);
    Ok(())
}

fn properties<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "librdkafka property '{k}' must be a string, number or boolean, not {}",
                        other.type_str()
                    )))
                }
            };
            Ok((k, s))
        })
        .collect()
}

fn ordered_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a table of field names to JSON pointers")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(c.kafka.group_id, "kestrel");
        assert_eq!(c.kafka.input_topics, vec!["posts"]);
        assert_eq!(c.kafka.alert_topic, "alerts");
        assert_eq!(c.kafka.dead_letter_topic, "posts.dlq");
        assert_eq!(c.posts.id_field, "/id");
        assert_eq!(c.posts.time_field, "/created_at");
        assert_eq!(c.posts.max_post_bytes, 1_048_576);
        assert_eq!(
            c.posts.text_fields,
            vec![("text".to_string(), "/text".to_string())]
        );
        assert_eq!(c.rules.dir, PathBuf::from("rules"));
        assert_eq!(c.rules.reload, ReloadMode::Watch);
        assert_eq!(c.alerts.evidence, EvidenceMode::Full);
        assert_eq!(c.pipeline.workers, 0);
        assert_eq!(c.pipeline.max_in_flight, 10_000);
        assert_eq!(c.pipeline.delivery, Delivery::AtLeastOnce);
        assert_eq!(c.pipeline.shutdown_timeout_ms, 10_000);
        assert_eq!(c.metrics.listen, "127.0.0.1:9898");
        assert_eq!(c.metrics.reset_token, "", "the reset endpoint is off");
        assert_eq!(c.posts.max_depth, 64);
        assert_eq!(c.posts.max_field_bytes, 1_048_576);
        let l = c.rules.limits;
        assert_eq!(
            (l.max_rules, l.max_terms_per_rule, l.max_list_entries),
            (10_000, 256, 1_000_000)
        );
        assert_eq!(l.max_pattern_bytes, 4096);
        assert_eq!(
            (l.regex_size_limit, l.regex_dfa_size_limit),
            (2 << 20, 2 << 20)
        );
    }

    #[test]
    fn limits_out_of_range_are_refused_naming_the_key() {
        for (text, key) in [
            ("[posts]\nmax_depth = 0\n", "posts.max_depth"),
            ("[posts]\nmax_depth = 129\n", "posts.max_depth"),
            ("[posts]\nmax_field_bytes = 0\n", "posts.max_field_bytes"),
            ("[rules.limits]\nmax_rules = 0\n", "rules.limits.max_rules"),
            (
                "[rules.limits]\nregex_size_limit = 0\n",
                "rules.limits.regex_size_limit",
            ),
            ("[rules.limits]\nmax_rulez = 5\n", "max_rulez"),
            ("[metrics]\nreset_token = \" x \"\n", "metrics.reset_token"),
        ] {
            let e = Config::from_toml(text, Path::new("k.toml"), env(&[])).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        let many: String = (0..61).map(|i| format!("f{i} = \"/f{i}\"\n")).collect();
        let e = Config::from_toml(
            &format!("[posts.text_fields]\n{many}"),
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 60"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_position() {
        let e = Config::from_toml(
            "[kafka]\nbrokers = \"x\"\nbrokerz = \"y\"\n",
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("k.toml:3:1:"), "{msg}");
        assert!(msg.contains("brokerz"), "{msg}");
    }

    #[test]
    fn environment_overrides_nest_with_double_underscores() {
        let c = Config::from_toml(
            "[kafka]\nbrokers = \"a:1\"\n",
            Path::new("k.toml"),
            env(&[
                ("KESTREL_KAFKA__BROKERS", "b:2"),
                ("KESTREL_PIPELINE__MAX_IN_FLIGHT", "5"),
                ("KESTREL_KAFKA__INPUT_TOPICS", "[\"x\", \"y\"]"),
                ("KESTREL_KAFKA__CONSUMER__SESSION_TIMEOUT_MS", "6000"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "b:2");
        assert_eq!(c.pipeline.max_in_flight, 5);
        assert_eq!(c.kafka.input_topics, vec!["x", "y"]);
        assert_eq!(
            c.kafka
                .consumer
                .get("session.timeout.ms")
                .map(String::as_str),
            Some("6000")
        );
    }

    #[test]
    fn an_unknown_environment_key_is_an_error() {
        let e = Config::from_toml(
            "",
            Path::new("k.toml"),
            env(&[("KESTREL_KAFKA__BROKRS", "x")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("KESTREL_KAFKA__BROKRS"), "{e}");
    }

    #[test]
    fn text_fields_keep_file_order() {
        let c = Config::from_toml(
            "[posts.text_fields]\ntitle = \"/title\"\nbody = \"/body\"\n",
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.posts.field_names(), vec!["title", "body"]);
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let c = Config::from_toml(
            "[kafka.consumer]\n\"sasl.password\" = \"hunter2\"\n\"sasl.username\" = \"svc\"\n",
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap();
        let shown = c.to_masked_toml();
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("\"sasl.password\" = \"***\""));
        assert!(shown.contains("svc"));
        // The printed form is itself a valid configuration.
        Config::from_toml(&shown, Path::new("printed"), env(&[])).unwrap();
    }

    #[test]
    fn properties_the_delivery_promises_rest_on_cannot_be_overridden() {
        for text in [
            "[kafka.consumer]\n\"enable.auto.offset.store\" = true\n",
            "[kafka.producer]\n\"enable.idempotence\" = false\n",
        ] {
            let e = Config::from_toml(text, Path::new("k.toml"), env(&[])).unwrap_err();
            assert!(e.to_string().contains("cannot be overridden"), "{e}");
        }
    }

    #[test]
    fn kafka_properties_reach_both_clients_masked_and_bounded() {
        let c = Config::from_toml(
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.username\" = \"svc\"\n",
            Path::new("k.toml"),
            env(&[("KESTREL_KAFKA__PROPERTIES__SASL_PASSWORD", "hunter2")]),
        )
        .unwrap();
        assert_eq!(c.kafka.properties["sasl.password"], "hunter2");
        assert_eq!(c.kafka.properties["security.protocol"], "SASL_SSL");
        let shown = c.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[kafka.properties]"), "{shown}");
        assert!(shown.contains("\"sasl.password\" = \"***\""), "{shown}");
        Config::from_toml(&shown, Path::new("printed"), env(&[])).unwrap();
        for text in [
            "[kafka.properties]\n\"enable.idempotence\" = false\n",
            "[kafka.properties]\n\"enable.auto.offset.store\" = true\n",
        ] {
            let e = Config::from_toml(text, Path::new("k.toml"), env(&[])).unwrap_err();
            assert!(e.to_string().contains("cannot be overridden"), "{e}");
        }
        let e = Config::from_toml(
            "[kafka.properties]\n\"bootstrap.servers\" = \"x:1\"\n",
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("kafka.properties"), "{e}");
    }

    #[test]
    fn bad_pointers_are_rejected() {
        let e = Config::from_toml(
            "[posts]\nid_field = \"id\"\n",
            Path::new("k.toml"),
            env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("posts.id_field"), "{e}");
    }
}
