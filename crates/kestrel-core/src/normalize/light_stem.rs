//! Light stems of folded Russian and Arabic words, for the `~` entries of
//! `weights:` files.
//!
//! Russian and Arabic inflect: `вступайте`, `вступай`, `вступить` are one
//! call, as are `هاجروا`, `وهاجروا` and `هاجر`. A learned model that sees
//! only whole words needs every form in its labelled posts; one that also
//! sees a word's stem carries what it learned to the forms it never saw.
//! The stems here are deliberately crude (a closed list of endings, and for
//! Arabic of clitic prefixes and pronoun suffixes): they are features for a
//! model, never shown as a reading of the word, and a stem is always a
//! piece of the word as folded, so a hit on it has a span.

/// Russian endings (noun, adjective and verb, with the reflexive `-ся`),
/// as folding writes them: the Cyrillic letters that look Latin are Latin
/// (`е` is `e`, `у` is `y`), `й` is `и`, `ш` is `w`, `ь` is `b`, doubled
/// letters are one. Longest first; a unit test checks the list against
/// folding the plain endings.
const RU_ENDINGS: &[&str] = &[
    "ewbcя", "etcя", "ytcя", "иtcя", "юtcя", "яtcя", "aиte", "яиte", "aлcя", "илcя", "tbcя",
    "tecb", "amи", "ero", "emy", "ete", "ewb", "иwb", "ыmи", "иmи", "oro", "omy", "яmи", "aлa",
    "aли", "илa", "илo", "или", "heи", "иte", "acb", "иcb", "aи", "aл", "am", "ax", "aя", "be",
    "bю", "cb", "cя", "eb", "eи", "em", "et", "oe", "ob", "oи", "om", "tb", "yt", "yи", "yю", "ыe",
    "ыи", "ыm", "ыx", "at", "иe", "ил", "иm", "иt", "иx", "ию", "ия", "лa", "лo", "ли", "юt", "яt",
    "яx", "яи", "яm", "a", "b", "e", "o", "y", "ы", "и", "ю", "я",
];

/// Arabic clitic prefixes (conjunction, preposition, article), longest
/// first; one is read off.
const AR_PREFIXES: &[&str] = &["وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ل"];

/// Arabic pronoun and plural suffixes, longest first; one is read off.
const AR_SUFFIXES: &[&str] = &[
    "تها", "تهم", "يها", "ها", "هم", "هن", "كم", "كن", "نا", "ون", "ين", "ات", "ان", "وا", "تم",
    "يه", "ه", "ي", "ك",
];

/// Letters a Russian stem keeps at least; Arabic stems keep three.
const RU_MIN: usize = 4;
const AR_MIN: usize = 3;

/// A letter of the Cyrillic block (folding keeps those that do not look
/// Latin); folding's Cyrillic leet reading uses it too.
pub(super) fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

fn is_arabic(c: char) -> bool {
    ('\u{0600}'..='\u{06FF}').contains(&c)
}

/// The light stem of one folded word (no spaces): for a word of letters with
/// at least one Cyrillic letter (folded Russian mixes Cyrillic and Latin),
/// the word without its longest ending of [`RU_ENDINGS`] that leaves four
/// letters; for a word of Arabic letters, the word without one clitic prefix
/// and one suffix, each only where three letters are left. `None` when the
/// word is neither or nothing comes off.
pub fn light_stem(word: &str) -> Option<&str> {
    if word.is_empty() || word.len() > 120 {
        return None;
    }
    if word.chars().all(is_arabic) {
        let letters = word.chars().count();
        let mut s = word;
        let mut left = letters;
        if let Some(p) = AR_PREFIXES
            .iter()
            .find(|p| s.starts_with(**p) && left - p.chars().count() >= AR_MIN)
        {
            s = &s[p.len()..];
            left -= p.chars().count();
        }
        if let Some(e) = AR_SUFFIXES
            .iter()
            .find(|e| s.ends_with(**e) && left - e.chars().count() >= AR_MIN)
        {
            s = &s[..s.len() - e.len()];
        }
        return (s.len() != word.len()).then_some(s);
    }
    if !word.chars().all(char::is_alphabetic) || !word.chars().any(is_cyrillic) {
        return None;
    }
    let letters = word.chars().count();
    let e = RU_ENDINGS
        .iter()
        .find(|e| word.ends_with(**e) && letters - e.chars().count() >= RU_MIN)?;
    Some(&word[..word.len() - e.len()])
}

/// Each word of a folded text (words are separated by single spaces) that
/// has a light stem: `f(word_start, stem_end)`, byte offsets in `folded`
/// (a Russian stem starts where its word does; an Arabic one after its
/// prefix, so the start given is the stem's).
pub fn for_each_light_stem(folded: &str, mut f: impl FnMut(usize, usize)) {
    let mut at = 0;
    for word in folded.split(' ') {
        if let Some(s) = light_stem(word) {
            // A stem is a piece of the word: its offset inside it.
            let start = at + (s.as_ptr() as usize - word.as_ptr() as usize);
            f(start, start + s.len());
        }
        at += word.len() + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ending_list_is_the_folded_plain_endings() {
        let plain =
            "ай яй ей уй ой ий ый ите йте айте яйте ть ться тесь ся сь ешь ет ем ете ут ют \
                     ат ят ишь ит им ил ила ило или ал ала али ло ли ла а я о е ы и у ю ом ам ям \
                     ами ями ах ях ов ев ью ия ию ии ие ье ая яя ое ее ые ого его ому ему ым ых их \
                     ую юю ыми ими ешься ется ются утся ится ятся ался ась ился ись ней ь";
        let mut folded: Vec<String> = plain
            .split(' ')
            .filter(|e| !e.is_empty())
            .map(crate::normalize::fold)
            .collect();
        folded.sort();
        folded.dedup();
        let mut listed: Vec<String> = RU_ENDINGS.iter().map(|e| e.to_string()).collect();
        listed.sort();
        assert_eq!(listed, folded);
        // longest first, so the longest ending that fits comes off
        assert!(RU_ENDINGS
            .windows(2)
            .all(|w| w[0].chars().count() >= w[1].chars().count()));
    }

    fn stem_of(word: &str) -> Option<String> {
        let f = crate::normalize::fold(word);
        light_stem(&f).map(str::to_string)
    }

    #[test]
    fn russian_forms_of_one_word_share_a_stem() {
        let a = stem_of("вступайте").unwrap();
        assert_eq!(stem_of("вступай").as_deref(), Some(a.as_str()));
        let h = stem_of("хиджру").unwrap();
        assert_eq!(stem_of("хиджры").as_deref(), Some(h.as_str()));
        assert_eq!(stem_of("хиджрой").as_deref(), Some(h.as_str()));
        // four letters stay: short words keep their ending
        assert_eq!(stem_of("дом"), None);
        assert_eq!(stem_of("дома"), None);
        assert_eq!(stem_of("брата").as_deref(), Some("бpat"));
        // Latin words, numbers and mixed tokens have none
        assert_eq!(stem_of("joined"), None);
        assert_eq!(stem_of("abc"), None);
    }

    #[test]
    fn arabic_loses_one_prefix_and_one_suffix() {
        assert_eq!(stem_of("والمجاهدين").as_deref(), Some("مجاهد"));
        assert_eq!(stem_of("اخوانكم").as_deref(), Some("اخوان"));
        assert_eq!(stem_of("هاجروا").as_deref(), Some("هاجر"));
        // three letters stay
        assert_eq!(stem_of("بهم"), None);
        assert_eq!(stem_of("قال"), None);
    }

    #[test]
    fn stems_are_found_at_their_place_in_the_text() {
        let text = crate::normalize::fold("Вступайте к братьям والمجاهدين ok");
        let mut got = Vec::new();
        for_each_light_stem(&text, |a, b| got.push(text[a..b].to_string()));
        assert_eq!(
            got,
            vec![
                light_stem(&crate::normalize::fold("вступайте"))
                    .unwrap()
                    .to_string(),
                light_stem(&crate::normalize::fold("братьям"))
                    .unwrap()
                    .to_string(),
                "مجاهد".to_string()
            ]
        );
    }
}
