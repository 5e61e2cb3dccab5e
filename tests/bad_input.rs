//! The bad input catalogue through `kestrel scan`: each kind of broken or
//! hostile post is scanned or reported as a bad line naming file:line and
//! its reason; none stops the scan, and the summary counts match.
//! (`bad_input_kafka.rs` sends the same catalogue through `kestrel run`.)

use std::process::Stdio;

use kestrel_testkit::kestrel;

use serde_json::Value;

const RULES: &str = r#"rules:
  - id: t.donate
    title: Donation
    description: Asks for money.
    category: financing
    severity: high
    status: active
    terms:
      appeal: { words: [donate] }
    tests:
      match: ["donate"]
"#;

struct Scanned {
    alerts: Vec<Value>,
    stderr: String,
    file: String,
}

impl Scanned {
    /// Post ids that raised an alert, in order.
    fn flagged(&self) -> Vec<String> {
        self.alerts
            .iter()
            .map(|a| a["post_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// The message for line `line`, which must be there.
    fn bad(&self, line: usize, reason: &str) {
        let want = format!("{}:{line}: bad post: {reason}", self.file);
        assert!(
            self.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            self.stderr
        );
    }

    /// The summary's totals and per-reason counts.
    fn summary(&self, posts: usize, bad: &[(&str, usize)]) {
        let total: usize = bad.iter().map(|(_, n)| n).sum();
        let want = format!("kestrel scan: {posts} posts, {total} bad lines");
        assert!(self.stderr.contains(&want), "{want:?} in:\n{}", self.stderr);
        for (reason, n) in bad {
            let want = format!("  bad lines, {reason}: {n}\n");
            assert!(self.stderr.contains(&want), "{want:?} in:\n{}", self.stderr);
        }
        assert_eq!(
            self.stderr.matches("bad post:").count(),
            total,
            "{}",
            self.stderr
        );
    }
}

/// Scans a good post, then `lines`, then another good post, from a file;
/// `config` is a TOML configuration (may be empty).
fn scan(lines: &[&[u8]], config: &str) -> Scanned {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/r.yaml"), RULES).unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, config).unwrap();
    let file = dir.path().join("posts.jsonl");
    let mut data = b"{\"id\": \"first\", \"text\": \"donate first\"}\n".to_vec();
    for l in lines {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    data.extend_from_slice(b"{\"id\": \"last\", \"text\": \"donate last\"}\n");
    std::fs::write(&file, data).unwrap();
    let out = kestrel()
        .arg("scan")
        .arg("--rules")
        .arg(dir.path().join("rules"))
        .arg("--config")
        .arg(&cfg)
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = Scanned {
        alerts,
        stderr,
        file: file.display().to_string(),
    };
    // The good posts around the bad ones are always scanned.
    let flagged = s.flagged();
    assert_eq!(flagged.first().map(String::as_str), Some("first"));
    assert_eq!(flagged.last().map(String::as_str), Some("last"));
    s
}

/// Every evidence span is on character boundaries of its field and its
/// text is the raw text there.
fn spans_hold(alert: &Value, raw: &str) {
    for ev in alert["evidence"].as_array().unwrap() {
        let (a, b) = (
            ev["start"].as_u64().unwrap() as usize,
            ev["end"].as_u64().unwrap() as usize,
        );
        assert!(raw.is_char_boundary(a) && raw.is_char_boundary(b), "{ev}");
        assert_eq!(ev["text"].as_str().unwrap(), &raw[a..b]);
    }
}

#[test]
fn invalid_utf8_is_a_bad_line_at_its_byte() {
    let s = scan(&[b"{\"id\": \"u\", \"text\": \"donate \xff\xfe\"}"], "");
    s.bad(2, "not_utf8: invalid UTF-8 at byte 28");
    s.summary(2, &[("not_utf8", 1)]);
}

#[test]
fn a_raw_nul_byte_is_not_json_and_an_escaped_one_is_text() {
    let s = scan(
        &[
            b"{\"id\": \"n1\", \"text\": \"donate\0now\"}",
            b"{\"id\": \"n2\", \"text\": \"donate\\u0000now\"}",
            b"\0",
        ],
        "",
    );
    s.bad(2, "not_json: control character");
    s.bad(4, "not_json:");
    assert_eq!(s.flagged(), ["first", "n2", "last"]);
    s.summary(3, &[("not_json", 2)]);
}

#[test]
fn truncated_json_is_a_bad_line() {
    let s = scan(
        &[
            b"{\"id\": \"t1\", \"text\": \"donate",
            b"{\"id\": \"t2\", \"text\": \"donate\"",
            b"{\"id\": \"t3\", \"te",
            b"{",
        ],
        "",
    );
    for line in 2..=5 {
        s.bad(line, "not_json: EOF while parsing");
    }
    s.summary(2, &[("not_json", 4)]);
}

#[test]
fn json_that_is_not_an_object_is_a_bad_line_naming_its_type() {
    let s = scan(&[b"[1, 2]", b"\"donate\"", b"42", b"null", b"true"], "");
    s.bad(2, "not_object: the post is a JSON array, not an object");
    s.bad(3, "not_object: the post is a JSON string");
    s.bad(4, "not_object: the post is a JSON number");
    s.bad(5, "not_object: the post is a JSON null");
    s.bad(6, "not_object: the post is a JSON boolean");
    s.summary(2, &[("not_object", 5)]);
}

#[test]
fn members_of_the_wrong_type_are_bad_lines_naming_the_member() {
    let s = scan(
        &[
            b"{\"id\": true, \"text\": \"donate\"}",
            b"{\"id\": 1.5, \"text\": \"donate\"}",
            b"{\"id\": {\"x\": 1}, \"text\": \"donate\"}",
            b"{\"id\": \"w\", \"text\": 5}",
            b"{\"id\": \"w\", \"text\": [\"donate\"]}",
            b"{\"id\": \"w\", \"text\": {\"t\": \"donate\"}}",
            b"{\"id\": 7, \"text\": \"donate\", \"created_at\": {\"odd\": true}}",
        ],
        "",
    );
    for line in 2..=4 {
        s.bad(
            line,
            "invalid_id: the post id at /id is not a string or an integer",
        );
    }
    for line in 5..=7 {
        s.bad(
            line,
            "invalid_text: the text field at /text is not a string",
        );
    }
    // An integer id is an id; a time of the wrong type is left out.
    assert_eq!(s.flagged(), ["first", "7", "last"]);
    s.summary(3, &[("invalid_id", 3), ("invalid_text", 3)]);
}

#[test]
fn a_missing_or_null_id_is_a_bad_line() {
    let s = scan(
        &[
            b"{\"text\": \"donate\"}",
            b"{\"id\": null, \"text\": \"donate\"}",
            b"{\"id\": \"\", \"text\": \"donate\"}",
        ],
        "",
    );
    s.bad(2, "missing_id: no post id at /id");
    s.bad(3, "missing_id: no post id at /id");
    s.bad(4, "invalid_id");
    s.summary(2, &[("missing_id", 2), ("invalid_id", 1)]);
}

/// JSON leaves duplicate member names to the reader; kestrel reads the last
/// value, as JavaScript's JSON.parse, Python's json and Go's encoding/json
/// do, so what it scans is what most consumers of the post show.
#[test]
fn with_duplicate_keys_the_last_value_is_read() {
    let s = scan(
        &[
            b"{\"id\": \"d1\", \"text\": \"hello\", \"text\": \"donate\"}",
            b"{\"id\": \"d2\", \"text\": \"donate\", \"text\": \"hello\"}",
            b"{\"id\": \"x\", \"id\": \"d3\", \"text\": \"donate\"}",
        ],
        "",
    );
    assert_eq!(s.flagged(), ["first", "d1", "d3", "last"]);
    s.summary(5, &[]);
}

#[test]
fn an_empty_text_is_scanned_and_raises_nothing() {
    let s = scan(
        &[
            b"{\"id\": \"e1\", \"text\": \"\"}",
            b"{\"id\": \"e2\", \"text\": \"   \"}",
            b"{\"id\": \"e3\", \"text\": null}",
        ],
        "",
    );
    s.bad(4, "no_text: none of the text fields (/text) is present");
    assert_eq!(s.flagged(), ["first", "last"]);
    s.summary(4, &[("no_text", 1)]);
}

#[test]
fn a_10_mb_line_is_too_large_by_default_and_scanned_under_a_larger_limit() {
    let text = format!("donate {}", "x".repeat(10 * 1024 * 1024));
    let line = format!("{{\"id\": \"big\", \"text\": \"{text}\"}}");
    let s = scan(&[line.as_bytes()], "");
    s.bad(
        2,
        &format!(
            "too_large: {} bytes is over the limit of 1048576",
            line.len()
        ),
    );
    s.summary(2, &[("too_large", 1)]);

    let s = scan(
        &[line.as_bytes()],
        "[posts]\nmax_post_bytes = 16777216\nmax_field_bytes = 16777216\n",
    );
    assert_eq!(s.flagged(), ["first", "big", "last"]);
    s.summary(3, &[]);
}

#[test]
fn a_field_past_max_field_bytes_is_scanned_up_to_the_limit() {
    let far = format!("{} donate", "x ".repeat(5000));
    let near = format!("donate {}", "x ".repeat(5000));
    let lines = [
        format!("{{\"id\": \"far\", \"text\": \"{far}\"}}"),
        format!("{{\"id\": \"near\", \"text\": \"{near}\"}}"),
    ];
    let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let s = scan(&lines, "[posts]\nmax_field_bytes = 4096\n");
    assert_eq!(s.flagged(), ["first", "near", "last"]);
    s.summary(4, &[]);
}

#[test]
fn nesting_past_max_depth_is_a_bad_line() {
    let deep = format!(
        "{{\"id\": \"deep\", \"text\": \"donate\", \"x\": {}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let shallow = "{\"id\": \"ok\", \"text\": \"donate\", \"x\": [[[{\"a\": [1]}]]]}";
    let s = scan(&[deep.as_bytes(), shallow.as_bytes()], "");
    s.bad(2, "too_deep: JSON nested more than 64 levels deep");
    assert_eq!(s.flagged(), ["first", "ok", "last"]);
    s.summary(3, &[("too_deep", 1)]);
}

/// Bidi overrides and other invisible format characters do not hide a word,
/// and the evidence still points at the raw text.
#[test]
fn bidi_overrides_are_scanned_through() {
    let texts = [
        "don\u{202E}ate now",
        "\u{202E}etanod\u{202C} donate",
        "do\u{2066}na\u{2069}te",
        "\u{200F}donate\u{200E}",
    ];
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("b{i}"), "text": t}).to_string())
        .collect();
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let s = scan(&refs, "");
    assert_eq!(s.flagged(), ["first", "b0", "b1", "b2", "b3", "last"]);
    for (a, t) in s.alerts[1..5].iter().zip(texts) {
        spans_hold(a, t);
    }
    s.summary(6, &[]);
}

/// Emoji (with skin tones, joiners, flags) and stacked combining marks are
/// text like any other: scanned, with spans on character boundaries.
#[test]
fn emoji_and_combining_sequences_are_scanned_with_spans_on_character_boundaries() {
    let texts = [
        "👨‍👩‍👧 donate 🇫🇷",
        "d\u{301}o\u{308}n\u{327}ate 👍🏽",
        "🙏🏿donate🙏🏿",
        &format!("d{}onate", "\u{301}".repeat(500)),
        &format!("{} donate", "e\u{301}\u{302}\u{303}".repeat(1000)),
    ];
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("e{i}"), "text": t}).to_string())
        .collect();
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let s = scan(&refs, "");
    assert_eq!(s.flagged(), ["first", "e0", "e1", "e2", "e3", "e4", "last"]);
    for (a, t) in s.alerts[1..6].iter().zip(texts) {
        spans_hold(a, t);
    }
    s.summary(7, &[]);
}

/// Hostile posts (as `benches/engine.rs` measures them in MB/s) are scanned
/// without error under a limit that lets them in; their timing is the
/// benchmark's business, not a test's.
#[test]
fn adversarial_posts_are_scanned_without_error() {
    let size = 10 * 1024 * 1024;
    let mut word = String::with_capacity(1 << 20);
    let mut x: u32 = 7;
    while word.len() < 1 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        word.push((b'a' + ((x >> 16) % 26) as u8) as char);
    }
    let texts = [
        "a".repeat(size),
        "donat ".repeat(size / 6),
        "donatedonate".repeat(size / 12),
        word,
        format!("e{}", "\u{301}".repeat(size / 2 - 1)),
        format!(
            "{} donate",
            "d\u{301}\u{302}\u{303}\u{304}".repeat(size / 9)
        ),
    ];
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"id": format!("a{i}"), "text": t}).to_string())
        .collect();
    let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let s = scan(
        &refs,
        "[posts]\nmax_post_bytes = 33554432\nmax_field_bytes = 33554432\n",
    );
    // Only the last holds the word, after a megabyte of marks.
    assert_eq!(s.flagged(), ["first", "a5", "last"]);
    s.summary(8, &[]);
}
