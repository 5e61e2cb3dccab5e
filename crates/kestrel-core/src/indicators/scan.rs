//! Cheap candidate finders shared by the detectors.

/// Calls `f(start, end)` for every maximal run of ASCII letters and digits
/// at least `min` bytes long, in order.
///
/// A run that long, starting after a non-alphanumeric byte at `q`, covers
/// `q + min`; so the text is probed every `min` bytes. When a probe lands in
/// a word, the word's start `s` is found, and the byte `s + min - 1` where a
/// long enough run would still be going is checked first, walking back from
/// there: in ordinary text a non-alphanumeric byte turns up at once, and the
/// next probe goes `min` past it.
pub(crate) fn for_each_run(b: &[u8], min: usize, mut f: impl FnMut(usize, usize)) {
    debug_assert!(min > 0);
    let n = b.len();
    let mut p = min - 1;
    'probe: while p < n {
        if !b[p].is_ascii_alphanumeric() {
            p += min;
            continue;
        }
        // The byte `min` before the probe was not alphanumeric (or ended the
        // previous run), so this loop stays within this run.
        let mut s = p;
        while s > 0 && b[s - 1].is_ascii_alphanumeric() {
            s -= 1;
        }
        let last = s + min - 1;
        if last >= n {
            return;
        }
        let mut r = last;
        while r > p {
            if !b[r].is_ascii_alphanumeric() {
                // The run from `s` ends before `r`, shorter than `min`.
                p = r + min;
                continue 'probe;
            }
            r -= 1;
        }
        let mut e = last + 1;
        while e < n && b[e].is_ascii_alphanumeric() {
            e += 1;
        }
        f(s, e);
        p = e + min;
    }
}

/// A candidate found by [`for_each_candidate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// A maximal run of ASCII letters and digits, `start..end`.
    Run(usize, usize),
    /// Two ASCII letters then two ASCII digits, not after an ASCII letter or
    /// digit: where an IBAN may start.
    IbanStart(usize),
    /// A maximal run of ASCII letters and digits, `start..end`, with a letter
    /// next to a digit in it: it may be a piece of an address written in
    /// pieces (`1BvBMSEY-…`, `bc1q ar0s …`, `0x5aAe …`).
    SplitStart(usize, usize),
}

/// Bit `i` set where byte `i` of the 64-byte block is an ASCII letter, and
/// where it is an ASCII digit; eight bytes at a time (SWAR), portable.
fn block_masks(block: &[u8; 64]) -> (u64, u64) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // ASCII upper case to lower case.
    const CASE_BIT: u64 = 0x2020_2020_2020_2020;
    // Moves the high bit of byte k to bit 56 + k.
    const GATHER: u64 = 0x0102_0408_1020_4080;
    // Per byte, without carries between bytes: the high bit is set where the
    // byte is ASCII and lo <= byte <= hi (`t` is the byte with its high bit
    // cleared, `!w` drops non-ASCII bytes).
    let between = |w: u64, t: u64, lo: u8, hi: u8| {
        let below = ONES * (127 + u64::from(hi) + 1) - t;
        let above = t + ONES * (127 - u64::from(lo) + 1);
        below & above & !w & HIGH
    };
    let (mut letters, mut digits) = (0, 0);
    for (k, word) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let d = between(w, w & LOW7, b'0', b'9');
        let l = between(w, (w | CASE_BIT) & LOW7, b'a', b'z');
        digits |= ((d >> 7).wrapping_mul(GATHER) >> 56) << (8 * k);
        letters |= ((l >> 7).wrapping_mul(GATHER) >> 56) << (8 * k);
    }
    (letters, digits)
}

/// Calls `f` for every maximal run of ASCII letters and digits at least
/// `run_min` bytes long (none when `run_min` is 0), when `iban` for every
/// place an IBAN may start, and when `split` for every maximal run with a
/// letter next to a digit (a possible piece of an address written in
/// pieces); in text order within each kind.
///
/// One pass over 64-byte blocks builds letter and digit bit masks; runs of
/// at least `min(run_min, 64)` set bits, the letter-letter-digit-digit
/// pattern and a letter next to a digit are found with shifts over two
/// blocks at a time, so text without candidates costs a few word operations
/// per eight bytes.
pub(crate) fn for_each_candidate(
    b: &[u8],
    run_min: usize,
    iban: bool,
    split: bool,
    f: impl FnMut(Candidate),
) {
    if split {
        candidates::<true>(b, run_min, iban, f)
    } else {
        candidates::<false>(b, run_min, iban, f)
    }
}

fn candidates<const SPLIT: bool>(
    b: &[u8],
    run_min: usize,
    iban: bool,
    mut f: impl FnMut(Candidate),
) {
    let n = b.len();
    let masks_at = |k: usize| -> (u64, u64) {
        let s = k * 64;
        if s >= n {
            (0, 0)
        } else if let Some(block) = b.get(s..s + 64) {
            block_masks(block.try_into().expect("64 bytes"))
        } else {
            let mut block = [0u8; 64];
            block[..n - s].copy_from_slice(&b[s..]);
            block_masks(&block)
        }
    };
    let width = run_min.clamp(1, 64);
    let (mut l0, mut d0) = masks_at(0);
    let mut alnum_before = 0; // bit 0: the byte before this block is alphanumeric
    let mut run_end = 0;
    let mut split_end = 0;
    for k in 0..n.div_ceil(64) {
        let base = k * 64;
        let (l1, d1) = masks_at(k + 1);
        let (a0, a1) = (l0 | d0, l1 | d1);
        if run_min > 0 {
            // Bit i of `x` ends up set iff bits i..i+width of the two blocks are.
            let mut x = (u128::from(a1) << 64) | u128::from(a0);
            let mut have = 1;
            while have < width {
                let step = have.min(width - have);
                x &= x >> step;
                have += step;
            }
            let mut starts = x as u64;
            while starts != 0 {
                let i = base + starts.trailing_zeros() as usize;
                starts &= starts - 1;
                if i < run_end {
                    continue;
                }
                let mut s = i;
                while s > 0 && b[s - 1].is_ascii_alphanumeric() {
                    s -= 1;
                }
                let mut e = i + width;
                while e < n && b[e].is_ascii_alphanumeric() {
                    e += 1;
                }
                run_end = e;
                if e - s >= run_min {
                    f(Candidate::Run(s, e));
                }
            }
        }
        if iban {
            let l = (u128::from(l1) << 64) | u128::from(l0);
            let d = (u128::from(d1) << 64) | u128::from(d0);
            let pattern = (l & (l >> 1) & (d >> 2) & (d >> 3)) as u64;
            let mut starts = pattern & !((a0 << 1) | alnum_before);
            while starts != 0 {
                f(Candidate::IbanStart(
                    base + starts.trailing_zeros() as usize,
                ));
                starts &= starts - 1;
            }
        }
        if SPLIT {
            let l = (u128::from(l1) << 64) | u128::from(l0);
            let d = (u128::from(d1) << 64) | u128::from(d0);
            let pairs = (l & (d >> 1)) | (d & (l >> 1));
            let mut at = pairs as u64;
            while at != 0 {
                let i = base + at.trailing_zeros() as usize;
                at &= at - 1;
                if i < split_end {
                    continue;
                }
                let mut s = i;
                while s > 0 && b[s - 1].is_ascii_alphanumeric() {
                    s -= 1;
                }
                let mut e = i + 2;
                while e < n && b[e].is_ascii_alphanumeric() {
                    e += 1;
                }
                split_end = e;
                // The run's other pairs in this block.
                at &= u64::MAX.checked_shl((e - base) as u32).unwrap_or(0);
                f(Candidate::SplitStart(s, e));
            }
        }
        alnum_before = a0 >> 63;
        (l0, d0) = (l1, d1);
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

    fn naive_candidates(b: &[u8], run_min: usize, iban: bool, split: bool) -> Vec<Candidate> {
        let alnum = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
        let mut v = Vec::new();
        if run_min > 0 {
            let mut i = 0;
            while i < b.len() {
                if alnum(i) {
                    let s = i;
                    while alnum(i) {
                        i += 1;
                    }
                    if i - s >= run_min {
                        v.push(Candidate::Run(s, i));
                    }
                } else {
                    i += 1;
                }
            }
        }
        if iban {
            for i in 0..b.len() {
                let letter = |j: usize| b.get(j).is_some_and(u8::is_ascii_alphabetic);
                let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
                if letter(i)
                    && letter(i + 1)
                    && digit(i + 2)
                    && digit(i + 3)
                    && (i == 0 || !alnum(i - 1))
                {
                    v.push(Candidate::IbanStart(i));
                }
            }
        }
        if split {
            let mut i = 0;
            while i < b.len() {
                if !alnum(i) {
                    i += 1;
                    continue;
                }
                let s = i;
                while alnum(i) {
                    i += 1;
                }
                let pair = |x: u8, y: u8| {
                    (x.is_ascii_alphabetic() && y.is_ascii_digit())
                        || (x.is_ascii_digit() && y.is_ascii_alphabetic())
                };
                if b[s..i].windows(2).any(|w| pair(w[0], w[1])) {
                    v.push(Candidate::SplitStart(s, i));
                }
            }
        }
        v
    }

    fn candidates(b: &[u8], run_min: usize, iban: bool, split: bool) -> Vec<Candidate> {
        let mut runs = Vec::new();
        let mut starts = Vec::new();
        let mut splits = Vec::new();
        for_each_candidate(b, run_min, iban, split, |c| match c {
            Candidate::Run(..) => runs.push(c),
            Candidate::IbanStart(_) => starts.push(c),
            Candidate::SplitStart(..) => splits.push(c),
        });
        runs.extend(starts);
        runs.extend(splits);
        runs
    }

    #[test]
    fn block_masks_classify_every_byte() {
        let mut block = [0u8; 64];
        for base in (0..256).step_by(64) {
            for (i, c) in block.iter_mut().enumerate() {
                *c = (base + i) as u8;
            }
            let (l, d) = block_masks(&block);
            for (i, c) in block.iter().enumerate() {
                assert_eq!(l >> i & 1 == 1, c.is_ascii_alphabetic(), "{c}");
                assert_eq!(d >> i & 1 == 1, c.is_ascii_digit(), "{c}");
            }
        }
    }

    #[test]
    fn candidates_match_naive_at_block_edges() {
        for run_min in [1, 4, 14, 15, 42, 63, 64, 65, 95, 106] {
            for pad in [0, 1, 50, 60, 61, 62, 63, 64, 65, 120, 127, 128] {
                for len in [3, 4, 13, 14, 15, 64, 65, 95, 106, 130] {
                    let text = format!("{}DE89{}-aB x1y", " ".repeat(pad), "a".repeat(len));
                    let b = text.as_bytes();
                    for split in [false, true] {
                        assert_eq!(
                            candidates(b, run_min, true, split),
                            naive_candidates(b, run_min, true, split),
                            "{run_min} {pad} {len}"
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn candidates_match_naive(
            text in "([a-zA-Z0-9]{0,70}|[ _.é€-]{1,3}){0,12}",
            run_min in 0usize..110,
            iban: bool,
            split: bool,
        ) {
            let b = text.as_bytes();
            proptest::prop_assert_eq!(
                candidates(b, run_min, iban, split),
                naive_candidates(b, run_min, iban, split)
            );
        }
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
