//! The top-level docker-compose.yml holds together: every service it names
//! exists, kestrel's brokers address is the Kafka service's internal
//! listener, Prometheus scrapes kestrel's metrics port, and every file it
//! mounts or builds from is in the repository. (No Docker engine is needed.)

use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Yaml {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

#[test]
fn compose_services_ports_and_mounts_are_consistent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = load("docker-compose.yml");
    let services = doc["services"].as_hash().expect("services");
    let names: Vec<&str> = services.keys().map(s).collect();
    for want in ["kafka", "kafka-init", "kestrel", "prometheus"] {
        assert!(names.contains(&want), "no service {want}");
    }
    let svc = |n: &str| &doc["services"][n];

    // Every dependency names a service.
    for (key, def) in services {
        let name = s(key);
        match &def["depends_on"] {
            Yaml::Array(a) => a
                .iter()
                .for_each(|d| assert!(names.contains(&s(d)), "{name}: {d:?}")),
            Yaml::Hash(h) => h
                .keys()
                .for_each(|d| assert!(names.contains(&s(d)), "{name}: {d:?}")),
            Yaml::BadValue => {}
            other => panic!("{name}: depends_on {other:?}"),
        }
    }

    // Kafka is the official image in KRaft mode.
    let kafka = svc("kafka");
    assert!(s(&kafka["image"]).starts_with("apache/kafka:"));
    assert!(s(&kafka["environment"]["KAFKA_PROCESS_ROLES"]).contains("controller"));
    assert!(s(&svc("kafka-init")["image"]).starts_with("apache/kafka:"));
    // The same Kafka version as the tests and scripts/kafka-dev.sh run.
    let pinned = kestrel_testkit::broker::kafka_version();
    for name in ["kafka", "kafka-init"] {
        assert_eq!(
            s(&svc(name)["image"]),
            format!("apache/kafka:{pinned}"),
            "{name}: the compose file and scripts/kafka-dev.sh run different Kafka versions"
        );
    }

    // kestrel reaches Kafka on the listener Kafka advertises to the network.
    let brokers = s(&svc("kestrel")["environment"]["KESTREL_KAFKA__BROKERS"]);
    let advertised = s(&kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]);
    let internal = advertised
        .split(',')
        .find_map(|l| l.strip_prefix("INTERNAL://"))
        .expect("an INTERNAL listener");
    assert_eq!(brokers, internal);
    let listeners = s(&kafka["environment"]["KAFKA_LISTENERS"]);
    let port = brokers.rsplit(':').next().unwrap();
    assert!(
        listeners.contains(&format!("INTERNAL://:{port}")),
        "{listeners}"
    );
    // The topics the init container creates are the ones kestrel uses.
    let init = format!("{:?}", svc("kafka-init")["command"]);
    for t in ["posts", "alerts", "posts.dlq"] {
        assert!(init.contains(t), "kafka-init does not create {t}");
    }
    assert_eq!(
        s(&svc("kestrel")["environment"]["KESTREL_KAFKA__ALERT_TOPIC"]),
        "alerts"
    );
    assert_eq!(
        s(&svc("kestrel")["environment"]["KESTREL_KAFKA__DEAD_LETTER_TOPIC"]),
        "posts.dlq"
    );

    // Prometheus scrapes the port kestrel listens on.
    let listen = s(&svc("kestrel")["environment"]["KESTREL_METRICS__LISTEN"]);
    let metrics_port = listen.rsplit(':').next().unwrap();
    let prom = load("deploy/prometheus/prometheus.yml");
    let targets: Vec<&str> = prom["scrape_configs"][0]["static_configs"][0]["targets"]
        .as_vec()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(targets, vec![format!("kestrel:{metrics_port}")]);
    let published = format!("{:?}", svc("kestrel")["ports"]);
    assert!(
        published.contains(&format!(":{metrics_port}:{metrics_port}")),
        "{published}"
    );

    // Everything mounted from the repository exists; named volumes are declared.
    for (key, def) in services {
        let name = s(key);
        for v in def["volumes"].as_vec().into_iter().flatten() {
            let source = s(v).split(':').next().unwrap();
            if source.starts_with("./") || source.starts_with('/') {
                assert!(root.join(source).exists(), "{name} mounts missing {source}");
            } else {
                assert!(
                    !doc["volumes"][source].is_badvalue(),
                    "{name} uses undeclared volume {source}"
                );
            }
        }
    }

    // kestrel is built from the repository's Dockerfile: Rust builder,
    // Debian slim runtime.
    assert_eq!(s(&svc("kestrel")["build"]["dockerfile"]), "Dockerfile");
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("FROM rust:"));
    assert!(dockerfile.contains("FROM debian:") && dockerfile.contains("-slim"));
    assert!(dockerfile.contains("EXPOSE 9898"));
}
