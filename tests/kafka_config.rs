//! `kestrel run`'s configuration from the outside: the file, `KESTREL_…`
//! overrides, pass-through properties, masked secrets, and the errors that
//! stop it before it connects to anything.

use kestrel_testkit::{kestrel, output_ok, text};

#[test]
fn print_config_applies_overrides_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.toml");
    std::fs::write(
        &file,
        "[kafka]\nbrokers = \"a:9092\"\n\n[kafka.consumer]\n\"sasl.password\" = \"hunter2\"\n\"security.protocol\" = \"SASL_SSL\"\n",
    )
    .unwrap();
    let out = kestrel()
        .args(["run", "--print-config", "--config"])
        .arg(&file)
        .env("KESTREL_KAFKA__BROKERS", "b:9093")
        .env("KESTREL_KAFKA__PRODUCER__SASL_PASSWORD", "s3cret")
        .env("KESTREL_PIPELINE__SHUTDOWN_TIMEOUT_MS", "2500")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("brokers = \"b:9093\""), "{text}");
    assert!(
        text.contains("\"security.protocol\" = \"SASL_SSL\""),
        "{text}"
    );
    assert!(text.contains("shutdown_timeout_ms = 2500"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert_eq!(
        text.matches("\"sasl.password\" = \"***\"").count(),
        2,
        "{text}"
    );
}

#[test]
fn without_a_file_the_defaults_of_the_contract_apply() {
    let out = kestrel().args(["run", "--print-config"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "brokers = \"127.0.0.1:9092\"",
        "group_id = \"kestrel\"",
        "input_topics = [\"posts\"]",
        "alert_topic = \"alerts\"",
        "dead_letter_topic = \"posts.dlq\"",
        "delivery = \"at_least_once\"",
        "max_in_flight = 10000",
        "shutdown_timeout_ms = 10000",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
}

#[test]
fn unknown_keys_and_owned_properties_stop_run_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        (
            "typo.toml",
            "[pipeline]\nmax_inflight = 5\n",
            "max_inflight",
        ),
        (
            "owned.toml",
            "[kafka.consumer]\n\"enable.auto.offset.store\" = \"true\"\n",
            "cannot be overridden",
        ),
        (
            "mode.toml",
            "[pipeline]\ndelivery = \"maybe_once\"\n",
            "maybe_once",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = kestrel()
            .arg("run")
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{name}: {err}");
    }
    let out = kestrel()
        .args(["run", "--print-config"])
        .env("KESTREL_PIPELINE__WORKERZ", "3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KESTREL_PIPELINE__WORKERZ"));
}

/// The configuration the Kafka and operations tests run with is one
/// `kestrel run` takes, with every setter of the tests' writer in use.
#[test]
fn the_tests_configuration_is_accepted_and_its_secret_masked() {
    let dir = kestrel_testkit::tempdir();
    let rules = kestrel_testkit::write_rules(dir.path());
    let config = kestrel_testkit::RunConfig::new("127.0.0.1:9", "tk", &rules)
        .reload("signal")
        .observed(9999)
        .producer("message.timeout.ms", "3000")
        .property("client.id", "tk")
        .pipeline("max_in_flight = 2000")
        .tables("[alerts]\nevidence = \"none\"\n")
        .write(dir.path());
    let out = output_ok(
        kestrel()
            .args(["run", "--print-config", "--config"])
            .arg(&config),
        "kestrel run --print-config",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(kestrel_testkit::CONSUMER_SECRET), "{text}");
    for want in [
        "group_id = \"tk\"",
        "reload = \"signal\"",
        "max_in_flight = 2000",
        "listen = \"127.0.0.1:9999\"",
        "\"message.timeout.ms\" = \"3000\"",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
}
