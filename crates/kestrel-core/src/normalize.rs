//! The folded view: text (and rule patterns) normalized so that the usual
//! ways of hiding a word do not hide it, with a map from every folded byte
//! back to the raw bytes it came from.
//!
//! # What folding does
//!
//! The folded text is made of *words* (runs of letters and digits, any
//! script; Latin letters lowercase ASCII) separated by single ASCII spaces,
//! with no leading or trailing space. Whole-word checks are therefore byte
//! checks ([`is_boundary`]).
//!
//! ## Per character (from the Unicode crates, built once into a lazy table)
//!
//! - Unicode compatibility decomposition (NFKD, so NFKC's equivalences:
//!   fullwidth `ｊｏｉｎ`, math letters `𝐣𝐨𝐢𝐧`, ligatures `ﬁ`, circled `ⓙ`);
//! - full case folding (`ß` → `ss`, final `ς` → `σ`; no Turkish special case:
//!   `I` → `i`, `İ` → `i` + dot, the dot being a mark is dropped, and `ı` → `i`
//!   by its confusable skeleton);
//! - combining marks dropped after decomposition (`é` → `e`; Arabic `أ إ آ` →
//!   `ا`, `ؤ` → `و`, `ئ` → `ي`; harakat, shadda, superscript alef); Hangul is
//!   recomposed (NFC) afterwards;
//! - format characters (general category Cf: zero-width space, joiners,
//!   soft hyphen, bidi controls, word joiner, BOM...) and default-ignorable
//!   fillers removed; they do not break a word (`jo\u{200D}in` → `join`);
//! - Arabic: alef wasla `ٱ` and the other hamza forms of alef → `ا`, alef
//!   maqsura `ى` → `ي`, taa marbuta `ة` → `ه`, tatweel `ـ` removed;
//! - every decimal digit (Arabic-Indic `٣`, extended `۳`, any script) → its
//!   ASCII digit;
//! - confusable letters: a non-ASCII letter whose UTS #39 skeleton (of the
//!   letter, or else of its uppercase form) is a single ASCII letter maps to
//!   it (Cyrillic `е` → `e`, `Т` → `t`, Greek `ο` → `o`, `ν` → `v`); a Latin
//!   letter whose skeleton is 2–3 ASCII letters takes them (`œ` → `oe`); an
//!   Arabic letter maps only to a single Arabic letter (`ی` → `ي`, `ک` →
//!   `ك`; UTS #39 would turn `ا` into `l` and `ه` into `o`); ASCII is never
//!   remapped (the skeleton of `m` is `rn`); a capital whose skeleton is a
//!   Latin capital takes it before case folding (Greek `Ν` → `n`, `Υ` → `y`,
//!   where the small `ν`, `υ` look like and fold to `v`, `u`);
//! - everything else that is not a letter or digit (space, punctuation,
//!   symbols, emoji, controls) is a separator.
//!
//! ## Per token (a token is a maximal run of letters, digits and `$ @ ! |`)
//!
//! **Leetspeak.** `0→o 1→i 3→e 4→a 5→s 7→t 8→b 9→g $→s @→a !→i |→l`
//! (`2` and `6` have no reading; digits of any script and fullwidth
//! `＄＠！｜` count once folded). A *leet run* is a maximal run of those
//! characters inside a token. Runs are read only next to ASCII letters
//! (after folding, so `r٣cruit` and Cyrillic lookalikes count; Arabic text
//! with digits attached stays as it is). In a token that holds a Cyrillic
//! letter, a Cyrillic letter counts as a letter next to the run as well
//! (`пр0д0лж@ется`, `р9ды`), and there `1` reads as `и` and `9` as `я`
//! (`х1джра`, `бр@ть9`); leading digits are never read in such a token
//! (`5лет`, `3дня` stay). A run is read as letters when:
//! - it has an ASCII letter on both sides (`r3cru1t` → `recruit`, `j0!n` →
//!   `join`, `isl@m` → `islam`);
//! - it starts the token, is one digit, and the rest of the token holds at
//!   least 3 ASCII letters (`1slam`, `5upport`; but `1st`, `3rd`, `4th`,
//!   `5pm`, `5k`, `4g` stay numbers);
//! - it starts the token and is a single `$`, unless the rest of the token is
//!   1–5 uppercase letters, a cashtag (`$upport` → `support`, `$BTC` → `btc`);
//! - it ends the token, is made of digits only, follows an ASCII letter, and
//!   is no longer than the number of ASCII letters before it (`h3ll0` →
//!   `helo`, `b4` → `ba`, `walle7`, `recru17` → `recruit`; `x11` stays);
//! - tokens without letters are numbers and stay (`2024`, `100`), and so do
//!   leading runs of two or more (`100usd`, `10k`).
//!
//! Symbols not read as letters are separators (`@user` → `user`, `join!` →
//! `join`, `US$` → `us`). Those that no rule could read as letters are
//! turned into separators first, so the letter counts above are those of the
//! final word; then the rules are applied until nothing changes (a symbol
//! turned separator can make a digit a token edge), which keeps folding
//! idempotent.
//!
//! **Repeated letters.** A run of one repeated letter becomes one letter
//! (`joooin` → `join`, `support` → `suport`, `الله` → `اله`); digits never
//! collapse. Patterns are folded the same way, so they still match.
//!
//! **Split letters.** Three or more single-letter words in a row are read as
//! a split word and joined (`j.o.i.n`, `j o i n`, `j-o-i-n` → `join`);
//! single leet digits between ASCII letters of such a run are read as
//! letters (`j.0.i.n` → `join`); digits at the ends of the run stay numbers.
//! When some separators of the run have no white space (`.`, `-`, `_`,
//! `'`, any mix) and others do, the first kind splits letters and the
//! second words, so the words around a split word stay apart:
//! `please j.o.i.n a group` → `please join a group`, `I j.o.i.n` →
//! `i join`, `a.b.c d e f` → `abc def`. A stretch under three letters is not
//! a word of its own: its letters join the single letters next to it when
//! three or more stand together (`a.b c.d` → `abcd`, French `il n'y a` →
//! `il nya`; patterns fold the same way), because folding turns every
//! separator into one space and a second folding would join them: folding
//! must be idempotent, and a word's raw span must fold back to the word.
//! A word of two ASCII letters directly followed by `.`, `-` or `_` and a
//! single letter joins the run (`Sh.a.m` → `sham`, `Ph.D.` → `phd`;
//! `x-ray` and `he's` stay apart). With white space only, a wider gap (two or more white-space characters,
//! or a line break) among single ones splits words the same way:
//! `ا د ع م  ر و ا ت ب` → `ادعم رواتب`, `j o i n  t h e  r a n k s` →
//! `join the ranks` (`f a i t e s  u n  d o n` → `faites u n don`: `u n`
//! is under three letters). With gaps all alike there is nothing to tell a
//! split word from its neighbours (`j o i n a` → `joina`).
//!
//! Order: per-character steps, then per token: leet, collapse; then across
//! words: split-letter join and collapse again.
//!
//! Patterns get the same treatment: [`fold`] for word lists, [`fold_regex`]
//! for the literal parts of regexes.
//!
//! ## Arabic prefixes (at match time, not in the folded text)
//!
//! Arabic writes conjunctions, prepositions and the article as part of the
//! word: `وانفروا` (and go forth), `فبايعوا`, `بالمجاهدين`, `للمجاهدين`
//! (`ل` and `المجاهدين`, written with `لل`, which folds to `ل` like any
//! repeat).
//! Folding leaves the word as written, and so do raw spans; the engine's
//! whole-word matcher reads it a second way. [`for_each_arabic_stem`] gives
//! the readings of a folded word as prefixes from a closed list and a stem:
//! - an optional conjunction `و` or `ف`, then an optional `ب`, `ك`, `ل`, or
//!   `س` before an imperfect verb (`ي ت ن ا`), then an optional article `ال`;
//!   at least one of them;
//! - after `ل`, the stem may also take the article back (`لمجاهدين` reads as
//!   `المجاهدين`: `للمجاهدين` folded);
//! - the stem starts with an Arabic letter and keeps at least
//!   [`MIN_STEM_LETTERS`] (4) letters, so `بروج` (towers) is not `ب` + `روج`.
//!
//! A `words` or `list` entry whose first word is Arabic then matches a word
//! of the text when it is one of those stems, unless an entry already
//! starts at that word as written (a word that is itself an entry, such as
//! `بايعوا`, is never read as `ب` + `ايعوا`). The match spans the whole
//! prefixed word, so evidence and `near` distances name what was posted;
//! `kestrel explain` names the entry and the prefix (`as "المجاهدين" after
//! "ل"`). Only the first word of a phrase is read so; its other words match
//! as written. Substrings and regexes are not affected.
//!
//! # Offsets
//!
//! Every folded byte records the raw byte span it came from: a letter, the raw
//! character(s) (a collapsed run: all of it; combining marks and tatweel after
//! a letter belong to it); a space, the raw separator run.
//! [`FoldedText::raw_span`] turns a folded range into the raw range that
//! covers exactly what produced it, so `raw[s..e]` is what the poster wrote
//! (`r3cru1t`, `j.o.i.n`, `jo\u{200D}in`). One raw character that folds to
//! several words (`¼` → `1 4`, `℅` → `c o`) gives each of them its span.
//!
//! # Speed
//!
//! Folding runs on every post field. The per-character data is computed from
//! the Unicode crates once, lazily, in pages of 256 code points (a page is
//! built the first time one of its characters is seen), so the hot path is a
//! table lookup. ASCII words are scanned and lowercased eight bytes at a
//! time; numbers, `@mentions` and tokens of letters only (any script) are
//! written directly; only tokens mixing letters with digits, symbols, marks
//! or format characters go through the general token rules. Raw offsets are
//! kept as stretches (linear or block), not per byte. Once a [`FoldedText`]
//! has grown to the size of the posts it sees, folding allocates nothing.

mod clitic;
mod light_stem;
mod pattern;
mod table;

pub use clitic::{for_each_arabic_stem, prefixed_reading, Stem, ARTICLE, MIN_STEM_LETTERS};
pub use light_stem::{for_each_light_stem, light_stem};
pub use pattern::fold_regex;

use table::{
    complex_atoms, entry, Atom, F_ASCII, F_UPPER, K_ATTACH, K_COMPLEX, K_DIGIT, K_IGNORE,
    K_LETTERS, K_SEP, K_SYM,
};

/// Folded text plus, for every folded byte, the raw byte span it came from.
#[derive(Default, Clone, Debug)]
pub struct FoldedText {
    text: String,
    /// Raw offsets of the folded bytes, by stretches (see [`Seg`]).
    segs: Vec<Seg>,
    raw_len: usize,
    scratch: Scratch,
}

/// The output while folding (the folded bytes are built as a `Vec<u8>` and
/// checked into the `String` at the end).
struct Out {
    text: Vec<u8>,
    segs: Vec<Seg>,
    /// Folded start of the last char written (for collapsing repeats).
    prev_f: u32,
}

/// Raw offsets of the folded bytes from `f` up to the next stretch: when
/// `re` is [`LINEAR`], folded byte `f + k` came from raw byte `rs + k` (plain
/// ASCII words: one stretch per word, or for a whole post); otherwise every
/// folded byte of the stretch came from raw `[rs, re)` (a lookalike letter, a
/// collapsed run, a letter with combining marks). The spaces between words
/// are not recorded: their raw span is the gap between their neighbours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seg {
    f: u32,
    rs: u32,
    re: u32,
}

const LINEAR: u32 = u32::MAX;

#[derive(Default, Clone, Debug)]
struct Scratch {
    /// The items of the token being folded (slow path).
    items: Vec<Item>,
    /// Single-letter (or single leet digit) words waiting for the
    /// split-letter decision.
    pending: Vec<Item>,
    /// A joined split-letter word being built.
    joined: Vec<Item>,
}

/// One folded character of a token with its raw span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Item {
    ch: char,
    cls: u8,
    upper: bool,
    rs: u32,
    re: u32,
}

/// ASCII letter (lowercase in `ch`).
const C_ASCII: u8 = 1;
/// Non-ASCII letter.
const C_OTHER: u8 = 2;
/// ASCII digit with a leet reading.
const C_LEET: u8 = 3;
/// ASCII digit without one (`2`, `6`).
const C_DIGIT: u8 = 4;
/// `$ @ ! |`.
const C_SYM: u8 = 5;
/// A separator inside a token's items (from a multi-part character or a
/// symbol that was not read as a letter).
const C_BREAK: u8 = 6;

#[inline]
fn is_letter(cls: u8) -> bool {
    cls == C_ASCII || cls == C_OTHER
}

#[inline]
fn is_leet(cls: u8) -> bool {
    cls == C_LEET || cls == C_SYM
}

const A_SEP: u8 = 0;
const A_LOWER: u8 = 1;
const A_UPPER: u8 = 2;
const A_LEET: u8 = 3;
const A_DIGIT: u8 = 4;
const A_SYM: u8 = 5;

static ASCII_CLASS: [u8; 128] = {
    let mut t = [A_SEP; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        t[i] = match b {
            b'a'..=b'z' => A_LOWER,
            b'A'..=b'Z' => A_UPPER,
            b'2' | b'6' => A_DIGIT,
            b'0'..=b'9' => A_LEET,
            b'$' | b'@' | b'!' | b'|' => A_SYM,
            _ => A_SEP,
        };
        i += 1;
    }
    t
};

static IS_ASCII_LETTER: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphabetic();
        i += 1;
    }
    t
};

/// Whether the token ends at `pos` (end of text or a separator).
#[inline(always)]
fn token_ends(bytes: &[u8], pos: usize) -> bool {
    match bytes.get(pos) {
        None => true,
        Some(&b) if b < 0x80 => ASCII_CLASS[b as usize] == A_SEP,
        Some(_) => entry(decode(bytes, pos).0).kind == K_SEP,
    }
}

/// The letter a leet character reads as.
fn leet_letter(c: char) -> char {
    match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        '@' => 'a',
        '!' => 'i',
        '|' => 'l',
        other => other,
    }
}

impl FoldedText {
    /// An empty folded text, to be filled by [`fold_into`].
    pub fn new() -> FoldedText {
        FoldedText::default()
    }

    /// The folded text: tokens separated by single ASCII spaces.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Folded byte range [start, end) (on folded char boundaries) -> raw byte
    /// range [s, e), on raw char boundaries, covering exactly the raw chars
    /// that produced those folded bytes (for a span that starts at a rejoined
    /// split letter, from the first letter; never including a leading or
    /// trailing separator).
    ///
    /// Spaces at either end of the range are left out; a range made only of
    /// spaces gives the raw separator run; an empty range gives an empty raw
    /// range at the corresponding position. Out-of-range bounds are clamped.
    pub fn raw_span(&self, start: usize, end: usize) -> (usize, usize) {
        let text = self.text.as_str();
        let bytes = text.as_bytes();
        let len = bytes.len();
        let mut s = start.min(len);
        while !text.is_char_boundary(s) {
            s -= 1;
        }
        let mut e = end.min(len).max(s);
        while !text.is_char_boundary(e) {
            e += 1;
        }
        let (mut a, mut b) = (s, e);
        while a < b && bytes[a] == b' ' {
            a += 1;
        }
        while b > a && bytes[b - 1] == b' ' {
            b -= 1;
        }
        if a < b {
            let rs = self.raw_start_at(a);
            return (rs, self.raw_end_at(b - 1).max(rs));
        }
        if s < e {
            // Only spaces: the raw gap between the neighbouring words.
            let x = if s > 0 { self.raw_end_at(s - 1) } else { 0 };
            let y = if e < len {
                self.raw_start_at(e)
            } else {
                self.raw_len
            };
            return (x.min(y), x.max(y));
        }
        let p = if s < len && bytes[s] != b' ' {
            self.raw_start_at(s)
        } else if s > 0 {
            self.raw_end_at(s - 1)
        } else {
            0
        };
        (p, p)
    }

    fn seg_at(&self, i: usize) -> Seg {
        let k = self.segs.partition_point(|g| g.f as usize <= i);
        self.segs[k.max(1) - 1]
    }

    /// Raw start of the char that folded byte `i` (not a space) came from.
    fn raw_start_at(&self, i: usize) -> usize {
        let g = self.seg_at(i);
        if g.re == LINEAR {
            (g.rs as usize) + (i - g.f as usize)
        } else {
            g.rs as usize
        }
    }

    /// Raw end of the char that folded byte `i` (not a space) came from.
    fn raw_end_at(&self, i: usize) -> usize {
        let g = self.seg_at(i);
        if g.re == LINEAR {
            (g.rs as usize) + (i - g.f as usize) + 1
        } else {
            g.re as usize
        }
    }

    /// Length in bytes of the raw text this was folded from.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    fn clear(&mut self) {
        self.text.clear();
        self.segs.clear();
        self.raw_len = 0;
        self.scratch.items.clear();
        self.scratch.pending.clear();
        self.scratch.joined.clear();
    }
}

impl Out {
    #[inline(always)]
    fn begin_word(&mut self) {
        if !self.text.is_empty() {
            self.text.push(b' ');
        }
    }

    /// Records that the `n` folded bytes from `f` came from raw `[rs, re)`.
    #[inline(always)]
    fn note(&mut self, f: u32, rs: u32, re: u32, n: u32) {
        if re - rs == n {
            if let Some(g) = self.segs.last() {
                if g.re == LINEAR && g.rs.wrapping_add(f - g.f) == rs {
                    return;
                }
            }
            self.segs.push(Seg { f, rs, re: LINEAR });
        } else {
            self.segs.push(Seg { f, rs, re });
        }
    }

    /// Writes one folded char that came from raw `[rs, re)`.
    #[inline]
    fn push_char(&mut self, c: char, rs: u32, re: u32) {
        let f = self.text.len() as u32;
        let mut buf = [0u8; 4];
        let n = c.encode_utf8(&mut buf).len();
        self.note(f, rs, re, n as u32);
        // Constant-length copies: no call to memcpy for a letter.
        match n {
            1 => self.text.push(buf[0]),
            2 => self.text.extend_from_slice(&buf[..2]),
            3 => self.text.extend_from_slice(&buf[..3]),
            _ => self.text.extend_from_slice(&buf),
        }
        self.prev_f = f;
    }

    /// The last char written (a letter that repeats) now also covers raw
    /// bytes up to `re`. Leaves a non-linear stretch last, so the next char
    /// starts a stretch of its own.
    fn extend_prev(&mut self, re: u32) {
        let f = self.prev_f;
        match self.segs.last_mut() {
            Some(g) if g.f == f => g.re = re,
            Some(g) => {
                let rs = g.rs + (f - g.f);
                self.segs.push(Seg { f, rs, re });
            }
            None => unreachable!("a char was written"),
        }
    }

    /// Writes ASCII chars that came one each from the raw bytes from
    /// `start` on, as `(char, is a letter)`, collapsing runs of one repeated
    /// letter. Raw offsets are noted once per stretch, not per byte.
    #[inline]
    fn push_ascii_collapsing(&mut self, start: usize, chars: impl Iterator<Item = (u8, bool)>) {
        let mut prev = None;
        let mut need_note = true;
        for (i, (c, letter)) in chars.enumerate() {
            let p = (start + i) as u32;
            if letter && prev == Some(c) {
                self.extend_prev(p + 1);
                need_note = true;
            } else {
                let f = self.text.len() as u32;
                if need_note {
                    self.note(f, p, p + 1, 1);
                    need_note = false;
                }
                self.text.push(c);
                self.prev_f = f;
                prev = letter.then_some(c);
            }
        }
    }

    /// Writes a word, collapsing runs of one repeated letter.
    fn emit_word(&mut self, items: &[Item]) {
        if items.is_empty() {
            return;
        }
        self.begin_word();
        let mut prev: Option<char> = None;
        for it in items {
            if is_letter(it.cls) && prev == Some(it.ch) {
                self.extend_prev(it.re);
            } else {
                self.push_char(it.ch, it.rs, it.re);
                prev = is_letter(it.cls).then_some(it.ch);
            }
        }
    }
}

/// Decodes the char starting at `i` of valid UTF-8 `b` (not ASCII).
#[inline(always)]
fn decode(b: &[u8], i: usize) -> (char, usize) {
    let b0 = b[i] as u32;
    let (cp, len) = if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
    } else if b0 < 0xF0 {
        (
            ((b0 & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F),
            3,
        )
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((b[i + 1] as u32 & 0x3F) << 12)
                | ((b[i + 2] as u32 & 0x3F) << 6)
                | (b[i + 3] as u32 & 0x3F),
            4,
        )
    };
    (char::from_u32(cp).unwrap_or('\u{FFFD}'), len)
}

#[inline]
fn ascii_item(b: u8, pos: usize) -> Item {
    let cls = match ASCII_CLASS[b as usize] {
        A_LOWER | A_UPPER => C_ASCII,
        A_LEET => C_LEET,
        A_DIGIT => C_DIGIT,
        _ => C_SYM,
    };
    Item {
        ch: b.to_ascii_lowercase() as char,
        cls,
        upper: b.is_ascii_uppercase(),
        rs: pos as u32,
        re: pos as u32 + 1,
    }
}

/// Folds `raw` into `out`, reusing its allocations (clears it first). The hot
/// path: called for every post field.
///
/// # Panics
///
/// If `raw` is 256 MiB or longer (offsets are `u32`, and one character can
/// fold to up to 16 times its length).
pub fn fold_into(raw: &str, out: &mut FoldedText) {
    out.clear();
    assert!(
        raw.len() < (u32::MAX / 16) as usize,
        "text too long to fold"
    );
    out.raw_len = raw.len();
    let mut o = Out {
        text: std::mem::take(&mut out.text).into_bytes(),
        segs: std::mem::take(&mut out.segs),
        prev_f: 0,
    };
    o.text.reserve(raw.len());
    fold_bytes(raw.as_bytes(), &mut o, &mut out.scratch);
    out.segs = o.segs;
    debug_assert!(std::str::from_utf8(&o.text).is_ok());
    // SAFETY: every byte written to `o.text` is an ASCII space, a char
    // encoded by `char::encode_utf8`, an ASCII letter lowercased (`b | 0x20`
    // of an ASCII letter), or a copy of `raw[a..b]` with `a` and `b` char
    // boundaries of the valid `raw`. The one wider write (8 lowercased bytes
    // from a load) is cut back at once to the word's ASCII letters, and every
    // truncation goes back to a length taken between chars. So the bytes are
    // UTF-8. Validating them again cost about 3% of a scan; the property
    // tests check it (crates/kestrel-core/tests/folding.rs) and debug builds assert it.
    out.text = unsafe { String::from_utf8_unchecked(o.text) };
}

fn fold_bytes(bytes: &[u8], out: &mut Out, scratch: &mut Scratch) {
    let n = bytes.len();
    let mut pos = 0;
    while pos < n {
        let b = bytes[pos];
        if b >= 0x80 {
            let (c, l) = decode(bytes, pos);
            let kind = entry(c).kind;
            if kind <= K_SEP {
                pos += l; // a separator, or an ignorable between tokens
            } else if let Some(end) = letters_token(bytes, pos, out, scratch) {
                pos = end;
            } else {
                pos = slow_token(bytes, pos, pos, out, scratch);
            }
            continue;
        }
        let k = ASCII_CLASS[b as usize];
        match k {
            A_SEP => {
                pos += 1;
                while pos < n && bytes[pos] < 0x80 && ASCII_CLASS[bytes[pos] as usize] == A_SEP {
                    pos += 1;
                }
                if bytes[pos - 1] == b'#' {
                    if let Some(end) = camel_case_hashtag(bytes, pos, out, scratch) {
                        pos = end;
                    }
                }
            }
            A_LOWER | A_UPPER => {
                // Fast path: ASCII letters, maybe trailing symbols (`join!`,
                // `US$`: a trailing run converts only when it is made of
                // digits, so these symbols are separators), up to a separator.
                let start = pos;
                pos = scan_letters(bytes, pos + 1);
                let mut q = pos;
                while q < n && bytes[q] < 0x80 && ASCII_CLASS[bytes[q] as usize] == A_SYM {
                    q += 1;
                }
                if token_ends(bytes, q) {
                    ascii_word(out, scratch, bytes, start, pos);
                    pos = q;
                } else if let Some(end) = bytes
                    .get(pos)
                    .is_some_and(u8::is_ascii_digit)
                    .then(|| ascii_alnum_token(bytes, start, out, scratch))
                    .flatten()
                {
                    pos = end;
                } else if let Some(end) = letters_token(bytes, start, out, scratch) {
                    pos = end;
                } else {
                    pos = slow_token(bytes, start, pos, out, scratch);
                }
            }
            A_LEET | A_DIGIT => {
                // Fast path: a number up to a separator.
                let start = pos;
                pos += 1;
                while pos < n && bytes[pos].is_ascii_digit() {
                    pos += 1;
                }
                if token_ends(bytes, pos) {
                    let item = ascii_item(b, start);
                    if pos - start == 1 && k == A_LEET {
                        scratch.pending.push(item);
                    } else {
                        flush_pending(bytes, out, &mut scratch.pending, &mut scratch.joined);
                        out.begin_word();
                        let f = out.text.len() as u32;
                        out.note(f, start as u32, pos as u32, (pos - start) as u32);
                        out.text.extend_from_slice(&bytes[start..pos]);
                    }
                } else if let Some(end) = bytes[pos]
                    .is_ascii_alphabetic()
                    .then(|| ascii_alnum_token(bytes, start, out, scratch))
                    .flatten()
                {
                    pos = end;
                } else {
                    pos = slow_token(bytes, start, pos, out, scratch);
                }
            }
            _ => {
                // `@user`, `!word`: a symbol that starts a token and is
                // followed by a letter is never read as a letter (the leet
                // rules convert only a leading `$` or digit): a separator.
                if b != b'$'
                    && bytes
                        .get(pos + 1)
                        .is_some_and(|&x| IS_ASCII_LETTER[x as usize])
                {
                    pos += 1;
                    continue;
                }
                // `!!!`, `|`: a token of symbols only has no letters, so
                // none of them is read as one.
                let mut q = pos + 1;
                while q < n && bytes[q] < 0x80 && ASCII_CLASS[bytes[q] as usize] == A_SYM {
                    q += 1;
                }
                pos = if token_ends(bytes, q) {
                    q
                } else {
                    slow_token(bytes, pos, pos, out, scratch)
                };
            }
        }
    }
    flush_pending(bytes, out, &mut scratch.pending, &mut scratch.joined);
}

/// Fast path for a token made only of letters (any script, each folding to
/// one letter), up to a separator: written directly, collapsing repeats.
/// Returns where it ends, or `None` (having written nothing) when the token
/// holds anything else (digits, symbols, marks, ignorables, multi-letter
/// folds) or when single letters are pending.
fn letters_token(
    bytes: &[u8],
    start: usize,
    out: &mut Out,
    scratch: &mut Scratch,
) -> Option<usize> {
    if !scratch.pending.is_empty() {
        return None;
    }
    let mark = (out.text.len(), out.segs.len());
    out.begin_word();
    let word_f = out.text.len();
    let n = bytes.len();
    let mut pos = start;
    let mut prev = '\0';
    let mut letters = 0usize;
    // Raw bytes from `same_from` to `pos` fold to themselves and are not
    // written yet: they are copied in one go.
    let mut same_from = start;
    let bail = |out: &mut Out| {
        out.text.truncate(mark.0);
        out.segs.truncate(mark.1);
        None
    };
    let flush_same = |out: &mut Out, from: usize, to: usize, prev: char| {
        if from < to {
            let f = out.text.len() as u32;
            out.note(f, from as u32, to as u32, (to - from) as u32);
            out.text.extend_from_slice(&bytes[from..to]);
            out.prev_f = (out.text.len() - prev.len_utf8()) as u32;
        }
    };
    while pos < n {
        let b = bytes[pos];
        let (ch, l, same) = if b < 0x80 {
            match ASCII_CLASS[b as usize] {
                A_SEP => break,
                A_LOWER => (b as char, 1, true),
                A_UPPER => ((b | 0x20) as char, 1, false),
                _ => return bail(out),
            }
        } else {
            let (c, l) = decode(bytes, pos);
            let e = entry(c);
            match e.kind {
                K_SEP => break,
                K_LETTERS => (e.ch(), l, e.ch() == c),
                _ => return bail(out),
            }
        };
        if ch == prev {
            flush_same(out, same_from, pos, prev);
            out.extend_prev((pos + l) as u32);
            same_from = pos + l;
        } else if same {
            prev = ch;
        } else {
            flush_same(out, same_from, pos, prev);
            out.push_char(ch, pos as u32, (pos + l) as u32);
            same_from = pos + l;
            prev = ch;
        }
        pos += l;
        letters += 1;
    }
    flush_same(out, same_from, pos, prev);
    let word = &out.text[word_f..];
    if letters == 2
        && word.len() == 2
        && word.iter().all(u8::is_ascii_lowercase)
        && leads_split_letters(bytes, pos)
    {
        // Two letters before `.a`: the general path lets them wait with
        // the single letters (`Sh.a.m`), as it does for any two letters
        // that fold to ASCII (`aе.a`, Cyrillic `е`, reads as `ae.a`).
        return bail(out);
    }
    if out.text.len() - word_f == prev.len_utf8() {
        // One letter: it waits for the split-letter decision.
        out.text.truncate(mark.0);
        out.segs.truncate(mark.1);
        scratch.pending.push(Item {
            ch: prev,
            cls: if prev.is_ascii() { C_ASCII } else { C_OTHER },
            upper: false,
            rs: start as u32,
            re: pos as u32,
        });
    }
    Some(pos)
}

/// Longest token [`ascii_alnum_token`] takes; longer ones take the general path.
const ALNUM_MAX: usize = 64;

/// Fast path for a token of ASCII letters and digits only (`r3cru1t`,
/// `baqiya58`, `2nd`, the ids of shortened links), up to a separator: the
/// leet rules of [`leet_segment`] on a small array instead of [`Item`]s.
/// Returns where it ends, or `None` (having written nothing) when the token
/// holds anything else, is longer than [`ALNUM_MAX`], or folds to a single
/// letter or leet digit (which waits for the split-letter decision): those
/// take the general path. `tests::alnum_fast_path_matches_the_general_path`
/// holds the two paths to the same output.
#[inline(never)]
fn ascii_alnum_token(
    bytes: &[u8],
    start: usize,
    out: &mut Out,
    scratch: &mut Scratch,
) -> Option<usize> {
    let mut end = start;
    while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
        end += 1;
    }
    let n = end - start;
    if n > ALNUM_MAX || !token_ends(bytes, end) {
        return None;
    }
    let mut cls = [0u8; ALNUM_MAX];
    let mut ch = [0u8; ALNUM_MAX];
    let mut any_leet = false;
    for (k, &b) in bytes[start..end].iter().enumerate() {
        (cls[k], ch[k]) = match ASCII_CLASS[b as usize] {
            A_LEET => {
                any_leet = true;
                (C_LEET, b)
            }
            A_DIGIT => (C_DIGIT, b),
            _ => (C_ASCII, b | 0x20),
        };
    }
    let (cls, ch) = (&mut cls[..n], &mut ch[..n]);
    if any_leet {
        while leet_pass_alnum(cls, ch) {}
    }
    // Single letters and single leet digits wait for the split-letter
    // decision (see `word_done`): the general path does that.
    if (cls[0] == C_ASCII
        && cls
            .iter()
            .zip(ch.iter())
            .all(|(&c, &x)| c == C_ASCII && x == ch[0]))
        || (n == 1 && cls[0] == C_LEET)
    {
        return None;
    }
    // So do two letters before `.a` (`a0.a` as `ao.a`: see
    // `leads_split_letters`).
    if n == 2 && cls[..2] == [C_ASCII, C_ASCII] && ch[0] != ch[1] && leads_split_letters(bytes, end)
    {
        return None;
    }
    flush_pending(bytes, out, &mut scratch.pending, &mut scratch.joined);
    out.begin_word();
    out.push_ascii_collapsing(start, (0..n).map(|k| (ch[k], cls[k] == C_ASCII)));
    Some(end)
}

/// [`leet_segment`] for a token of ASCII letters (`C_ASCII`), leet digits
/// (`C_LEET`) and other digits (`C_DIGIT`), which has no symbols.
fn leet_pass_alnum(cls: &mut [u8], ch: &mut [u8]) -> bool {
    let n = cls.len();
    let letters = |c: &[u8]| c.iter().filter(|&&x| x == C_ASCII).count();
    let mut changed = false;
    let mut i = 0;
    while i < n {
        if cls[i] != C_LEET {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && cls[j] == C_LEET {
            j += 1;
        }
        let convert = if i > 0 && j < n {
            cls[i - 1] == C_ASCII && cls[j] == C_ASCII
        } else if i == 0 && j < n {
            j == 1 && cls[1] == C_ASCII && letters(&cls[1..]) >= 3
        } else if i > 0 && j == n {
            cls[i - 1] == C_ASCII && j - i <= letters(&cls[..i])
        } else {
            false
        };
        if convert {
            for k in i..j {
                ch[k] = leet_letter(ch[k] as char) as u8;
                cls[k] = C_ASCII;
            }
            changed = true;
        }
        i = j;
    }
    changed
}

/// The general path for a token that starts at `start`; `bytes[start..scanned]`
/// are ASCII letters or digits already looked at. Returns where it ends.
#[inline(never)]
fn slow_token(
    bytes: &[u8],
    start: usize,
    scanned: usize,
    out: &mut Out,
    scratch: &mut Scratch,
) -> usize {
    let n = bytes.len();
    let items = &mut scratch.items;
    items.clear();
    items.extend((start..scanned).map(|i| ascii_item(bytes[i], i)));
    let mut pos = scanned;
    while pos < n {
        let b = bytes[pos];
        if b < 0x80 {
            if ASCII_CLASS[b as usize] == A_SEP {
                break;
            }
            items.push(ascii_item(b, pos));
            pos += 1;
            continue;
        }
        let (c, l) = decode(bytes, pos);
        let e = entry(c);
        let (rs, re) = (pos as u32, (pos + l) as u32);
        let upper = e.flags & F_UPPER != 0;
        match e.kind {
            K_SEP => break,
            K_IGNORE => {}
            K_ATTACH => {
                if let Some(last) = items.last_mut() {
                    if last.cls != C_BREAK {
                        last.re = re;
                    }
                }
            }
            K_LETTERS => items.push(Item {
                ch: e.ch(),
                cls: if e.flags & F_ASCII != 0 {
                    C_ASCII
                } else {
                    C_OTHER
                },
                upper,
                rs,
                re,
            }),
            K_DIGIT => items.push(Item {
                ch: e.ch(),
                cls: if matches!(e.ch(), '2' | '6') {
                    C_DIGIT
                } else {
                    C_LEET
                },
                upper,
                rs,
                re,
            }),
            K_SYM => items.push(Item {
                ch: e.ch(),
                cls: C_SYM,
                upper,
                rs,
                re,
            }),
            K_COMPLEX => {
                for a in complex_atoms(c, &e) {
                    let (ch, cls) = match *a {
                        Atom::Letter(x) if x.is_ascii() => (x, C_ASCII),
                        Atom::Letter(x) => (x, C_OTHER),
                        Atom::Digit(x) if matches!(x, '2' | '6') => (x, C_DIGIT),
                        Atom::Digit(x) => (x, C_LEET),
                        Atom::Sym(x) => (x, C_SYM),
                        Atom::Sep => (' ', C_BREAK),
                    };
                    items.push(Item {
                        ch,
                        cls,
                        upper,
                        rs,
                        re,
                    });
                }
            }
            _ => unreachable!("unknown table kind"),
        }
        pos += l;
    }
    process_token(bytes, out, scratch);
    pos
}

const LANES_01: u64 = 0x0101_0101_0101_0101;
const LANES_20: u64 = 0x2020_2020_2020_2020;
const LANES_80: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn load8(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// For 8 bytes, the high bit of each byte that is not an ASCII letter.
#[inline(always)]
fn non_letter_lanes(v: u64) -> u64 {
    let high = v & LANES_80; // not ASCII
    let y = (v | LANES_20) & !LANES_80; // case folded, 7 bits: no carries below
    let ge_a = (y + (0x80 - b'a' as u64) * LANES_01) & LANES_80;
    let gt_z = (y + (0x80 - b'z' as u64 - 1) * LANES_01) & LANES_80;
    !(ge_a & !gt_z & !high) & LANES_80
}

/// The end of the run of ASCII letters that goes on at `pos`.
#[inline(always)]
fn scan_letters(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(v) = load8(bytes, pos) {
        let m = non_letter_lanes(v);
        if m != 0 {
            return pos + (m.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while pos < bytes.len() && IS_ASCII_LETTER[bytes[pos] as usize] {
        pos += 1;
    }
    pos
}

/// Whether some letter of the ASCII letters `w` is followed by the same
/// letter (letters that differ at most in the case bit are the same).
#[inline(always)]
fn has_repeat(bytes: &[u8], s: usize, e: usize) -> bool {
    let len = e - s;
    if len <= 8 {
        if let Some(v) = load8(bytes, s) {
            // Lane i is zero (case bit aside) when byte i equals byte i + 1.
            let x = (v ^ (v >> 8)) & !LANES_20;
            let zero = x.wrapping_sub(LANES_01) & !x & LANES_80;
            // The lowest flagged lane is exact; only lanes < len - 1 count.
            return zero != 0 && (zero.trailing_zeros() / 8) as usize + 1 < len;
        }
    }
    bytes[s..e].windows(2).any(|p| (p[0] ^ p[1]) & !0x20 == 0)
}

/// A hashtag of ASCII letters written in CamelCase (`#JoinTheRanks`) reads
/// as itself and then as its words (`jointheranks join the ranks`), so both
/// a joined substring and a phrase match it: a word starts at a capital after a small
/// letter, or at a capital followed by a small letter after a capital
/// (`#ISupportThem`). Ignorable characters anywhere in the tag change
/// nothing. Returns where the tag ends, or `None` (having written nothing)
/// when the token at `start` is not such a tag: any other character, no case
/// change (`#jointheranks`), more than [`ALNUM_MAX`] letters, or a word that
/// would fold to a single letter (`#BeAHero`: single letters in a row are
/// rejoined when folded again, so such a tag stays one word).
fn camel_case_hashtag(
    bytes: &[u8],
    start: usize,
    out: &mut Out,
    scratch: &mut Scratch,
) -> Option<usize> {
    let n = bytes.len();
    let mut letters = [0u32; ALNUM_MAX];
    let mut count = 0;
    let mut pos = start;
    while pos < n {
        let b = bytes[pos];
        if b < 0x80 {
            if IS_ASCII_LETTER[b as usize] {
                *letters.get_mut(count)? = pos as u32;
                count += 1;
                pos += 1;
                continue;
            }
            if ASCII_CLASS[b as usize] == A_SEP {
                break;
            }
            return None;
        }
        let (c, l) = decode(bytes, pos);
        match entry(c).kind {
            K_IGNORE => pos += l,
            K_SEP => break,
            _ => return None,
        }
    }
    let letters = &letters[..count];
    let at = |k: usize| bytes[letters[k] as usize];
    let starts_word = |k: usize| {
        at(k).is_ascii_uppercase()
            && (at(k - 1).is_ascii_lowercase()
                || (at(k - 1).is_ascii_uppercase()
                    && k + 1 < count
                    && at(k + 1).is_ascii_lowercase()))
    };
    let mut cuts = [0usize; ALNUM_MAX + 1];
    let mut words = 1;
    for k in 1..count {
        if starts_word(k) {
            cuts[words] = k;
            words += 1;
        }
    }
    if words == 1 {
        return None;
    }
    cuts[words] = count;
    let folds_to_one_letter =
        |a: usize, b: usize| (a + 1..b).all(|k| (at(k) | 0x20) == (at(k - 1) | 0x20));
    if (0..words).any(|w| folds_to_one_letter(cuts[w], cuts[w + 1])) {
        return None;
    }
    flush_pending(bytes, out, &mut scratch.pending, &mut scratch.joined);
    // The tag as one word first, as it always read (a joined substring such
    // as `joinus` still matches), then its words.
    let pieces = std::iter::once((0, count)).chain((0..words).map(|w| (cuts[w], cuts[w + 1])));
    for (a, b) in pieces {
        out.begin_word();
        let mut prev = 0u8;
        for &p in &letters[a..b] {
            let ch = bytes[p as usize] | 0x20;
            if ch == prev {
                out.extend_prev(p + 1);
            } else {
                out.push_char(ch as char, p, p + 1);
                prev = ch;
            }
        }
    }
    Some(pos)
}

/// A token of ASCII letters only, `bytes[s..e]`.
#[inline(always)]
fn ascii_word(out: &mut Out, scratch: &mut Scratch, bytes: &[u8], s: usize, e: usize) {
    let w = &bytes[s..e];
    let repeats = w.len() > 1 && has_repeat(bytes, s, e);
    let single = match repeats {
        false => w.len() == 1,
        true => w.iter().all(|&b| (b ^ w[0]) & !0x20 == 0),
    };
    if single {
        scratch.pending.push(Item {
            ch: (w[0] | 0x20) as char,
            cls: C_ASCII,
            upper: false,
            rs: s as u32,
            re: e as u32,
        });
        return;
    }
    if w.len() == 2 && leads_split_letters(bytes, e) {
        for (k, &b) in w.iter().enumerate() {
            scratch.pending.push(Item {
                ch: (b | 0x20) as char,
                cls: C_ASCII,
                upper: false,
                rs: (s + k) as u32,
                re: (s + k + 1) as u32,
            });
        }
        return;
    }
    flush_pending(bytes, out, &mut scratch.pending, &mut scratch.joined);
    out.begin_word();
    if !repeats {
        let f = out.text.len();
        out.note(f as u32, s as u32, e as u32, w.len() as u32);
        match load8(bytes, s) {
            Some(v) if w.len() <= 8 => {
                // Write 8 lowercased bytes, keep the word's.
                out.text.extend_from_slice(&(v | LANES_20).to_le_bytes());
                out.text.truncate(f + w.len());
            }
            _ => out.text.extend(w.iter().map(|&b| b | 0x20)),
        }
        return;
    }
    out.push_ascii_collapsing(s, w.iter().map(|&b| (b | 0x20, true)));
}

/// Whether a word of two ASCII letters ending at raw `e` starts a split
/// word: a `.`, `-` or `_` follows it, then a single ASCII letter, then a
/// separator or the end (`Sh.a.m`, `Sh-a-m`). Its letters then wait with the
/// single letters for the split-letter decision (`Sh.a.m` → `sham`).
/// Ignorables (zero-width characters and the like) between these are
/// skipped, as everywhere else in folding.
#[inline]
fn leads_split_letters(bytes: &[u8], e: usize) -> bool {
    let skip = |mut p: usize| {
        while p < bytes.len() && bytes[p] >= 0x80 {
            let (c, l) = decode(bytes, p);
            if entry(c).kind != K_IGNORE {
                break;
            }
            p += l;
        }
        p
    };
    let p = skip(e);
    if !matches!(bytes.get(p), Some(b'.' | b'-' | b'_')) {
        return false;
    }
    let p = skip(p + 1);
    if !bytes.get(p).is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    bytes
        .get(skip(p + 1))
        .is_none_or(|&b| b < 0x80 && ASCII_CLASS[b as usize] == A_SEP)
}

/// Leet reading, then words out of the token's items.
fn process_token(bytes: &[u8], out: &mut Out, scratch: &mut Scratch) {
    let Scratch {
        items,
        pending,
        joined,
    } = scratch;
    if items.iter().any(|it| is_leet(it.cls)) {
        leet_resolve(items);
    }
    let mut i = 0;
    while i < items.len() {
        if items[i].cls == C_BREAK {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < items.len() && items[j].cls != C_BREAK {
            j += 1;
        }
        word_done(bytes, out, pending, joined, &items[i..j]);
        i = j;
    }
}

/// Applies the leet rules until nothing changes. Symbols that can never be
/// read as letters become separators first, so that the letter counts the
/// edge rules look at are those of the final word; symbols still left after
/// the conversions become separators too, and the whole is repeated (a
/// symbol turned separator makes its neighbours token edges).
fn leet_resolve(items: &mut [Item]) {
    loop {
        while drop_dead_symbols(items) {}
        while leet_pass(items) {}
        let mut removed = false;
        for it in items.iter_mut() {
            if it.cls == C_SYM {
                it.cls = C_BREAK;
                removed = true;
            }
        }
        if !removed {
            break;
        }
    }
}

/// Turns into separators the symbols of leet runs that no rule can read as
/// letters whatever the rest of the token becomes: runs not between ASCII
/// letters, at the end of a token, or at its start unless a single `$`
/// before an ASCII letter (and not a cashtag).
fn drop_dead_symbols(items: &mut [Item]) -> bool {
    let mut changed = false;
    for seg in items.split_mut(|it| it.cls == C_BREAK) {
        let n = seg.len();
        let cyrillic = seg.iter().any(is_cyrillic_item);
        let mut i = 0;
        while i < n {
            if !is_leet(seg[i].cls) {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < n && is_leet(seg[j].cls) {
                j += 1;
            }
            let has_sym = seg[i..j].iter().any(|it| it.cls == C_SYM);
            let alive = if i > 0 && j < n {
                leet_edge(&seg[i - 1], cyrillic) && leet_edge(&seg[j], cyrillic)
            } else if i == 0 && j < n {
                j == 1 && seg[0].ch == '$' && seg[1].cls == C_ASCII && !is_cashtag(&seg[1..])
            } else {
                !has_sym
            };
            if has_sym && !alive {
                for it in &mut seg[i..j] {
                    if it.cls == C_SYM {
                        it.cls = C_BREAK;
                    }
                }
                changed = true;
            }
            i = j;
        }
    }
    changed
}

fn leet_pass(items: &mut [Item]) -> bool {
    let mut changed = false;
    for seg in items.split_mut(|it| it.cls == C_BREAK) {
        changed |= leet_segment(seg);
    }
    changed
}

fn count_ascii(items: &[Item]) -> usize {
    items.iter().filter(|it| it.cls == C_ASCII).count()
}

/// A Cyrillic letter as folded (the ones that look Latin are ASCII by now).
#[inline]
fn is_cyrillic_item(it: &Item) -> bool {
    it.cls == C_OTHER && light_stem::is_cyrillic(it.ch)
}

/// A letter a leet run may stand next to: an ASCII letter (Cyrillic
/// lookalikes included, as folded) or, in a token that holds a Cyrillic
/// letter, any Cyrillic letter (`пр0д0лж@ется`, `р9ды`).
#[inline]
fn leet_edge(it: &Item, cyrillic: bool) -> bool {
    it.cls == C_ASCII || (cyrillic && is_cyrillic_item(it))
}

/// The letter a leet character reads as in a token with a Cyrillic letter:
/// `1` is `и` (`х1джра`), `9` is `я` (`р9ды`, `бр@ть9`); the rest as in
/// Latin (`0` is `о`, `3` is `е`, `4` and `@` are `а`: folded, `o`, `e`,
/// `a`).
fn leet_letter_cyrillic(c: char) -> char {
    match c {
        '1' => 'и',
        '9' => 'я',
        other => leet_letter(other),
    }
}

fn leet_segment(seg: &mut [Item]) -> bool {
    let n = seg.len();
    let mut changed = false;
    let cyrillic = seg.iter().any(is_cyrillic_item);
    let letters = |items: &[Item]| items.iter().filter(|it| leet_edge(it, cyrillic)).count();
    let mut i = 0;
    while i < n {
        if !is_leet(seg[i].cls) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && is_leet(seg[j].cls) {
            j += 1;
        }
        let convert = if i > 0 && j < n {
            leet_edge(&seg[i - 1], cyrillic) && leet_edge(&seg[j], cyrillic)
        } else if i == 0 && j < n {
            j == 1
                && seg[1].cls == C_ASCII
                && match (seg[0].cls, seg[0].ch) {
                    (C_SYM, '$') => !is_cashtag(&seg[1..]),
                    (C_LEET, _) => count_ascii(&seg[1..]) >= 3,
                    _ => false,
                }
        } else if i > 0 && j == n {
            leet_edge(&seg[i - 1], cyrillic)
                && seg[i..].iter().all(|it| it.cls == C_LEET)
                && j - i <= letters(&seg[..i])
        } else {
            false
        };
        if convert {
            for it in &mut seg[i..j] {
                if cyrillic {
                    it.ch = leet_letter_cyrillic(it.ch);
                    it.cls = if it.ch.is_ascii() { C_ASCII } else { C_OTHER };
                } else {
                    it.ch = leet_letter(it.ch);
                    it.cls = C_ASCII;
                }
            }
            changed = true;
        }
        i = j;
    }
    changed
}

/// `$BTC`, `$ETH`: a `$` before 1 to 5 uppercase letters is a cashtag, not
/// an `s`.
fn is_cashtag(rest: &[Item]) -> bool {
    (1..=5).contains(&rest.len()) && rest.iter().all(|it| it.cls == C_ASCII && it.upper)
}

/// A word of a token is ready: single letters wait for the split-letter
/// decision, anything else is written (after the pending singles).
fn word_done(
    bytes: &[u8],
    out: &mut Out,
    pending: &mut Vec<Item>,
    joined: &mut Vec<Item>,
    word: &[Item],
) {
    let Some(&first) = word.first() else {
        return;
    };
    let single_letter = is_letter(first.cls)
        && word
            .iter()
            .all(|it| it.cls == first.cls && it.ch == first.ch);
    if single_letter || (word.len() == 1 && first.cls == C_LEET) {
        pending.push(Item {
            re: word[word.len() - 1].re,
            ..first
        });
        return;
    }
    if word.len() == 2
        && word.iter().all(|it| it.cls == C_ASCII)
        && word[0].ch != word[1].ch
        && leads_split_letters(bytes, word[1].re as usize)
    {
        pending.extend_from_slice(word);
        return;
    }
    flush_pending(bytes, out, pending, joined);
    out.emit_word(word);
}

/// Writes the pending run of single-letter / single-leet-digit words,
/// joining what is a split word.
#[inline]
fn flush_pending(bytes: &[u8], out: &mut Out, pending: &mut Vec<Item>, joined: &mut Vec<Item>) {
    if !pending.is_empty() {
        flush_pending_run(bytes, out, pending, joined);
    }
}

#[inline(never)]
fn flush_pending_run(bytes: &[u8], out: &mut Out, pending: &mut Vec<Item>, joined: &mut Vec<Item>) {
    let p = &pending[..];
    let n = p.len();
    let mut a = 0;
    while a < n && p[a].cls == C_LEET {
        a += 1;
    }
    let mut b = n;
    while b > a && p[b - 1].cls == C_LEET {
        b -= 1;
    }
    for it in &p[..a] {
        out.emit_word(std::slice::from_ref(it));
    }
    // p[a..b] starts and ends with a letter. Cut it at digit groups that are
    // not between ASCII letters.
    let mut seg = a;
    let mut i = a;
    while i < b {
        if p[i].cls != C_LEET {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b && p[j].cls == C_LEET {
            j += 1;
        }
        if !(p[i - 1].cls == C_ASCII && p[j].cls == C_ASCII) {
            emit_split_run(bytes, out, joined, &p[seg..i]);
            for it in &p[i..j] {
                out.emit_word(std::slice::from_ref(it));
            }
            seg = j;
        }
        i = j;
    }
    emit_split_run(bytes, out, joined, &p[seg..b]);
    for it in &p[b..] {
        out.emit_word(std::slice::from_ref(it));
    }
    pending.clear();
}

/// Writes a run of single letters (and leet digits between ASCII letters),
/// joining what is a split word. When the letters are split all the same
/// way (`j.o.i.n`, `j o i n`, `j . o . i . n`), the run is one word; with
/// white space only, a wider gap (two white-space characters or a line
/// break) among single ones splits words as white space does below. When some separators have no white space (`.`, `-`,
/// `_`, `'`, any mix of them) and others do, the first kind splits letters
/// and the second words: `please j.o.i.n a group` → `join a`, `I j.o.i.n` →
/// `i join`, `j.o-i_n, a` → `join a`. A stretch of three letters or more
/// becomes a word; the letters of shorter stretches join when three or more
/// stand together (`a.b.c d e f` → `abc def`), since folding the result
/// again (every separator one space) would join them: folding must be
/// idempotent, and a word's raw span must fold back to that word.
fn emit_split_run(bytes: &[u8], out: &mut Out, joined: &mut Vec<Item>, run: &[Item]) {
    let n = run.len();
    let letters = |part: &[Item]| part.iter().filter(|it| is_letter(it.cls)).count();
    if letters(run) < 3 {
        for it in run {
            out.emit_word(std::slice::from_ref(it));
        }
        return;
    }
    // gap[k]: the white space in the separator before item k (items of one
    // raw character, `℅` → `c o`, have no separator between them).
    let gap: Vec<Gap> = (0..n)
        .map(|k| {
            let (lo, hi) = (run[k.max(1) - 1].re as usize, run[k].rs as usize);
            if k > 0 && lo < hi {
                white_space_gap(&bytes[lo..hi])
            } else {
                Gap::None
            }
        })
        .collect();
    let all_white = gap[1..].iter().all(|&g| g != Gap::None);
    // With white space only, a wider gap (two white-space characters or a
    // line break) among single spaces splits words, as the other kinds of
    // separator do below: `ا د ع م  ر و ا ت ب` → `ادعم رواتب`.
    let spaced: Vec<bool> = if all_white {
        gap.iter().map(|&g| g == Gap::Wide).collect()
    } else {
        gap.iter().map(|&g| g != Gap::None).collect()
    };
    if spaced[1..].iter().all(|&x| x) || !spaced[1..].iter().any(|&x| x) {
        emit_joined(out, joined, run);
        return;
    }
    // Stretches between spaced separators. One of three letters or more (not
    // one letter repeated, which collapses to one) is a word.
    let mut stretches: Vec<(usize, usize, bool)> = Vec::new(); // (from, to, is a word)
    let mut from = 0;
    for k in 1..=n {
        if k == n || spaced[k] {
            let part = &run[from..k];
            let mut ls = part.iter().filter(|it| is_letter(it.cls)).map(|it| it.ch);
            let first_letter = ls.next();
            let word = letters(part) >= 3 && ls.any(|c| Some(c) != first_letter);
            stretches.push((from, k, word));
            from = k;
        }
    }
    let mut i = 0;
    while i < stretches.len() {
        let (a, b, word) = stretches[i];
        if word {
            emit_trimmed(out, joined, &run[a..b]);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < stretches.len() && !stretches[j].2 {
            j += 1;
        }
        let (a, b) = (stretches[i].0, stretches[j - 1].1);
        if letters(&run[a..b]) >= 3 {
            emit_trimmed(out, joined, &run[a..b]);
        } else {
            for it in &run[a..b] {
                out.emit_word(std::slice::from_ref(it));
            }
        }
        i = j;
    }
}

/// Writes `part` as one word, except leet digits at its ends, which stay
/// numbers (as at the ends of a whole run: see `flush_pending_run`).
fn emit_trimmed(out: &mut Out, joined: &mut Vec<Item>, part: &[Item]) {
    let a = part
        .iter()
        .position(|it| it.cls != C_LEET)
        .unwrap_or(part.len());
    let b = part
        .iter()
        .rposition(|it| it.cls != C_LEET)
        .map_or(a, |i| i + 1);
    for it in &part[..a] {
        out.emit_word(std::slice::from_ref(it));
    }
    if a < b {
        emit_joined(out, joined, &part[a..b]);
    }
    for it in &part[b..] {
        out.emit_word(std::slice::from_ref(it));
    }
}

/// The white space in a separator between single letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gap {
    /// None (`.`, `-`, `_`, `'`).
    None,
    /// One white-space character (of any script), not a line break.
    Narrow,
    /// Two or more, or a line break.
    Wide,
}

/// How much white space a separator holds.
fn white_space_gap(sep: &[u8]) -> Gap {
    let mut white = 0;
    let mut i = 0;
    while i < sep.len() {
        let (c, l) = if sep[i] < 0x80 {
            (sep[i] as char, 1)
        } else {
            decode(sep, i)
        };
        if matches!(
            c,
            '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) {
            return Gap::Wide;
        }
        if c.is_whitespace() {
            white += 1;
        }
        i += l;
    }
    match white {
        0 => Gap::None,
        1 => Gap::Narrow,
        _ => Gap::Wide,
    }
}

/// Writes `run` as one word, reading its leet digits as letters.
fn emit_joined(out: &mut Out, joined: &mut Vec<Item>, run: &[Item]) {
    joined.clear();
    joined.extend(run.iter().map(|it| {
        if it.cls == C_LEET {
            Item {
                ch: leet_letter(it.ch),
                cls: C_ASCII,
                ..*it
            }
        } else {
            *it
        }
    }));
    out.emit_word(joined);
}

/// Convenience: the folded text alone (same result as [`fold_into`]).
pub fn fold(raw: &str) -> String {
    let mut f = FoldedText::new();
    fold_into(raw, &mut f);
    f.text
}

/// True for a byte offset in folded text that is a word boundary (text edge
/// or next to `' '`).
pub fn is_boundary(folded: &str, at: usize) -> bool {
    let b = folded.as_bytes();
    at == 0 || at == b.len() || (at < b.len() && (b[at - 1] == b' ' || b[at] == b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path for tokens of ASCII letters and digits writes exactly
    /// what the general path writes (text, raw offsets, pending single
    /// letters), after nothing, after a word, and after pending single
    /// letters; and writes nothing when it declines.
    #[test]
    fn alnum_fast_path_matches_the_general_path() {
        const ALPHABET: &[u8] = b"aabeilstAZ0134578926";
        let mut rng = crate::testrng::TestRng::new(0x2545_F491_4F6C_DD1D);
        let mut fast = 0;
        for round in 0..60_000 {
            let len = 1 + rng.below(if round % 10 == 0 { 70 } else { 12 });
            let token: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())] as char)
                .collect();
            for context in 0..3 {
                let prefix = ["", "xy ", "a b "][context];
                let raw = format!("{prefix}{token} z");
                let bytes = raw.as_bytes();
                let start = prefix.len();
                let setup = || {
                    let mut out = Out {
                        text: Vec::new(),
                        segs: Vec::new(),
                        prev_f: 0,
                    };
                    let mut scratch = Scratch::default();
                    match context {
                        1 => {
                            out.text.extend_from_slice(b"xy");
                            out.note(0, 0, 2, 2);
                        }
                        2 => {
                            for (c, at) in [('a', 0u32), ('b', 2)] {
                                scratch.pending.push(Item {
                                    ch: c,
                                    cls: C_ASCII,
                                    upper: false,
                                    rs: at,
                                    re: at + 1,
                                });
                            }
                        }
                        _ => {}
                    }
                    (out, scratch)
                };
                let (mut o1, mut s1) = setup();
                let (mut o2, mut s2) = setup();
                match ascii_alnum_token(bytes, start, &mut o1, &mut s1) {
                    None => {
                        assert_eq!(o1.text, o2.text, "{raw:?}: declined but wrote");
                        assert_eq!(o1.segs, o2.segs, "{raw:?}: declined but wrote");
                        assert_eq!(s1.pending, s2.pending, "{raw:?}: declined but wrote");
                    }
                    Some(e1) => {
                        fast += 1;
                        let e2 = slow_token(bytes, start, start, &mut o2, &mut s2);
                        assert_eq!(e1, e2, "{raw:?}: token end");
                        for (o, s) in [(&mut o1, &mut s1), (&mut o2, &mut s2)] {
                            flush_pending(bytes, o, &mut s.pending, &mut s.joined);
                        }
                        assert_eq!(
                            String::from_utf8_lossy(&o1.text),
                            String::from_utf8_lossy(&o2.text),
                            "{raw:?}: text"
                        );
                        assert_eq!(o1.segs, o2.segs, "{raw:?}: raw offsets");
                        assert_eq!(o1.prev_f, o2.prev_f, "{raw:?}: last char");
                    }
                }
            }
        }
        assert!(fast > 100_000, "only {fast} tokens took the fast path");
    }

    /// Every character's folded output is made of characters that fold to
    /// themselves with the same kind: per-character folding is idempotent.
    #[test]
    fn table_is_a_fixpoint() {
        for cp in 0x80..=0x10FFFFu32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let (atoms, _) = table::fold_char(c);
            let folded_len: usize = atoms
                .iter()
                .map(|a| match a {
                    Atom::Letter(d) | Atom::Digit(d) | Atom::Sym(d) => d.len_utf8(),
                    Atom::Sep => 1,
                })
                .sum();
            // fold_into's length limit relies on this.
            assert!(folded_len <= 16 * c.len_utf8(), "{c:?} folds to {atoms:?}");
            for a in atoms {
                let d = match a {
                    Atom::Letter(d) | Atom::Digit(d) | Atom::Sym(d) => d,
                    Atom::Sep => continue,
                };
                let (again, _) = table::fold_char(d);
                assert_eq!(again, vec![a], "{c:?} (U+{cp:04X}) -> {d:?} is not stable");
            }
        }
    }

    #[test]
    fn ascii_fast_path_matches_items() {
        // The same word through the fast path and (forced by a trailing
        // zero-width space) through the slow path.
        for w in ["Support", "JOOOIN", "a", "aaa", "abcabc"] {
            let fast = fold(w);
            let slow = fold(&format!("{w}\u{200B}"));
            assert_eq!(fast, slow, "{w}");
        }
    }
}
