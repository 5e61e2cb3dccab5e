//! Cheap candidate finders shared by the detectors.

/// Calls `f(start, end)` for every maximal run of ASCII letters and digits
/// at least `min` bytes long, in order.
///
/// Any such run covers one of the probe positions `min-1`, `2*min-1`, ...
/// counted from the end of the previous run, so the text is probed every
/// `min` bytes and only words under a probe are measured.
pub(crate) fn for_each_run(b: &[u8], min: usize, mut f: impl FnMut(usize, usize)) {
    debug_assert!(min > 0);
    let n = b.len();
    let mut p = min - 1;
    while p < n {
        if !b[p].is_ascii_alphanumeric() {
            p += min;
            continue;
        }
        // The byte `min` before the probe was not alphanumeric (or was the end
        // of the previous run), so these loops touch only this run.
        let mut s = p;
        while s > 0 && b[s - 1].is_ascii_alphanumeric() {
            s -= 1;
        }
        let mut e = p + 1;
        while e < n && b[e].is_ascii_alphanumeric() {
            e += 1;
        }
        if e - s >= min {
            f(s, e);
        }
        p = e + min;
    }
}

/// Calls `f(i)` for the index of every ASCII digit in `b`, in order, testing
/// eight bytes at a time.
pub(crate) fn for_each_digit(b: &[u8], mut f: impl FnMut(usize)) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut chunks = b.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let t = w & LOW7;
        // Per byte, no carries: high bit of `below` set iff t <= b'9',
        // of `above` iff t >= b'0'; `!w` drops bytes >= 0x80.
        let below = ONES * (127 + u64::from(b'9') + 1) - t;
        let above = t + ONES * (127 - u64::from(b'0') + 1);
        let mut mask = below & above & !w & HIGH;
        while mask != 0 {
            f(base + (mask.trailing_zeros() / 8) as usize);
            mask &= mask - 1;
        }
        base += 8;
    }
    for (i, c) in chunks.remainder().iter().enumerate() {
        if c.is_ascii_digit() {
            f(base + i);
        }
    }
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Whether the char ending at byte `i` (a char boundary) is a word char: a
/// letter or digit of any script, or `_`. False at the start of the text.
pub(crate) fn word_char_before(text: &str, i: usize) -> bool {
    match text.as_bytes()[..i].last() {
        None => false,
        Some(&c) if c.is_ascii() => c == b'_' || c.is_ascii_alphanumeric(),
        Some(_) => text[..i].chars().next_back().is_some_and(is_word_char),
    }
}

/// Whether the char starting at byte `i` (a char boundary) is a word char.
/// False at the end of the text.
pub(crate) fn word_char_at(text: &str, i: usize) -> bool {
    match text.as_bytes().get(i) {
        None => false,
        Some(&c) if c.is_ascii() => c == b'_' || c.is_ascii_alphanumeric(),
        Some(_) => text[i..].chars().next().is_some_and(is_word_char),
    }
}

/// Whether `[s, e)` is a whole token: no word char touches either end.
pub(crate) fn is_whole_token(text: &str, s: usize, e: usize) -> bool {
    !word_char_before(text, s) && !word_char_at(text, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &str, min: usize) -> Vec<&str> {
        let mut v = Vec::new();
        for_each_run(text.as_bytes(), min, |s, e| v.push(&text[s..e]));
        v
    }

    fn naive_runs(text: &str, min: usize) -> Vec<&str> {
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= min)
            .collect()
    }

    #[test]
    fn runs_found_at_any_offset() {
        for min in 1..8 {
            for pad in 0..10 {
                for len in 0..12 {
                    let text = format!("{}{}{}", " ".repeat(pad), "a".repeat(len), ".x");
                    assert_eq!(runs(&text, min), naive_runs(&text, min), "{min} {text:?}");
                }
            }
        }
        let text = "the quick brown fox, 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa; é€ abcdefghijklmn";
        for min in 1..40 {
            assert_eq!(runs(text, min), naive_runs(text, min), "{min}");
        }
    }

    #[test]
    fn digits_found() {
        let text = "ab1 x23456789 é9 €0abcdefgh7";
        let mut v = Vec::new();
        for_each_digit(text.as_bytes(), |i| v.push(i));
        let want: Vec<usize> = text
            .bytes()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(v, want);
        let all: Vec<u8> = (0..=255).collect();
        let mut v = Vec::new();
        for_each_digit(&all, |i| v.push(i));
        assert_eq!(v, (48..58).collect::<Vec<_>>());
    }

    #[test]
    fn word_boundaries() {
        let t = "a_b éx 1";
        assert!(word_char_before(t, 1));
        assert!(word_char_at(t, 1));
        assert!(!word_char_before(t, 0));
        assert!(word_char_at(t, 4)); // é
        assert!(word_char_before(t, 6)); // after é
        assert!(!word_char_at(t, t.len()));
        assert!(is_whole_token(t, 8, 9));
        assert!(!is_whole_token(t, 2, 3));
        assert!(word_char_before("x٣", "x٣".len())); // Arabic-Indic digit
    }
}
