//! The deploy files: Prometheus accepts the alert rules and the scrape
//! configuration, the Grafana dashboard is provisioned against the
//! provisioned data source and covers what operators watch. (That every
//! metric they name is exported is checked against a live scrape in
//! tests/ops_live.rs.)

use kestrel_testkit::{metric_names_in, names_in_deploy_files, promtool, root};

#[test]
fn promtool_accepts_the_alert_rules_and_the_scrape_configuration() {
    let alerts = root().join("deploy/prometheus/alerts.yml");
    let (ok, out) = promtool(&["check", "rules", alerts.to_str().unwrap()], "");
    assert!(ok, "promtool check rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");

    // The compose file mounts alerts.yml at /etc/prometheus; point the copy
    // at the file here.
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml"))
        .unwrap()
        .replace("/etc/prometheus/alerts.yml", alerts.to_str().unwrap());
    let copy = dir.path().join("prometheus.yml");
    std::fs::write(&copy, config).unwrap();
    let (ok, out) = promtool(&["check", "config", copy.to_str().unwrap()], "");
    assert!(ok, "promtool check config:\n{out}");
}

#[test]
fn the_alert_rules_cover_lag_dead_letters_reloads_and_silence() {
    let text = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let mut by_name = std::collections::BTreeMap::new();
    for group in docs[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            by_name.insert(
                rule["alert"].as_str().unwrap().to_string(),
                rule["expr"].as_str().unwrap().to_string(),
            );
        }
    }
    for (alert, metric) in [
        ("KestrelConsumerLagGrowing", "kestrel_consumer_lag"),
        ("KestrelDeadLetterRateHigh", "kestrel_dead_letters_total"),
        (
            "KestrelRuleReloadFailing",
            "kestrel_rules_last_reload_success_timestamp_seconds",
        ),
        ("KestrelNoPostsConsumed", "kestrel_posts_consumed_total"),
    ] {
        let expr = by_name
            .get(alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert!(expr.contains(metric), "{alert}: {expr}");
    }
}

#[test]
fn the_dashboard_is_provisioned_and_has_the_panels_operators_watch() {
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/kestrel.json")).unwrap(),
    )
    .unwrap();
    let datasource = std::fs::read_to_string(
        root().join("deploy/grafana/provisioning/datasources/prometheus.yml"),
    )
    .unwrap();
    let ds = yaml_rust2::YamlLoader::load_from_str(&datasource).unwrap();
    let uid = ds[0]["datasources"][0]["uid"].as_str().unwrap();
    let panels = dash["panels"].as_array().unwrap();
    let mut exprs = String::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(p["datasource"]["uid"], uid, "panel {}", p["title"]);
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            exprs.push_str(t["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let used = metric_names_in(&exprs);
    for metric in [
        "kestrel_posts_consumed_total",
        "kestrel_alerts_total",
        "kestrel_dead_letters_total",
        "kestrel_scan_duration_seconds",
        "kestrel_end_to_end_latency_seconds",
        "kestrel_consumer_lag",
        "kestrel_rules_reloads_total",
        "kestrel_flood_demotions_total",
    ] {
        assert!(used.contains(metric), "no panel shows {metric}");
    }
    assert!(names_in_deploy_files()
        .iter()
        .all(|n| n.starts_with("kestrel_")));
    let provider =
        std::fs::read_to_string(root().join("deploy/grafana/provisioning/dashboards/kestrel.yml"))
            .unwrap();
    assert!(provider.contains("/var/lib/grafana/dashboards"));
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names_in(
        "histogram_quantile(0.9, sum by (le) (rate(kestrel_scan_duration_seconds_bucket[5m]))) / xkestrel_no + kestrel_posts_consumed_total",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            "kestrel_posts_consumed_total",
            "kestrel_scan_duration_seconds"
        ]
    );
}

#[test]
fn the_compose_file_provisions_grafana_and_prometheus_from_deploy() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let services = &docs[0]["services"];
    let volumes = |svc: &str| -> Vec<String> {
        services[svc]["volumes"]
            .as_vec()
            .unwrap_or_else(|| panic!("no {svc} service with volumes"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let grafana = volumes("grafana");
    assert!(grafana
        .iter()
        .any(|v| v.starts_with("./deploy/grafana/provisioning:/etc/grafana/provisioning")));
    assert!(grafana
        .iter()
        .any(|v| v.starts_with("./deploy/grafana/kestrel.json:/var/lib/grafana/dashboards/")));
    let prometheus = volumes("prometheus");
    assert!(prometheus
        .iter()
        .any(|v| v.starts_with("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml")));
    for v in grafana.iter().chain(&prometheus) {
        let local = v.split(':').next().unwrap();
        assert!(
            root().join(local).exists(),
            "{local} is mounted but missing"
        );
    }
}
