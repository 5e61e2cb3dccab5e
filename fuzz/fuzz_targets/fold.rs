//! Folding any text: the folded text maps back to raw character boundaries,
//! inside the raw text, in order.
#![no_main]

use kestrel_core::normalize::{fold_into, FoldedText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let mut folded = FoldedText::new();
    fold_into(raw, &mut folded);
    assert_eq!(folded.raw_len(), raw.len());
    let f = folded.as_str();
    let bounds: Vec<usize> = (0..=f.len()).filter(|&i| f.is_char_boundary(i)).collect();
    for w in bounds.windows(2) {
        let (s, e) = folded.raw_span(w[0], w[1]);
        assert!(s <= e && e <= raw.len(), "span {s}..{e} of {}", raw.len());
        assert!(raw.is_char_boundary(s) && raw.is_char_boundary(e));
    }
    let (s, e) = folded.raw_span(0, f.len());
    assert!(s <= e && e <= raw.len());
    // Folded text is itself a post (a quote of a quote): fold it again.
    let mut again = FoldedText::new();
    fold_into(f, &mut again);
});
