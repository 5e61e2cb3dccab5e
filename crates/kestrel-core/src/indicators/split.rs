//! Cryptocurrency addresses written in pieces to get past filters:
//! `1BvBMSEY-stWetqTFn-5Au4m4GFg-7xJaNVN2 (remove the dashes)`,
//! `bc1q ar0s rrr7 xfkv …`, `0x5aAe b6053F3E94C9 b9A09f3366 9435E7Ef1BeAed`,
//! or one piece per line.
//!
//! A candidate is 2 to [`MAX_PIECES`] *pieces* (maximal runs of ASCII letters
//! and digits) joined by short *separators*, and it is reported only when the
//! concatenation of its pieces passes the same validator as an address
//! written in one run (base58check, bech32/bech32m, EIP-55, TRON, Monero):
//! shape alone is never enough.
//!
//! * **Start.** The first piece starts a whole token and begins like an
//!   address of an enabled kind: `1`, `3`, `bc1` (btc); `L`, `M`, `3`, `ltc1`
//!   (ltc); `0x` (eth); `T` (trx); `4`, `8` (xmr mainnet; testnet and
//!   stagenet addresses, worthless coins, are only found in one run).
//! * **Cost.** The candidate finder ([`super::scan::for_each_candidate`])
//!   offers only runs with a letter next to a digit (`1BvB`, `bc1q`, `0x5a`,
//!   `4Au4m`), found with shifts over the letter and digit bit masks it
//!   already builds. From such a run the pieces joined before it are walked
//!   back and each that begins like an address is tried, earliest first,
//!   so an address whose first piece has no digit (`TQnYkhRp-…`) is still
//!   found through a later piece. Ordinary words and numbers never have a
//!   letter next to a digit, so text without address pieces calls no
//!   validator and walks nothing.
//! * **Pieces.** Every piece but the last has at least [`MIN_PIECE`]
//!   characters; the last may be shorter (`… wf5m dq`). The joined length
//!   never exceeds the longest address the start allows (35 for base58
//!   btc/ltc, 34 for TRON, 42 for eth, 90 for segwit, 106 for Monero), which
//!   also keeps two unrelated addresses side by side from being joined.
//! * **Separators.** Between two pieces: up to [`MAX_GAP`] spaces (ASCII
//!   space, tab, CR, line feed, no-break, thin, narrow no-break, zero-width
//!   space / joiners, word joiner, BOM), at most [`MAX_LINE_BREAKS`] of them
//!   line feeds, and at most one mark among `- / . | _ +`, the dashes
//!   U+2010–U+2015, `·`, `•` and `➕`, or one ellipsis (`...`, `…`: writers
//!   cut an address as `1BvBMSEYst … WetqTFn5Au … 4m4GFg7xJaNVN2`). Anything
//!   else (a word, `:`, `,`, two marks, an emoji) ends the candidate.
//! * **End.** The first piece count (from two on) whose join validates wins;
//!   the last piece must end the token (no word character follows).
//! * **Span and note.** The match spans the first character of the first
//!   piece to the last character of the last piece, separators included, so
//!   evidence and `kestrel explain` show the address as posted. Its kind is
//!   the address's; its note is `split`, or `split_` + the note the joined
//!   address would have had (`split_p2sh`, `split_unchecksummed`, …).
//! * **One-case Ethereum.** `0x` + 40 hex digits of one case has no checksum,
//!   as for an address in one run (note `split_unchecksummed`). A hex dump
//!   that goes on past the 40th digit (`0x0000 0000 … 0000 0000`) is no
//!   address: a one-case join is refused when another all-hex piece follows.

use super::crypto;
use super::notes::*;
use super::scan::{word_char_at, word_char_before};
use super::{IndicatorKind, IndicatorMatch, KindMask, Note};

/// Most pieces one address may be written in (a 62-character Taproot
/// address in groups of four is 16).
pub(crate) const MAX_PIECES: usize = 16;
/// Fewest characters of a piece that is followed by another one.
pub(crate) const MIN_PIECE: usize = 3;
/// Most space characters in one separator.
const MAX_GAP: usize = 4;
/// Most line feeds in one separator (a blank line between pieces).
const MAX_LINE_BREAKS: usize = 2;
/// The longest address of any kind (Monero integrated).
const MAX_JOINED: usize = 106;

/// The kinds an address starting with `first` (a whole piece) may be, among
/// those enabled, and the longest such address.
fn start_kinds(first: &[u8], mask: KindMask) -> (KindMask, usize) {
    let mut kinds = KindMask::default();
    let mut max = 0;
    let mut add = |k: IndicatorKind, len: usize| {
        if mask.has(k) {
            kinds = KindMask(kinds.0 | k.bit());
            max = max.max(len);
        }
    };
    let ci = |p: &[u8]| first.len() >= p.len() && first[..p.len()].eq_ignore_ascii_case(p);
    match first[0] {
        b'1' => add(IndicatorKind::Btc, 35),
        b'3' => {
            add(IndicatorKind::Btc, 35);
            add(IndicatorKind::Ltc, 35);
        }
        b'0' if first.get(1) == Some(&b'x') => add(IndicatorKind::Eth, 42),
        b'b' | b'B' if ci(b"bc1") => add(IndicatorKind::Btc, 90),
        b'l' | b'L' if ci(b"ltc1") => add(IndicatorKind::Ltc, 90),
        b'L' | b'M' => add(IndicatorKind::Ltc, 35),
        b'T' => add(IndicatorKind::Trx, 34),
        _ => {}
    }
    if matches!(first[0], b'4' | b'8') {
        add(IndicatorKind::Xmr, MAX_JOINED);
    }
    (kinds, max)
}

/// The note of a split address whose joined form has note `note`.
fn split_note(note: Note) -> &'static str {
    match note {
        None => SPLIT,
        Some(P2SH) => SPLIT_P2SH,
        Some(BECH32M) => SPLIT_BECH32M,
        Some(UNCHECKSUMMED) => SPLIT_UNCHECKSUMMED,
        Some(INTEGRATED) => SPLIT_INTEGRATED,
        Some(SUBADDRESS) => SPLIT_SUBADDRESS,
        Some(TESTNET) => SPLIT_TESTNET,
        Some(STAGENET) => SPLIT_STAGENET,
        Some(_) => SPLIT,
    }
}

/// What a character is between two pieces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    Gap,
    LineBreak,
    Mark,
    /// `…`, or a `.` that may be one of an ellipsis `...`.
    Dot,
}

fn sep_class(c: char) -> Option<Sep> {
    match c {
        '\n' => Some(Sep::LineBreak),
        ' ' | '\t' | '\r' | '\u{a0}' | '\u{2009}' | '\u{202f}' | '\u{200b}' | '\u{200c}'
        | '\u{200d}' | '\u{2060}' | '\u{feff}' => Some(Sep::Gap),
        '-'
        | '/'
        | '|'
        | '_'
        | '+'
        | '\u{2010}'..='\u{2015}'
        | '\u{b7}'
        | '\u{2022}'
        | '\u{2795}' => Some(Sep::Mark),
        '.' | '\u{2026}' => Some(Sep::Dot),
        _ => None,
    }
}

/// Counts the characters of one separator and says when it is too long.
#[derive(Default)]
struct SepCount {
    gaps: usize,
    breaks: usize,
    marks: usize,
    /// Dots: one `.`, or an ellipsis (`...`, `…`) between pieces cut short.
    dots: usize,
}

impl SepCount {
    /// Adds `c`; false when `c` is no separator character or the separator
    /// has become too long.
    fn add(&mut self, c: char) -> bool {
        match sep_class(c) {
            None => return false,
            Some(Sep::Gap) => self.gaps += 1,
            Some(Sep::LineBreak) => {
                self.gaps += 1;
                self.breaks += 1;
            }
            Some(Sep::Mark) => self.marks += 1,
            Some(Sep::Dot) => self.dots += if c == '.' { 1 } else { 3 },
        }
        self.gaps <= MAX_GAP
            && self.breaks <= MAX_LINE_BREAKS
            && self.marks + usize::from(self.dots > 0) <= 1
            && self.dots <= 3
    }
}

/// Where the piece after the separator that starts at byte `e` begins, if
/// that separator is one (see the module notes) and a piece follows it.
fn next_piece(text: &str, e: usize) -> Option<usize> {
    let mut count = SepCount::default();
    let mut i = e;
    let b = text.as_bytes();
    loop {
        let c = match b.get(i) {
            None => return None,
            Some(&c) if c.is_ascii_alphanumeric() => break,
            Some(&c) if c.is_ascii() => char::from(c),
            Some(_) => text[i..].chars().next()?,
        };
        if !count.add(c) {
            return None;
        }
        i += c.len_utf8();
    }
    (i > e).then_some(i)
}

/// Where the piece before the one starting at byte `s` begins, if a
/// separator joins them and that piece has at least [`MIN_PIECE`]
/// characters.
fn prev_piece(text: &str, s: usize) -> Option<usize> {
    let mut count = SepCount::default();
    let b = text.as_bytes();
    let mut i = s;
    loop {
        let c = match i.checked_sub(1).map(|j| b[j]) {
            None => return None,
            Some(c) if c.is_ascii_alphanumeric() => break,
            Some(c) if c.is_ascii() => char::from(c),
            Some(_) => text[..i].chars().next_back()?,
        };
        if !count.add(c) {
            return None;
        }
        i -= c.len_utf8();
    }
    if i == s {
        return None;
    }
    let mut q = i;
    while q > 0 && b[q - 1].is_ascii_alphanumeric() {
        q -= 1;
    }
    (i - q >= MIN_PIECE).then_some(q)
}

/// Tries every start of an address in pieces that could take in the run
/// `text[s..]` (a run with a letter next to a digit): the pieces joined
/// before it, earliest first, then the run itself. A start at or before
/// `*tried` was tried already and is skipped; `*tried` becomes `s`. Emits
/// the matches of the first start that gives one and returns their end.
pub(crate) fn find(
    text: &str,
    s: usize,
    mask: KindMask,
    tried: &mut Option<usize>,
    emit: &mut impl FnMut(IndicatorMatch),
) -> Option<usize> {
    let mut starts = [0usize; MAX_PIECES];
    let mut n = 0;
    let mut p = s;
    loop {
        starts[n] = p;
        n += 1;
        if n == MAX_PIECES {
            break;
        }
        match prev_piece(text, p) {
            Some(q) => p = q,
            None => break,
        }
    }
    let done = *tried;
    *tried = Some(s);
    let b = text.as_bytes();
    starts[..n]
        .iter()
        .rev()
        .filter(|&&q| done.is_none_or(|t| q > t) && may_start(b[q]))
        .find_map(|&q| match_at(text, q, mask, emit))
}

/// Whether an address of some kind can start with byte `c`: `1`, `3`
/// (base58 btc/ltc), `b`/`B` (`bc1`), `l`/`L`, `M` (ltc), `0` (`0x`), `T`
/// (trx), `4`, `8` (xmr).
fn may_start(c: u8) -> bool {
    matches!(
        c,
        b'1' | b'3' | b'4' | b'8' | b'0' | b'b' | b'B' | b'l' | b'L' | b'M' | b'T'
    )
}

fn alnum_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// Tries the split address whose first piece starts at byte `s` (an ASCII
/// letter or digit not after one). Emits one match per kind the joined
/// pieces validate for and returns the end of the match, or None.
pub(crate) fn match_at(
    text: &str,
    s: usize,
    mask: KindMask,
    emit: &mut impl FnMut(IndicatorMatch),
) -> Option<usize> {
    let b = text.as_bytes();
    if word_char_before(text, s) {
        return None;
    }
    let first_end = alnum_end(b, s);
    if first_end - s < MIN_PIECE {
        return None;
    }
    let (kinds, max_len) = start_kinds(&b[s..first_end], mask);
    if max_len == 0 {
        return None;
    }
    let mut buf = [0u8; MAX_JOINED];
    let mut len = 0;
    let (mut p, mut e) = (s, first_end);
    for pieces in 1..=MAX_PIECES {
        let piece = &b[p..e];
        if len + piece.len() > max_len {
            return None;
        }
        buf[len..len + piece.len()].copy_from_slice(piece);
        len += piece.len();
        let next = next_piece(text, e);
        if pieces >= 2 && !word_char_at(text, e) {
            let joined = std::str::from_utf8(&buf[..len]).ok()?;
            let next_is_hex =
                || next.is_some_and(|q| b[q..alnum_end(b, q)].iter().all(u8::is_ascii_hexdigit));
            let mut found = false;
            let mut try_kind = |kind: IndicatorKind, f: fn(&str) -> Option<Note>| {
                if !kinds.has(kind) {
                    return;
                }
                if let Some(note) = f(joined) {
                    if kind == IndicatorKind::Eth && note == Some(UNCHECKSUMMED) && next_is_hex() {
                        return;
                    }
                    found = true;
                    emit(IndicatorMatch {
                        kind,
                        start: s,
                        end: e,
                        note: Some(split_note(note)),
                    });
                }
            };
            if len >= 14 {
                try_kind(IndicatorKind::Btc, crypto::btc);
                try_kind(IndicatorKind::Ltc, crypto::ltc);
            }
            if len == 42 {
                try_kind(IndicatorKind::Eth, crypto::eth);
            }
            if len == 34 {
                try_kind(IndicatorKind::Trx, crypto::trx);
            }
            if len == 95 || len == 106 {
                try_kind(IndicatorKind::Xmr, crypto::xmr);
            }
            if found {
                return Some(e);
            }
        }
        if piece.len() < MIN_PIECE {
            return None;
        }
        p = next?;
        e = alnum_end(b, p);
    }
    None
}

/// The validator for a whole candidate written in pieces (used by
/// [`super::validate`]): the note when `candidate` is exactly one split
/// address of `kind`.
pub(crate) fn validate(kind: IndicatorKind, candidate: &str) -> Option<Note> {
    let mut note = None;
    let end = match_at(candidate, 0, KindMask::of(&[kind]), &mut |m| {
        note = Some(m.note)
    })?;
    (end == candidate.len()).then_some(note?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::{IndicatorKind::*, IndicatorSet};

    fn found(kinds: &[IndicatorKind], text: &str) -> Vec<(IndicatorKind, String, Note)> {
        let mut out = Vec::new();
        IndicatorSet::new(kinds).find_all(text, &mut out);
        out.into_iter()
            .map(|m| (m.kind, text[m.start..m.end].to_string(), m.note))
            .collect()
    }

    fn all(text: &str) -> Vec<(IndicatorKind, String, Note)> {
        found(&IndicatorKind::ALL, text)
    }

    const BTC: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
    const BECH: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
    const ETH: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    /// Splits `addr` into pieces of `sizes` (the rest is the last piece)
    /// joined by `sep`.
    fn split(addr: &str, sizes: &[usize], sep: &str) -> String {
        let mut pieces = Vec::new();
        let mut rest = addr;
        for &n in sizes {
            let (a, b) = rest.split_at(n);
            pieces.push(a);
            rest = b;
        }
        pieces.push(rest);
        pieces.join(sep)
    }

    #[test]
    fn every_separator_joins() {
        for sep in [
            " ",
            "  ",
            "-",
            " - ",
            "/",
            " / ",
            ".",
            "|",
            " | ",
            "_",
            "+",
            " + ",
            "\n",
            "\r\n",
            "\n\n",
            " \u{2795} ",
            "\u{200b}",
            "\u{a0}",
            " — ",
            "...",
            " ... ",
            "…",
            " … ",
            "·",
            "\t",
        ] {
            let text = format!("send to {} (join it)", split(BTC, &[8, 9, 9], sep));
            let want = split(BTC, &[8, 9, 9], sep);
            assert_eq!(
                all(&text),
                vec![(Btc, want, Some(SPLIT))],
                "separator {sep:?}"
            );
        }
    }

    #[test]
    fn separators_that_do_not_join() {
        for sep in [
            ", ", ": ", "....", " then ", "-.", "\n\n\n", "     ", " -- ", "--", "*", " 🔥 ",
        ] {
            let text = format!("send to {} now", split(BTC, &[8, 9, 9], sep));
            assert!(all(&text).is_empty(), "separator {sep:?}: {:?}", all(&text));
        }
    }

    #[test]
    fn the_shapes_appeals_use() {
        let cases: [(&str, IndicatorKind, &str, Note); 7] = [
            (
                "للدعم: 1BvBMSEY stWetqTFn 5Au4m4GFg 7xJaNVN2 — اجمعوا الأجزاء.",
                Btc,
                "1BvBMSEY stWetqTFn 5Au4m4GFg 7xJaNVN2",
                Some(SPLIT),
            ),
            (
                "Кто хочет: 1BvBMSEY-stWetqTFn-5Au4m4GFg-7xJaNVN2 (уберите дефисы).",
                Btc,
                "1BvBMSEY-stWetqTFn-5Au4m4GFg-7xJaNVN2",
                Some(SPLIT),
            ),
            (
                "адрес 👇 bc1qar0srrr7 / xfkvy5l643ly / dnw9re59gtzz / wf5mdq склейте",
                Btc,
                "bc1qar0srrr7 / xfkvy5l643ly / dnw9re59gtzz / wf5mdq",
                Some(SPLIT),
            ),
            (
                "أرسل على: 0x5aAe b6053F3E94C9 b9A09f3366 9435E7Ef1BeAed",
                Eth,
                "0x5aAe b6053F3E94C9 b9A09f3366 9435E7Ef1BeAed",
                Some(SPLIT),
            ),
            (
                "Wilayat Sinaï 🏴 bc1q ar0s rrr7 xfkv y5l6 43ly dnw9 re59 gtzz wf5m dq",
                Btc,
                "bc1q ar0s rrr7 xfkv y5l6 43ly dnw9 re59 gtzz wf5m dq",
                Some(SPLIT),
            ),
            (
                "coupée : bc1qar0srrr7xfkvy5 + l643lydnw9re59 + gtzzwf5mdq. Colle.",
                Btc,
                "bc1qar0srrr7xfkvy5 + l643lydnw9re59 + gtzzwf5mdq",
                Some(SPLIT),
            ),
            (
                "pay 3J98t1Wp-EZ73CNmQ-viecrnyi-WrnqRhWNLy",
                Btc,
                "3J98t1Wp-EZ73CNmQ-viecrnyi-WrnqRhWNLy",
                Some(SPLIT_P2SH),
            ),
        ];
        for (text, kind, span, note) in cases {
            assert_eq!(
                found(&[kind], text),
                vec![(kind, span.to_string(), note)],
                "{text}"
            );
            assert_eq!(validate(kind, span), Some(note), "{span}");
        }
    }

    #[test]
    fn pieces_on_lines() {
        let text = format!("Wallet:\n{}\nJazakAllah khair", split(BTC, &[12, 11], "\n"));
        assert_eq!(
            all(&text),
            vec![(Btc, split(BTC, &[12, 11], "\n"), Some(SPLIT))]
        );
        let text = format!("ETH\n{}\n", split(ETH, &[10, 10, 10, 6], "\n\n"));
        assert_eq!(all(&text).len(), 1, "{text}");
        // Three line breaks is a paragraph, not a separator.
        let text = format!("{}\n", split(BTC, &[12], "\n\n\n"));
        assert!(all(&text).is_empty());
    }

    #[test]
    fn piece_count_limits() {
        // 16 pieces (Taproot in fours) join; 17 do not.
        let taproot = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
        let fours = split(taproot, &[4; 15], " ");
        assert_eq!(all(&fours), vec![(Btc, fours.clone(), Some(SPLIT_BECH32M))]);
        let threes = split(taproot, &[3; 16], " ");
        assert_eq!(threes.split(' ').count(), 17);
        assert!(all(&threes).is_empty(), "{threes}");
        let sixteen = split(taproot, &[[6].as_slice(), &[3; 14]].concat(), " ");
        assert_eq!(sixteen.split(' ').count(), 16);
        assert_eq!(all(&sixteen).len(), 1, "{sixteen}");
        // A piece shorter than three characters may only be the last.
        let short = split(BTC, &[8, 2, 9], " ");
        assert!(all(&short).is_empty(), "{short}");
        // One character per piece is letter-spacing, not an address in pieces.
        let spaced: String = BTC.chars().map(|c| format!("{c} ")).collect();
        assert!(all(&spaced).is_empty());
    }

    #[test]
    fn wrong_checksum_after_joining_is_not_a_match() {
        for bad in [
            "1BvBMSEY stWetqTFn 5Au4m4GFg 7xJaNVN3",
            "bc1qar0srrr7 xfkvy5l643ly dnw9re59gtzz wf5mdx",
            "0x5aAe b6053F3E94C9 b9A09f3366 9435E7Ef1BeAeD",
            "1BvBMSEY stWetqTFn 5Au4m4GFg 7xJaNVN2x",
            "TR7NHqjeKQ xGTCi8q8ZY 4pL8otSzgjLj6u",
        ] {
            assert!(all(bad).is_empty(), "{bad}");
            assert!(all(&format!("send: {bad}.")).is_empty(), "{bad}");
        }
        // The same pieces with the right checksum do match.
        assert_eq!(all("TR7NHqjeKQ xGTCi8q8ZY 4pL8otSzgjLj6t").len(), 1);
    }

    #[test]
    fn two_adjacent_addresses_stay_two() {
        let p2sh = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
        let text = format!("{BTC} {p2sh} {BECH} {BECH}");
        let got = found(&[Btc], &text);
        assert_eq!(
            got,
            vec![
                (Btc, BTC.to_string(), None),
                (Btc, p2sh.to_string(), Some(P2SH)),
                (Btc, BECH.to_string(), None),
                (Btc, BECH.to_string(), None),
            ]
        );
        // Two split addresses side by side: each on its own.
        let a = split(BTC, &[8, 9, 9], " ");
        let b = split(p2sh, &[8, 8, 8], " ");
        let text = format!("{a} {b}");
        assert_eq!(
            found(&[Btc], &text),
            vec![(Btc, a, Some(SPLIT)), (Btc, b, Some(SPLIT_P2SH))]
        );
    }

    #[test]
    fn short_alphanumeric_words_do_not_assemble() {
        for text in [
            "Meet at 10am on the 3rd, bring 4x4 and 2L of water; T1 and T2 go 1st, Mr McDonald drives.",
            "the 3M2 route, 1GB5 plan 10GB 4G LTE B2B to 8K TV and 5G M2M L2TP",
            "Order 1x2y3z4 then 3A8b 7Cd9 e2F4 g5H6 j7K8 m9N2 p3Q4 r5S6 t7 is a puzzle",
            "iPhone 12 Pro, MacBook M1, PlayStation 5 and Xbox One",
        ] {
            assert!(all(text).is_empty(), "{text}: {:?}", all(text));
        }
    }

    #[test]
    fn one_case_eth_follows_the_single_run_policy() {
        let lower = ETH.to_ascii_lowercase();
        let spaced = split(&lower, &[10, 10, 10, 6], " ");
        assert_eq!(
            all(&spaced),
            vec![(Eth, spaced.clone(), Some(SPLIT_UNCHECKSUMMED))]
        );
        // A hex dump going on past 40 digits is not an address.
        let dump = "0x0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000";
        assert!(all(dump).is_empty());
        // Hex ids without `0x`, or with `0X`, never start one.
        let ids = "commits 5aaeb605 3f3e94c9 b9a09f33 669435e7 ef1beaed0000 merged";
        assert!(all(ids).is_empty());
        let upper_x = split(&ETH.replacen("0x", "0X", 1), &[10], " ");
        assert!(all(&upper_x).is_empty());
    }

    #[test]
    fn the_span_must_be_whole_tokens() {
        let a = split(BTC, &[8, 9, 9], "-");
        assert!(all(&format!("x{a}")).is_empty());
        assert!(all(&format!("é{a}")).is_empty());
        assert!(all(&format!("{a}é")).is_empty());
        assert_eq!(all(&format!("({a})")).len(), 1);
        assert_eq!(all(&format!("{a}, thanks")).len(), 1);
    }

    #[test]
    fn single_run_addresses_are_not_reported_twice() {
        for text in [
            format!("{BTC}. Thanks"),
            format!("{BECH} - bc1q"),
            format!("{ETH} / 0x12"),
        ] {
            let got = all(&text);
            assert_eq!(got.len(), 1, "{text}");
            assert!(!got[0].1.contains(' ') && got[0].2.is_none(), "{text}");
        }
    }

    #[test]
    fn a_first_piece_without_digits_is_found_through_a_later_one() {
        // "LNf" has no letter next to a digit; "2JDiuunBz7" does, and the
        // pieces before it are walked back.
        let text = "ltc: LNf 2JDiuunBz7 GMDKFYHN4rq5 meXWxiwfb, thanks";
        assert_eq!(
            all(text),
            vec![(
                Ltc,
                "LNf 2JDiuunBz7 GMDKFYHN4rq5 meXWxiwfb".to_string(),
                Some(SPLIT)
            )]
        );
        // Walking back stops at a piece too short to be followed by another.
        assert!(all("ltc: LN f2JDiuunBz7GMDKFYHN4rq5meXWxiwfb").is_empty());
    }

    proptest::proptest! {
        /// Any valid address cut anywhere into pieces within the limits,
        /// with any separator, among ordinary words, is found once with
        /// the span of all its pieces; with one character changed, never.
        #[test]
        fn any_split_within_limits_is_found(
            which in 0usize..6,
            cuts in proptest::collection::vec(3usize..12, 1..15),
            sep in proptest::sample::select(vec![" ", "-", " / ", ".", "|", "_", " + ", "\n", "\u{a0}", "\n\n"]),
            pre in "([a-z]{1,8} ){0,4}",
            post in "( [a-z]{1,8}){0,4}",
            flip in 0usize..200,
        ) {
            let (addr, kind) = [
                (BTC, Btc),
                (BECH, Btc),
                (ETH, Eth),
                ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", Trx),
                ("LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb", Ltc),
                ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", Btc),
            ][which];
            let mut sizes = Vec::new();
            let mut used = 0;
            for c in cuts {
                if used + c >= addr.len() {
                    break;
                }
                sizes.push(c);
                used += c;
            }
            proptest::prop_assume!(!sizes.is_empty());
            let pieces = split(addr, &sizes, sep);
            let text = format!("{pre}{pieces}{post}");
            let got = found(&[kind], &text);
            proptest::prop_assert_eq!(got.len(), 1, "{:?}", text);
            proptest::prop_assert_eq!(&got[0].1, &pieces);
            proptest::prop_assert!(got[0].2.is_some_and(|n| n.starts_with("split")));
            // One character changed (not a separator) breaks the checksum.
            let mut bad: Vec<char> = pieces.chars().collect();
            let alnum: Vec<usize> = (2..bad.len()).filter(|&i| bad[i].is_ascii_alphanumeric()).collect();
            let i = alnum[flip % alnum.len()];
            bad[i] = if bad[i] == 'q' { 'p' } else { 'q' };
            let bad: String = bad.into_iter().collect();
            let text = format!("{pre}{bad}{post}");
            proptest::prop_assert!(found(&[kind], &text).is_empty(), "{:?}", text);
        }
    }

    #[test]
    fn disabled_kinds_are_not_joined() {
        let text = split(ETH, &[10, 10, 10], " ");
        assert!(found(&[Btc, Trx, Xmr], &text).is_empty());
        assert_eq!(found(&[Eth], &text).len(), 1);
    }
}
