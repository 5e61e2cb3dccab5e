//! Arabic clitic prefixes: the readings of a folded Arabic word as prefixes
//! and a stem, for whole-word matching (see the module docs of
//! [`crate::normalize`], "Arabic prefixes").

/// `و` (and), `ف` (so), `ب` (with, in), `ك` (like), `ل` (for), `س` (will),
/// `ا` and `ل` of the article `ال`; the imperfect-tense letters `ي ت ن` (and
/// `ا`, where folding has made `أ` of it) that `س` stands before. As UTF-8.
const WAW: [u8; 2] = [0xD9, 0x88];
const FA: [u8; 2] = [0xD9, 0x81];
const BA: [u8; 2] = [0xD8, 0xA8];
const KAF: [u8; 2] = [0xD9, 0x83];
const LAM: [u8; 2] = [0xD9, 0x84];
const SIN: [u8; 2] = [0xD8, 0xB3];
const ALEF: [u8; 2] = [0xD8, 0xA7];
const YA: [u8; 2] = [0xD9, 0x8A];
const TA: [u8; 2] = [0xD8, 0xAA];
const NUN: [u8; 2] = [0xD9, 0x86];

/// The article `ال` as UTF-8, which a reading can put back (see [`Stem`]).
pub const ARTICLE: &str = "\u{0627}\u{0644}";

/// A stem must keep at least this many letters: shorter ones are too often
/// the tail of an unrelated word (`بروج`, towers, is not `ب` + the camp
/// `روج`).
pub const MIN_STEM_LETTERS: usize = 4;

/// One reading of a folded word as clitic prefixes and a stem: the stem is
/// `word[prefix..]`, after [`ARTICLE`] when `article` is set (a `ل` before
/// the article is written `لل`, which folding collapses to `ل`: `للمجاهدين`
/// folds to `لمجاهدين`, read as `ل` + `المجاهدين`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stem {
    /// Bytes of the word that the prefixes take.
    pub prefix: usize,
    /// The stem is the article and the rest of the word.
    pub article: bool,
}

impl Stem {
    /// The stem of `word` as text (allocates; for reports).
    pub fn text(&self, word: &str) -> String {
        let rest = &word[self.prefix..];
        if self.article {
            format!("{ARTICLE}{rest}")
        } else {
            rest.to_string()
        }
    }

    fn len(&self, word: &[u8]) -> usize {
        word.len() - self.prefix + if self.article { ARTICLE.len() } else { 0 }
    }

    /// Equal stems, however they were read.
    fn same(&self, other: &Stem, word: &[u8]) -> bool {
        let bytes = |s: &Stem, i: usize| {
            if s.article && i < ARTICLE.len() {
                ARTICLE.as_bytes()[i]
            } else {
                word[s.prefix + i - if s.article { ARTICLE.len() } else { 0 }]
            }
        };
        self.len(word) == other.len(word)
            && (0..self.len(word)).all(|i| bytes(self, i) == bytes(other, i))
    }
}

/// Calls `f` once for every distinct reading of the folded word `word` as
/// prefixes from a closed list and a stem: an optional conjunction `و` or
/// `ف`, then an optional `ب`, `ك`, `ل` or `س` (this one only before an
/// imperfect verb: `ي ت ن ا`), then an optional article `ال`; at least one
/// prefix, or the `لل` reading above. The stem starts with an Arabic letter
/// and keeps at least [`MIN_STEM_LETTERS`] letters. A word that does not
/// start with one of those letters has no reading, and costs one comparison.
pub fn for_each_arabic_stem(word: &[u8], mut f: impl FnMut(Stem)) {
    let at = |i: usize, ch: [u8; 2]| word.get(i..i + 2) == Some(&ch[..]);
    let first = match word.get(..2) {
        Some(b) => [b[0], b[1]],
        None => return,
    };
    if ![WAW, FA, BA, KAF, LAM, SIN, ALEF].contains(&first) {
        return;
    }
    let mut found: [Stem; 12] = [Stem {
        prefix: 0,
        article: false,
    }; 12];
    let mut n = 0;
    let mut emit = |s: Stem| {
        let rest = &word[s.prefix..];
        let letters = rest.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        let arabic = rest.first().is_some_and(|&b| (0xD8..=0xDB).contains(&b));
        if letters >= MIN_STEM_LETTERS
            && arabic
            && n < found.len()
            && !found[..n].iter().any(|o| o.same(&s, word))
        {
            found[n] = s;
            n += 1;
        }
    };
    let conj: &[usize] = if at(0, WAW) || at(0, FA) {
        &[0, 2]
    } else {
        &[0]
    };
    for &c in conj {
        // (where the stem may start, the prefix there is `ل`)
        let mut preps = [(c, false), (c, false)];
        let mut np = 1;
        if at(c, BA) || at(c, KAF) {
            preps[1] = (c + 2, false);
            np = 2;
        } else if at(c, LAM) {
            preps[1] = (c + 2, true);
            np = 2;
        } else if at(c, SIN) && [YA, TA, NUN, ALEF].iter().any(|&l| at(c + 2, l)) {
            preps[1] = (c + 2, false);
            np = 2;
        }
        for &(p, lam) in &preps[..np] {
            if p > 0 {
                emit(Stem {
                    prefix: p,
                    article: false,
                });
            }
            if lam {
                emit(Stem {
                    prefix: p,
                    article: true,
                });
            } else if at(p, ALEF) && at(p + 2, LAM) {
                emit(Stem {
                    prefix: p + 4,
                    article: false,
                });
            }
        }
    }
    for s in &found[..n] {
        f(*s);
    }
}

/// When the folded phrase `entry` is what a prefixed match of `folded` (the
/// folded text of a match: words separated by single spaces) read: the
/// prefix its first word was read without, and the stem.
pub fn prefixed_reading<'a>(folded: &'a str, entry: &str) -> Option<(&'a str, Stem)> {
    let (first, tail) = match folded.find(' ') {
        Some(i) => (&folded[..i], &folded[i..]),
        None => (folded, ""),
    };
    let mut out = None;
    for_each_arabic_stem(first.as_bytes(), |s| {
        if out.is_none() && entry.len() == s.len(first.as_bytes()) + tail.len() {
            let stem = s.text(first);
            if entry.strip_prefix(stem.as_str()) == Some(tail) {
                out = Some((&first[..s.prefix], s));
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(word: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_arabic_stem(word.as_bytes(), |s| out.push(s.text(word)));
        out.sort();
        out
    }

    #[test]
    fn readings_of_prefixed_words() {
        let mut want = vec!["انفروا"];
        assert_eq!(stems("وانفروا"), want);
        // A conjunction then a preposition: both, or the conjunction only.
        want = vec!["ايعوا", "بايعوا"];
        want.sort();
        assert_eq!(stems("فبايعوا"), want);
        // `لل` (folded `ل`) is `ل` + the article.
        want = vec!["المجاهدين", "مجاهدين"];
        want.sort();
        assert_eq!(stems("لمجاهدين"), want);
        // The article alone, and after a conjunction and a preposition.
        assert_eq!(stems("المجاهدين"), vec!["مجاهدين"]);
        want = vec!["المجاهدين", "بالمجاهدين", "مجاهدين"];
        want.sort();
        assert_eq!(stems("وبالمجاهدين"), want);
        // `س` only before an imperfect verb.
        assert_eq!(stems("سننفر"), vec!["ننفر"]);
        assert!(stems("سلاحهم").is_empty());
    }

    #[test]
    fn no_reading_without_a_listed_prefix_or_a_long_enough_stem() {
        assert!(stems("مجاهدين").is_empty());
        assert!(stems("join").is_empty());
        assert!(stems("").is_empty());
        assert!(stems("و").is_empty());
        // Stems under four letters.
        assert!(stems("بروج").is_empty());
        assert!(stems("وقسد").is_empty());
        // A stem must start with an Arabic letter.
        assert!(stems("وtelegram").is_empty());
    }

    #[test]
    fn a_match_names_its_prefix() {
        let (p, s) = prefixed_reading("لمجاهدين في", "المجاهدين في").unwrap();
        assert_eq!((p, s.article), ("ل", true));
        let (p, _) = prefixed_reading("وانفروا", "انفروا").unwrap();
        assert_eq!(p, "و");
        assert!(prefixed_reading("وانفروا", "وانفروا").is_none());
        assert!(prefixed_reading("انفروا", "نفروا").is_none());
    }
}
