//! What kestrel must not disclose: post text in alerts when evidence is
//! masked or left out, post text on stderr however verbose the logging,
//! and secrets when it prints its configuration. (`bad_input_kafka.rs`
//! checks the logs of `kestrel run` at trace level.)

use kestrel_testkit::{kestrel, run};

/// In every post's text.
const MARKER: &str = "zqxvmarkerzqxv";

/// A rule whose evidence is the marker itself, so that a full-evidence
/// alert does carry it (the tests below can fail).
const RULES: &str = r#"rules:
  - id: t.marker
    title: Marker
    description: The marker word.
    category: other
    severity: low
    status: active
    terms:
      mark: { words: [zqxvmarkerzqxv] }
      appeal: { words: [donate] }
    condition: mark or appeal
    tests:
      match: ["zqxvmarkerzqxv"]
"#;

/// Good and bad posts, each with the marker in its text.
fn marked_posts() -> Vec<u8> {
    let m = MARKER;
    let mut out = Vec::new();
    for line in [
        format!("{{\"id\": \"1\", \"text\": \"donate {m} now\"}}"),
        format!("{{\"id\": \"2\", \"text\": \"{m}\", \"title\": \"{m}\"}}"),
        format!("{{\"id\": \"3\", \"text\": \"{m} \\u00e9\"}}"),
        format!("{{\"id\": \"4\", \"text\": \"{m}"),
        format!("{{\"text\": \"{m}\"}}"),
        format!("{{\"id\": true, \"text\": \"{m}\"}}"),
        format!("{{\"id\": \"7\", \"text\": [\"{m}\"]}}"),
        format!("[\"{m}\"]"),
        format!("\"{m}\""),
        format!(
            "{{\"id\": \"10\", \"text\": \"{m}\", \"x\": {}}}",
            "[".repeat(80)
        ),
        format!("{{\"{m}\": 1}}"),
        format!("{{\"id\": \"12\", \"text\": \"{m}\0\"}}"),
    ] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(format!("{{\"id\": \"13\", \"text\": \"{m} ").as_bytes());
    out.extend_from_slice(b"\xff\"}\n");
    out
}

fn scan(evidence: &str, log: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/r.yaml"), RULES).unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, format!("[alerts]\nevidence = \"{evidence}\"\n")).unwrap();
    let mut c = kestrel();
    c.arg("scan")
        .arg("--rules")
        .arg(dir.path().join("rules"))
        .arg("--config")
        .arg(&cfg)
        .env("KESTREL_LOG", log)
        .env("RUST_LOG", log);
    let out = run(c, marked_posts());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn full_evidence_carries_the_matched_text_and_the_test_can_see_it() {
    let (alerts, _) = scan("full", "info");
    assert_eq!(alerts.lines().count(), 3, "{alerts}");
    assert!(alerts.contains(MARKER));
}

#[test]
fn masked_and_no_evidence_alerts_carry_no_post_text() {
    for mode in ["masked", "none"] {
        let (alerts, _) = scan(mode, "info");
        assert_eq!(alerts.lines().count(), 3, "{mode}: {alerts}");
        assert!(!alerts.contains(MARKER), "{mode}: {alerts}");
        assert!(!alerts.contains("donate"), "{mode}: {alerts}");
        for line in alerts.lines() {
            let a: serde_json::Value = serde_json::from_str(line).unwrap();
            for ev in a["evidence"].as_array().unwrap() {
                match mode {
                    "none" => assert!(ev.get("text").is_none(), "{ev}"),
                    _ => {
                        let t = ev["text"].as_str().unwrap();
                        assert!(t.contains('*'), "{ev}");
                    }
                }
                // The place is still there for a reviewer with access.
                assert!(ev["start"].is_u64() && ev["end"].is_u64(), "{ev}");
            }
        }
    }
}

#[test]
fn no_stderr_line_of_scan_holds_post_text_at_any_log_level() {
    for level in ["info", "debug", "trace"] {
        let (_, stderr) = scan("none", level);
        assert!(stderr.contains("bad post:"), "{stderr}");
        for line in stderr.lines() {
            assert!(
                !line.contains(MARKER),
                "{level}: post text on stderr: {line}"
            );
        }
    }
}

/// Every secret a configuration can hold is masked by `--print-config`,
/// from the file or from the environment; what only names a place (a key
/// file's location) and plain settings are shown.
#[test]
fn print_config_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    let secrets = [
        ("consumer", "sasl.password", "s3cret-sasl-pw"),
        ("consumer", "ssl.key.password", "s3cret-key-pw"),
        ("consumer", "ssl.keystore.password", "s3cret-keystore-pw"),
        (
            "consumer",
            "ssl.truststore.password",
            "s3cret-truststore-pw",
        ),
        (
            "producer",
            "ssl.key.pem",
            "-----BEGIN PRIVATE KEY-----s3cret-pem",
        ),
        (
            "producer",
            "sasl.oauthbearer.client.secret",
            "s3cret-client-secret",
        ),
        (
            "producer",
            "sasl.oauthbearer.config",
            "principal=x s3cret-oauth-config",
        ),
        ("producer", "sasl.oauthbearer.token", "s3cret-bearer-token"),
        ("producer", "sasl.jaas.config", "s3cret-jaas"),
        ("producer", "custom.api.key", "s3cret-api-key"),
        ("producer", "ssl_keystore_pem", "s3cret-keystore-pem"),
    ];
    let mut toml = String::from(
        "[metrics]\nreset_token = \"s3cret-reset-token\"\n\n[kafka.consumer]\n\"sasl.username\" = \"svc-kestrel\"\n\"ssl.key.location\" = \"/etc/kestrel/client.key\"\n",
    );
    for (section, key, value) in secrets.iter().filter(|s| s.0 == "consumer") {
        let _ = section;
        toml.push_str(&format!("\"{key}\" = \"{value}\"\n"));
    }
    toml.push_str("\n[kafka.producer]\n");
    for (_, key, value) in secrets.iter().filter(|s| s.0 == "producer") {
        toml.push_str(&format!("\"{key}\" = \"{value}\"\n"));
    }
    std::fs::write(&cfg, toml).unwrap();
    let mut c = kestrel();
    c.args(["run", "--print-config", "--config"])
        .arg(&cfg)
        .env("KESTREL_KAFKA__PRODUCER__SASL_PASSWORD", "s3cret-from-env")
        .env("KESTREL_METRICS__LISTEN", "127.0.0.1:9999");
    let out = run(c, b"");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}{stderr}"
    );
    for (_, key, _) in &secrets {
        assert!(
            stdout.contains(&format!("\"{key}\" = \"***\"")),
            "{key} not masked:\n{stdout}"
        );
    }
    assert!(stdout.contains("\"sasl.password\" = \"***\""));
    assert!(stdout.contains("reset_token = \"***\""), "{stdout}");
    assert!(stdout.contains("\"sasl.username\" = \"svc-kestrel\""));
    assert!(stdout.contains("\"ssl.key.location\" = \"/etc/kestrel/client.key\""));
    assert!(stdout.contains("listen = \"127.0.0.1:9999\""));
    // Without a token the printed form says so rather than "***".
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let mut c = kestrel();
    c.args(["run", "--print-config", "--config"]).arg(&plain);
    let out = run(c, b"");
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("reset_token = \"\""));
}
