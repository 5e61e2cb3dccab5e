//! The engine alone over the shared corpora held in memory, against plain
//! Aho-Corasick over the same literals with no folding, in the same run.
//! `kestrel` is the engine as shipped; `kestrel-automaton` the same engine
//! with its whole-word literals in the folded-view Aho-Corasick automaton
//! instead of the word set (`EngineOptions::word_set = false`).
//!
//! - `shipped/<corpus>`: the shipped rule pack (`rules/`).
//! - `10k/<corpus>`: a generated pack of 10,000 words (every k-th word of 7+
//!   letters of /usr/share/dict/american-english, Debian's `wamerican`).
//! - `compile/100k`: building an engine from a 100,000-term pack.
//! - `adversarial/<kind>-<size>`: the shipped pack, and a pack of regexes
//!   that would backtrack for ever in a backtracking engine, over hostile
//!   posts of 1 MB and 10 MB (one repeated character, near-matches of a
//!   pack word, one long word, a letter under stacked combining marks): the
//!   MB/s of the two sizes should agree, as scan time is linear in size.
//!
//! Run with `cargo bench --bench engine`; figures go to docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aho_corasick::AhoCorasick;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use kestrel::engine::{Engine, EngineOptions, Matches, Scratch};
use kestrel::rules::{self, RuleSet, TermKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The texts of each corpus file, held in memory: `KESTREL_CORPUS`, else
/// `../shared/corpus` beside the checkout.
fn corpora() -> Vec<(String, Vec<String>)> {
    let dir = std::env::var_os("KESTREL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no corpus at {}", dir.display());
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for f in files {
        let texts: Vec<String> = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(str::to_string))
            .collect();
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        out.push((name, texts));
    }
    out
}

/// Every literal entry of the set as written (words, substrings, lists).
fn literals(set: &RuleSet) -> Vec<String> {
    let mut out = Vec::new();
    for r in &set.rules {
        for t in &r.terms {
            match &t.kind {
                TermKind::Words(v) | TermKind::Substrings(v) => out.extend(v.iter().cloned()),
                TermKind::List { entries, .. } => out.extend(entries.iter().cloned()),
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn dictionary_words(n: usize) -> Vec<String> {
    let words: Vec<String> = std::fs::read_to_string("/usr/share/dict/american-english")
        .expect("install Debian's wamerican for this bench")
        .lines()
        .filter(|w| w.len() >= 7 && w.chars().all(|c| c.is_ascii_lowercase()))
        .map(str::to_string)
        .collect();
    let step = (words.len() / n).max(1);
    let mut out: Vec<String> = words.iter().step_by(step).take(n).cloned().collect();
    // Too few dictionary words: add suffixed forms, still real text to match.
    let mut i = 0;
    while out.len() < n {
        out.push(format!("{}ness{i}", words[i % words.len()]));
        i += 1;
    }
    out
}

/// A rule pack of `n` words spread over rules of 100 words each, every rule a
/// plain `any of them`, written to a temporary directory as YAML.
fn generated_pack(n: usize) -> (tempfile::TempDir, PathBuf) {
    let words = dictionary_words(n);
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("rules:\n");
    for (i, chunk) in words.chunks(100).enumerate() {
        yaml.push_str(&format!(
            "  - id: gen.r{i}\n    category: other\n    status: active\n    terms:\n      w:\n        words: ["
        ));
        for (j, w) in chunk.iter().enumerate() {
            if j > 0 {
                yaml.push_str(", ");
            }
            yaml.push_str(&format!("\"{w}\""));
        }
        yaml.push_str("]\n");
    }
    let path = dir.path().join("gen.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

fn scan_all(engine: &Engine, texts: &[String], scratch: &mut Scratch, m: &mut Matches) -> usize {
    let mut fired = 0;
    for t in texts {
        engine.scan(&[("text", t.as_str())], scratch, m);
        fired += m.firings.len();
    }
    fired
}

fn ac_all(ac: &AhoCorasick, texts: &[String]) -> usize {
    texts.iter().map(|t| ac.find_iter(t.as_str()).count()).sum()
}

fn bench_pack(c: &mut Criterion, label: &str, set: RuleSet, corpora: &[(String, Vec<String>)]) {
    let lits = literals(&set);
    let baseline = AhoCorasick::new(&lits).unwrap();
    let set = Arc::new(set);
    let engine = Engine::build(set.clone(), &EngineOptions::default()).unwrap();
    // The same engine with its whole-word literals in the folded-view
    // automaton instead of the word set: what the word set is measured against.
    let automaton = Engine::build(
        set,
        &EngineOptions {
            word_set: false,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let mut group = c.benchmark_group(label);
    group
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for (name, texts) in corpora {
        let bytes: usize = texts.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut scratch = engine.new_scratch();
        let mut m = Matches::default();
        group.bench_with_input(BenchmarkId::new("kestrel", name), texts, |b, texts| {
            b.iter(|| scan_all(&engine, texts, &mut scratch, &mut m))
        });
        group.bench_with_input(
            BenchmarkId::new("kestrel-automaton", name),
            texts,
            |b, texts| b.iter(|| scan_all(&automaton, texts, &mut scratch, &mut m)),
        );
        group.bench_with_input(
            BenchmarkId::new("plain-aho-corasick", name),
            texts,
            |b, texts| b.iter(|| ac_all(&baseline, texts)),
        );
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let corpora = corpora();
    let shipped = rules::load_dir(&root().join("rules"))
        .expect("the shipped rules load")
        .set;
    bench_pack(c, "shipped", shipped, &corpora);

    let (_dir10k, path) = generated_pack(10_000);
    let set = rules::load_dir(Path::new(&path)).unwrap().set;
    bench_pack(c, "10k", set, &corpora);

    let (_dir100k, path) = generated_pack(100_000);
    let set = Arc::new(rules::load_dir(Path::new(&path)).unwrap().set);
    let mut group = c.benchmark_group("compile");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("100k-terms", |b| {
        b.iter(|| Engine::build(set.clone(), &EngineOptions::default()).unwrap())
    });
    group.finish();
}

/// Hostile posts of about `size` bytes: (name, text).
pub fn adversarial_posts(near: &str, size: usize) -> Vec<(String, String)> {
    let fill = |unit: &str| unit.repeat(size / unit.len().max(1));
    let mut word = String::with_capacity(size);
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    let mut x: u32 = 7;
    while word.len() < size {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        word.push(letters[(x >> 16) as usize % letters.len()] as char);
    }
    let mb = size / 1_000_000;
    vec![
        (format!("repeated-char-{mb}MB"), fill("a")),
        (format!("near-matches-{mb}MB"), fill(&format!("{near} "))),
        (format!("one-word-{mb}MB"), word),
        (
            format!("stacked-marks-{mb}MB"),
            format!("e{}", "\u{301}\u{302}\u{303}\u{304}".repeat(size / 8)),
        ),
    ]
}

/// Regexes a backtracking engine would take exponential time on.
const BACKTRACKING_BAIT: &str = r#"rules:
  - id: bait.nested
    title: Nested quantifiers
    description: Bait.
    category: other
    severity: low
    terms:
      a: { regex: '(a+)+b', view: raw }
      b: { regex: '(x|x?)*y', view: raw }
      c: { regex: '(\w+\s?)+z', view: raw }
    condition: a or b or c
"#;

fn adversarial(c: &mut Criterion) {
    let shipped = rules::load_dir(&root().join("rules"))
        .expect("the shipped rules load")
        .set;
    // A near-match: a word of the pack's lexicons without its last letter.
    let near = "mujahi";
    let shipped = Engine::build(Arc::new(shipped), &EngineOptions::default()).unwrap();
    let bait = rules::load_str(Path::new("bait.yaml"), BACKTRACKING_BAIT)
        .unwrap_or_else(|e| panic!("{e}"))
        .set;
    let bait = Engine::build(Arc::new(bait), &EngineOptions::default()).unwrap();
    let mut group = c.benchmark_group("adversarial");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for size in [1_000_000, 10_000_000] {
        for (name, text) in adversarial_posts(near, size) {
            group.throughput(Throughput::Bytes(text.len() as u64));
            for (label, engine) in [("shipped", &shipped), ("regex-bait", &bait)] {
                let mut scratch = engine.new_scratch();
                let mut m = Matches::default();
                group.bench_with_input(BenchmarkId::new(label, &name), &text, |b, text| {
                    b.iter(|| {
                        engine.scan(&[("text", text.as_str())], &mut scratch, &mut m);
                        m.firings.len()
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(engine_benches, benches, adversarial);
criterion_main!(engine_benches);
