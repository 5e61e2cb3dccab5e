use std::sync::Arc;

use super::literal::RunGate;
use super::{regex_runs_on_every_post, Engine, EngineOptions, Evidence, Firing, Matches};
use crate::rules::load_str;
use crate::rules::{Severity, View};
use std::path::Path;

fn engine(yaml: &str) -> Engine {
    let loaded = load_str(Path::new("t.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap()
}

fn fired(e: &Engine, text: &str) -> Vec<String> {
    let mut s = e.new_scratch();
    let mut m = Matches::default();
    e.scan(&[("text", text)], &mut s, &mut m);
    m.firings
        .iter()
        .map(|f| e.rule_set().rules[f.rule].id.clone())
        .collect()
}

/// What a worker does across a reload: one scratch, first given to the
/// old engine, then to the new one.
#[test]
fn a_scratch_met_by_a_new_engine_serves_the_new_engines_rules() {
    let old = engine("rules:\n- id: phone\n  terms:\n    p: {regex: '\\d{3}-\\d{4}', view: raw}\n");
    let new = engine(concat!(
        "rules:\n- id: phone\n  terms:\n    p: {regex: '\\d{3}-\\d{4}', view: raw}\n",
        "- id: date\n  terms:\n    d: {regex: '\\d{2}/\\d{2}', view: raw}\n",
        "- id: words\n  terms:\n    w: {words: [donate]}\n",
        "- id: wallet\n  terms:\n    i: {indicator: [btc]}\n",
        "- id: amount\n  terms:\n    a: {regex: '\\b\\d+ ?usd\\b'}\n",
    ));
    let post =
        "call 555-1234 on 12/05, donate 50 usd to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    let mut s = old.new_scratch();
    let mut m = Matches::default();
    old.scan(&[("text", post)], &mut s, &mut m);
    assert_eq!(m.firings.len(), 1);
    let names = |e: &Engine, m: &Matches| -> Vec<String> {
        m.firings
            .iter()
            .map(|f| e.rule_set().rules[f.rule].id.clone())
            .collect()
    };
    for _ in 0..2 {
        new.scan(&[("text", post)], &mut s, &mut m);
        assert_eq!(
            names(&new, &m),
            ["phone", "date", "words", "wallet", "amount"]
        );
    }
    // And back: the old engine sees only its own rule, and explaining
    // with the other engine's scratch finds no hits instead of wrong ones.
    old.scan(&[("text", post)], &mut s, &mut m);
    assert_eq!(names(&old, &m), ["phone"]);
    assert_eq!(new.last_hits(&s).count(), 0);
    assert_eq!(new.explain_rule(0, &[("text", post)], &mut s), None);
}

#[test]
fn regexes_with_literals_run_only_when_a_literal_is_seen() {
    assert!(!regex_runs_on_every_post(
        r"\b\d{2,6}\s?(usd|btc|dollars?)\b",
        View::Folded
    ));
    assert!(!regex_runs_on_every_post(r"join(ed)? the \w+", View::Raw));
    assert!(regex_runs_on_every_post(r"\b\d{3}-\d{4}\b", View::Raw));
    let e = engine(
        "rules:\n- id: amount\n  terms:\n    a: {regex: '\\b\\d{2,6}\\s?(usd|dollars?)\\b'}\n- id: phone\n  terms:\n    p: {regex: '\\b\\d{3}-\\d{4}\\b', view: raw}\n",
    );
    assert_eq!(fired(&e, "send 500 Dollars"), vec!["amount"]);
    assert_eq!(
        fired(&e, "call 555-1234 or send 20usd"),
        vec!["amount", "phone"]
    );
    assert!(fired(&e, "send 5 dollars").is_empty());
    assert!(fired(&e, "nothing to see").is_empty());
}

#[test]
fn run_gate_admits_exactly_the_texts_with_a_long_enough_run() {
    let naive = |g: &RunGate, hay: &[u8]| {
        let mut run = 0;
        hay.iter().any(|&b| {
            run = if g.alphabet[b as usize] { run + 1 } else { 0 };
            run >= g.min_len
        })
    };
    let mut rng = crate::testrng::TestRng::new(0x9E37_79B9_7F4A_7C15);
    for min_len in [8usize, 9, 26] {
        let gate = RunGate::for_patterns(&["ab".repeat(min_len)[..min_len].to_string()], false)
            .expect("long pattern");
        for _ in 0..3000 {
            let seed = rng.next();
            let len = (seed % 90) as usize;
            // Mostly alphabet bytes, so runs of every length occur.
            let hay: Vec<u8> = (0..len)
                .map(|i| match (seed >> (i % 60)) % 11 {
                    0 => b' ',
                    n if n % 2 == 0 => b'a',
                    _ => b'b',
                })
                .collect();
            assert_eq!(gate.admits(&hay), naive(&gate, &hay), "{min_len} {hay:?}");
        }
    }
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
}

#[test]
fn only_whole_words_match_words_terms() {
    let e = engine("rules:\n- id: r\n  terms:\n    a: {words: [join]}\n");
    assert_eq!(fired(&e, "please join us"), vec!["r"]);
    assert!(fired(&e, "rejoined later").is_empty());
}

#[test]
fn one_entry_wanted_as_a_whole_word_and_as_a_substring_serves_both() {
    // The same folded entry goes to the word set for one term and to the
    // automaton for the other; each term sees only its own kind of hit.
    let e = engine(
        "rules:\n- id: whole\n  terms:\n    a: {words: [join us]}\n\
         - id: inside\n  terms:\n    a: {substrings: [join us]}\n\
         - id: both\n  terms:\n    a: {words: [join us]}\n    b: {substrings: [join us]}\n  condition: a and b\n",
    );
    assert_eq!(
        fired(&e, "please join us today"),
        vec!["whole", "inside", "both"]
    );
    assert_eq!(fired(&e, "please rejoin usually"), vec!["inside"]);
    assert!(fired(&e, "join the us").is_empty());
}

#[test]
fn substrings_match_inside_words() {
    let e = engine("rules:\n- id: r\n  terms:\n    a: {substrings: [joinus]}\n");
    assert_eq!(fired(&e, "#JoinUsNow"), vec!["r"]);
}

#[test]
fn near_counts_words_between_matches() {
    let e = engine(
        "rules:\n- id: r\n  terms:\n    a: {words: [join]}\n    b: {words: [telegram]}\n  condition: near(a, b, 3)\n",
    );
    assert_eq!(fired(&e, "join us on telegram"), vec!["r"]);
    assert!(fired(&e, "join us and then later on telegram").is_empty());
}

#[test]
fn quoted_holds_only_when_every_match_is_inside_quotation_marks() {
    let e = engine(
        "rules:\n- id: r\n  terms:\n    a: {words: [join]}\n    n: {words: [example]}\n  condition: a\n  unless: quoted(a) and n\n",
    );
    // The call quoted whole in an example: suppressed.
    assert!(fired(&e, "example: \"join us\" says the post").is_empty());
    assert!(fired(&e, "example: « join us » dit le post").is_empty());
    // The call outside the quotation as well, or no frame word: it fires.
    assert_eq!(fired(&e, "join now, for example \"join us\""), vec!["r"]);
    assert_eq!(fired(&e, "\"join us\" says the post"), vec!["r"]);
    // A quotation left open does not count as one.
    assert_eq!(fired(&e, "example: \"join us"), vec!["r"]);
    // Offsets are raw bytes: a quotation after multi-byte text still contains its match.
    assert!(fired(&e, "пример – „join us“ ok example").is_empty());
}

#[test]
fn any_quoted_holds_when_some_match_is_inside_quotation_marks() {
    let e = engine(
        "rules:\n- id: r\n  terms:\n    a: {words: [join]}\n    n: {words: [example]}\n  condition: a\n  unless: any_quoted(a) and n\n",
    );
    // The call quoted, and named again in the note around it: suppressed.
    assert!(fired(&e, "example: 'join us now' (the word join is the signal)").is_empty());
    assert!(fired(&e, "join now, for example \"join us\"").is_empty());
    // No match inside a quotation, or no frame word: it fires.
    assert_eq!(fired(&e, "join us, for example today"), vec!["r"]);
    assert_eq!(fired(&e, "'join us' he said, join"), vec!["r"]);
    // An apostrophe is not a quotation mark.
    assert_eq!(fired(&e, "example of bay'ah join"), vec!["r"]);
}

#[test]
fn unquoted_counts_only_the_matches_outside_quotation_marks() {
    let e = engine(
        "rules:\n- id: r\n  terms:\n    a: {words: [join]}\n    b: {words: [brothers], min_count: 2}\n  condition: unquoted(a) or unquoted(b)\n",
    );
    assert_eq!(fired(&e, "join the brothers"), vec!["r"]);
    // Every match inside a quotation: it does not hold.
    assert!(fired(&e, "he posted \"join us\" again").is_empty());
    // One match outside is enough.
    assert_eq!(fired(&e, "\"join us\" he posted; join them"), vec!["r"]);
    // min_count counts the matches outside only: two brothers, one quoted.
    assert!(fired(&e, "brothers said «brothers»").is_empty());
    assert_eq!(fired(&e, "brothers and brothers «brothers»"), vec!["r"]);
}

/// `unquoted(w)` of a `weights:` term scores the entries found outside
/// quotation marks only: the words that frame a quoted call, not the call.
#[test]
fn unquoted_scores_a_weights_term_on_the_words_outside_quotation_marks() {
    let e = engine_dir(&[
        ("w.weights", "2 join\n1.5 the dawlah\n1 may allah accept\n-1 says\n"),
        (
            "r.yaml",
            "rules:\n- id: whole\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 1}\n  condition: m\n\
             - id: outside\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 1}\n  condition: unquoted(m)\n",
        ),
    ]);
    // Inside the quotation 3.5, outside -1: the whole post scores 2.5.
    assert_eq!(fired(&e, "my cousin says \"join the dawlah\""), ["whole"]);
    // Outside the quotation 1 - 1 + 2 (join again, outside) = 2.
    assert_eq!(
        fired(&e, "he says \"join the dawlah\", may Allah accept, join"),
        ["whole", "outside"]
    );
    // An entry found both inside and outside counts once, from outside.
    assert_eq!(fired(&e, "«join» join"), ["whole", "outside"]);
    // Nothing quoted: the two are the same.
    assert_eq!(fired(&e, "join the dawlah"), ["whole", "outside"]);
    assert!(fired(&e, "the dawlah says").is_empty());
}

#[test]
fn not_only_rules_are_evaluated_without_hits() {
    let e = engine("rules:\n- id: r\n  terms:\n    a: {words: [join]}\n  condition: not a\n");
    assert_eq!(fired(&e, "hello"), vec!["r"]);
    assert!(fired(&e, "join").is_empty());
}

/// The entries of a `weights:` term are Arabic words as written: they are
/// not read with clitic prefixes, and a word that is one of them does not
/// stop a `words` entry of another rule from being read with its prefixes
/// (a learned model holds thousands of prefixed words).
#[test]
fn weights_entries_neither_read_nor_hide_clitic_prefixes() {
    let e = engine_dir(&[
        ("w.weights", "1 بالقافلة\n1 انفروا\n"),
        (
            "r.yaml",
            "rules:\n- id: caravan\n  status: active\n  terms:\n    c: {words: [القافلة]}\n  condition: c\n\
             - id: model\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 0.5}\n  condition: m\n",
        ),
    ]);
    // The model's entry as written, and the lexicon's word read as ب + القافلة.
    assert_eq!(fired(&e, "الحقوا بالقافلة"), ["caravan", "model"]);
    // `فانفروا` is not read as ف + `انفروا` for the model.
    assert!(fired(&e, "فانفروا خفافا").is_empty());
}

/// A `weights:` file's `~` entries score every word whose light stem they
/// are, each stem once, beside the word's own entry.
#[test]
fn light_stem_entries_score_the_forms_of_a_word() {
    let stem = |w: &str| {
        crate::normalize::light_stem(&crate::normalize::fold(w))
            .unwrap()
            .to_string()
    };
    let call = stem("вступайте");
    assert_eq!(call, stem("вступай"));
    let fighters = stem("المجاهدين");
    let weights = format!("1 вступайте\n1 ~{call}\n2 ~{fighters}\n");
    let e = engine_dir(&[
        ("w.weights", weights.as_str()),
        (
            "r.yaml",
            "rules:\n- id: one\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 1}\n  condition: m\n\
             - id: two\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 2}\n  condition: m\n",
        ),
    ]);
    // A form no entry names scores through its stem.
    assert_eq!(fired(&e, "Вступай к нам"), ["one"]);
    // The entry and the stem both count for the word as written.
    assert_eq!(fired(&e, "вступайте"), ["one", "two"]);
    // Two words of one stem count it once.
    assert_eq!(fired(&e, "вступай, вступай"), ["one"]);
    // Arabic: one prefix and one suffix read off.
    assert_eq!(fired(&e, "والمجاهدين"), ["one", "two"]);
    // Words of other stems, and Latin words, score nothing.
    assert!(fired(&e, "вступление join joined").is_empty());
    // The evidence is the stem, inside the word as posted.
    let (_, ev) = scan_one(&e, "ну Вступай");
    assert!(
        ev.iter()
            .any(|x| &"ну Вступай"[x.start as usize..x.end as usize] == "Вступ"),
        "{ev:?}"
    );
    // The explanation names the stem entry as written, beside the word's own.
    let text = crate::explain::explain(&e, &[("text", "вступайте")]);
    assert!(
        text.contains(&format!("+1 \"~{call}\"")) && text.contains("+1 \"bctyпaиte\""),
        "{text}"
    );
}

fn engine_dir(files: &[(&str, &str)]) -> Engine {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let loaded = crate::rules::load_dir(d.path()).unwrap_or_else(|e| panic!("{e}"));
    Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap()
}

fn scan_one(e: &Engine, text: &str) -> (Vec<Firing>, Vec<Evidence>) {
    let mut s = e.new_scratch();
    let mut m = Matches::default();
    e.scan(&[("text", text)], &mut s, &mut m);
    (m.firings, m.evidence)
}

#[test]
fn a_lexicon_term_matches_every_entry_of_its_concepts_once() {
    let e = engine_dir(&[
        (
            "en.yaml",
            "lexicon:\n  language: en\n  concepts:\n    call:\n      words: [join]\n      substrings: [joinus]\n      regex: ['enl[i]st']\n",
        ),
        (
            "fr.yaml",
            "lexicon:\n  language: fr\n  concepts:\n    call:\n      words: [rejoignez, join, joinus]\n",
        ),
        (
            "r.yaml",
            "rules:\n- id: r\n  terms:\n    c: {lexicon: call, min_count: 2}\n",
        ),
        (
            "s.yaml",
            "rules:\n- id: s\n  terms:\n    c: {lexicon: call, languages: [fr]}\n",
        ),
    ]);
    let ids = |t: &str| -> Vec<String> {
        scan_one(&e, t)
            .0
            .iter()
            .map(|f| e.rule_set().rules[f.rule].id.clone())
            .collect()
    };
    // `join` is in both languages but counts once per occurrence.
    assert_eq!(ids("join"), vec!["s"]);
    assert_eq!(ids("join, rejoignez"), vec!["r", "s"]);
    // A CamelCase hashtag reads whole (`joinusnow`) and as its words
    // (`join us now`), so French `join` sees it too.
    assert_eq!(ids("enlist #JoinUsNow"), vec!["r", "s"]);
    assert!(ids("enlist").is_empty());
    // `joinus` is a French word and an English substring: one match,
    // not two (which would reach `r`'s min_count).
    assert_eq!(ids("joinus"), vec!["s"]);
}

#[test]
fn escalate_raises_the_severity_and_adds_its_terms_as_evidence() {
    let e = engine(
        "rules:\n- id: r\n  severity: medium\n  terms:\n    call: {words: [join]}\n    contact: {words: [dm me]}\n    wallet: {indicator: [btc]}\n  condition: call\n  escalate:\n    - {when: contact, severity: high}\n    - {when: wallet, severity: critical}\n    - {when: call, severity: low}\n",
    );
    let (f, ev) = scan_one(&e, "join us");
    assert_eq!((f[0].severity, f[0].escalated_by), (Severity::Medium, None));
    assert_eq!(ev.len(), 1);
    let (f, ev) = scan_one(&e, "join us, dm me");
    assert_eq!(
        (f[0].severity, f[0].escalated_by),
        (Severity::High, Some(0))
    );
    assert_eq!(ev.iter().map(|e| e.term).collect::<Vec<_>>(), [0, 1]);
    let (f, _) = scan_one(
        &e,
        "dm me and join: bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    );
    assert_eq!(
        (f[0].severity, f[0].escalated_by),
        (Severity::Critical, Some(1))
    );
    // A grade alone never fires the rule.
    assert!(scan_one(&e, "dm me").0.is_empty());
}

const WHOLE_BTC: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
const SPLIT_BTC: &str = "1BvBMSEY-stWetqTFn-5Au4m4GFg-7xJaNVN2";

fn written_engine() -> Engine {
    engine(concat!(
        "rules:\n",
        "- id: split\n  terms:\n    w: {indicator: [btc, eth], written: split}\n",
        "- id: whole\n  terms:\n    w: {indicator: [btc, eth], written: whole}\n",
        "- id: any\n  terms:\n    w: {indicator: [btc, eth]}\n",
    ))
}

#[test]
fn written_split_counts_only_addresses_written_in_pieces() {
    let e = written_engine();
    assert_eq!(
        fired(&e, &format!("send to {SPLIT_BTC} (join it)")),
        ["split", "any"]
    );
    assert_eq!(fired(&e, &format!("send to {WHOLE_BTC}")), ["whole", "any"]);
    let eth = "0x5aAe b6053F3E94C9 b9A09f3366 9435E7Ef1BeAed";
    assert_eq!(fired(&e, &format!("eth: {eth}")), ["split", "any"]);
    assert!(fired(&e, "nothing here").is_empty());
}

#[test]
fn a_term_written_split_counts_only_its_split_matches() {
    let e = engine(concat!(
        "rules:\n- id: two\n  terms:\n",
        "    s: {indicator: [btc], written: split, min_count: 2}\n",
    ));
    // One split and one whole address: one match, below min_count.
    let text = format!("{SPLIT_BTC} and {WHOLE_BTC}");
    assert!(fired(&e, &text).is_empty());
    let mut s = e.new_scratch();
    let mut m = Matches::default();
    e.scan(&[("text", &text)], &mut s, &mut m);
    let hits: Vec<(u32, u32, Option<&str>)> = e
        .last_hits(&s)
        .map(|(_, _, h)| (h.start, h.end, h.note))
        .collect();
    assert_eq!(hits, [(0, SPLIT_BTC.len() as u32, Some("split"))]);
    // The whole one is kept aside, for explanations.
    let left: Vec<(u32, Option<&str>)> = e
        .last_unwritten(&s)
        .map(|(_, _, h)| (h.start, h.note))
        .collect();
    assert_eq!(left, [(SPLIT_BTC.len() as u32 + 5, None)]);
    // Two split addresses reach it.
    assert_eq!(fired(&e, &format!("{SPLIT_BTC} and {SPLIT_BTC}")), ["two"]);
}

#[test]
fn explain_says_why_an_address_did_not_count() {
    let e = written_engine();
    let text = format!("wallet {WHOLE_BTC}");
    let out = crate::explain::explain(&e, &[("text", &text)]);
    let why = format!(
        "    not counted: w in text [7..41] {WHOLE_BTC:?} indicator btc: written whole, \
         and the term says 'written: split'"
    );
    assert!(out.contains(&why), "{out}");
    assert!(out.contains("  quiet split"), "{out}");
    let text = format!("wallet {SPLIT_BTC}");
    let out = crate::explain::explain(&e, &[("text", &text)]);
    assert!(
        out.contains("indicator btc: written in pieces, and the term says 'written: whole'"),
        "{out}"
    );
    let json = crate::explain::explain_json(&e, &[("text", &text)], None);
    let left = &json["not_counted"];
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(left[0]["rule"], "whole");
    assert_eq!(left[0]["note"], "split");
    assert_eq!(left[0]["written"], "whole");
}

#[test]
fn eval_miss_line_names_the_addresses_written_left_out() {
    let e = engine(concat!(
        "rules:\n- id: fin.split\n  category: financing\n  terms:\n",
        "    w: {indicator: [btc], written: split}\n",
        "    a: {words: [donate]}\n",
        "  condition: w and a\n",
    ));
    let text = format!("donate to {WHOLE_BTC}");
    let fields = [("text", text.as_str())];
    let mut s = e.new_scratch();
    let mut m = Matches::default();
    e.scan(&fields, &mut s, &mut m);
    assert!(m.firings.is_empty());
    let line = crate::explain::miss_line(
        &e,
        &mut s,
        &fields,
        &m,
        crate::rules::Category::Financing,
        true,
    );
    assert_eq!(
        line,
        "fin.split: condition does not hold; matched a=1; \
         no match for w (1 address(es) left out by 'written: split')"
    );
}

/// A `weights:` term: the weights of the distinct entries found add up, each
/// entry counted once however often it appears, negative weights count
/// against, and the evidence is the entries that raised the score.
#[test]
fn a_weights_term_holds_when_its_distinct_entries_reach_at_least() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("w.weights"),
        "2 join\n1.5 the dawlah\n-0.25 today\n-3 news\n0.5 brothers\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("r.yaml"),
        "rules:\n- id: s\n  status: active\n  terms:\n    m: {weights: w.weights, at_least: 3.5}\n  condition: m\n",
    )
    .unwrap();
    let loaded = crate::rules::load_dir(d.path()).unwrap_or_else(|e| panic!("{e}"));
    let e = Engine::build(Arc::new(loaded.set), &EngineOptions::default()).unwrap();
    // 2 + 1.5, folded like every other term.
    assert_eq!(fired(&e, "J0IN the Dawlah"), ["s"]);
    // One entry, however often: 2.
    assert!(fired(&e, "join join join join join").is_empty());
    // 2 + 1.5 - 3.
    assert!(fired(&e, "join the dawlah, says the news").is_empty());
    // 2 + 1.5 - 0.25 = 3.25.
    assert!(fired(&e, "join the dawlah today").is_empty());
    let post = "join the dawlah today, brothers";
    let mut s = e.new_scratch();
    let mut m = Matches::default();
    e.scan(&[("text", post)], &mut s, &mut m);
    assert_eq!(m.firings.len(), 1, "2 + 1.5 - 0.25 + 0.5 = 3.75");
    assert_eq!(e.explain_score(0, 0, &s), Some((3750, 3500)));
    let spans: Vec<&str> = m.evidence[m.firings[0].evidence.clone()]
        .iter()
        .map(|ev| &post[ev.start as usize..ev.end as usize])
        .collect();
    assert_eq!(spans, ["join", "the dawlah", "brothers"]);
    // The explanation shows the score and the entries, largest first.
    let text = crate::explain::explain(&e, &[("text", post)]);
    assert!(
        text.contains(
            "score of m: 3.75 (reaches 3.5): +2 \"join\", +1.5 \"the dawlah\", +0.5 \"brothers\", -0.25 \"today\""
        ),
        "{text}"
    );
}

#[test]
fn weights_and_scores_read_and_print_in_thousandths() {
    use crate::rules::{milli_display, parse_milli};
    for (s, v) in [
        ("1", 1000),
        ("-1.25", -1250),
        ("+0.5", 500),
        (".125", 125),
        ("3.", 3000),
        ("-0.001", -1),
    ] {
        assert_eq!(parse_milli(s), Some(v), "{s}");
    }
    for s in ["", ".", "-", "1e3", "1.0001", "abc", "1,5", "1234567"] {
        assert_eq!(parse_milli(s), None, "{s}");
    }
    for (v, s) in [
        (1000, "1"),
        (-1250, "-1.25"),
        (125, "0.125"),
        (-1, "-0.001"),
        (0, "0"),
    ] {
        assert_eq!(milli_display(v), s);
    }
}

/// A `fallback: true` rule alerts only where no other active rule of its
/// category does; where one does, its firing is kept as superseded.
#[test]
fn a_fallback_rule_alerts_only_where_its_category_has_no_other_alert() {
    let e = engine(concat!(
        "rules:\n",
        "- id: a.backstop\n  category: recruitment\n  status: active\n  fallback: true\n",
        "  terms:\n    w: {words: [dawlah]}\n  condition: w\n",
        "- id: b.call\n  category: recruitment\n  status: active\n",
        "  terms:\n    j: {words: [join]}\n  condition: j\n",
        "- id: c.quiet\n  category: recruitment\n  status: shadow\n",
        "  terms:\n    h: {words: [hijrah]}\n  condition: h\n",
        "- id: d.money\n  category: financing\n  status: active\n",
        "  terms:\n    m: {words: [donate]}\n  condition: m\n",
    ));
    let run = |text: &str| {
        let mut s = e.new_scratch();
        let mut m = Matches::default();
        e.scan(&[("text", text)], &mut s, &mut m);
        let ids = |v: &[Firing]| -> Vec<String> {
            v.iter()
                .map(|f| e.rule_set().rules[f.rule].id.clone())
                .collect()
        };
        (ids(&m.firings), ids(&m.superseded))
    };
    assert_eq!(run("the dawlah"), (vec!["a.backstop".to_string()], vec![]));
    assert_eq!(
        run("join the dawlah"),
        (vec!["b.call".to_string()], vec!["a.backstop".to_string()])
    );
    // A shadow rule publishes nothing, so it covers nothing; another
    // category covers nothing either. Firings stay in rule-set order.
    assert_eq!(
        run("hijrah to the dawlah, donate"),
        (
            vec![
                "a.backstop".to_string(),
                "c.quiet".to_string(),
                "d.money".to_string()
            ],
            vec![]
        )
    );
}
