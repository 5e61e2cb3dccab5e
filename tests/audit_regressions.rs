//! Regressions for the defects of the outside audit of scan, rules and
//! explain (issue 13): each test reproduces one defect through the command
//! line, as a user would meet it.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use kestrel_testkit::{kestrel, rules_dir, run, scan, text};
use serde_json::Value;

const CALL_AND_LINK: &str = r#"
rules:
  - id: rec.call-and-link
    title: A call to join with an invite link
    category: recruitment
    severity: high
    status: active
    terms:
      call:
        words: ["join us"]
      link:
        indicator: [telegram]
    condition: call and link
    tests:
      match:
        - "join us https://t.me/+AbCdEfGhIjKlMnOp"
"#;

#[test]
fn evidence_cap_keeps_a_span_of_every_condition_term_and_says_it_cut() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let post = serde_json::json!({
        "id": "1",
        "text": format!("{}https://t.me/+AbCdEfGhIjKlMnOp", "join us! ".repeat(70)),
    });
    let (alerts, stderr, code) = scan(dir.path(), &post.to_string(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let ev = alerts[0]["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 64);
    let link: Vec<&Value> = ev.iter().filter(|e| e["term"] == "link").collect();
    assert_eq!(
        link.len(),
        1,
        "the invite link is the decisive span: {ev:?}"
    );
    assert_eq!(link[0]["text"], "https://t.me/+AbCdEfGhIjKlMnOp");
    // 70 calls and one link were found; 64 spans were kept.
    assert_eq!(alerts[0]["evidence_omitted"], 7, "{}", alerts[0]);
    // Evidence stays in text order.
    let starts: Vec<u64> = ev.iter().map(|e| e["start"].as_u64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
}

#[test]
fn an_alert_with_every_span_has_no_omitted_count() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let post = r#"{"id": "1", "text": "join us https://t.me/+AbCdEfGhIjKlMnOp"}"#;
    let (alerts, stderr, _) = scan(dir.path(), post, &[]);
    assert_eq!(alerts.len(), 1, "{stderr}");
    assert_eq!(alerts[0]["evidence"].as_array().unwrap().len(), 2);
    assert!(alerts[0].get("evidence_omitted").is_none(), "{}", alerts[0]);
}

/// A rule whose `match` test cannot hold: the call has no link.
const FAILING_TEST: &str = r#"
rules:
  - id: rec.call-and-link
    title: A call to join with an invite link
    category: recruitment
    severity: high
    status: active
    terms:
      call:
        words: ["join us"]
      link:
        indicator: [telegram]
    condition: call and link
    tests:
      match:
        - "join us today"
"#;

#[test]
fn scan_refuses_a_rule_set_whose_tests_fail_unless_told_to_skip_them() {
    let dir = rules_dir(&[("rec.yaml", FAILING_TEST)]);
    let post = r#"{"id": "1", "text": "join us https://t.me/+AbCdEfGhIjKlMnOp"}"#;
    let (alerts, stderr, code) = scan(dir.path(), post, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(
        stderr.contains("rec.yaml:16:11: error: rule 'rec.call-and-link': test failed"),
        "{stderr}"
    );
    let (alerts, stderr, code) = scan(dir.path(), post, &["--skip-rule-tests"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts.len(), 1, "{stderr}");
    assert!(stderr.contains("test failed"), "{stderr}");
}

#[test]
fn run_refuses_at_start_up_a_rule_set_whose_tests_fail() {
    let dir = rules_dir(&[("rec.yaml", FAILING_TEST)]);
    let cfg = dir.path().join("kestrel.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:1\"\n[rules]\ndir = {:?}\nreload = \"off\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    let mut child = kestrel()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("run served the set: {stderr}"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("test failed"), "{stderr}");
}

#[test]
fn a_test_post_with_a_field_scan_never_reads_is_an_error() {
    let dir = rules_dir(&[(
        "rec.yaml",
        &CALL_AND_LINK.replace(
            "        - \"join us https://t.me/+AbCdEfGhIjKlMnOp\"",
            "        - { text: \"join us\", titel: \"https://t.me/+AbCdEfGhIjKlMnOp\" }",
        ),
    )]);
    for cmd in ["check", "test"] {
        let mut c = kestrel();
        c.arg("rules").arg(cmd).arg(dir.path());
        let out = run(c, b"");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{cmd}: {all}");
        assert!(
            all.contains("rec.yaml:16:11: error: rule 'rec.call-and-link': test post field 'titel' is not a configured text field (text)"),
            "{cmd}: {all}"
        );
    }
}

#[test]
fn the_shipped_pack_tests_only_configured_fields() {
    let mut c = kestrel();
    c.arg("rules")
        .arg("check")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"));
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn an_over_long_line_is_rejected_in_bounded_memory_and_the_scan_goes_on() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    // Written in pieces and given as a file, so that neither this process
    // nor the child before its exec holds the line (the child's peak RSS
    // includes the memory of the process that spawned it).
    let path = dir.path().join("long.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let head = br#"{"id": "big", "text": ""#;
    f.write_all(head).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"}\n").unwrap();
    f.write_all(br#"{"id": "2", "text": "join us https://t.me/+AbCdEfGhIjKlMnOp"}"#)
        .unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let size = head.len() + (100 << 20) + 2;
    let started = std::time::Instant::now();
    let out = kestrel()
        .arg("scan")
        .arg("--rules")
        .arg(dir.path())
        .arg(&path)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "long.jsonl:1: bad post: too_large: {size} bytes is over the limit of 1048576"
        )),
        "{stderr}"
    );
    assert_eq!(text(&out.stdout).lines().count(), 1, "{stderr}");
    // The whole line is never held: peak memory stays far below its size.
    let peak_kib = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    };
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
    assert!(took.as_secs() < 20, "took {took:?}");
}

#[test]
fn scan_counts_the_same_warnings_as_rules_check() {
    let dir = rules_dir(&[(
        "r.yaml",
        r#"
rules:
  - id: fin.amount
    status: shadow
    terms:
      amount:
        regex: '\d+'
    tests:
      match: ["500"]
"#,
    )]);
    let (_, stderr, _) = scan(dir.path(), "", &[]);
    let scan_count: usize = stderr
        .split("the rules have ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stderr}"));
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(dir.path());
    let out = run(c, b"");
    let stdout = text(&out.stdout);
    let check_count = stdout.lines().filter(|l| l.contains(": warning: ")).count();
    assert!(check_count >= 2, "{stdout}");
    assert!(
        stdout.contains(&format!("; {check_count} warning(s);")),
        "{stdout}"
    );
    assert_eq!(scan_count, check_count, "scan: {stderr}\ncheck: {stdout}");
}

#[test]
fn a_rule_without_status_is_active_and_lint_says_so() {
    let dir = rules_dir(&[(
        "rec.yaml",
        &CALL_AND_LINK.replace("    status: active\n", ""),
    )]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(dir.path());
    let out = run(c, b"");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("rec.yaml:3:7: warning: rule 'rec.call-and-link': no 'status'"),
        "{stdout}"
    );
    let post = r#"{"id": "1", "text": "join us https://t.me/+AbCdEfGhIjKlMnOp"}"#;
    let (alerts, stderr, _) = scan(dir.path(), post, &[]);
    assert_eq!(alerts.len(), 1, "{stderr}");
    assert_eq!(alerts[0]["shadow"], false);
}

#[test]
fn a_term_repeated_in_an_of_list_is_an_error() {
    let dir = rules_dir(&[(
        "rec.yaml",
        &CALL_AND_LINK.replace(
            "condition: call and link",
            "condition: 2 of (call, call, link)",
        ),
    )]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(dir.path());
    let out = run(c, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rule 'rec.call-and-link': condition: term 'call' appears twice in the list; each term counts once"),
        "{stderr}"
    );
}

#[test]
fn a_past_review_date_is_reported_beside_errors() {
    let dir = rules_dir(&[(
        "rec.yaml",
        &CALL_AND_LINK.replace(
            "    status: active\n",
            "    status: active\n    review_by: 2020-01-31\n    severity_typo: high\n",
        ),
    )]);
    let mut c = kestrel();
    c.arg("rules").arg("check").arg(dir.path());
    let out = run(c, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown key 'severity_typo'"), "{stderr}");
    assert!(
        stderr.contains(
            "rec.yaml:8:16: warning: rule 'rec.call-and-link': review_by 2020-01-31 has passed"
        ),
        "{stderr}"
    );
}

#[test]
fn an_empty_id_is_called_empty() {
    for id in ["\"\"", ""] {
        let dir = rules_dir(&[(
            "rec.yaml",
            &CALL_AND_LINK.replace("id: rec.call-and-link", &format!("id: {id}")),
        )]);
        let mut c = kestrel();
        c.arg("rules").arg("check").arg(dir.path());
        let out = run(c, b"");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("error: 'id' is empty"), "{id}: {stderr}");
    }
}

#[test]
fn a_byte_order_mark_at_the_start_of_any_line_is_not_part_of_the_post() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let post = "{\"id\": \"1\", \"text\": \"join us https://t.me/+AbCdEfGhIjKlMnOp\"}\n";
    // Two files that each start with a mark, joined by `cat`.
    let joined = format!("\u{feff}{post}\u{feff}{}", post.replace("\"1\"", "\"2\""));
    let (alerts, stderr, code) = scan(dir.path(), &joined, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts.len(), 2, "{stderr}");
    assert!(stderr.contains("0 bad lines"), "{stderr}");
}

#[test]
fn a_missing_file_is_reported_once_and_the_other_files_are_scanned() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let posts = dir.path().join("posts.jsonl");
    std::fs::write(
        &posts,
        "{\"id\": \"1\", \"text\": \"join us https://t.me/+AbCdEfGhIjKlMnOp\"}\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.jsonl");
    let mut c = kestrel();
    c.arg("scan")
        .arg("--rules")
        .arg(dir.path())
        .arg(&missing)
        .arg(&posts);
    let out = run(c, b"");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&out.stdout).lines().count(), 1, "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}: cannot open", missing.display())),
        "{stderr}"
    );
}

#[test]
fn rules_literals_into_a_closed_pipe_ends_quietly() {
    let mut child = kestrel()
        .arg("rules")
        .arg("literals")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn the_scan_summary_counts_alerts_per_rule() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let post = r#"{"id": "1", "text": "join us https://t.me/+AbCdEfGhIjKlMnOp"}"#;
    let (_, stderr, _) = scan(dir.path(), post, &[]);
    assert!(
        stderr.contains("  rule rec.call-and-link: 1 active, 0 shadow\n"),
        "{stderr}"
    );
}

#[test]
fn a_long_scan_prints_progress_lines_when_stderr_is_not_a_terminal() {
    let dir = rules_dir(&[("rec.yaml", CALL_AND_LINK)]);
    let post =
        "{\"id\": \"1\", \"text\": \"nothing to see here, just a long enough ordinary post\"}\n";
    let posts = post.repeat(100_000);
    let (_, stderr, code) = scan(dir.path(), &posts, &["--progress-every", "0.000001"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("kestrel scan: progress: "), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
}

const TWO_RULES: &str = r#"
rules:
  - id: rec.call-near-link
    title: A call to join near an invite link
    category: recruitment
    severity: high
    status: active
    terms:
      call:
        words: ["join us"]
      link:
        indicator: [telegram]
      hijra:
        words: ["make hijra"]
    condition: near(call, link, 5) or hijra
    tests:
      match:
        - "join us https://t.me/+AbCdEfGhIjKlMnOp"
      no_match:
        - "join us"
  - id: rec.call-alone
    title: A call to join
    category: recruitment
    severity: low
    status: shadow
    terms:
      call:
        words: ["join us"]
      now:
        words: ["right now"]
    condition: call and now
    tests:
      match:
        - "join us right now"
      no_match:
        - "join us"
"#;

fn explain(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let mut c = kestrel();
    c.arg("explain").arg("--rules").arg(dir).args(args);
    let out = run(c, b"");
    (
        text(&out.stdout),
        text(&out.stderr),
        out.status.code().unwrap(),
    )
}

#[test]
fn explain_rule_shows_only_that_rule_with_its_clauses_and_near_distance() {
    let dir = rules_dir(&[("rec.yaml", TWO_RULES)]);
    let post = "join us, the link is https://t.me/+AbCdEfGhIjKlMnOp";
    let (stdout, stderr, code) = explain(dir.path(), &["--rule", "rec.call-near-link", post]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("FIRED rec.call-near-link"), "{stdout}");
    assert!(!stdout.contains("rec.call-alone"), "{stdout}");
    assert!(
        stdout.contains("clause near(call, link, 5) -> holds"),
        "{stdout}"
    );
    assert!(stdout.contains("clause hijra -> does not hold"), "{stdout}");
    assert!(
        stdout.contains("near(call, link, 5): closest pair 4 words apart (holds)"),
        "{stdout}"
    );
    // A rule none of whose terms matched is still explained when asked for.
    let (stdout, _, code) = explain(dir.path(), &["--rule", "rec.call-alone", "nothing"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("quiet rec.call-alone"), "{stdout}");
    let (_, stderr, code) = explain(dir.path(), &["--rule", "rec.nope", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--rule rec.nope: no such rule"), "{stderr}");
}

#[test]
fn explain_prints_json_for_tools() {
    let dir = rules_dir(&[("rec.yaml", TWO_RULES)]);
    let post = "join us, the link is https://t.me/+AbCdEfGhIjKlMnOp";
    let (stdout, stderr, code) = explain(dir.path(), &["--format", "json", post]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["fields"][0]["name"], "text");
    assert_eq!(
        v["fields"][0]["folded"],
        "join us the link is htps t me abcdefghijklmnop"
    );
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{v}");
    let near = &rules[0];
    assert_eq!(near["id"], "rec.call-near-link");
    assert_eq!(near["verdict"], "fired");
    assert_eq!(near["clauses"][0]["holds"], true);
    assert_eq!(near["clauses"][1]["holds"], false);
    assert_eq!(near["near"][0]["closest"], 4);
    assert_eq!(near["near"][0]["holds"], true);
    assert_eq!(near["matches_per_term"]["call"], 1);
    assert_eq!(rules[1]["verdict"], "quiet");
    let link = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["term"] == "link")
        .unwrap();
    assert_eq!(link["indicator"], "telegram");
    assert_eq!(link["text"], "https://t.me/+AbCdEfGhIjKlMnOp");
}

#[test]
fn explain_takes_a_post_from_a_jsonl_file_by_line_or_by_id() {
    let dir = rules_dir(&[("rec.yaml", TWO_RULES)]);
    let file = dir.path().join("posts.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"id\": \"a\", \"text\": \"nothing\"}\n",
            "{\"id\": 77, \"text\": \"join us right now\"}\n"
        ),
    )
    .unwrap();
    let f = file.display().to_string();
    for pick in [["--line", "2"], ["--id", "77"]] {
        let (stdout, stderr, code) = explain(dir.path(), &["--file", &f, pick[0], pick[1]]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("raw:    \"join us right now\""), "{stdout}");
        assert!(stdout.contains("FIRED rec.call-alone"), "{stdout}");
    }
    let (_, stderr, code) = explain(dir.path(), &["--file", &f, "--id", "zz"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no post with id \"zz\""), "{stderr}");
}
