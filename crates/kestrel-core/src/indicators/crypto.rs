//! Cryptocurrency address validators (btc, ltc, eth, trx, xmr) and the bare
//! Session ID (a messenger indicator found by the same run scan).

use bech32::primitives::decode::SegwitHrpstring;
use bech32::Hrp;
use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

use super::notes::*;
use super::scan::is_whole_token;
use super::{IndicatorKind, IndicatorMatch, KindMask, Note};

const LTC_HRP: Hrp = Hrp::parse_unchecked("ltc");

/// The bech32 data alphabet (BIP-173), also CashAddr's.
const BECH32_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// True when `entry` is an address (or transaction id) in an encoding that
/// ignores letter case, so that every casing of it names the same account:
/// hex (EVM addresses, with or without `0x`; 64-digit ids), and bech32,
/// bech32m and CashAddr (`bc1…`, `ltc1…`, `bitcoincash:q…`, or a bare `q…`).
/// Base58 (legacy BTC, LTC, TRON, Monero) is case-sensitive and is not.
/// Lists of addresses compare these in their canonical, lower-case form.
pub fn is_caseless_address(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    if entry != lower && entry != entry.to_ascii_uppercase() {
        // Mixed case is only an address when it is hex (EIP-55 checksums).
        let hex = lower.strip_prefix("0x").unwrap_or(&lower);
        return hex.len() >= 40 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let hex = lower.strip_prefix("0x").unwrap_or(&lower);
    if hex.len() >= 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    let data = match lower.split_once(':') {
        Some(("bitcoincash" | "bchtest", d)) => d,
        Some(_) => return false,
        None => match lower.rsplit_once('1') {
            Some((hrp, d)) if !hrp.is_empty() && hrp.bytes().all(|b| b.is_ascii_lowercase()) => d,
            _ => &lower,
        },
    };
    data.len() >= 30 && data.bytes().all(|b| BECH32_CHARSET.contains(&b))
}

/// The shortest token any enabled run-scanned kind can match; 0 when none is
/// enabled.
pub(crate) fn min_run_len(mask: KindMask) -> usize {
    [
        (IndicatorKind::Btc, 14),       // bc1 + version + 2-byte program + checksum
        (IndicatorKind::Ltc, 15),       // ltc1 + version + 2-byte program + checksum
        (IndicatorKind::Trx, 34),       // 25 bytes, version 0x41
        (IndicatorKind::Eth, 42),       // 0x + 40 hex
        (IndicatorKind::Messenger, 66), // Session ID: 05 + 64 hex
        (IndicatorKind::Xmr, 95),       // standard / subaddress
    ]
    .into_iter()
    .filter(|(k, _)| mask.has(*k))
    .map(|(_, n)| n)
    .min()
    .unwrap_or(0)
}

/// Validates the alphanumeric run `text[s..e]` against the enabled kinds its
/// shape allows, and emits a match for each kind it is valid for.
pub(crate) fn classify_run(
    text: &str,
    s: usize,
    e: usize,
    mask: KindMask,
    emit: &mut impl FnMut(IndicatorMatch),
) {
    if !is_whole_token(text, s, e) {
        return;
    }
    let tok = &text[s..e];
    let len = tok.len();
    let first = tok.as_bytes()[0];
    let mut try_kind = |kind: IndicatorKind, plausible: bool, f: fn(&str) -> Option<Note>| {
        if plausible && mask.has(kind) {
            if let Some(note) = f(tok) {
                emit(IndicatorMatch {
                    kind,
                    start: s,
                    end: e,
                    note,
                });
            }
        }
    };
    try_kind(
        IndicatorKind::Btc,
        matches!(first, b'1' | b'3' | b'b' | b'B'),
        btc,
    );
    try_kind(
        IndicatorKind::Ltc,
        matches!(first, b'L' | b'M' | b'3' | b'l'),
        ltc,
    );
    try_kind(IndicatorKind::Eth, len == 42 && first == b'0', eth);
    try_kind(IndicatorKind::Trx, len == 34 && first == b'T', trx);
    try_kind(IndicatorKind::Xmr, len == 95 || len == 106, xmr);
    try_kind(
        IndicatorKind::Messenger,
        len == 66 && first == b'0',
        session,
    );
}

fn sha256d_check(payload: &[u8], check: &[u8]) -> bool {
    let h = Sha256::digest(Sha256::digest(payload));
    h[..4] == *check
}

/// Decodes a base58check string with a 25-byte payload (version, 20-byte
/// hash, 4-byte double-SHA-256 checksum) and returns the version byte.
fn base58check25(s: &str) -> Option<u8> {
    if !(25..=35).contains(&s.len()) {
        return None;
    }
    let mut buf = [0u8; 25];
    let n = bs58::decode(s).onto(&mut buf).ok()?;
    if n != 25 || !sha256d_check(&buf[..21], &buf[21..]) {
        return None;
    }
    Some(buf[0])
}

/// A segwit address of network `hrp`: BIP-173 / BIP-350 checksum (bech32 for
/// v0, bech32m for v1+), witness version and program length, zero padding,
/// one case throughout.
fn segwit(s: &str, hrp: Hrp) -> Option<Note> {
    if s.len() > 90 {
        return None;
    }
    let addr = SegwitHrpstring::new(s).ok()?;
    if addr.hrp() != hrp {
        return None;
    }
    Some(if addr.witness_version().to_u8() == 0 {
        None
    } else {
        Some(BECH32M)
    })
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Bitcoin: P2PKH `1…`, P2SH `3…`, segwit `bc1…`.
pub(crate) fn btc(s: &str) -> Option<Note> {
    match s.as_bytes().first()? {
        b'1' => (base58check25(s)? == 0x00).then_some(None),
        b'3' => (base58check25(s)? == 0x05).then_some(Some(P2SH)),
        b'b' | b'B' if starts_with_ci(s, "bc1") => segwit(s, bech32::hrp::BC),
        _ => None,
    }
}

/// Litecoin: P2PKH `L…` (0x30), P2SH `M…` (0x32) and legacy `3…` (0x05),
/// segwit `ltc1…`.
pub(crate) fn ltc(s: &str) -> Option<Note> {
    if starts_with_ci(s, "ltc1") {
        if let Some(note) = segwit(s, LTC_HRP) {
            return Some(note);
        }
        // `Ltc1…` may still be a base58 `L…` address.
    }
    match (s.as_bytes().first()?, base58check25(s)?) {
        (b'L', 0x30) => Some(None),
        (b'M', 0x32) | (b'3', 0x05) => Some(Some(P2SH)),
        _ => None,
    }
}

/// TRON: base58check, version 0x41 (`T…`).
pub(crate) fn trx(s: &str) -> Option<Note> {
    (s.len() == 34 && s.starts_with('T') && base58check25(s)? == 0x41).then_some(None)
}

fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut k = Keccak::v256();
    k.update(data);
    let mut h = [0u8; 32];
    k.finalize(&mut h);
    h
}

/// Ethereum / EVM: `0x` + 40 hex digits. Mixed case must match EIP-55 (the
/// case of each letter is the high bit of the matching nibble of
/// Keccak-256 of the lower-case hex); one case is valid but unchecksummed.
pub(crate) fn eth(s: &str) -> Option<Note> {
    let b = s.as_bytes();
    if b.len() != 42 || &b[..2] != b"0x" {
        return None;
    }
    let hex = &b[2..];
    let (mut lower, mut upper) = (false, false);
    for &c in hex {
        match c {
            b'0'..=b'9' => {}
            b'a'..=b'f' => lower = true,
            b'A'..=b'F' => upper = true,
            _ => return None,
        }
    }
    if !(lower && upper) {
        return Some(Some(UNCHECKSUMMED));
    }
    let mut lc = [0u8; 40];
    for (d, c) in lc.iter_mut().zip(hex) {
        *d = c.to_ascii_lowercase();
    }
    let h = keccak256(&lc);
    for (i, &c) in hex.iter().enumerate() {
        if c.is_ascii_digit() {
            continue;
        }
        let nibble = if i % 2 == 0 {
            h[i / 2] >> 4
        } else {
            h[i / 2] & 0x0f
        };
        if (nibble >= 8) != c.is_ascii_uppercase() {
            return None;
        }
    }
    Some(None)
}

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

const BASE58_DIGITS: [u8; 128] = {
    let mut t = [0xffu8; 128];
    let mut i = 0;
    while i < 58 {
        t[BASE58_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Characters needed to encode 0..=8 bytes in Monero's block base58.
const XMR_BLOCK_CHARS: [usize; 9] = [0, 2, 3, 5, 6, 7, 9, 10, 11];

/// Monero base58: 8-byte blocks encoded as 11 characters each, the final
/// partial block as `XMR_BLOCK_CHARS[n]` characters. Returns the decoded
/// length, or None on a bad character, a bad final block length or a block
/// value that does not fit its byte count.
fn xmr_base58_decode(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let full = s.len() / 11;
    let rest = s.len() % 11;
    let rest_bytes = XMR_BLOCK_CHARS.iter().position(|&c| c == rest)?;
    let n = full * 8 + rest_bytes;
    if n > out.len() {
        return None;
    }
    for (block, o) in s.chunks(11).zip(out[..n].chunks_mut(8)) {
        let mut v: u128 = 0;
        for &c in block {
            let d = *BASE58_DIGITS.get(usize::from(c))?;
            if d == 0xff {
                return None;
            }
            v = v * 58 + u128::from(d);
        }
        if v >> (8 * o.len()) != 0 {
            return None;
        }
        let bytes = v.to_be_bytes();
        o.copy_from_slice(&bytes[16 - o.len()..]);
    }
    Some(n)
}

/// Monero: 95 characters (standard, subaddress) or 106 (integrated), network
/// byte, Keccak-256 checksum (first 4 bytes of the hash of the rest).
pub(crate) fn xmr(s: &str) -> Option<Note> {
    if s.len() != 95 && s.len() != 106 {
        return None;
    }
    let mut buf = [0u8; 77];
    let n = xmr_base58_decode(s.as_bytes(), &mut buf)?;
    let (body, check) = buf[..n].split_at(n - 4);
    if keccak256(body)[..4] != *check {
        return None;
    }
    // (network byte, decoded length, note)
    const NETS: [(u8, usize, Note); 9] = [
        (18, 69, None),
        (19, 77, Some(INTEGRATED)),
        (42, 69, Some(SUBADDRESS)),
        (53, 69, Some(TESTNET)),
        (54, 77, Some(TESTNET)),
        (63, 69, Some(TESTNET)),
        (24, 69, Some(STAGENET)),
        (25, 77, Some(STAGENET)),
        (36, 69, Some(STAGENET)),
    ];
    NETS.iter()
        .find(|(net, len, _)| *net == body[0] && *len == n)
        .map(|(_, _, note)| *note)
}

/// A bare Session messenger ID: `05` + 64 hex digits, one case.
pub(crate) fn session(s: &str) -> Option<Note> {
    let b = s.as_bytes();
    if b.len() != 66 || !b.starts_with(b"05") || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let upper = b.iter().any(u8::is_ascii_uppercase);
    (!(lower && upper)).then_some(Some(SESSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_known_addresses() {
        // Genesis block coinbase address and a well-known P2SH example.
        assert_eq!(btc("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"), Some(None));
        assert_eq!(btc("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"), Some(Some(P2SH)));
        assert_eq!(btc("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"), None);
        // Right checksum, wrong version byte: a TRON address is not btc.
        assert_eq!(btc("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"), None);
        assert_eq!(
            btc("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
            Some(None)
        );
        assert_eq!(btc("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx"), None);
        assert_eq!(
            btc("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"),
            Some(Some(BECH32M))
        );
        // Mixed case is rejected even with a valid checksum.
        assert_eq!(btc("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdQ"), None);
        assert_eq!(
            btc("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ"),
            Some(None)
        );
        assert_eq!(btc(""), None);
        // An extra leading '1' adds a zero byte: 26 bytes, not an address.
        assert_eq!(btc("11A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"), None);
    }

    #[test]
    fn segwit_hrp_is_checked_not_just_the_prefix() {
        // The HRP ends at the last '1', so "bc1…" can carry another HRP.
        let prog = [3u8; 20];
        for hrp in ["bc1q", "bc1", "ltc1x"] {
            let addr = bech32::segwit::encode_v0(Hrp::parse(hrp).unwrap(), &prog).unwrap();
            assert!(SegwitHrpstring::new(&addr).is_ok(), "{addr}");
            assert_eq!(btc(&addr), None, "{addr}");
            assert_eq!(ltc(&addr), None, "{addr}");
        }
    }

    #[test]
    fn trx_known_addresses() {
        // The USDT TRC-20 contract address.
        assert_eq!(trx("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"), Some(None));
        assert_eq!(trx("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u"), None);
        assert_eq!(trx("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"), None);
    }

    #[test]
    fn ltc_segwit_round_trip() {
        let prog = [7u8; 20];
        let addr = bech32::segwit::encode_v0(LTC_HRP, &prog).unwrap();
        assert!(addr.starts_with("ltc1q"));
        assert_eq!(ltc(&addr), Some(None));
        assert_eq!(ltc(&addr.to_uppercase()), Some(None));
        assert_eq!(btc(&addr), None);
        let taproot = bech32::segwit::encode_v1(LTC_HRP, &[9u8; 32]).unwrap();
        assert_eq!(ltc(&taproot), Some(Some(BECH32M)));
        let btc_addr = bech32::segwit::encode_v0(bech32::hrp::BC, &prog).unwrap();
        assert_eq!(ltc(&btc_addr), None);
        assert_eq!(btc(&btc_addr), Some(None));
    }

    #[test]
    fn eth_eip55() {
        assert_eq!(
            eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            Some(None)
        );
        assert_eq!(eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"), None);
        assert_eq!(
            eth("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
            Some(Some(UNCHECKSUMMED))
        );
        assert_eq!(
            eth("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"),
            Some(Some(UNCHECKSUMMED))
        );
        assert_eq!(eth("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"), None);
        assert_eq!(eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe"), None);
        assert_eq!(eth("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg"), None);
    }

    fn xmr_encode(data: &[u8]) -> String {
        let mut s = String::new();
        for block in data.chunks(8) {
            let mut v: u128 = 0;
            for &b in block {
                v = (v << 8) | u128::from(b);
            }
            let mut chars = vec![b'1'; XMR_BLOCK_CHARS[block.len()]];
            for c in chars.iter_mut().rev() {
                *c = BASE58_ALPHABET[(v % 58) as usize];
                v /= 58;
            }
            s.push_str(std::str::from_utf8(&chars).unwrap());
        }
        s
    }

    fn xmr_address(net: u8, extra: usize) -> String {
        let mut data = vec![net];
        data.extend((0..64 + extra).map(|i| (i * 37 + 11) as u8));
        let h = keccak256(&data);
        data.extend_from_slice(&h[..4]);
        xmr_encode(&data)
    }

    #[test]
    fn xmr_networks() {
        let std = xmr_address(18, 0);
        assert_eq!(std.len(), 95);
        assert!(std.starts_with('4'));
        assert_eq!(xmr(&std), Some(None));
        let integrated = xmr_address(19, 8);
        assert_eq!(integrated.len(), 106);
        assert_eq!(xmr(&integrated), Some(Some(INTEGRATED)));
        let sub = xmr_address(42, 0);
        assert!(sub.starts_with('8'));
        assert_eq!(xmr(&sub), Some(Some(SUBADDRESS)));
        assert_eq!(xmr(&xmr_address(53, 0)), Some(Some(TESTNET)));
        assert_eq!(xmr(&xmr_address(25, 8)), Some(Some(STAGENET)));
        // Right checksum, unknown network byte or wrong length for it.
        assert_eq!(xmr(&xmr_address(17, 0)), None);
        assert_eq!(xmr(&xmr_address(18, 8)), None);
        assert_eq!(xmr(&xmr_address(19, 0)), None);
    }

    #[test]
    fn xmr_block_overflow_rejected() {
        // "zzzzzzzzzzz" is 58^11 - 1 > 2^64 - 1: not a valid 8-byte block.
        let mut out = [0u8; 16];
        assert_eq!(xmr_base58_decode(b"zzzzzzzzzzz", &mut out), None);
        assert_eq!(xmr_base58_decode(b"jpXCZedGfVQ", &mut out), Some(8));
        assert_eq!(out[..8], [0xff; 8]);
        // 4 characters is no valid final block length.
        assert_eq!(xmr_base58_decode(b"1111", &mut out), None);
    }

    #[test]
    fn session_ids() {
        let id = format!("05{}", "ab12".repeat(16));
        assert_eq!(session(&id), Some(Some(SESSION)));
        assert_eq!(session(&id.to_uppercase()), Some(Some(SESSION)));
        assert_eq!(session(&format!("06{}", "ab12".repeat(16))), None);
        assert_eq!(session(&format!("05{}", "aB12".repeat(16))), None);
        assert_eq!(session(&format!("05{}", "ab12".repeat(15))), None);
    }

    #[test]
    fn min_run() {
        assert_eq!(min_run_len(KindMask::of(&[])), 0);
        assert_eq!(min_run_len(KindMask::of(&[IndicatorKind::Iban])), 0);
        assert_eq!(min_run_len(KindMask::of(&[IndicatorKind::Xmr])), 95);
        assert_eq!(
            min_run_len(KindMask::of(&[IndicatorKind::Xmr, IndicatorKind::Btc])),
            14
        );
    }
}
