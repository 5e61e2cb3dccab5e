//! The shipped rule pack, as CI must see it: it loads without errors, every
//! rule's own tests pass through the serving engine, it stays quiet on
//! ordinary posts, and on the held-out labeled set it keeps the recall and
//! precision documented in docs/rule-pack.md.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

use kestrel_testkit::root;

fn kestrel() -> Command {
    let mut c = kestrel_testkit::kestrel();
    c.current_dir(root());
    c
}

#[test]
fn the_shipped_rules_check_without_errors() {
    let out = kestrel()
        .args(["rules", "check", "rules"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn every_shipped_rule_passes_its_own_tests() {
    let out = kestrel().args(["rules", "test", "rules"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
}

/// Alerts as (post id, category) for a JSONL file scanned with the pack.
fn alerts(file: &Path) -> Vec<(String, String, bool)> {
    let out = kestrel()
        .args(["scan", "--quiet", "--rules", "rules"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["post_id"].as_str().unwrap().to_string(),
                v["rule"]["category"].as_str().unwrap().to_string(),
                v["shadow"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Ordinary text: at most one post in 2,000 (0.05%) alerts, on each of the
/// shared corpora of ordinary posts and on the Debian fortunes in German and
/// Russian (written to target/fortunes by scripts/test.sh).
#[test]
fn ordinary_posts_raise_at_most_one_alert_in_two_thousand() {
    let corpus = root().join("../shared/corpus");
    let fortunes = root().join("target/fortunes");
    let files = [
        corpus.join("ordinary_tweets.jsonl"),
        corpus.join("arabic_french_tweets.jsonl"),
        fortunes.join("de.jsonl"),
        fortunes.join("ru.jsonl"),
    ];
    for file in files {
        if !file.exists() {
            // The corpus sits beside the repository in CI and scripts/test.sh
            // writes the fortunes; a checkout used alone has neither.
            eprintln!("skipping {}: not there", file.display());
            continue;
        }
        let posts = std::fs::read_to_string(&file).unwrap().lines().count();
        let alerted: HashSet<String> = alerts(&file).into_iter().map(|(id, _, _)| id).collect();
        assert!(
            alerted.len() * 2000 <= posts,
            "{}: {} of {posts} posts alerted: {alerted:?}",
            file.display(),
            alerted.len()
        );
    }
}

/// Floors below the figures in docs/rule-pack.md: a rule change that loses
/// recall or gains a false alarm on posts nobody tuned to fails here. The
/// counting is `kestrel eval`'s, the same a rule author runs.
#[test]
fn the_held_out_set_keeps_its_recall_and_raises_no_false_alarm() {
    let floor = format!("{:.2}", HELDOUT_TEST_RECALL_FLOOR_PERCENT as f64 / 100.0);
    let out = kestrel()
        .arg("eval")
        .arg("--rules")
        .arg("rules")
        .arg("tests/data/heldout/test.jsonl")
        .args(["--floor", &format!("recall:recruitment={floor}")])
        .args(["--floor", &format!("recall:financing={floor}")])
        .args(["--floor", "false-alarm=0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "held-out floors failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

const HELDOUT_TEST_RECALL_FLOOR_PERCENT: usize = 70;
