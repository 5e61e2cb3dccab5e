//! Operations against a real broker (Apache Kafka) and a real `kestrel run`: the
//! metrics scrape passes `promtool check metrics` and holds every family the
//! dashboard and the alert rules use, health answers as orchestrators
//! expect, shadow rules and the flood guard mark alerts, the status page
//! shows it all, and the logs never carry post text or secrets.

use std::collections::BTreeMap;
use std::time::Duration;

use kestrel_testkit::*;
use serde_json::Value;

const RULES: &str = r#"
rules:
  - id: t.donate
    revision: 1
    title: Donation appeal <b>bold</b> & "quoted"
    description: Asks for money.
    category: financing
    severity: high
    terms:
      appeal: { words: [donate] }
    tests:
      match: ["please donate"]
      no_match: ["nothing here"]
  - id: t.every
    revision: 1
    title: Fires on every post
    description: A runaway rule.
    category: other
    severity: low
    terms:
      word: { words: [post] }
  - id: t.shadow
    revision: 1
    title: Joining appeal on trial
    description: Measured before it acts.
    category: recruitment
    severity: medium
    status: shadow
    terms:
      call: { words: ["join us"] }
"#;

/// Post `i`: every post fires t.every; even ones t.donate, odd ones t.shadow.
/// The `zebracorn` word must never reach a log.
fn post(i: usize) -> (String, String) {
    let call = if i % 2 == 0 {
        "please donate"
    } else {
        "join us"
    };
    (
        format!("k{i}"),
        format!(
            r#"{{"id": "p{i}", "created_at": "2015-01-06T21:07:00Z", "text": "post {i} zebracorn{i}: {call}"}}"#
        ),
    )
}

fn by_rule<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule"]["id"] == rule).collect()
}

#[test]
fn a_live_run_exports_checked_metrics_shadow_alerts_and_demotes_a_runaway_rule() {
    if skip_without_broker() {
        return;
    }
    let dir = tempdir();
    let broker = Broker::memory();
    broker.create_topic("posts", 2);
    broker.create_topic("alerts", 1);
    broker.create_topic("posts.dlq", 1);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("t.yaml"), RULES).unwrap();
    let port = free_port();
    let flood = "[flood_guard]\nwindow_secs = 600\nmax_alerts_per_window = 1000\n[flood_guard.rules]\n\"t.every\" = 5\n";
    let mut k = Kestrel::serve(
        &RunConfig::new(&broker.addr(), "ops-live", &rules)
            .reload("watch")
            .observed(port)
            .tables(flood)
            .write_as(dir.path(), "live"),
        "live",
    );

    // Health: alive at once; ready only once partitions are assigned.
    assert_eq!(k.get("/healthz").0, 200);
    k.wait_readyz();

    let mut posts: Vec<(String, String)> = (0..20).map(post).collect();
    posts.push(("bad1".into(), "this is not json".into()));
    posts.push(("bad2".into(), r#"{"text": "post without an id"}"#.into()));
    produce(&broker.addr(), "posts", &posts);

    let mut alerts = Reader::new(&broker.addr(), "alerts");
    let all = alerts
        .until("40 alerts", Duration::from_secs(60), |a| a.len() >= 40)
        .to_vec();
    assert_eq!(all.len(), 40);

    // Shadow rules: published, marked, never demoted.
    let shadow = by_rule(&all, "t.shadow");
    assert_eq!(shadow.len(), 10);
    assert!(shadow
        .iter()
        .all(|a| a["shadow"] == true && a.get("demoted").is_none()));
    let donate = by_rule(&all, "t.donate");
    assert_eq!(donate.len(), 10);
    assert!(donate.iter().all(|a| a["shadow"] == false));
    // Flood guard: 5 alerts within the window, then shadow with a reason.
    let every = by_rule(&all, "t.every");
    assert_eq!(every.len(), 20, "a demoted rule's alerts keep flowing");
    let published: Vec<_> = every.iter().filter(|a| a["shadow"] == false).collect();
    assert_eq!(published.len(), 5, "exactly the ceiling reaches reviewers");
    assert!(published.iter().all(|a| a.get("demoted").is_none()));
    let demoted: Vec<_> = every.iter().filter(|a| a["shadow"] == true).collect();
    assert_eq!(demoted.len(), 15);
    assert!(demoted.iter().all(|a| a["demoted"] == "flood_guard"));
    let ruleset = all[0]["ruleset"].as_str().unwrap().to_string();

    // Metrics, once every post is finished and lag has been reported.
    let scrape = wait_for(
        "all posts finished and lag reported",
        Duration::from_secs(30),
        || {
            let s = k.scrape();
            let lag_of = |p: &str| {
                sample(
                    &s,
                    "kestrel_consumer_lag",
                    &[("topic", "posts"), ("partition", p)],
                )
            };
            (sample(&s, "kestrel_posts_finished_total", &[]) == Some(22.0)
                && lag_of("0").is_some()
                && lag_of("1").is_some())
            .then_some(s)
        },
    );
    let v = |name: &str, labels: &[(&str, &str)]| {
        sample(&scrape, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in\n{scrape}"))
    };
    assert_eq!(v("kestrel_posts_consumed_total", &[]), 22.0);
    assert!(v("kestrel_scanned_bytes_total", &[]) > 1000.0);
    assert_eq!(
        v("kestrel_posts_scanned_total", &[("outcome", "alerted")]),
        20.0
    );
    assert_eq!(
        v("kestrel_posts_scanned_total", &[("outcome", "dead_letter")]),
        2.0
    );
    assert_eq!(
        v("kestrel_dead_letters_total", &[("reason", "not_json")]),
        1.0
    );
    assert_eq!(
        v("kestrel_dead_letters_total", &[("reason", "missing_id")]),
        1.0
    );
    assert_eq!(
        v(
            "kestrel_alerts_total",
            &[
                ("rule_id", "t.shadow"),
                ("category", "recruitment"),
                ("severity", "medium"),
                ("shadow", "true")
            ]
        ),
        10.0
    );
    assert_eq!(
        v(
            "kestrel_alerts_total",
            &[("rule_id", "t.every"), ("shadow", "false")]
        ),
        5.0
    );
    assert_eq!(
        v(
            "kestrel_alerts_total",
            &[("rule_id", "t.every"), ("shadow", "true")]
        ),
        15.0
    );
    assert_eq!(v("kestrel_alerts_acknowledged_total", &[]), 40.0);
    assert_eq!(v("kestrel_scan_duration_seconds_count", &[]), 20.0);
    assert_eq!(v("kestrel_end_to_end_latency_seconds_count", &[]), 22.0);
    assert_eq!(v("kestrel_posts_in_flight", &[]), 0.0);
    assert_eq!(v("kestrel_partitions_assigned", &[]), 2.0);
    assert_eq!(v("kestrel_rules_loaded", &[("status", "active")]), 2.0);
    assert_eq!(v("kestrel_rules_loaded", &[("status", "shadow")]), 1.0);
    assert_eq!(v("kestrel_ruleset_info", &[("ruleset", &ruleset)]), 1.0);
    assert_eq!(
        v(
            "kestrel_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(
        v("kestrel_rules_reloads_total", &[("result", "error")]),
        0.0
    );
    assert!(v("kestrel_rules_last_reload_success_timestamp_seconds", &[]) > 1.7e9);
    assert_eq!(
        v("kestrel_flood_demotions_total", &[("rule_id", "t.every")]),
        1.0
    );
    assert_eq!(v("kestrel_rule_demoted", &[("rule_id", "t.every")]), 1.0);
    assert_eq!(v("kestrel_rule_demoted", &[("rule_id", "t.donate")]), 0.0);
    assert!(!scrape.contains("p1\""), "no post id in a label");

    // promtool accepts the live scrape.
    let (ok, out) = promtool(&["check", "metrics"], &scrape);
    assert!(ok, "promtool check metrics:\n{out}\n{scrape}");

    // Every metric a dashboard panel or an alert rule uses is exported.
    let exported = family_names(&scrape);
    let used = names_in_deploy_files();
    let missing: Vec<_> = used.difference(&exported).collect();
    assert!(missing.is_empty(), "used but not exported: {missing:?}");
    for family in [
        "kestrel_consumer_lag",
        "kestrel_end_to_end_latency_seconds",
        "kestrel_flood_demotions_total",
    ] {
        assert!(used.contains(family), "{family} is on no panel or alert");
    }

    // The status page.
    let (code, page) = k.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<tr id=\"rule-t.every\">"), "{page}");
    assert!(page.contains("demoted to shadow (flood guard)"));
    assert!(page.contains("Donation appeal &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"));
    assert!(!page.contains("<b>bold</b>"), "rule titles are escaped");
    assert_eq!(page.matches("<tr class=\"demotion\">").count(), 1);
    assert_eq!(page.matches("<tr class=\"lag\">").count(), 2);
    assert!(page.contains(&ruleset));
    assert!(
        !page.contains("zebracorn"),
        "no post text on the status page"
    );

    // An operator reset lifts the demotion; the next alerts publish again.
    let (code, body) = k.post("/flood/reset?rule=t.every");
    assert_eq!((code, body.as_str()), (200, "reset: t.every\n"));
    assert_eq!(
        sample(
            &k.scrape(),
            "kestrel_rule_demoted",
            &[("rule_id", "t.every")]
        ),
        Some(0.0)
    );
    produce(
        &broker.addr(),
        "posts",
        &(100..103).map(post).collect::<Vec<_>>(),
    );
    let all = alerts
        .until("the alerts after the reset", Duration::from_secs(60), |a| {
            a.len() >= 46
        })
        .to_vec();
    let after: Vec<_> = by_rule(&all[40..], "t.every");
    assert_eq!(after.len(), 3);
    assert!(after
        .iter()
        .all(|a| a["shadow"] == false && a.get("demoted").is_none()));

    // Demoted again (3 + 3 alerts pass the ceiling of 5), then SIGUSR1
    // resets every demotion.
    produce(
        &broker.addr(),
        "posts",
        &(200..203).map(post).collect::<Vec<_>>(),
    );
    wait_for("the second demotion", Duration::from_secs(30), || {
        (sample(
            &k.scrape(),
            "kestrel_rule_demoted",
            &[("rule_id", "t.every")],
        ) == Some(1.0))
        .then_some(())
    });
    k.signal(libc::SIGUSR1);
    wait_for("SIGUSR1 to reset it", Duration::from_secs(30), || {
        (sample(
            &k.scrape(),
            "kestrel_rule_demoted",
            &[("rule_id", "t.every")],
        ) == Some(0.0))
        .then_some(())
    });
    assert_eq!(
        sample(
            &k.scrape(),
            "kestrel_flood_demotions_total",
            &[("rule_id", "t.every")]
        ),
        Some(2.0)
    );

    assert_eq!(k.stop(), Some(0));

    // Logs: JSON events with fields at the top level, one per state change,
    // never post text or a secret.
    let logs = k.log_text();
    assert!(!logs.contains("zebracorn"), "post text in the logs");
    assert!(!logs.contains("hunter2"), "a secret in the logs");
    let events = k.log_events();
    assert!(events.len() > 3, "{logs}");
    let count = |msg: &str| events.iter().filter(|e| e["message"] == msg).count();
    assert_eq!(count("flood guard: rule demoted to shadow"), 2, "{logs}");
    let demotion = events
        .iter()
        .find(|e| e["message"] == "flood guard: rule demoted to shadow")
        .unwrap();
    assert_eq!(demotion["rule_id"], "t.every");
    assert_eq!(demotion["ceiling"], 5);
    assert_eq!(count("flood guard: demotion reset by an operator"), 2);
    assert!(count("partitions assigned") >= 1, "{logs}");
    let levels: BTreeMap<String, usize> = events.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e["level"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        m
    });
    assert!(!levels.contains_key("ERROR"), "errors logged: {logs}");
}

/// Not part of the suite (it needs Chromium): `scripts/status-page-screenshot.sh`
/// runs it to regenerate `docs/status-page.png` from a real run with a
/// demotion, a refused reload and lag on the page.
#[test]
#[ignore]
fn status_page_screenshot() {
    if skip_without_broker() {
        return;
    }
    let out = std::env::var("KESTREL_SCREENSHOT")
        .unwrap_or_else(|_| format!("{}/docs/status-page.png", env!("CARGO_MANIFEST_DIR")));
    let dir = tempdir();
    let broker = Broker::memory();
    broker.create_topic("posts", 3);
    broker.create_topic("alerts", 1);
    broker.create_topic("posts.dlq", 1);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let demo = |revision: u32| {
        format!(
            r#"rules:
  - id: fin.crypto-donation-appeal
    revision: {revision}
    title: Donation appeal with a cryptocurrency wallet
    description: Asks readers to fund fighters.
    category: financing
    severity: high
    terms:
      appeal: {{ words: [donate, "support the brothers"] }}
      wallet: {{ words: [wallet] }}
    condition: appeal and wallet
  - id: rec.join-travel
    revision: 4
    title: Call to travel and join
    description: Recruitment with a way to travel.
    category: recruitment
    severity: critical
    terms:
      call: {{ words: ["join us", hijrah] }}
  - id: prop.nasheed-share
    revision: 1
    title: Sharing of a known nasheed <trial>
    description: Propaganda links, measured in shadow.
    category: propaganda
    severity: medium
    status: shadow
    terms:
      song: {{ words: [nasheed] }}
  - id: oth.too-broad
    revision: 2
    title: A word that turned out to be everywhere
    description: Fires on nearly every post.
    category: other
    severity: low
    terms:
      word: {{ words: [the] }}
  - id: thr.retired
    revision: 3
    title: Retired threat wording
    description: Kept for reference.
    category: threat
    severity: high
    status: disabled
    terms:
      w: {{ words: [retired] }}
"#
        )
    };
    std::fs::write(rules.join("demo.yaml"), demo(1)).unwrap();
    let port = free_port();
    let flood = "[flood_guard]\nwindow_secs = 300\nmax_alerts_per_window = 500\n[flood_guard.rules]\n\"oth.too-broad\" = 20\n";
    let mut k = Kestrel::serve(
        &RunConfig::new(&broker.addr(), "ops-shot", &rules)
            .reload("watch")
            .observed(port)
            .tables(flood)
            .write_as(dir.path(), "shot"),
        "shot",
    );
    k.wait_readyz();
    let texts = [
        "donate to the wallet, support the brothers",
        "join us, hijrah is a duty",
        "listen to the nasheed and share it",
        "the weather is fine today",
    ];
    let posts: Vec<(String, String)> = (0..120)
        .map(|i| {
            (
                format!("k{i}"),
                format!(
                    r#"{{"id": "p{i}", "text": "{} {i}"}}"#,
                    texts[i % texts.len()]
                ),
            )
        })
        .collect();
    produce(&broker.addr(), "posts", &posts);
    wait_for("the posts finished", Duration::from_secs(60), || {
        (sample(&k.scrape(), "kestrel_posts_finished_total", &[]) == Some(120.0)).then_some(())
    });
    std::fs::write(rules.join("demo.yaml"), demo(2)).unwrap();
    wait_for("a reload", Duration::from_secs(30), || {
        (sample(
            &k.scrape(),
            "kestrel_rules_reloads_total",
            &[("result", "success")],
        ) == Some(1.0))
        .then_some(())
    });
    std::fs::write(
        rules.join("demo.yaml"),
        demo(3).replace("severity: low", "severity: lowish"),
    )
    .unwrap();
    wait_for("a refused reload", Duration::from_secs(30), || {
        (sample(
            &k.scrape(),
            "kestrel_rules_reloads_total",
            &[("result", "error")],
        ) == Some(1.0))
        .then_some(())
    });
    produce(
        &broker.addr(),
        "posts",
        &posts[..60]
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("\"p", "\"q")))
            .collect::<Vec<_>>(),
    );
    wait_for("lag reported", Duration::from_secs(30), || {
        let s = k.scrape();
        (sample(&s, "kestrel_posts_finished_total", &[]) == Some(180.0)
            && sample(&s, "kestrel_consumer_lag", &[("partition", "2")]).is_some())
        .then_some(())
    });
    let profile = tempdir();
    let status = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={out}"))
        .arg(format!("http://{}/", k.metrics))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("chromium is missing: apt-get install chromium");
    assert!(status.success());
    let png = std::fs::read(&out).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{out}");
    assert_eq!(k.stop(), Some(0));
}
