//! One writer of `kestrel run` configurations.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The reset token [`RunConfig::observed`] sets for `POST /flood/reset`.
pub const RESET_TOKEN: &str = "ops-test-reset-token";

/// The consumer password [`RunConfig::observed`] sets: kestrel must never
/// print it.
pub const CONSUMER_SECRET: &str = "hunter2-never-in-logs";

/// A `kestrel run` configuration against a broker: the topics `posts`,
/// `alerts` and `posts.dlq`, two scan workers, rules read once (`reload =
/// "off"`), a consumer that notices a dead instance within seconds, and the
/// metrics port on any free port. Each setter adds to or replaces one part.
#[derive(Clone, Debug)]
pub struct RunConfig {
    brokers: String,
    group: String,
    rules: PathBuf,
    reload: String,
    metrics_listen: String,
    reset_token: Option<String>,
    consumer: Vec<(String, String)>,
    producer: Vec<(String, String)>,
    properties: Vec<(String, String)>,
    pipeline: Vec<String>,
    tables: String,
}

impl RunConfig {
    pub fn new(brokers: &str, group: &str, rules: &Path) -> RunConfig {
        RunConfig {
            brokers: brokers.to_string(),
            group: group.to_string(),
            rules: rules.to_path_buf(),
            reload: "off".to_string(),
            metrics_listen: "127.0.0.1:0".to_string(),
            reset_token: None,
            consumer: vec![
                ("session.timeout.ms".into(), "6000".into()),
                ("heartbeat.interval.ms".into(), "500".into()),
                ("auto.commit.interval.ms".into(), "200".into()),
            ],
            producer: Vec::new(),
            properties: Vec::new(),
            pipeline: vec!["workers = 2".to_string()],
            tables: String::new(),
        }
    }

    /// What the operations tests watch: librdkafka statistics every 500 ms
    /// (the lag metrics), a consumer secret that must never be printed
    /// ([`CONSUMER_SECRET`]), a 5 s shutdown bound, the metrics port on
    /// `metrics_port` with the reset token [`RESET_TOKEN`].
    pub fn observed(self, metrics_port: u16) -> RunConfig {
        self.consumer("statistics.interval.ms", "500")
            .consumer("sasl.password", CONSUMER_SECRET)
            .pipeline("shutdown_timeout_ms = 5000")
            .metrics_port(metrics_port)
            .reset_token(RESET_TOKEN)
    }

    /// `[rules] reload`: `off`, `watch` or `signal`.
    pub fn reload(mut self, mode: &str) -> RunConfig {
        self.reload = mode.to_string();
        self
    }

    /// The metrics port on 127.0.0.1.
    pub fn metrics_port(mut self, port: u16) -> RunConfig {
        self.metrics_listen = format!("127.0.0.1:{port}");
        self
    }

    /// `[metrics] reset_token`.
    pub fn reset_token(mut self, token: &str) -> RunConfig {
        self.reset_token = Some(token.to_string());
        self
    }

    /// One `[kafka.consumer]` property (replacing one of the same key).
    pub fn consumer(mut self, key: &str, value: &str) -> RunConfig {
        set(&mut self.consumer, key, value);
        self
    }

    /// One `[kafka.producer]` property.
    pub fn producer(mut self, key: &str, value: &str) -> RunConfig {
        set(&mut self.producer, key, value);
        self
    }

    /// One `[kafka.properties]` property (consumer and producer alike).
    pub fn property(mut self, key: &str, value: &str) -> RunConfig {
        set(&mut self.properties, key, value);
        self
    }

    /// One `key = value` line of `[pipeline]`.
    pub fn pipeline(mut self, line: &str) -> RunConfig {
        self.pipeline.push(line.to_string());
        self
    }

    /// More tables (TOML text) at the end, e.g. `[alerts]` or `[flood]`.
    pub fn tables(mut self, toml: &str) -> RunConfig {
        self.tables.push('\n');
        self.tables.push_str(toml);
        self
    }

    /// The configuration as TOML.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let q = |s: &Path| s.display().to_string().replace('\\', "\\\\");
        writeln!(
            t,
            "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\ninput_topics = [\"posts\"]\nalert_topic = \"alerts\"\ndead_letter_topic = \"posts.dlq\"",
            self.brokers, self.group
        )
        .unwrap();
        for (name, props) in [
            ("kafka.consumer", &self.consumer),
            ("kafka.producer", &self.producer),
            ("kafka.properties", &self.properties),
        ] {
            if !props.is_empty() {
                writeln!(t, "\n[{name}]").unwrap();
                for (k, v) in props {
                    writeln!(t, "\"{k}\" = \"{v}\"").unwrap();
                }
            }
        }
        writeln!(
            t,
            "\n[rules]\ndir = \"{}\"\nreload = \"{}\"",
            q(&self.rules),
            self.reload
        )
        .unwrap();
        writeln!(t, "\n[pipeline]\n{}", self.pipeline.join("\n")).unwrap();
        writeln!(t, "\n[metrics]\nlisten = \"{}\"", self.metrics_listen).unwrap();
        if let Some(token) = &self.reset_token {
            writeln!(t, "reset_token = \"{token}\"").unwrap();
        }
        t.push_str(&self.tables);
        t
    }

    /// Writes the configuration to `dir/NAME.toml` and returns that path.
    pub fn write_as(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, self.text()).unwrap();
        path
    }

    /// Writes the configuration to `dir/GROUP.toml` and returns that path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        self.write_as(dir, &self.group)
    }
}

fn set(props: &mut Vec<(String, String)>, key: &str, value: &str) {
    match props.iter_mut().find(|(k, _)| k == key) {
        Some(p) => p.1 = value.to_string(),
        None => props.push((key.to_string(), value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setter_replaces_a_property_of_the_same_key_and_tables_come_last() {
        let text = RunConfig::new("127.0.0.1:1", "g", Path::new("/r"))
            .consumer("session.timeout.ms", "9000")
            .producer("message.timeout.ms", "3000")
            .tables("[alerts]\nevidence = \"none\"\n")
            .text();
        assert_eq!(text.matches("\"session.timeout.ms\"").count(), 1, "{text}");
        assert!(text.contains("\"session.timeout.ms\" = \"9000\""), "{text}");
        assert!(
            text.contains("[kafka.producer]\n\"message.timeout.ms\" = \"3000\""),
            "{text}"
        );
        assert!(!text.contains("[kafka.properties]"), "{text}");
        assert!(text.trim_end().ends_with("evidence = \"none\""), "{text}");
    }

    #[test]
    fn observed_sets_the_port_the_token_and_the_secret() {
        let text = RunConfig::new("b", "g", Path::new("/r"))
            .reload("watch")
            .observed(4321)
            .text();
        for want in [
            "reload = \"watch\"",
            "listen = \"127.0.0.1:4321\"",
            "reset_token = \"ops-test-reset-token\"",
            "\"sasl.password\" = \"hunter2-never-in-logs\"",
            "shutdown_timeout_ms = 5000",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }
}
