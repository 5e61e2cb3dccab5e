//! Arbitrary rules over arbitrary text: every rule set that loads builds,
//! every scan returns, and every evidence span is a span of the raw field.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use arbitrary::Arbitrary;
use kestrel_core::engine::{Engine, EngineOptions, Matches};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Kind {
    Words,
    Substrings,
    Regex,
    Indicator,
}

#[derive(Arbitrary, Debug)]
struct Term {
    kind: Kind,
    entries: Vec<String>,
    raw: bool,
    min_count: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    terms: Vec<Term>,
    condition: u8,
    distance: u8,
    text: String,
    title: String,
}

const INDICATORS: &[&str] = &[
    "btc",
    "eth",
    "trx",
    "xmr",
    "ltc",
    "iban",
    "telegram",
    "messenger",
    "payment_handle",
];

fn rules_yaml(input: &Input) -> Option<String> {
    let terms: Vec<&Term> = input
        .terms
        .iter()
        .filter(|t| !t.entries.is_empty())
        .take(6)
        .collect();
    if terms.is_empty() {
        return None;
    }
    let mut y = String::from("rules:\n  - id: fuzz.rule\n    fields: [text, title]\n    terms:\n");
    for (i, t) in terms.iter().enumerate() {
        let quoted: Vec<String> = t
            .entries
            .iter()
            .take(8)
            .map(|e| serde_json_string(e))
            .collect();
        let (key, values) = match t.kind {
            Kind::Words => ("words", quoted.join(", ")),
            Kind::Substrings => ("substrings", quoted.join(", ")),
            Kind::Regex => ("regex", quoted.join(", ")),
            Kind::Indicator => (
                "indicator",
                t.entries
                    .iter()
                    .take(3)
                    .map(|e| INDICATORS[e.len() % INDICATORS.len()])
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        };
        y.push_str(&format!("      t{i}: {{ {key}: [{values}]"));
        if t.raw {
            y.push_str(", view: raw");
        }
        if t.min_count > 1 {
            y.push_str(&format!(", min_count: {}", t.min_count % 4));
        }
        y.push_str(" }\n");
    }
    let n = terms.len();
    let condition = match input.condition % 5 {
        0 => "any of them".to_string(),
        1 => "all of them".to_string(),
        2 if n >= 2 => format!("near(t0, t1, {})", input.distance % 8),
        3 => {
            format!("{} of them", 1 + input.distance as usize % n).replace(" of them", " of (")
                + &(0..n)
                    .map(|i| format!("t{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
                + ")"
        }
        _ => format!("#t0 >= {}", input.distance % 4),
    };
    y.push_str(&format!("    condition: {condition}\n"));
    Some(y)
}

/// A YAML double-quoted scalar (JSON's escapes are valid there).
fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|input: Input| {
    let Some(yaml) = rules_yaml(&input) else {
        return;
    };
    let Ok(loaded) = kestrel_core::rules::load_str(Path::new("/nonexistent/fuzz.yaml"), &yaml) else {
        return;
    };
    let options = EngineOptions {
        text_fields: vec!["text".into(), "title".into()],
        ..EngineOptions::default()
    };
    let Ok(engine) = Engine::build(Arc::new(loaded.set), &options) else {
        return;
    };
    let fields = [
        ("text", input.text.as_str()),
        ("title", input.title.as_str()),
    ];
    let mut scratch = engine.new_scratch();
    let mut m = Matches::default();
    for _ in 0..2 {
        engine.scan(&fields, &mut scratch, &mut m);
        for e in &m.evidence {
            let raw = fields[e.field as usize].1;
            let (s, end) = (e.start as usize, e.end as usize);
            assert!(s <= end && end <= raw.len(), "{s}..{end} of {}", raw.len());
            assert!(raw.is_char_boundary(s) && raw.is_char_boundary(end));
        }
    }
    let _ = kestrel_core::explain::explain(&engine, &fields);
});
