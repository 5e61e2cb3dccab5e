//! The folded view: table-driven cases from `tests/data/folding.yaml` and
//! properties (raw offsets, idempotence, hidden keywords) checked with
//! proptest.

use kestrel_core::normalize::{fold, fold_into, fold_regex, is_boundary, FoldedText};
use proptest::prelude::*;
use yaml_rust2::{Yaml, YamlLoader};

fn data() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/folding.yaml");
    let text = std::fs::read_to_string(path).expect("reading folding.yaml");
    YamlLoader::load_from_str(&text)
        .expect("folding.yaml is valid YAML")
        .remove(0)
}

fn field<'a>(case: &'a Yaml, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case {case:?} lacks string `{key}`"))
}

/// Byte offsets of the whole-word occurrences of `word` in folded text.
fn word_occurrences(folded: &str, word: &str) -> Vec<usize> {
    folded
        .match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| is_boundary(folded, i) && is_boundary(folded, i + word.len()))
        .filter(|&i| {
            (i == 0 || folded.as_bytes()[i - 1] == b' ')
                && folded
                    .as_bytes()
                    .get(i + word.len())
                    .is_none_or(|&b| b == b' ')
        })
        .collect()
}

/// (start, end) of every word of folded text.
fn words(folded: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in folded.bytes().enumerate() {
        if b == b' ' {
            out.push((start, i));
            start = i + 1;
        }
    }
    if !folded.is_empty() {
        out.push((start, folded.len()));
    }
    out
}

#[test]
fn fold_cases_from_data_file() {
    let doc = data();
    let cases = doc["fold"].as_vec().expect("`fold:` list");
    assert!(cases.len() > 50, "the data file lost its cases");
    let mut failures = Vec::new();
    let mut ft = FoldedText::new();
    for case in cases {
        let input = field(case, "input");
        let want = field(case, "folded");
        fold_into(input, &mut ft);
        let got = ft.as_str();
        if got != want {
            failures.push(format!("fold({input:?}) = {got:?}, want {want:?}"));
            continue;
        }
        if fold(got) != got {
            failures.push(format!(
                "not idempotent: {input:?} -> {got:?} -> {:?}",
                fold(got)
            ));
        }
        for span in case["spans"]
            .as_vec()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let word = field(span, "word");
            let raw = field(span, "raw");
            let Some(&at) = word_occurrences(got, word).first() else {
                failures.push(format!("{input:?}: word {word:?} not in {got:?}"));
                continue;
            };
            let (s, e) = ft.raw_span(at, at + word.len());
            if &input[s..e] != raw {
                failures.push(format!(
                    "{input:?}: raw span of {word:?} is {:?}, want {raw:?}",
                    &input[s..e]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn detect_cases_from_data_file() {
    use kestrel_core::indicators::{IndicatorKind, IndicatorSet};
    let doc = data();
    let cases = doc["detect"].as_vec().expect("`detect:` list");
    let mut failures = Vec::new();
    let mut found = Vec::new();
    for case in cases {
        let input = field(case, "input");
        let kind = IndicatorKind::from_name(field(case, "indicator")).expect("indicator name");
        let want = field(case, "found");
        found.clear();
        IndicatorSet::new(&[kind]).find_all(input, &mut found);
        let got: Vec<&str> = found.iter().map(|m| &input[m.start..m.end]).collect();
        let want: Vec<&str> = if want.is_empty() { vec![] } else { vec![want] };
        if got != want {
            failures.push(format!("{input:?}: found {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn regex_cases_from_data_file() {
    let doc = data();
    let cases = doc["regex"].as_vec().expect("`regex:` list");
    let mut failures = Vec::new();
    for case in cases {
        let pattern = field(case, "pattern");
        let want = field(case, "folded");
        match fold_regex(pattern) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("fold_regex({pattern:?}) = {got:?}, want {want:?}")),
            Err(e) => failures.push(format!("fold_regex({pattern:?}) failed: {e}")),
        }
        if regex::Regex::new(want).is_err() {
            failures.push(format!("{want:?} is not a valid regex"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn folded_regex_matches_folded_text() {
    let cases = [
        (
            r"\bsupport the mujahideen\b",
            "Support—the   MUJAHIDEEN!!",
            true,
        ),
        (
            r"\b\d{2,6}\s?(usd|usdt|btc|eth|dollars?)\b",
            "send 500 Dollars now",
            true,
        ),
        (
            r"\b\d{2,6}\s?(usd|usdt|btc|eth|dollars?)\b",
            "send 500USDT now",
            true,
        ),
        (r"\bjoin\b", "j.o.i.n us", true),
        (r"\bjoin\b", "rejoin us", false),
        (r"r3cruit(ers?)?", "RECRUITERS wanted", true),
    ];
    for (pattern, text, want) in cases {
        let folded_pattern = fold_regex(pattern).unwrap();
        let re = regex::Regex::new(&folded_pattern).unwrap();
        assert_eq!(
            re.is_match(&fold(text)),
            want,
            "{pattern:?} (folded {folded_pattern:?}) on {text:?} (folded {:?})",
            fold(text)
        );
    }
}

#[test]
fn invalid_regex_is_an_error() {
    assert!(fold_regex("(unclosed").is_err());
    assert!(fold_regex("a{2,1}").is_err());
}

#[test]
fn fold_into_reuses_and_clears() {
    let mut ft = FoldedText::new();
    fold_into(
        "a long first text: r3cru1t j.o.i.n the c4use today",
        &mut ft,
    );
    fold_into("jo\u{200B}in", &mut ft);
    assert_eq!(ft.as_str(), "join");
    assert_eq!(ft.raw_span(0, 4), (0, 7));
    fold_into("", &mut ft);
    assert_eq!(ft.as_str(), "");
    assert_eq!(ft.raw_span(0, 0), (0, 0));
    assert_eq!(FoldedText::new().as_str(), "");
}

#[test]
fn raw_span_of_ranges_that_are_not_words() {
    let raw = "  please,   j.o.i.n   now ";
    let mut ft = FoldedText::new();
    fold_into(raw, &mut ft);
    assert_eq!(ft.as_str(), "please join now");
    // Spaces at the ends of a range are left out.
    let (s, e) = ft.raw_span(6, 12);
    assert_eq!(&raw[s..e], "j.o.i.n");
    let (s, e) = ft.raw_span(0, 15);
    assert_eq!(&raw[s..e], "please,   j.o.i.n   now");
    // Inside a rejoined word: from its letters.
    let (s, e) = ft.raw_span(8, 10);
    assert_eq!(&raw[s..e], "o.i");
    // Only a space: the raw separator run.
    let (s, e) = ft.raw_span(6, 7);
    assert_eq!(&raw[s..e], ",   ");
    // Empty and out-of-range ranges.
    let (s, e) = ft.raw_span(7, 7);
    assert_eq!((s, e), (12, 12));
    let (s, e) = ft.raw_span(100, 200);
    assert_eq!(s, e);
    assert!(e <= raw.len());
}

/// The `Sh.a.m` join reads two letters before `.a` the same way whether
/// they are ASCII or lookalikes and whatever comes before them (a proptest
/// found `aе.a`, Cyrillic `е`, folding to `ae a` alone but to `aea` after
/// another word, so a word's raw span did not fold back to the word).
#[test]
fn split_letter_join_ignores_lookalikes_and_context() {
    for (raw, want) in [
        ("ae.a", "aea"),
        ("a\u{0435}.a", "aea"),
        ("a a\u{0435}.a ", "a aea"),
        ("Sh.a.m", "sham"),
        ("S\u{04BB}.a.m", "sham"),
        ("x S\u{04BB}.a.m", "x sham"),
        ("xa\u{0435}.a", "xae a"),
        ("a0.a", "aoa"),
        ("@a0.a ", "aoa"),
        ("@\u{200B}a0.a ", "aoa"),
    ] {
        assert_eq!(fold(raw), want, "{raw:?}");
    }
    let raw = "a a\u{0435}.a ";
    let mut ft = FoldedText::new();
    fold_into(raw, &mut ft);
    let (s, e) = ft.raw_span(2, 5);
    assert_eq!(fold(&raw[s..e]), "aea", "span {:?}", &raw[s..e]);
}

#[test]
fn boundaries() {
    let f = "join us";
    assert!(is_boundary(f, 0));
    assert!(!is_boundary(f, 2));
    assert!(is_boundary(f, 4));
    assert!(is_boundary(f, 5));
    assert!(is_boundary(f, 7));
    assert!(!is_boundary(f, 8));
    assert!(is_boundary("", 0));
}

/// Lookalike letters used by the hidden-keyword property; each must fold to
/// its ASCII letter on its own.
const LOOKALIKES: &[(char, &[char])] = &[
    ('a', &['\u{0430}', '\u{03B1}']),
    ('b', &['\u{042C}']),
    ('c', &['\u{0441}']),
    ('d', &['\u{0501}']),
    ('e', &['\u{0435}']),
    ('g', &['\u{0261}']),
    ('h', &['\u{04BB}']),
    ('i', &['\u{0456}', '\u{03B9}']),
    ('j', &['\u{0458}', '\u{03F3}']),
    ('k', &['\u{043A}', '\u{03BA}']),
    ('m', &['\u{041C}']),
    ('o', &['\u{043E}', '\u{03BF}']),
    ('p', &['\u{0440}', '\u{03C1}']),
    ('r', &['\u{0433}']),
    ('s', &['\u{0455}']),
    ('t', &['\u{0442}', '\u{03C4}']),
    ('u', &['\u{03C5}']),
    ('v', &['\u{03BD}']),
    ('w', &['\u{051D}']),
    ('x', &['\u{0445}', '\u{03C7}']),
    ('y', &['\u{0443}']),
];

#[test]
fn lookalikes_fold_to_their_letter() {
    for (ascii, looks) in LOOKALIKES {
        for &l in *looks {
            let s = format!("q{l}z");
            assert_eq!(fold(&s), format!("q{ascii}z"), "U+{:04X}", l as u32);
        }
    }
}

/// Pieces random texts are made of: every kind of character folding treats
/// specially.
const PIECES: &[&str] = &[
    "a", "b", "e", "i", "j", "l", "n", "o", "s", "t", "z", "A", "E", "I", "O", "S", "Z", "0", "1",
    "2", "3", "4", "5", "7", "9", "$", "@", "!", "|", " ", " ", "  ", ".", "-", "_", ",", "'", "?",
    "#", "\n", "\t", "é", "É", "ß", "ẞ", "İ", "ı", "ς", "Σ", "œ", "ﬃ", "¼", "²", "\u{0301}",
    "\u{0308}", "\u{200B}", "\u{200C}", "\u{200D}", "\u{00AD}", "\u{202E}", "\u{FEFF}", "\u{2060}",
    "\u{3164}", "\u{0430}", "\u{0435}", "\u{043E}", "\u{0442}", "\u{0456}", "\u{03BF}", "\u{03B9}",
    "\u{0416}", "ｊ", "Ｏ", "１", "＄", "＠", "𝐣", "ⓙ", "ا", "أ", "إ", "آ", "ٱ", "ى", "ي", "ة",
    "ه", "ـ", "ل", "ء", "ؤ", "ئ", "\u{064E}", "\u{0651}", "٣", "۳", "٠", "ﷲ", "﷽", "ﻻ", "ک", "ی",
    "😀", "👍🏽", "\u{FE0F}", "中", "가", "ᄀ", "ᅡ", "jo", "in", "oo", "ll", "us", "BTC", "usd",
    "100",
];

/// Texts made of the pieces above, or of arbitrary Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

/// Random ranges of folded text on char boundaries.
fn ranges(folded: &str, picks: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let bounds: Vec<usize> = (0..=folded.len())
        .filter(|&i| folded.is_char_boundary(i))
        .collect();
    picks
        .iter()
        .map(|&(a, b)| {
            let (a, b) = (bounds[a % bounds.len()], bounds[b % bounds.len()]);
            (a.min(b), a.max(b))
        })
        .collect()
}

/// Pieces of words for patterns: no separators, no leet symbols.
const WORD_PIECES: &[&str] = &[
    "a", "e", "i", "j", "n", "o", "s", "t", "l", "A", "J", "N", "0", "1", "2", "3", "4", "7", "é",
    "ß", "ο", "о", "ا", "أ", "ى", "ة", "ل", "\u{200B}", "\u{0301}", "ｊ", "ﬃ", "¼", "٣", "ll",
    "oo",
];

/// Words for patterns: one or more, separated by single spaces.
fn plain_words() -> impl Strategy<Value = String> {
    let word = (
        prop::sample::select(&["a", "j", "r", "s", "w", "B", "Z"][..]),
        prop::collection::vec(prop::sample::select(WORD_PIECES), 0..6),
    )
        .prop_map(|(first, rest)| format!("{first}{}", rest.concat()));
    prop::collection::vec(word, 1..6).prop_map(|ws| ws.join(" "))
}

const KEYWORDS: &[&str] = &[
    "recruit",
    "join",
    "hijrah",
    "donate",
    "mujahideen",
    "wallet",
    "islam",
    "support",
    "jihad",
    "caliphate",
    "bitcoin",
    "martyrdom",
];

const WORDS: &[&str] = &[
    "please", "brothers", "today", "the", "channel", "now", "we", "must", "help", "our", "cause",
    "with", "everyone",
];

const SEPARATORS: &[&str] = &[" ", "  ", ", ", ": ", " - ", "\n", "!! ", " (", ") ", "… "];

fn leet_digit(c: char) -> Option<char> {
    Some(match c {
        'o' => '0',
        'i' => '1',
        'e' => '3',
        'a' => '4',
        's' => '5',
        't' => '7',
        'b' => '8',
        'g' => '9',
        _ => return None,
    })
}

fn leet_symbol(c: char) -> Option<char> {
    Some(match c {
        'a' => '@',
        'i' => '!',
        's' => '$',
        'l' => '|',
        _ => return None,
    })
}

/// Hides `kw` by one transformation `kind`, driven by the bytes `p`.
fn hide(kw: &str, kind: u8, p: &[u8]) -> String {
    let mut cs: Vec<char> = kw.chars().collect();
    let n = cs.len();
    let pick = |i: usize| p[i % p.len()] as usize;
    match kind {
        // Leetspeak on one or more letters, within what the rules promise:
        // runs between letters, one leading digit or `$` before 3+ letters,
        // a trailing digit run no longer than the letters before it.
        0 => {
            // The leading digit needs 3 letters after it, counting none of
            // the trailing run: a word of 5 or more.
            let lead = pick(0) % 3 == 0 && n > 4 && (leet_digit(cs[0]).is_some() || cs[0] == 's');
            let mut trail = if pick(1) % 3 == 0 { 1 + pick(2) % 2 } else { 0 };
            if !cs[n - trail..].iter().all(|&c| leet_digit(c).is_some()) || trail > n - trail - 1 {
                trail = 0;
            }
            let mut changed = false;
            for (i, c) in cs.iter_mut().enumerate().take(n - 1).skip(1) {
                // Interior letters only, and never next to the leading or
                // trailing run (that would lengthen it).
                if (lead && i == 1) || (trail > 0 && i + 1 >= n - trail) {
                    continue;
                }
                let (d, s) = (leet_digit(*c), leet_symbol(*c));
                let choice = if pick(3 + i) & 2 != 0 {
                    s.or(d)
                } else {
                    d.or(s)
                };
                if let (1, Some(x)) = (pick(3 + i) % 2, choice) {
                    *c = x;
                    changed = true;
                }
            }
            if lead {
                cs[0] = leet_digit(cs[0])
                    .filter(|_| pick(5) % 2 == 0)
                    .unwrap_or('$');
                if cs[0] == '$' && kw.as_bytes()[0] != b's' {
                    cs[0] = leet_digit(kw.chars().next().unwrap()).unwrap();
                }
                changed = true;
            }
            for c in &mut cs[n - trail..] {
                *c = leet_digit(*c).unwrap();
                changed = true;
            }
            if !changed {
                // At least one letter: the first interior one that has a form.
                if let Some(i) = (1..n - 1).find(|&i| leet_digit(cs[i]).is_some()) {
                    cs[i] = leet_digit(cs[i]).unwrap();
                }
            }
            cs.into_iter().collect()
        }
        // One lookalike letter.
        1 => {
            let options: Vec<usize> = (0..n)
                .filter(|&i| LOOKALIKES.iter().any(|(a, _)| *a == cs[i]))
                .collect();
            let i = options[pick(0) % options.len()];
            let looks = LOOKALIKES.iter().find(|(a, _)| *a == cs[i]).unwrap().1;
            cs[i] = looks[pick(1) % looks.len()];
            cs.into_iter().collect()
        }
        // A zero-width / format character inside.
        2 => {
            let zw = [
                '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}',
            ];
            cs.insert(1 + pick(0) % (n - 1), zw[pick(1) % zw.len()]);
            cs.into_iter().collect()
        }
        // A combining diacritic after a letter.
        3 => {
            let marks = [
                '\u{0301}', '\u{0300}', '\u{0308}', '\u{0302}', '\u{0327}', '\u{030A}',
            ];
            cs.insert(1 + pick(0) % n, marks[pick(1) % marks.len()]);
            cs.into_iter().collect()
        }
        // Split by single separators.
        4 => {
            let seps = [".", " ", "-", "_", "*", "·", "/"];
            let sep = seps[pick(0) % seps.len()];
            cs.iter().map(char::to_string).collect::<Vec<_>>().join(sep)
        }
        // Letters repeated.
        5 => {
            let forced = pick(0) % n;
            let mut s = String::new();
            for (i, c) in cs.iter().enumerate() {
                let times = if i == forced {
                    2 + pick(1) % 3
                } else {
                    1 + (pick(2 + i) % 4) / 3
                };
                s.extend(std::iter::repeat_n(*c, times));
            }
            s
        }
        // Case changed.
        6 => {
            let forced = pick(0) % n;
            cs.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == forced || pick(1 + i) % 2 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        *c
                    }
                })
                .collect()
        }
        // Fullwidth.
        _ => cs
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let base = if pick(i) % 2 == 0 { 0xFF41 } else { 0xFF21 };
                char::from_u32(base + (c as u32 - 'a' as u32)).unwrap()
            })
            .collect(),
    }
}

/// A text with a hidden keyword somewhere in it: (text, keyword, raw range).
fn hidden_keyword() -> impl Strategy<Value = (String, &'static str, usize, usize)> {
    (
        prop::sample::select(KEYWORDS),
        0u8..8,
        prop::collection::vec(any::<u8>(), 16),
        prop::collection::vec(prop::sample::select(WORDS), 0..4),
        prop::collection::vec(prop::sample::select(WORDS), 0..4),
        prop::sample::select(SEPARATORS),
        prop::sample::select(SEPARATORS),
    )
        .prop_map(|(kw, kind, p, before, after, sep1, sep2)| {
            let hidden = hide(kw, kind, &p);
            let mut text = before.join(" ");
            if !text.is_empty() {
                text.push_str(sep1);
            }
            let start = text.len();
            text.push_str(&hidden);
            let end = text.len();
            if !after.is_empty() {
                text.push_str(sep2);
                text.push_str(&after.join(" "));
            }
            (text, kw, start, end)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    /// (1) Every raw span lands on char boundaries of the raw text, inside it.
    #[test]
    fn raw_spans_are_raw_char_ranges(
        raw in text(),
        picks in prop::collection::vec((any::<usize>(), any::<usize>()), 0..12),
    ) {
        let mut ft = FoldedText::new();
        fold_into(&raw, &mut ft);
        let folded = ft.as_str().to_owned();
        let mut all = words(&folded);
        all.extend(ranges(&folded, &picks));
        for (a, b) in all {
            let (s, e) = ft.raw_span(a, b);
            prop_assert!(s <= e && e <= raw.len(), "{raw:?} [{a},{b}) -> [{s},{e})");
            prop_assert!(raw.is_char_boundary(s) && raw.is_char_boundary(e),
                "{raw:?} [{a},{b}) -> [{s},{e}) not on char boundaries");
        }
    }

    /// (2) Folding is idempotent.
    #[test]
    fn folding_is_idempotent(raw in text()) {
        let once = fold(&raw);
        // The folder builds its text without re-validating it: check here
        // that the bytes are UTF-8.
        prop_assert!(std::str::from_utf8(once.as_bytes()).is_ok(), "raw {:?}", raw);
        prop_assert_eq!(fold(&once), once.clone(), "raw {:?}", raw);
        // The folded form: words separated by single spaces.
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    }

    /// The raw span of a folded word folds back to text containing that word
    /// (unless one raw character made several words, like `℅` → `c o`: then
    /// the spans of those words overlap).
    #[test]
    fn words_fold_back_from_their_raw_span(raw in text()) {
        let mut ft = FoldedText::new();
        fold_into(&raw, &mut ft);
        let ws = words(ft.as_str());
        let spans: Vec<(usize, usize)> = ws.iter().map(|&(a, b)| ft.raw_span(a, b)).collect();
        for (k, &(a, b)) in ws.iter().enumerate() {
            let (s, e) = spans[k];
            let shared = spans
                .iter()
                .enumerate()
                .any(|(j, &(s2, e2))| j != k && s2 < e && s < e2);
            if shared {
                continue;
            }
            let word = &ft.as_str()[a..b];
            let again = fold(&raw[s..e]);
            prop_assert!(!word_occurrences(&again, word).is_empty(),
                "{raw:?}: word {word:?} from {:?}, which folds to {again:?}", &raw[s..e]);
        }
    }

    /// Format characters are transparent: inserting them changes nothing.
    #[test]
    fn ignorables_are_transparent(raw in text(), at in any::<prop::sample::Index>()) {
        let bounds: Vec<usize> = (0..=raw.len()).filter(|&i| raw.is_char_boundary(i)).collect();
        let i = *at.get(&bounds);
        let with = format!("{}\u{200B}{}", &raw[..i], &raw[i..]);
        prop_assert_eq!(fold(&with), fold(&raw), "inserted at {}", i);
    }

    /// A regex of plain words (literals and single spaces) folds to the
    /// folded text of those words.
    #[test]
    fn literal_regex_folds_like_text(words in plain_words()) {
        let pattern = regex::escape(&words);
        prop_assert_eq!(fold_regex(&pattern).unwrap(), fold(&words), "pattern {:?}", pattern);
    }

    /// (3) A keyword hidden by any one transformation is found as a whole
    /// word, and its raw span is exactly the hidden keyword.
    #[test]
    fn hidden_keywords_are_found((text, kw, start, end) in hidden_keyword()) {
        let mut ft = FoldedText::new();
        fold_into(&text, &mut ft);
        let want = fold(kw);
        let spans: Vec<(usize, usize)> = word_occurrences(ft.as_str(), &want)
            .into_iter()
            .map(|i| ft.raw_span(i, i + want.len()))
            .collect();
        prop_assert!(spans.contains(&(start, end)),
            "{text:?}: hidden {:?} -> folded {:?}; {want:?} found at raw {spans:?}",
            &text[start..end], ft.as_str());
    }
}
