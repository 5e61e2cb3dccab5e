//! Hot reload against a real broker: a rule file changed while posts flow
//! is live for the next posts (new revision, new ruleset hash); a broken
//! file keeps the old set alerting while the failure shows in metrics and
//! logs; SIGHUP reloads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kestrel_testkit::*;
use serde_json::Value;

fn rule(revision: u32, words: &str) -> String {
    format!(
        r#"rules:
  - id: t.donate
    revision: {revision}
    title: Donation appeal
    description: Asks for money.
    category: financing
    severity: high
    terms:
      appeal: {{ words: [{words}] }}
    tests:
      match: ["please donate"]
      no_match: ["nothing here"]
"#
    )
}

fn post(i: usize) -> (String, String) {
    (
        format!("k{i}"),
        format!(r#"{{"id": "p{i}", "text": "please donate, give what you can ({i})"}}"#),
    )
}

fn post_index(a: &Value) -> usize {
    a["post_id"].as_str().unwrap()[1..].parse().unwrap()
}

fn setup(dir: &std::path::Path) -> (Broker, std::path::PathBuf) {
    let broker = Broker::memory();
    broker.create_topic("posts", 2);
    broker.create_topic("alerts", 1);
    broker.create_topic("posts.dlq", 1);
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("donate.yaml"), rule(1, "donate")).unwrap();
    (broker, rules)
}

/// Produces one post every 20 ms until stopped; the count so far is shared.
fn flowing(
    brokers: String,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    let handle = {
        let (stop, produced) = (stop.clone(), produced.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                produce(&brokers, "posts", &[post(i)]);
                i += 1;
                produced.store(i, Ordering::Release);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    (stop, produced, handle)
}

#[test]
fn a_rule_changed_while_posts_flow_is_live_for_the_next_posts_and_a_broken_file_keeps_the_old_set()
{
    if skip_without_broker() {
        return;
    }
    let dir = tempdir();
    let (broker, rules) = setup(dir.path());
    let port = free_port();
    let mut k = Kestrel::serve(
        &RunConfig::new(&broker.addr(), "ops-reload", &rules)
            .reload("watch")
            .observed(port)
            .write_as(dir.path(), "watch"),
        "watch",
    );
    k.wait_readyz();
    let (stop, produced, producer) = flowing(broker.addr());
    let mut alerts = Reader::new(&broker.addr(), "alerts");
    let first = alerts
        .until("alerts of revision 1", Duration::from_secs(60), |a| {
            a.len() >= 5
        })
        .to_vec();
    let h1 = first[0]["ruleset"].as_str().unwrap().to_string();
    assert!(first.iter().all(|a| a["rule"]["revision"] == 1));
    let success_before = sample(
        &k.scrape(),
        "kestrel_rules_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();

    // Change the rule while posts flow.
    std::fs::write(rules.join("donate.yaml"), rule(2, "donate, give")).unwrap();
    let h2 = wait_for(
        "the reload to swap the set",
        Duration::from_secs(30),
        || {
            let s = k.scrape();
            if sample(&s, "kestrel_rules_reloads_total", &[("result", "success")]) != Some(1.0) {
                return None;
            }
            samples(&s)
                .into_iter()
                .find(|(n, _, _)| n == "kestrel_ruleset_info")
                .map(|(_, l, _)| l["ruleset"].clone())
        },
    );
    assert_ne!(h1, h2);
    // Posts 0..swapped_at were produced before the swap was seen; post
    // `swapped_at` may be on its way to the broker at this moment, so the
    // first post certainly produced after the swap is `swapped_at + 1`.
    let swapped_at = produced.load(Ordering::Acquire) + 1;
    let seen = alerts
        .until(
            "alerts of posts produced after the swap",
            Duration::from_secs(60),
            |a| a.iter().any(|a| post_index(a) >= swapped_at + 5),
        )
        .to_vec();
    for a in &seen {
        let pair = (
            a["rule"]["revision"].as_u64().unwrap(),
            a["ruleset"].as_str().unwrap(),
        );
        assert!(
            pair == (1, h1.as_str()) || pair == (2, h2.as_str()),
            "mixed alert: {a}"
        );
        if post_index(a) >= swapped_at {
            assert_eq!(
                pair,
                (2, h2.as_str()),
                "a post produced after the swap: {a}"
            );
        }
    }
    assert!(seen.iter().any(|a| a["rule"]["revision"] == 1));
    let success_after = sample(
        &k.scrape(),
        "kestrel_rules_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(success_after > success_before);

    // Break the file: the old set keeps alerting; the failure shows.
    std::fs::write(
        rules.join("donate.yaml"),
        rule(3, "donate").replace("    category:", "    categroy:"),
    )
    .unwrap();
    wait_for(
        "the failed reload in the metrics",
        Duration::from_secs(30),
        || {
            let s = k.scrape();
            (sample(&s, "kestrel_rules_reloads_total", &[("result", "error")]) == Some(1.0))
                .then_some(())
        },
    );
    let broken_at = produced.load(Ordering::Acquire);
    let s = k.scrape();
    assert_eq!(
        sample(&s, "kestrel_ruleset_info", &[("ruleset", &h2)]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &s,
            "kestrel_rules_last_reload_success_timestamp_seconds",
            &[]
        ),
        Some(success_after),
        "the last success stays"
    );
    assert!(
        sample(&s, "kestrel_rules_last_reload_timestamp_seconds", &[]).unwrap() > success_after,
        "the failed attempt is the last one"
    );
    let seen = alerts
        .until(
            "alerts after the broken file",
            Duration::from_secs(60),
            |a| a.iter().any(|a| post_index(a) >= broken_at + 5),
        )
        .to_vec();
    for a in seen.iter().filter(|a| post_index(a) >= broken_at) {
        assert_eq!(a["ruleset"], h2.as_str(), "the old set keeps serving");
        assert_eq!(a["rule"]["revision"], 2);
    }
    let (_, page) = k.get("/");
    assert!(page.contains("failed; previous rules kept"), "{page}");
    assert!(
        page.contains("donate.yaml:6:5: error: rule &#39;t.donate&#39;"),
        "{page}"
    );

    stop.store(true, Ordering::Release);
    producer.join().unwrap();
    assert_eq!(k.stop(), Some(0));
    let events = k.log_events();
    let problem = events
        .iter()
        .find(|e| e["message"] == "rules reload problem")
        .unwrap_or_else(|| panic!("no reload problem logged:\n{}", k.log_text()));
    let text = problem["problem"].as_str().unwrap();
    assert!(
        text.contains("donate.yaml:6:5: error: rule 't.donate'"),
        "{text}"
    );
    assert!(text.contains("categroy"), "{text}");
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "rules reload failed; the previous rules keep serving")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["serving"], h2.as_str());
    let reloaded: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "rules reloaded")
        .collect();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0]["ruleset"], h2.as_str());
    assert_eq!(reloaded[0]["cause"], "file_change");
}

#[test]
fn sighup_reloads_the_rules_when_reload_is_signal() {
    if skip_without_broker() {
        return;
    }
    let dir = tempdir();
    let (broker, rules) = setup(dir.path());
    let port = free_port();
    let mut k = Kestrel::serve(
        &RunConfig::new(&broker.addr(), "ops-sighup", &rules)
            .reload("signal")
            .observed(port)
            .write_as(dir.path(), "signal"),
        "signal",
    );
    k.wait_readyz();
    std::fs::write(rules.join("donate.yaml"), rule(7, "donate")).unwrap();
    // No watcher in signal mode: nothing reloads on its own.
    let s = k.scrape();
    for result in ["success", "unchanged", "error"] {
        assert_eq!(
            sample(&s, "kestrel_rules_reloads_total", &[("result", result)]),
            Some(0.0)
        );
    }
    k.signal(libc::SIGHUP);
    wait_for("the SIGHUP reload", Duration::from_secs(30), || {
        let s = k.scrape();
        (sample(&s, "kestrel_rules_reloads_total", &[("result", "success")]) == Some(1.0))
            .then_some(())
    });
    produce(&broker.addr(), "posts", &[post(1)]);
    let mut alerts = Reader::new(&broker.addr(), "alerts");
    let a = alerts.until("the alert", Duration::from_secs(60), |a| !a.is_empty())[0].clone();
    assert_eq!(a["rule"]["revision"], 7);
    // A second SIGHUP with nothing changed swaps nothing.
    k.signal(libc::SIGHUP);
    wait_for("the unchanged reload", Duration::from_secs(30), || {
        let s = k.scrape();
        (sample(
            &s,
            "kestrel_rules_reloads_total",
            &[("result", "unchanged")],
        ) == Some(1.0))
        .then_some(())
    });
    assert_eq!(k.stop(), Some(0), "SIGHUP does not end the process");
    let reloaded: Vec<Value> = k
        .log_events()
        .into_iter()
        .filter(|e| e["message"] == "rules reloaded")
        .collect();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0]["cause"], "signal");
}
