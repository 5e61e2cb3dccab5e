//! The engine against a plain reference: for random posts built from a small
//! vocabulary with random separators and obfuscations, a `words` rule fires
//! exactly when the folded post holds the folded phrase as whole words, and
//! every evidence span is a raw slice that folds back to the phrase.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use kestrel_core::engine::{Engine, EngineOptions, Matches};
use kestrel_core::normalize::fold;
use kestrel_core::rules::load_str;

const PHRASES: &[&str] = &["join us", "hijrah", "send money", "wallet", "brothers"];
const VOCAB: &[&str] = &[
    "join", "us", "hijrah", "send", "money", "wallet", "brothers", "the", "news", "we", "today",
    "joined", "usa", "walleted", "hij", "rah",
];
const SEPARATORS: &[&str] = &[" ", "  ", ", ", "! ", "\n", " - ", "…", " 🙂 "];

fn engine() -> Engine {
    let mut yaml = String::from("rules:\n");
    for (i, p) in PHRASES.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: r{i}\n    terms:\n      t: {{ words: [\"{p}\"] }}\n"
        ));
    }
    let loaded = load_str(Path::new("props.yaml"), &yaml).unwrap();
    Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap()
}

/// Whether `folded` holds `phrase` (already folded) as whole words.
fn reference(folded: &str, phrase: &str) -> bool {
    let words: Vec<&str> = folded.split(' ').collect();
    let want: Vec<&str> = phrase.split(' ').collect();
    words.windows(want.len()).any(|w| w == want.as_slice())
}

fn obfuscate(word: &str, how: u8) -> String {
    match how % 5 {
        0 => word.to_string(),
        1 => word.to_uppercase(),
        2 => word.replace('o', "0").replace('e', "3"),
        3 => {
            // A zero-width space after the first letter.
            let mut c = word.chars();
            match c.next() {
                Some(first) => format!("{first}\u{200b}{}", c.as_str()),
                None => String::new(),
            }
        }
        _ => word.replace('a', "а"), // Cyrillic a
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn words_rules_fire_exactly_when_the_folded_post_holds_the_phrase(
        parts in proptest::collection::vec((0..VOCAB.len(), 0..SEPARATORS.len(), any::<u8>()), 1..14)
    ) {
        let mut text = String::new();
        for (w, s, how) in &parts {
            text.push_str(&obfuscate(VOCAB[*w], *how));
            text.push_str(SEPARATORS[*s]);
        }
        let e = engine();
        let mut scratch = e.new_scratch();
        let mut m = Matches::default();
        e.scan(&[("text", &text)], &mut scratch, &mut m);
        let folded = fold(&text);
        for (i, p) in PHRASES.iter().enumerate() {
            let expected = reference(&folded, &fold(p));
            let fired = m.firings.iter().find(|f| e.rule_set().rules[f.rule].id == format!("r{i}"));
            prop_assert_eq!(fired.is_some(), expected, "phrase {:?} in {:?} (folded {:?})", p, text, folded);
            if let Some(f) = fired {
                for ev in &m.evidence[f.evidence.clone()] {
                    let (s, t) = (ev.start as usize, ev.end as usize);
                    prop_assert!(text.is_char_boundary(s) && text.is_char_boundary(t));
                    prop_assert_eq!(fold(&text[s..t]), fold(p), "span {}..{} of {:?}", s, t, text);
                }
            }
        }
    }
}
