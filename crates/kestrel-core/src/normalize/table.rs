//! Per-character folding data, derived from the Unicode crates and built
//! lazily, one 256-character page at a time, the first time a character of
//! that page is seen.
//!
//! Nothing here is a hand-typed Unicode table: every entry comes from
//! `unicode-normalization` (NFKD/NFC), `caseless` (full case folding),
//! `unicode-properties` (general category), `unicode-script` and
//! `unicode-security` (UTS #39 confusable skeletons). The only hand-written
//! mappings are the few Arabic ones the rules spec names (see
//! [`arabic_explicit`]).

use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
use unicode_script::{Script, UnicodeScript};

/// Dropped; does not extend the previous character's raw span (format
/// characters such as zero-width space, bidi controls, default ignorables).
pub(crate) const K_IGNORE: u8 = 0;
/// Dropped, but belongs to the previous character (combining marks, tatweel):
/// the previous folded character's raw span grows over it.
pub(crate) const K_ATTACH: u8 = 1;
/// A separator (space, punctuation, symbol, emoji, control...).
pub(crate) const K_SEP: u8 = 2;
/// One letter (`val`).
pub(crate) const K_LETTERS: u8 = 3;
/// One ASCII digit (`val`).
pub(crate) const K_DIGIT: u8 = 4;
/// One leet symbol (`$ @ ! |`, `val`).
pub(crate) const K_SYM: u8 = 5;
/// Several atoms (`ß` → `ss`, `¼` → `1 4`); `val` indexes `Page::complex`.
pub(crate) const K_COMPLEX: u8 = 6;

/// The raw character is an uppercase or titlecase letter.
pub(crate) const F_UPPER: u8 = 1;
/// The letter of a `K_LETTERS` entry is ASCII.
pub(crate) const F_ASCII: u8 = 2;

/// What a raw character folds to: 8 bytes, so a page of 256 is 2 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: u8,
    pub flags: u8,
    /// `K_LETTERS`: the letter; `K_DIGIT`/`K_SYM`: the ASCII char;
    /// `K_COMPLEX`: index into the page's complex list.
    pub val: u32,
}

impl Entry {
    const fn simple(kind: u8) -> Entry {
        Entry {
            kind,
            flags: 0,
            val: 0,
        }
    }

    #[inline]
    pub(crate) fn ch(&self) -> char {
        char::from_u32(self.val).unwrap_or('\u{FFFD}')
    }
}

/// One folded unit of a complex entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Atom {
    Letter(char),
    Digit(char),
    Sym(char),
    Sep,
}

pub(crate) struct Page {
    entries: [Entry; 256],
    complex: Vec<Vec<Atom>>,
}

const PAGE_COUNT: usize = 0x11_0000 >> 8;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_PAGE: OnceLock<Box<Page>> = OnceLock::new();
static PAGES: [OnceLock<Box<Page>>; PAGE_COUNT] = [EMPTY_PAGE; PAGE_COUNT];

#[inline]
fn page(cp: u32) -> &'static Page {
    let p = (cp >> 8) as usize;
    PAGES[p].get_or_init(|| build_page(p as u32))
}

/// The folding entry of a (non-ASCII) character.
#[inline]
pub(crate) fn entry(c: char) -> Entry {
    let cp = c as u32;
    page(cp).entries[(cp & 0xFF) as usize]
}

/// The atoms of a `K_COMPLEX` entry of character `c`.
pub(crate) fn complex_atoms(c: char, e: &Entry) -> &'static [Atom] {
    &page(c as u32).complex[e.val as usize]
}

fn build_page(p: u32) -> Box<Page> {
    let mut page = Box::new(Page {
        entries: [Entry::simple(K_SEP); 256],
        complex: Vec::new(),
    });
    for lo in 0..256u32 {
        let Some(c) = char::from_u32((p << 8) | lo) else {
            continue; // surrogates: never in a &str
        };
        let (atoms, drop_kind) = fold_char(c);
        let upper = matches!(
            c.general_category(),
            GeneralCategory::UppercaseLetter | GeneralCategory::TitlecaseLetter
        );
        let mut e = encode(&atoms, drop_kind);
        if e.kind == K_COMPLEX {
            e.val = page.complex.len() as u32;
            page.complex.push(atoms);
        }
        if upper {
            e.flags |= F_UPPER;
        }
        page.entries[lo as usize] = e;
    }
    page
}

fn encode(atoms: &[Atom], drop_kind: u8) -> Entry {
    let with = |kind: u8, c: char, flags: u8| Entry {
        kind,
        flags,
        val: c as u32,
    };
    match atoms {
        [] => Entry::simple(drop_kind),
        [Atom::Sep] => Entry::simple(K_SEP),
        [Atom::Digit(d)] => with(K_DIGIT, *d, 0),
        [Atom::Sym(s)] => with(K_SYM, *s, 0),
        [Atom::Letter(l)] => with(K_LETTERS, *l, if l.is_ascii() { F_ASCII } else { 0 }),
        _ => Entry::simple(K_COMPLEX),
    }
}

/// Folds one character to its atoms. When the result is empty, the second
/// value tells whether the character attaches to the previous one.
pub(crate) fn fold_char(c: char) -> (Vec<Atom>, u8) {
    let mut chars = vec![c];
    // Iterate to a fixpoint so that folding is idempotent per character
    // (e.g. a skeleton that lands on a letter that itself case-folds).
    for _ in 0..8 {
        let next: Vec<char> = chars.iter().flat_map(|&d| one_pass(d)).collect();
        if next == chars {
            break;
        }
        chars = next;
    }
    let drop_kind = if is_mark(c) || c == TATWEEL || c == HIGH_HAMZA {
        K_ATTACH
    } else {
        K_IGNORE
    };
    let mut atoms: Vec<Atom> = Vec::with_capacity(chars.len());
    for d in chars {
        let a = classify(d);
        if a == Atom::Sep && atoms.last() == Some(&Atom::Sep) {
            continue;
        }
        atoms.push(a);
    }
    (atoms, drop_kind)
}

fn classify(d: char) -> Atom {
    if d.is_ascii() {
        return match d {
            'a'..='z' => Atom::Letter(d),
            'A'..='Z' => Atom::Letter(d.to_ascii_lowercase()),
            '0'..='9' => Atom::Digit(d),
            '$' | '@' | '!' | '|' => Atom::Sym(d),
            _ => Atom::Sep,
        };
    }
    match d.general_category() {
        GeneralCategory::LetterNumber | GeneralCategory::OtherNumber => Atom::Letter(d),
        _ if d.general_category_group() == GeneralCategoryGroup::Letter => Atom::Letter(d),
        _ => Atom::Sep,
    }
}

const TATWEEL: char = '\u{0640}';
/// ARABIC LETTER HIGH HAMZA (a modifier letter): a hamza form, dropped like
/// the combining hamza marks.
const HIGH_HAMZA: char = '\u{0674}';
const ALEF: char = '\u{0627}';

fn is_mark(d: char) -> bool {
    d.general_category_group() == GeneralCategoryGroup::Mark
}

/// Dropped during decomposition: combining marks (diacritics, harakat),
/// format characters (Cf), tatweel and the high hamza.
fn is_dropped(d: char) -> bool {
    is_mark(d) || d.general_category() == GeneralCategory::Format || d == TATWEEL || d == HIGH_HAMZA
}

/// The Arabic mappings the rules spec names that decomposition does not
/// already give: alef wasla and the alef hamza forms without a canonical
/// decomposition to alef, alef maqsura to yeh, taa marbuta to heh.
fn arabic_explicit(d: char) -> char {
    match d {
        '\u{0671}' | '\u{0672}' | '\u{0673}' => ALEF,
        '\u{0649}' => '\u{064A}',
        '\u{0629}' => '\u{0647}',
        // Urdu, Persian and Kurdish spellings of heh and taa marbuta: heh
        // goal `ہ`, heh doachashmee `ھ`, ae `ە`, teh marbuta goal `ۃ`
        // (`الدولہ` is `الدولة`).
        '\u{06C1}' | '\u{06BE}' | '\u{06D5}' | '\u{06C3}' => '\u{0647}',
        _ => d,
    }
}

fn case_fold(s: &str) -> String {
    caseless::default_case_fold_str(s)
}

/// One round of: NFKD, drop marks/format, full case fold, NFKD + drop again,
/// NFC (recomposes Hangul), then per character: Arabic mappings, decimal
/// digits to ASCII, confusable skeleton.
fn one_pass(c: char) -> Vec<char> {
    if c.is_ascii() {
        return vec![c.to_ascii_lowercase()];
    }
    if let Some(l) = letter_lookalike(c) {
        return vec![l];
    }
    // A capital that looks like a Latin capital takes that letter before case
    // folding can turn it into a small letter that looks like another one
    // (Greek `Ν` is an N, its small form `ν` a v; `Η` an H, `η` an n).
    if c.is_uppercase() {
        let mut buf = [0u8; 4];
        if let Some(t) = single_char(&skeleton_of(c.encode_utf8(&mut buf))) {
            if t.is_ascii_uppercase() {
                return vec![t.to_ascii_lowercase()];
            }
        }
    }
    let decomposed: String = std::iter::once(c)
        .nfkd()
        .filter(|&d| !is_dropped(d))
        .collect();
    let folded = case_fold(&decomposed);
    let normal: String = folded
        .chars()
        .nfkd()
        .filter(|&d| !is_dropped(d))
        .nfc()
        .collect();
    let mut out = Vec::with_capacity(normal.len());
    for d in normal.chars() {
        if d.is_ascii() {
            out.push(d.to_ascii_lowercase());
            continue;
        }
        let d = arabic_explicit(d);
        if d.general_category() == GeneralCategory::DecimalNumber {
            out.push(ascii_digit(d));
            continue;
        }
        if d.general_category_group() == GeneralCategoryGroup::Letter {
            match skeleton_map(d) {
                Some(v) => out.extend(v.into_iter().map(arabic_explicit)),
                None => out.push(d),
            }
            continue;
        }
        out.push(d);
    }
    out
}

/// Letters that neither compatibility decomposition nor the confusable
/// skeleton bring to a Latin letter, though every reader sees one: small
/// capitals (`ᴊᴏɪɴ`, and the Cyrillic `ғ`, `Ғ` that small-capital text
/// generators write for an F, whose own small capital `ꜰ` few fonts have:
/// `ᴋʜɪʟᴀғᴀʜ`), negative circled and negative squared letters
/// (`🅹🅾🅸🅽`, `🅙`) and regional-indicator letters (`🇯🇴🇮🇳`). Circled,
/// squared and parenthesised letters decompose by NFKC already.
fn letter_lookalike(c: char) -> Option<char> {
    const SMALL_CAPITALS: [(char, char); 28] = [
        ('\u{1D00}', 'a'),
        ('\u{0299}', 'b'),
        ('\u{1D04}', 'c'),
        ('\u{1D05}', 'd'),
        ('\u{1D07}', 'e'),
        ('\u{A730}', 'f'),
        ('\u{0262}', 'g'),
        ('\u{029C}', 'h'),
        ('\u{026A}', 'i'),
        ('\u{1D0A}', 'j'),
        ('\u{1D0B}', 'k'),
        ('\u{029F}', 'l'),
        ('\u{1D0D}', 'm'),
        ('\u{0274}', 'n'),
        ('\u{1D0F}', 'o'),
        ('\u{1D18}', 'p'),
        ('\u{A7AF}', 'q'),
        ('\u{0280}', 'r'),
        ('\u{A731}', 's'),
        ('\u{1D1B}', 't'),
        ('\u{1D1C}', 'u'),
        ('\u{1D20}', 'v'),
        ('\u{1D21}', 'w'),
        ('\u{028F}', 'y'),
        ('\u{1D22}', 'z'),
        ('\u{1D19}', 'r'),
        // CYRILLIC SMALL, CAPITAL LETTER GHE WITH STROKE: the generators' F.
        ('\u{0493}', 'f'),
        ('\u{0492}', 'f'),
    ];
    let letter = |base: u32| char::from_u32(u32::from(b'a') + (c as u32 - base));
    match c as u32 {
        // NEGATIVE CIRCLED, NEGATIVE SQUARED LATIN CAPITAL LETTER A..Z.
        0x1F150..=0x1F169 => letter(0x1F150),
        0x1F170..=0x1F189 => letter(0x1F170),
        // REGIONAL INDICATOR SYMBOL LETTER A..Z.
        0x1F1E6..=0x1F1FF => letter(0x1F1E6),
        _ => SMALL_CAPITALS
            .iter()
            .find(|(small, _)| *small == c)
            .map(|(_, l)| *l),
    }
}

/// Decimal digits (general category Nd) come in contiguous runs of ten, zero
/// first; the value is the distance from the start of the run, mod 10.
fn ascii_digit(d: char) -> char {
    let mut z = d as u32;
    while z > 0
        && char::from_u32(z - 1)
            .is_some_and(|p| p.general_category() == GeneralCategory::DecimalNumber)
    {
        z -= 1;
    }
    (b'0' + ((d as u32 - z) % 10) as u8) as char
}

fn skeleton_of(s: &str) -> String {
    unicode_security::skeleton(s).collect()
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn is_ascii_letter(c: char) -> bool {
    c.is_ascii_lowercase()
}

/// Maps a non-ASCII letter (already case-folded and without marks) to its
/// UTS #39 skeleton when that is useful and safe:
/// - a letter whose skeleton is empty is a default-ignorable filler (Hangul
///   filler...): dropped;
/// - an Arabic-script letter maps only to a single Arabic letter (UTS #39
///   maps alef to `l` and heh to `o`, which must not happen to Arabic text);
/// - any other letter maps to a single ASCII letter, trying its own skeleton
///   first and then its uppercase form's (Cyrillic `т` has skeleton `ᴛ`, but
///   `Т` gives `T`);
/// - a Latin letter whose skeleton is two or three ASCII letters takes them
///   (`æ` → `ae`, `œ` → `oe`).
fn skeleton_map(d: char) -> Option<Vec<char>> {
    let mut buf = [0u8; 4];
    let sk = skeleton_of(d.encode_utf8(&mut buf));
    if sk.is_empty() {
        return Some(Vec::new());
    }
    let f1 = case_fold(&sk);
    if d.script() == Script::Arabic {
        let t = single_char(&sk)?;
        return (t != d
            && t.script() == Script::Arabic
            && t.general_category_group() == GeneralCategoryGroup::Letter)
            .then(|| vec![t]);
    }
    if let Some(t) = single_char(&f1) {
        if is_ascii_letter(t) {
            return Some(vec![t]);
        }
    }
    let mut up = d.to_uppercase();
    if let (Some(u), None) = (up.next(), up.next()) {
        if u != d {
            let f2 = case_fold(&skeleton_of(u.encode_utf8(&mut buf)));
            if let Some(t) = single_char(&f2) {
                if is_ascii_letter(t) {
                    return Some(vec![t]);
                }
            }
        }
    }
    let n = f1.chars().count();
    if d.script() == Script::Latin && (2..=3).contains(&n) && f1.chars().all(is_ascii_letter) {
        return Some(f1.chars().collect());
    }
    None
}
