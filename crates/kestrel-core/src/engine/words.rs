//! Whole-word literals of the folded view, matched one word at a time.
//!
//! Folded text is words separated by single spaces, and a whole-word match
//! must start and end at a space or an edge of the text. So a pattern can
//! only start where a word starts, and its first words must be exactly those
//! of the text there. The matcher walks the words of the text and looks up
//! each word, and each pair of neighbouring words, in a hash table keyed by
//! the one-word patterns and by the first two words of the longer ones; it
//! compares the rest of a candidate pattern byte for byte. One probe per word replaces one automaton step per
//! byte, and the table stays small enough for the CPU caches however many
//! patterns a pack holds; an Aho-Corasick DFA over thousands of folded
//! phrases does not.
//!
//! [`WordSet::for_each_prefixed_match`] reads Arabic words without their
//! clitic prefixes, for the patterns that start with an Arabic word.

use crate::normalize;

/// One slot of the open-addressing table.
#[derive(Clone, Copy)]
struct Slot {
    /// Full hash of the key.
    hash: u64,
    /// Index into `entries`, or `EMPTY`.
    entry: u32,
}

const EMPTY: u32 = u32::MAX;

/// A key (one word, or the first two words of longer patterns) and the
/// patterns it leads to.
struct Entry {
    /// Range of the key in `bytes`.
    key: (u32, u32),
    /// Range into `order`.
    patterns: (u32, u32),
}

/// Bits in the filter that sits in front of the table, as a power of two:
/// about 16 per key, at least 8 KiB (it stays in the first-level cache for
/// small packs) and at most 64 KiB. Most words of a post stop there; a pack
/// of 20,000 keys in 8 KiB let a fifth of them through to the table.
const FILTER_BITS_MIN: u32 = 16;
const FILTER_BITS_MAX: u32 = 19;

pub(super) struct WordSet {
    filter: Vec<u64>,
    /// 64 minus the filter's bits: a hash's top bits pick its filter bit.
    filter_shift: u32,
    slots: Vec<Slot>,
    shift: u32,
    entries: Vec<Entry>,
    /// Pattern ids grouped by key.
    order: Vec<u32>,
    /// Per pattern id, its range in `bytes`.
    spans: Vec<(u32, u32)>,
    bytes: Vec<u8>,
    /// Some key is two words: only then are pairs of words looked up.
    pairs: bool,
}

/// True for a pattern this matcher can take: non-empty, and no space at
/// either end (a whole-word match cannot start or end on a space in folded
/// text, where spaces come one at a time between words).
pub(super) fn accepts(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    !b.is_empty() && b[0] != b' ' && b[b.len() - 1] != b' ' && b.len() < u32::MAX as usize
}

/// Up to 8 bytes of `hay` from `at` (`n` of them, 1 to 8), little-endian,
/// zero-padded: one unaligned load away from the end of the text.
#[inline(always)]
fn load(hay: &[u8], at: usize, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n) && at + n <= hay.len());
    let v = match hay.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(&hay[at..at + n]);
            u64::from_le_bytes(buf)
        }
    };
    v & (u64::MAX >> (64 - 8 * n))
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Bit i set when `block[i]` (at most 64 bytes) is an ASCII space; eight
/// bytes at a time.
#[inline(always)]
fn space_mask(block: &[u8]) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let mut mask = 0u64;
    let mut chunks = block.chunks_exact(8);
    for (c, chunk) in (&mut chunks).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ 0x2020_2020_2020_2020;
        // High bit of each byte that is zero (a space before the xor), with
        // no carry between bytes.
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        // Gather the eight high bits into one byte, byte k to bit k.
        let bits = ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * c);
    }
    let done = block.len() - chunks.remainder().len();
    for (i, &b) in chunks.remainder().iter().enumerate() {
        mask |= u64::from(b == b' ') << (done + i);
    }
    mask
}

/// Hash of the word `hay[start..end]`.
#[inline(always)]
fn hash_word(hay: &[u8], start: usize, end: usize) -> u64 {
    let len = end - start;
    let mut h = (load(hay, start, len.min(8)) ^ (len as u64).wrapping_mul(K)).wrapping_mul(K);
    let mut at = start + 8;
    while at < end {
        h = (h.rotate_left(23) ^ load(hay, at, (end - at).min(8))).wrapping_mul(K);
        at += 8;
    }
    h ^ (h >> 32)
}

/// Hash of two consecutive words from theirs.
#[inline(always)]
fn hash_pair(first: u64, second: u64) -> u64 {
    let h = (first.rotate_left(29) ^ second ^ 0x5851_F42D_4C95_7F2D).wrapping_mul(K);
    h ^ (h >> 32)
}

/// The hash of a key as the scan computes it: one word, or two words and the
/// space between them.
fn hash_key(key: &[u8]) -> u64 {
    match memchr::memchr(b' ', key) {
        None => hash_word(key, 0, key.len()),
        Some(sp) => hash_pair(hash_word(key, 0, sp), hash_word(key, sp + 1, key.len())),
    }
}

impl WordSet {
    /// Builds the set; pattern id i is `patterns[i]`, each accepted by
    /// [`accepts`].
    pub(super) fn new(patterns: &[&str]) -> WordSet {
        let mut bytes = Vec::new();
        let mut spans = Vec::with_capacity(patterns.len());
        for p in patterns {
            debug_assert!(accepts(p));
            let a = bytes.len() as u32;
            bytes.extend_from_slice(p.as_bytes());
            spans.push((a, bytes.len() as u32));
        }
        // A one-word pattern is its own key; a longer one is found through
        // its first two words, so a common first word ("the", "on") does not
        // send every occurrence to a long list of phrases.
        let key = |id: usize| -> &[u8] {
            let p = patterns[id].as_bytes();
            let end = match memchr::memchr(b' ', p) {
                None => p.len(),
                Some(sp) => memchr::memchr(b' ', &p[sp + 1..]).map_or(p.len(), |e| sp + 1 + e),
            };
            &p[..end]
        };
        let mut order: Vec<u32> = (0..patterns.len() as u32).collect();
        order.sort_by(|&a, &b| key(a as usize).cmp(key(b as usize)).then(a.cmp(&b)));
        let mut entries: Vec<Entry> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let k = key(order[i] as usize);
            let mut j = i;
            while j < order.len() && key(order[j] as usize) == k {
                j += 1;
            }
            // The key's bytes are the start of the first pattern that has it.
            let (a, _) = spans[order[i] as usize];
            entries.push(Entry {
                key: (a, a + k.len() as u32),
                patterns: (i as u32, j as u32),
            });
            i = j;
        }
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let shift = 64 - size.trailing_zeros();
        let mut slots = vec![
            Slot {
                hash: 0,
                entry: EMPTY
            };
            size
        ];
        let filter_bits = (entries.len().max(1) * 16)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(FILTER_BITS_MIN, FILTER_BITS_MAX);
        let mut filter = vec![0u64; 1 << (filter_bits - 6)];
        for (ei, e) in entries.iter().enumerate() {
            let hv = hash_key(&bytes[e.key.0 as usize..e.key.1 as usize]);
            let bit = hv >> (64 - filter_bits);
            filter[(bit >> 6) as usize] |= 1 << (bit & 63);
            let mut s = (hv >> shift) as usize;
            while slots[s].entry != EMPTY {
                s = (s + 1) & (size - 1);
            }
            slots[s] = Slot {
                hash: hv,
                entry: ei as u32,
            };
        }
        let pairs = entries
            .iter()
            .any(|e| bytes[e.key.0 as usize..e.key.1 as usize].contains(&b' '));
        WordSet {
            pairs,
            filter,
            filter_shift: 64 - filter_bits,
            slots,
            shift,
            entries,
            order,
            spans,
            bytes,
        }
    }

    /// A set for [`WordSet::for_each_prefixed_match`]: its filter also
    /// holds the first word of every key of two words, so that one probe
    /// rules a stem out both as a one-word pattern and as the start of a
    /// phrase.
    pub(super) fn for_stems(patterns: &[&str]) -> WordSet {
        let mut set = WordSet::new(patterns);
        let filter_bits = 64 - set.filter_shift;
        for e in &set.entries {
            let key = &set.bytes[e.key.0 as usize..e.key.1 as usize];
            if let Some(sp) = memchr::memchr(b' ', key) {
                let bit = hash_word(key, 0, sp) >> (64 - filter_bits);
                set.filter[(bit >> 6) as usize] |= 1 << (bit & 63);
            }
        }
        set
    }

    #[inline(always)]
    fn maybe(&self, hv: u64) -> bool {
        let bit = hv >> self.filter_shift;
        self.filter[(bit >> 6) as usize] & (1 << (bit & 63)) != 0
    }

    /// Calls `f(pattern, start, end)` for every whole-word occurrence of
    /// every pattern in `hay` (folded text).
    #[inline]
    pub(super) fn for_each_match(&self, hay: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        // The previous word: its start and hash.
        let mut prev: Option<(usize, u64)> = None;
        let mut word = |start: usize, end: usize| {
            let h = hash_word(hay, start, end);
            if self.maybe(h) {
                self.lookup(h, hay, start, end, &mut f);
            }
            if !self.pairs {
                return;
            }
            if let Some((ps, ph)) = prev {
                let hp = hash_pair(ph, h);
                if self.maybe(hp) {
                    self.lookup(hp, hay, ps, end, &mut f);
                }
            }
            prev = Some((start, h));
        };
        // Spaces found 64 bytes at a time as a bit mask; each set bit ends a
        // word.
        let mut start = 0;
        let mut base = 0;
        while base < hay.len() {
            let mut spaces = space_mask(&hay[base..hay.len().min(base + 64)]);
            while spaces != 0 {
                let space = base + spaces.trailing_zeros() as usize;
                spaces &= spaces - 1;
                if space > start {
                    word(start, space);
                }
                start = space + 1;
            }
            base += 64;
        }
        if hay.len() > start {
            word(start, hay.len());
        }
    }

    /// Calls `f(pattern, start, end)` for every pattern that occurs at an
    /// Arabic word of `hay` read without its clitic prefixes
    /// ([`normalize::for_each_arabic_stem`]): the pattern's first word is a
    /// stem of the text's word, its other words follow as written, and the
    /// match spans the whole prefixed word (`وانفروا` for `انفروا`). A word
    /// is read so only when no pattern starts with it as written. Words
    /// that do not start with an Arabic letter cost nothing but the search
    /// for the bytes that start one (`0xD8`, `0xD9`: every prefix letter).
    pub(super) fn for_each_prefixed_match(
        &self,
        hay: &[u8],
        mut f: impl FnMut(usize, usize, usize),
    ) {
        let mut at = 0;
        while let Some(i) = memchr::memchr2(0xD8, 0xD9, &hay[at.min(hay.len())..]) {
            let start = at + i;
            let end = memchr::memchr(b' ', &hay[start..]).map_or(hay.len(), |k| start + k);
            if start == 0 || hay[start - 1] == b' ' {
                self.prefixed_word(hay, start, end, &mut f);
            }
            at = end + 1;
        }
    }

    /// The prefixed readings of the word `hay[start..end]`. Most stems stop
    /// at the filter; the word as written and the next word are looked at
    /// only for a stem that passes it.
    #[inline(never)]
    fn prefixed_word(
        &self,
        hay: &[u8],
        start: usize,
        end: usize,
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        let word = &hay[start..end];
        // The next word (start, end, hash), once needed.
        let mut next: Option<Option<(usize, usize, u64)>> = None;
        // Whether an entry starts at the word as written, once needed.
        let mut written: Option<bool> = None;
        let mut buf = [0u8; 128];
        normalize::for_each_arabic_stem(word, |stem| {
            let rest = &word[stem.prefix..];
            let art = if stem.article {
                normalize::ARTICLE.as_bytes()
            } else {
                &[]
            };
            let n = art.len() + rest.len();
            if n > buf.len() {
                return;
            }
            buf[..art.len()].copy_from_slice(art);
            buf[art.len()..n].copy_from_slice(rest);
            let key = &buf[..n];
            let hs = hash_word(key, 0, n);
            // Neither a one-word pattern nor the first word of a phrase (in
            // a set built by `for_stems`).
            if !self.maybe(hs) {
                return;
            }
            let nx = *next.get_or_insert_with(|| {
                (end < hay.len()).then(|| {
                    let ns = end + 1;
                    let ne = memchr::memchr(b' ', &hay[ns..]).map_or(hay.len(), |k| ns + k);
                    (ns, ne, hash_word(hay, ns, ne))
                })
            });
            let pair = nx
                .map(|(ns, ne, hn)| (ns, ne, hash_pair(hs, hn)))
                .filter(|&(_, _, hp)| self.maybe(hp));
            if *written.get_or_insert_with(|| self.starts_here(hay, start, end, nx)) {
                return;
            }
            self.lookup_stem(hs, key, None, hay, end, start, f);
            if let Some((ns, ne, hp)) = pair {
                self.lookup_stem(hp, key, Some(&hay[ns..ne]), hay, ne, start, f);
            }
        });
    }

    /// Whether some pattern occurs at the word `hay[start..end]` as written
    /// (`next`: the next word and its hash).
    fn starts_here(
        &self,
        hay: &[u8],
        start: usize,
        end: usize,
        next: Option<(usize, usize, u64)>,
    ) -> bool {
        let mut found = false;
        let h = hash_word(hay, start, end);
        if self.maybe(h) {
            self.lookup(h, hay, start, end, &mut |_, _, _| found = true);
        }
        if let Some((_, ne, hn)) = next {
            let hp = hash_pair(h, hn);
            if !found && self.maybe(hp) {
                self.lookup(hp, hay, start, ne, &mut |_, _, _| found = true);
            }
        }
        found
    }

    /// Looks up the key `stem` (followed by a space and `second`, when
    /// given), whose text ends at `hay[key_end]`, with hash `hv`, and reports
    /// the patterns of its entry that occur there, from `start`.
    #[allow(clippy::too_many_arguments)]
    fn lookup_stem(
        &self,
        hv: u64,
        stem: &[u8],
        second: Option<&[u8]>,
        hay: &[u8],
        key_end: usize,
        start: usize,
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        let key_len = stem.len() + second.map_or(0, |w| 1 + w.len());
        let is_key = |k: &[u8]| {
            k.len() == key_len
                && k[..stem.len()] == *stem
                && second.is_none_or(|w| k[stem.len()] == b' ' && k[stem.len() + 1..] == *w)
        };
        let Some(entry) = self.find(hv, is_key) else {
            return;
        };
        for &id in &self.order[entry.patterns.0 as usize..entry.patterns.1 as usize] {
            let (a, b) = self.spans[id as usize];
            let len = (b - a) as usize;
            let stop = key_end + (len - key_len);
            if stop <= hay.len()
                && (stop == hay.len() || hay[stop] == b' ')
                && hay[key_end..stop] == self.bytes[a as usize + key_len..b as usize]
            {
                f(id as usize, start, stop);
            }
        }
    }

    /// The entry whose key has hash `hv` and passes `is_key`: linear probing
    /// from the hash's slot up to the first empty one.
    #[inline(always)]
    fn find(&self, hv: u64, is_key: impl Fn(&[u8]) -> bool) -> Option<&Entry> {
        let mask = self.slots.len() - 1;
        let mut s = (hv >> self.shift) as usize;
        loop {
            let slot = self.slots[s];
            if slot.entry == EMPTY {
                return None;
            }
            if slot.hash == hv {
                let e = &self.entries[slot.entry as usize];
                if is_key(&self.bytes[e.key.0 as usize..e.key.1 as usize]) {
                    return Some(e);
                }
            }
            s = (s + 1) & mask;
        }
    }

    /// Looks up the key `hay[start..end]` with hash `hv` and reports the
    /// patterns of its entry that occur at `start`.
    #[inline(never)]
    fn lookup(
        &self,
        hv: u64,
        hay: &[u8],
        start: usize,
        end: usize,
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        let Some(entry) = self.find(hv, |k| k == &hay[start..end]) else {
            return;
        };
        let key_len = end - start;
        for &id in &self.order[entry.patterns.0 as usize..entry.patterns.1 as usize] {
            let (a, b) = self.spans[id as usize];
            let len = (b - a) as usize;
            if len == key_len {
                f(id as usize, start, end);
                continue;
            }
            let stop = start + len;
            if stop <= hay.len()
                && (stop == hay.len() || hay[stop] == b' ')
                && hay[end..stop] == self.bytes[a as usize + key_len..b as usize]
            {
                f(id as usize, start, stop);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(patterns: &[&str], hay: &str) -> Vec<(String, usize, usize)> {
        let set = WordSet::new(patterns);
        let mut out = Vec::new();
        set.for_each_match(hay.as_bytes(), |id, s, e| {
            out.push((patterns[id].to_string(), s, e))
        });
        out.sort();
        out
    }

    #[test]
    fn finds_words_and_phrases_only_at_word_edges() {
        let pats = ["ma", "islamic state", "islamic", "state of", "join us"];
        let got = matches(&pats, "ma islamic state of mind mama join");
        assert_eq!(
            got,
            vec![
                ("islamic".to_string(), 3, 10),
                ("islamic state".to_string(), 3, 16),
                ("ma".to_string(), 0, 2),
                ("state of".to_string(), 11, 19),
            ]
        );
    }

    #[test]
    fn space_mask_marks_exactly_the_spaces() {
        let mut rng = crate::testrng::TestRng::new(0x9E37_79B9_7F4A_7C15);
        for len in 0..=64 {
            for _ in 0..200 {
                let block: Vec<u8> = (0..len)
                    // Spaces, their neighbours in value, high bytes, zero.
                    .map(|_| [b' ', b' ', b'!', 0x1F, 0xA0, 0x00, b'a', 0xE2][rng.below(8)])
                    .collect();
                let want = block
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &b)| m | (u64::from(b == b' ') << i));
                assert_eq!(space_mask(&block), want, "{block:?}");
            }
        }
    }

    fn prefixed(patterns: &[&str], hay: &str) -> Vec<(String, String)> {
        let set = WordSet::for_stems(patterns);
        let mut out = Vec::new();
        set.for_each_prefixed_match(hay.as_bytes(), |id, s, e| {
            out.push((patterns[id].to_string(), hay[s..e].to_string()))
        });
        out.sort();
        out
    }

    #[test]
    fn arabic_words_are_read_without_their_prefixes() {
        let pats = ["انفروا", "المجاهدين", "انفروا الي الشام", "دعم", "join"];
        // A conjunction; the whole prefixed word is the match.
        assert_eq!(
            prefixed(&pats, "يا شباب وانفروا"),
            vec![("انفروا".to_string(), "وانفروا".to_string())]
        );
        // The first word of a phrase, the rest as written.
        assert_eq!(
            prefixed(&pats, "فانفروا الي الشام"),
            vec![
                ("انفروا".to_string(), "فانفروا".to_string()),
                (
                    "انفروا الي الشام".to_string(),
                    "فانفروا الي الشام".to_string()
                ),
            ]
        );
        // A phrase whose first word is no pattern of its own.
        assert_eq!(
            prefixed(&["الحقوا بالركب"], "فالحقوا بالركب"),
            vec![("الحقوا بالركب".to_string(), "فالحقوا بالركب".to_string())]
        );
        // `للمجاهدين` folds to `لمجاهدين`: `ل` + the article; and `وبال`.
        assert_eq!(
            prefixed(&pats, "لمجاهدين وبالمجاهدين"),
            vec![
                ("المجاهدين".to_string(), "لمجاهدين".to_string()),
                ("المجاهدين".to_string(), "وبالمجاهدين".to_string()),
            ]
        );
    }

    #[test]
    fn prefixed_readings_stay_out_of_other_words() {
        let pats = ["انفروا", "المجاهدين", "دعم", "وانفروا", "join"];
        // Matches as written are the main scan's: nothing here.
        assert!(prefixed(&pats, "انفروا المجاهدين join").is_empty());
        // A word that is an entry as written is not read again.
        assert!(prefixed(&["وانفروا", "انفروا"], "وانفروا").is_empty());
        // Not a listed prefix, a stem under four letters, a phrase cut short.
        assert!(prefixed(&pats, "تانفروا بدعم").is_empty());
        assert!(prefixed(&["انفروا الي الشام"], "فانفروا الي").is_empty());
        // Latin words are never read so.
        assert!(prefixed(&["oin"], "join").is_empty());
    }

    #[test]
    fn a_phrase_must_end_at_a_word_edge() {
        assert!(matches(&["join us"], "join usa").is_empty());
        assert_eq!(matches(&["join us"], "join us").len(), 1);
        assert!(matches(&["join us"], "join").is_empty());
    }

    #[test]
    fn agrees_with_an_automaton_on_random_text() {
        use aho_corasick::AhoCorasick;
        let words = [
            "a",
            "ab",
            "abc",
            "b",
            "ba",
            "c",
            "cab",
            "اخ",
            "الاخ",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "الارهاب",
        ];
        let mut pats: Vec<String> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            pats.push(w.to_string());
            let second = words[(i * 7 + 3) % words.len()];
            pats.push(format!("{w} {second}"));
            pats.push(format!("{w} {second} {}", words[(i * 5 + 1) % words.len()]));
            pats.push(format!("{w} {}", words[(i * 3 + 2) % words.len()]));
        }
        pats.sort();
        pats.dedup();
        let refs: Vec<&str> = pats.iter().map(String::as_str).collect();
        let ac = AhoCorasick::new(&refs).unwrap();
        let mut rng = crate::testrng::TestRng::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..2000 {
            let mut hay = String::new();
            for _ in 0..12 {
                if !hay.is_empty() {
                    hay.push(' ');
                }
                hay.push_str(words[rng.below(words.len())]);
            }
            let b = hay.as_bytes();
            let mut want: Vec<(String, usize, usize)> = ac
                .find_overlapping_iter(&hay)
                .filter(|m| {
                    (m.start() == 0 || b[m.start() - 1] == b' ')
                        && (m.end() == b.len() || b[m.end()] == b' ')
                })
                .map(|m| (pats[m.pattern().as_usize()].clone(), m.start(), m.end()))
                .collect();
            want.sort();
            assert_eq!(matches(&refs, &hay), want, "on {hay:?}");
        }
    }
}
