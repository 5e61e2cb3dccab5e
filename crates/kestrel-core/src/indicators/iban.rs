//! IBAN: country code, two check digits and a BBAN of the registered length
//! for that country; check digits 02..=98 and ISO 7064 MOD 97-10 remainder 1.
//!
//! Accepted forms, each a whole token:
//! * printed: `DE89370400440532013000`;
//! * grouped in fours with single spaces (ASCII, no-break, narrow no-break,
//!   figure or thin), the last group 1-4 chars: `DE89 3704 0044 0532 0130 00`
//!   (note `grouped`).
//!
//! Letters are all upper case (the standard form), or all lower case (note
//! `lowercase` / `grouped_lowercase`); mixed case is rejected. The BBAN's
//! national structure (which positions are digits) is not checked: the
//! length and mod-97 checks are.

use super::notes::{GROUPED, GROUPED_LOWERCASE, LOWERCASE};
use super::scan::{word_char_at, word_char_before};
use super::{IndicatorKind, IndicatorMatch, Note};

/// IBAN length per country code, from the SWIFT IBAN registry (ISO 13616),
/// sorted by code. Territories that use another country's prefix (e.g. the
/// French overseas departments with `FR`, Åland with `FI`) are covered by it.
const LENGTHS: [([u8; 2], u8); 89] = [
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BI", 27),
    (*b"BR", 29),
    (*b"BY", 28),
    (*b"CH", 21),
    (*b"CR", 22),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DJ", 27),
    (*b"DK", 18),
    (*b"DO", 28),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FK", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"GT", 28),
    (*b"HN", 28),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IQ", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LC", 32),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"LY", 25),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MN", 20),
    (*b"MR", 27),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NI", 28),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"OM", 23),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PS", 29),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"RU", 33),
    (*b"SA", 24),
    (*b"SC", 31),
    (*b"SD", 18),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"SO", 23),
    (*b"ST", 25),
    (*b"SV", 28),
    (*b"TL", 23),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"VG", 24),
    (*b"XK", 20),
    (*b"YE", 30),
];

/// The registered IBAN length for a country code (either case).
pub(crate) fn registered_length(cc: [u8; 2]) -> Option<usize> {
    let cc = cc.map(|c| c.to_ascii_uppercase());
    LENGTHS
        .binary_search_by(|(code, _)| code.cmp(&cc))
        .ok()
        .map(|i| usize::from(LENGTHS[i].1))
}

/// Letters (and whether they were lower case) collected from a candidate.
struct Chars {
    buf: [u8; 34],
    len: usize,
    upper: bool,
    lower: bool,
}

impl Chars {
    fn push_run(&mut self, run: &[u8]) -> Option<()> {
        for &c in run {
            *self.buf.get_mut(self.len)? = c;
            self.len += 1;
            self.upper |= c.is_ascii_uppercase();
            self.lower |= c.is_ascii_lowercase();
        }
        Some(())
    }
}

fn alnum_run(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count()
}

/// Parses an IBAN starting at byte `s` of `b` (which must start a token:
/// the caller checks what precedes it). Returns its end and note.
fn parse_at(b: &[u8], s: usize) -> Option<(usize, Note)> {
    let head = b.get(s..s + 4)?;
    let shape = head[0].is_ascii_alphabetic()
        && head[1].is_ascii_alphabetic()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit();
    if !shape {
        return None;
    }
    let want = registered_length([head[0], head[1]])?;
    let mut chars = Chars {
        buf: [0; 34],
        len: 0,
        upper: false,
        lower: false,
    };
    let first = alnum_run(b, s);
    let (end, grouped) = if first == want {
        chars.push_run(&b[s..s + first])?;
        (s + first, false)
    } else if first == 4 {
        chars.push_run(head)?;
        let mut pos = s + 4;
        while chars.len < want {
            let sep = group_separator(&b[pos..])?;
            let g = alnum_run(b, pos + sep);
            if g != (want - chars.len).min(4) {
                return None;
            }
            chars.push_run(&b[pos + sep..pos + sep + g])?;
            pos += sep + g;
        }
        (pos, true)
    } else {
        return None;
    };
    if chars.upper && chars.lower {
        return None;
    }
    let iban = &chars.buf[..chars.len];
    let check = u32::from(iban[2] - b'0') * 10 + u32::from(iban[3] - b'0');
    if !(2..=98).contains(&check) || mod97(iban) != 1 {
        return None;
    }
    let note = match (grouped, chars.lower) {
        (false, false) => None,
        (false, true) => Some(LOWERCASE),
        (true, false) => Some(GROUPED),
        (true, true) => Some(GROUPED_LOWERCASE),
    };
    Some((end, note))
}

/// The length of the space that separates two groups at the start of `b`:
/// an ASCII space, or the no-break, narrow no-break, figure or thin space
/// that word processors and banking apps put between groups.
fn group_separator(b: &[u8]) -> Option<usize> {
    const SPACES: [&[u8]; 5] = [
        b" ",
        "\u{00A0}".as_bytes(),
        "\u{202F}".as_bytes(),
        "\u{2007}".as_bytes(),
        "\u{2009}".as_bytes(),
    ];
    SPACES.iter().find(|s| b.starts_with(s)).map(|s| s.len())
}

/// ISO 7064 MOD 97-10 of the IBAN moved so its first four chars come last,
/// letters read as 10..=35.
fn mod97(iban: &[u8]) -> u32 {
    let (head, bban) = iban.split_at(4);
    bban.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        }
    })
}

/// The IBAN starting at byte `s` of `text`, if any: a whole token (no word
/// char before or after it) that validates.
pub(crate) fn match_at(text: &str, s: usize) -> Option<IndicatorMatch> {
    if word_char_before(text, s) {
        return None;
    }
    let (end, note) = parse_at(text.as_bytes(), s)?;
    (!word_char_at(text, end)).then_some(IndicatorMatch {
        kind: IndicatorKind::Iban,
        start: s,
        end,
        note,
    })
}

/// `candidate` is exactly one IBAN, printed or grouped.
pub(crate) fn validate(candidate: &str) -> Option<Note> {
    match parse_at(candidate.as_bytes(), 0)? {
        (end, note) if end == candidate.len() => Some(note),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorted_and_sane() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(LENGTHS.iter().all(|(_, n)| (15..=34).contains(n)));
        assert_eq!(registered_length(*b"NO"), Some(15));
        assert_eq!(registered_length(*b"lc"), Some(32));
        assert_eq!(registered_length(*b"US"), None);
    }

    #[test]
    fn forms() {
        assert_eq!(validate("DE89370400440532013000"), Some(None));
        assert_eq!(validate("DE89 3704 0044 0532 0130 00"), Some(Some(GROUPED)));
        assert_eq!(validate("de89370400440532013000"), Some(Some(LOWERCASE)));
        assert_eq!(
            validate("gb82 west 1234 5698 7654 32"),
            Some(Some(GROUPED_LOWERCASE))
        );
        assert_eq!(validate("GB82 west 1234 5698 7654 32"), None);
        assert_eq!(validate("DE89 3704 0044 0532 0130 00 "), None);
        assert_eq!(validate("DE89  3704 0044 0532 0130 00"), None);
        assert_eq!(validate("DE89 370400440532013000"), None);
        assert_eq!(validate("DE89 3704 0044 0532 0130 0"), None);
        assert_eq!(validate("DE88370400440532013000"), None);
        assert_eq!(validate(""), None);
        assert_eq!(validate("DE8"), None);
    }

    #[test]
    fn check_digit_aliases_rejected() {
        // Issued check digits are 98 - (x mod 97), always 02..=98; 00, 01 and
        // 99 pass mod 97 only as aliases of 97, 98 and 02, and are rejected.
        let mut aliases_seen = [false; 3];
        for n in 0..10_000u32 {
            let bban = format!("WEST{n:014}");
            for cd in 0..=99u32 {
                let iban = format!("GB{cd:02}{bban}");
                if mod97(iban.as_bytes()) != 1 {
                    assert_eq!(validate(&iban), None);
                    continue;
                }
                match cd {
                    0 => aliases_seen[0] = true,
                    1 => aliases_seen[1] = true,
                    99 => aliases_seen[2] = true,
                    _ => {}
                }
                assert_eq!(validate(&iban).is_some(), (2..=98).contains(&cd), "{iban}");
            }
            if aliases_seen.iter().all(|&s| s) {
                return;
            }
        }
        panic!("no IBAN with alias check digits found");
    }
}
