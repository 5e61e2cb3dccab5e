//! The word set (how the engine matches whole-word literals of the folded
//! view) against the Aho-Corasick automaton it replaced, kept behind
//! `EngineOptions::word_set = false` as the reference: with the shipped pack,
//! both engines must find exactly the same hits and fire the same rules with
//! the same evidence, on real posts (the shared corpora), on the labeled
//! held-out posts, on the pack's own test cases, and on generated posts packed
//! with the pack's phrases, obfuscated and overlapping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kestrel_core::engine::{Engine, EngineOptions, Hit, Matches, Scratch};
use kestrel_core::rules::{load_dir, RuleSet, TermKind};

/// The repository root (this crate lives in crates/kestrel-core).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `text` of every line of a JSONL file.
fn texts(file: &Path) -> Vec<String> {
    let src =
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    src.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
}

/// Every `words` entry of the set, those of lexicon concepts included.
fn words(set: &RuleSet) -> Vec<String> {
    let mut out: Vec<String> = set
        .rules
        .iter()
        .flat_map(|r| &r.terms)
        .filter_map(|t| match &t.kind {
            TermKind::Words(v) => Some(v.clone()),
            TermKind::Lexicon(l) => Some(l.union()[0].clone()),
            _ => None,
        })
        .flatten()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Posts made of the pack's own entries, cut, joined and disguised: phrases
/// that overlap, share first words, run into each other without a space,
/// or carry leetspeak and separators.
fn generated(entries: &[String], n: usize) -> Vec<String> {
    const GLUE: &[&str] = &[
        " ", " ", " ", ", ", "", " the ", ". ", " - ", "\u{200B}", "!! ",
    ];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut post = String::new();
        for _ in 0..(2 + next() % 8) {
            let e = &entries[(next() % entries.len() as u64) as usize];
            let piece: String = match next() % 6 {
                // The first words only, or the last ones.
                0 => e
                    .split(' ')
                    .take(1 + (next() % 2) as usize)
                    .collect::<Vec<_>>()
                    .join(" "),
                1 => e.split(' ').skip(1).collect::<Vec<_>>().join(" "),
                // Leetspeak and upper case.
                2 => e.replace('o', "0").replace('e', "3").to_uppercase(),
                _ => e.clone(),
            };
            post.push_str(&piece);
            post.push_str(GLUE[(next() % GLUE.len() as u64) as usize]);
        }
        out.push(post);
    }
    out
}

type Found = (
    Vec<(usize, usize, Hit)>,
    Vec<(usize, bool, Vec<(u32, u32)>)>,
);

fn scan(engine: &Engine, text: &str, s: &mut Scratch, m: &mut Matches) -> Found {
    engine.scan(&[("text", text)], s, m);
    let mut hits: Vec<(usize, usize, Hit)> =
        engine.last_hits(s).map(|(r, t, h)| (r, t, *h)).collect();
    hits.sort_by_key(|(r, t, h)| (*r, *t, h.field, h.start, h.end));
    let firings = m
        .firings
        .iter()
        .map(|f| {
            let ev = m.evidence[f.evidence.clone()]
                .iter()
                .map(|e| (e.start, e.end))
                .collect();
            (f.rule, f.shadow, ev)
        })
        .collect();
    (hits, firings)
}

#[test]
fn the_word_set_finds_what_the_automaton_finds() {
    let loaded = load_dir(&root().join("rules")).expect("shipped rules load");
    let set = Arc::new(loaded.set);
    let fast = Engine::build(set.clone(), &EngineOptions::default()).unwrap();
    let reference = Engine::build(
        set.clone(),
        &EngineOptions {
            word_set: false,
            ..EngineOptions::default()
        },
    )
    .unwrap();

    let mut posts: Vec<String> = Vec::new();
    let corpus = root().join("../shared/corpus");
    for f in ["isis_tweets", "ordinary_tweets", "arabic_french_tweets"] {
        posts.extend(texts(&corpus.join(format!("{f}.jsonl"))));
    }
    for f in ["dev", "test"] {
        posts.extend(texts(&root().join(format!("tests/data/heldout/{f}.jsonl"))));
    }
    for r in &set.rules {
        for case in r.tests.must_match.iter().chain(&r.tests.no_match) {
            posts.extend(case.fields.iter().map(|(_, t)| t.clone()));
        }
    }
    posts.extend(generated(&words(&set), 20_000));

    let (mut s1, mut s2) = (fast.new_scratch(), reference.new_scratch());
    let (mut m1, mut m2) = (Matches::default(), Matches::default());
    let (mut total_hits, mut total_firings) = (0, 0);
    for post in &posts {
        let a = scan(&fast, post, &mut s1, &mut m1);
        let b = scan(&reference, post, &mut s2, &mut m2);
        assert_eq!(a, b, "the two engines differ on {post:?}");
        total_hits += a.0.len();
        total_firings += a.1.len();
    }
    // The comparison means something only if there was plenty to compare.
    assert!(total_hits > 100_000, "only {total_hits} hits compared");
    assert!(total_firings > 300, "only {total_firings} firings compared");
    eprintln!(
        "{} posts, {total_hits} hits and {total_firings} firings identical",
        posts.len()
    );
}
