//! The tests' own posts and rules: post number `i` is fixed, one in 50 is
//! bad, and `kestrel scan` says which alerts a run must publish.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The small rule set of the tests: counts come out exact and are checked
/// against `kestrel scan` anyway.
pub const TEST_RULES: &str = r#"
rules:
  - id: t.donate
    revision: 1
    title: Donation appeal
    description: Asks for money.
    category: financing
    severity: high
    status: active
    terms:
      appeal: { words: [donate] }
    condition: appeal
  - id: t.join
    revision: 2
    title: Joining appeal
    description: Asks readers to join.
    category: recruitment
    severity: medium
    status: active
    terms:
      call: { words: ["join us"] }
    condition: call
  - id: t.wallet-appeal
    revision: 1
    title: Donation with a wallet word
    description: Money and a wallet.
    category: financing
    severity: critical
    status: active
    terms:
      appeal: { words: [donate] }
      wallet: { words: [wallet] }
    condition: appeal and wallet
"#;

/// Writes the test rules into `dir/rules` and returns that path.
pub fn write_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("test.yaml"), TEST_RULES).unwrap();
    rules
}

/// Post number `i`: one in 50 is bad (three kinds in turn); the rest fire
/// zero, one, two or three rules.
pub fn post(i: usize) -> Vec<u8> {
    if i % 50 == 49 {
        return match (i / 50) % 3 {
            0 => b"{\"id\": \"broken".to_vec(),
            1 => format!("{{\"text\": \"no id here {i}\"}}").into_bytes(),
            _ => format!("{{\"id\": \"p{i}\"}}").into_bytes(),
        };
    }
    let text = match i % 7 {
        0 => "please donate today",
        1 => "join us now, brothers",
        2 => "donate to this wallet and join us",
        3 => "donate what you can, the wallet is open",
        _ => "an ordinary post about the weather",
    };
    format!(
        "{{\"id\": \"p{i}\", \"created_at\": \"2015-01-06T21:07:00Z\", \"text\": \"{text} #{i}\"}}"
    )
    .into_bytes()
}

/// Whether post `i` is bad.
pub fn is_bad(i: usize) -> bool {
    i % 50 == 49
}

/// What `kestrel scan` says about posts `range`: the set of (post id, rule
/// id) and the number of bad lines.
pub fn expected_by_scan(
    dir: &Path,
    rules: &Path,
    range: std::ops::Range<usize>,
) -> (BTreeSet<(String, String)>, usize) {
    let file = dir.join(format!("posts-{}-{}.jsonl", range.start, range.end));
    let mut text = Vec::new();
    for i in range {
        text.extend_from_slice(&post(i));
        text.push(b'\n');
    }
    std::fs::write(&file, text).unwrap();
    let out = crate::output_ok(
        crate::kestrel()
            .arg("scan")
            .arg("--rules")
            .arg(rules)
            .arg("--quiet")
            .arg(&file),
        "kestrel scan",
    );
    let pairs = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| alert_pair(&serde_json::from_str(l).unwrap()))
        .collect();
    let bad = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("bad post"))
        .count();
    (pairs, bad)
}

/// (post id, rule id) of an alert.
pub fn alert_pair(alert: &serde_json::Value) -> (String, String) {
    (
        alert["post_id"].as_str().unwrap().to_string(),
        alert["rule"]["id"].as_str().unwrap().to_string(),
    )
}
