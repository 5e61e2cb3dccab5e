//! Built-in indicator detectors: cryptocurrency addresses, IBANs, messenger
//! invite links and payment handles, found in raw post text and reported only
//! when their checksum or link grammar holds (a near miss is never reported).
//!
//! # How text is scanned
//!
//! [`IndicatorSet::find_all`] never runs a regex over the text. It makes at
//! most two cheap passes, each only when a kind in the set needs it, and
//! validates only the candidates they find:
//!
//! * **Letters and digits** (btc, ltc, eth, trx, xmr, Session IDs, iban): one
//!   pass builds, eight bytes at a time (SWAR), bit masks of the ASCII letters
//!   and digits of each 64-byte block. Shifts over the masks find runs of at
//!   least `L` alphanumerics, `L` being the shortest address any enabled kind
//!   can have (14 for `bc1` segwit, 34 for TRON, 42 for Ethereum, ...), and
//!   the places where two letters and two digits start a token (an IBAN's
//!   country code and check digits). Ordinary text yields no candidate.
//!   The same masks give the runs with a letter next to a digit, where an
//!   address written in pieces (`1BvBMSEY-stWetqTFn-…`, `bc1q ar0s …`, one
//!   piece per line) may be: the `split` submodule joins the pieces around
//!   such a run and validates the join (rules and limits there).
//!   When only Session IDs are enabled (`L` is 66 and no address kind needs
//!   the masks), the text is instead probed every `L` bytes, which skips
//!   most of it.
//! * **`/` and `$`** (telegram, messenger, payment_handle): `memchr` finds each
//!   slash (every supported link host is followed by one) and each `$`
//!   (cashtags); the bytes before the slash are compared with the enabled
//!   hosts.
//!
//! Over the shared corpus of real posts (~100 bytes each) a set of all kinds
//! runs at roughly 0.6 GB/s per core on the development machine
//! (`throughput_on_corpus`, an ignored test, measures it); looking for
//! addresses in pieces costs about a quarter of that, mostly on the URLs of
//! tweets (their runs mix letters and digits).
//!
//! Candidates must be whole tokens: an address glued to a letter, digit or `_`
//! (ASCII or not) is not reported. Link spans cover the whole link, scheme and
//! `www.` included, without trailing sentence punctuation (`.`, `,`, `;`, `:`,
//! `!`, `?`, and an unbalanced `)` or `]`).
//!
//! # Kinds, forms accepted and notes
//!
//! Every note string is one of the constants in [`notes`]; a match without a
//! note is the plain, fully checked form. Any btc, ltc, eth, trx or xmr
//! address may also be found written in pieces, its span covering all the
//! pieces and its note `split` or `split_` + the note below (`split_p2sh`).
//!
//! | kind | accepted | notes |
//! |---|---|---|
//! | `btc` | base58check P2PKH `1…` (version 0x00) and P2SH `3…` (0x05), 25-byte payload, double SHA-256 checksum; segwit `bc1…` per BIP-173 (v0, bech32) and BIP-350 (v1–v16, bech32m), one case | `p2sh`, `bech32m` |
//! | `ltc` | base58check `L…` (0x30), `M…` (0x32), `3…` (0x05); segwit `ltc1…` as btc | `p2sh`, `bech32m` |
//! | `eth` | `0x` + 40 hex digits; mixed case must pass EIP-55 | `unchecksummed` (one case: no checksum to check) |
//! | `trx` | base58check, 25 bytes, version 0x41 (`T…`) | — |
//! | `xmr` | Monero base58 (8-byte blocks), network byte, Keccak-256 checksum; 95 chars (standard, subaddress) or 106 (integrated) | `integrated`, `subaddress`, `testnet`, `stagenet` |
//! | `iban` | SWIFT registry country + length, check digits 02–98, ISO 7064 mod 97 = 1; printed or grouped in fours with single spaces; upper case, or lower case with a note | `grouped`, `lowercase`, `grouped_lowercase` |
//! | `telegram` | `t.me/`, `telegram.me/`, `telegram.dog/` + username, `s/NAME`, `c/ID`, `joinchat/HASH`, `+HASH`, `+PHONE`, `addlist/HASH`; `tg://resolve?domain=NAME`, `tg://join?invite=HASH` | `invite`, `phone`, `private` |
//! | `messenger` | WhatsApp, Signal, Discord, Threema links; bare Session IDs | `whatsapp`, `signal`, `discord`, `threema`, `session` |
//! | `payment_handle` | PayPal, Cash App, Venmo, Ko-fi, Buy Me a Coffee, Patreon, GoFundMe links; `$cashtag` | `paypal`, `paypal_donate`, `cashapp`, `cashtag`, `ticker_like`, `venmo`, `kofi`, `buymeacoffee`, `patreon`, `gofundme` |
//!
//! The link grammars (code alphabets and lengths per host) are documented in
//! the `links` submodule. A `3…` address is a valid P2SH address for both
//! Bitcoin and Litecoin: with both kinds in a set it is reported once for
//! each kind, with the same span.

mod crypto;
mod iban;

pub use crypto::is_caseless_address;
mod links;
mod scan;
mod split;

/// The note strings that [`IndicatorMatch::note`] and [`validate`] can carry.
pub mod notes {
    /// btc/ltc: a pay-to-script-hash address (`3…`, or Litecoin `M…`).
    pub const P2SH: &str = "p2sh";
    /// btc/ltc: a segwit address of witness version 1–16 (bech32m checksum,
    /// BIP-350), e.g. Taproot. Version 0 addresses carry no note.
    pub const BECH32M: &str = "bech32m";
    /// eth: all-lower or all-upper hex. Valid, but its case carries no EIP-55
    /// checksum, so a typo in it could not have been caught. (Also given for
    /// one-case addresses that happen to agree with EIP-55.)
    pub const UNCHECKSUMMED: &str = "unchecksummed";
    /// xmr: a mainnet integrated address (standard address + 8-byte payment id).
    pub const INTEGRATED: &str = "integrated";
    /// xmr: a mainnet subaddress.
    pub const SUBADDRESS: &str = "subaddress";
    /// xmr: any testnet address (network bytes 53, 54, 63): worthless coins.
    pub const TESTNET: &str = "testnet";
    /// xmr: any stagenet address (network bytes 24, 25, 36): worthless coins.
    pub const STAGENET: &str = "stagenet";
    /// iban: grouped in fours with single spaces (`DE89 3704 …`).
    pub const GROUPED: &str = "grouped";
    /// iban: printed form, written in lower case (the standard form is upper case).
    pub const LOWERCASE: &str = "lowercase";
    /// iban: grouped in fours and written in lower case.
    pub const GROUPED_LOWERCASE: &str = "grouped_lowercase";
    /// telegram: an invite to a private group or channel, or to a chat folder
    /// (`joinchat/HASH`, `+HASH`, `addlist/HASH`, `tg://join?invite=HASH`).
    pub const INVITE: &str = "invite";
    /// telegram: a link to a phone number's account (`t.me/+15551234567`).
    pub const PHONE: &str = "phone";
    /// telegram: a link into a private channel by numeric id (`t.me/c/ID/…`).
    pub const PRIVATE: &str = "private";
    /// messenger: a WhatsApp group invite, click-to-chat number or business message link.
    pub const WHATSAPP: &str = "whatsapp";
    /// messenger: a Signal group link or a Signal contact (phone / username) link.
    pub const SIGNAL: &str = "signal";
    /// messenger: a Discord server invite.
    pub const DISCORD: &str = "discord";
    /// messenger: a Threema ID link.
    pub const THREEMA: &str = "threema";
    /// messenger: a bare Session messenger ID (`05` + 64 hex digits).
    pub const SESSION: &str = "session";
    /// payment_handle: a PayPal.me link (`paypal.me/NAME`, `paypal.com/paypalme/NAME`).
    pub const PAYPAL: &str = "paypal";
    /// payment_handle: a PayPal donate button link (`paypal.com/donate?hosted_button_id=…`).
    pub const PAYPAL_DONATE: &str = "paypal_donate";
    /// payment_handle: a Cash App link (`cash.app/$tag`).
    pub const CASHAPP: &str = "cashapp";
    /// payment_handle: a bare Cash App `$cashtag`.
    pub const CASHTAG: &str = "cashtag";
    /// payment_handle: a bare `$` + 1–6 capital letters (`$BTC`, `$TSLA`):
    /// a valid cashtag, but more often a stock or coin ticker.
    pub const TICKER_LIKE: &str = "ticker_like";
    /// payment_handle: a Venmo profile link.
    pub const VENMO: &str = "venmo";
    /// payment_handle: a Ko-fi page link.
    pub const KOFI: &str = "kofi";
    /// payment_handle: a Buy Me a Coffee page link.
    pub const BUYMEACOFFEE: &str = "buymeacoffee";
    /// payment_handle: a Patreon creator link.
    pub const PATREON: &str = "patreon";
    /// payment_handle: a GoFundMe campaign link (`gofundme.com/f/…`, `gofund.me/…`).
    pub const GOFUNDME: &str = "gofundme";
    /// btc/ltc/eth/trx/xmr: an address written in pieces (`1BvBMSEY-stWetqTFn-…`,
    /// one piece per line, …) whose pieces joined pass the checksum; the
    /// match spans all the pieces. The `split_…` notes below add the note the
    /// joined address has.
    pub const SPLIT: &str = "split";
    /// A split address that joined is a pay-to-script-hash address ([`P2SH`]).
    pub const SPLIT_P2SH: &str = "split_p2sh";
    /// A split segwit address of version 1–16 ([`BECH32M`]).
    pub const SPLIT_BECH32M: &str = "split_bech32m";
    /// A split one-case Ethereum address ([`UNCHECKSUMMED`]).
    pub const SPLIT_UNCHECKSUMMED: &str = "split_unchecksummed";
    /// A split Monero integrated address ([`INTEGRATED`]).
    pub const SPLIT_INTEGRATED: &str = "split_integrated";
    /// A split Monero subaddress ([`SUBADDRESS`]).
    pub const SPLIT_SUBADDRESS: &str = "split_subaddress";
    /// A split Monero testnet address ([`TESTNET`]).
    pub const SPLIT_TESTNET: &str = "split_testnet";
    /// A split Monero stagenet address ([`STAGENET`]).
    pub const SPLIT_STAGENET: &str = "split_stagenet";
}

/// Whether a match's note says it was written in pieces ([`notes::SPLIT`]
/// or one of the `split_…` notes).
pub fn is_split_note(note: Option<&str>) -> bool {
    note.is_some_and(|n| n == notes::SPLIT || n.starts_with("split_"))
}

/// From this shortest run length up, probing every `run_min` bytes
/// ([`scan::for_each_run`]) beats building bit masks of the whole text.
const PROBE_MIN: usize = 32;

/// A validator's verdict on a valid candidate: the note, if any.
pub(crate) type Note = Option<&'static str>;

/// One built-in detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    /// Bitcoin: base58 P2PKH/P2SH and segwit bech32/bech32m.
    Btc,
    /// Ethereum / EVM address, EIP-55 checked when mixed case.
    Eth,
    /// TRON address.
    Trx,
    /// Monero standard, sub- and integrated address.
    Xmr,
    /// Litecoin address.
    Ltc,
    /// IBAN, printed or grouped in fours.
    Iban,
    /// Telegram channel and invite links.
    Telegram,
    /// WhatsApp, Signal, Discord, Threema and Session invites and IDs.
    Messenger,
    /// PayPal.me, Cash App and other payment links and handles.
    PaymentHandle,
}

impl IndicatorKind {
    /// Every kind, in declaration order.
    pub const ALL: [IndicatorKind; 9] = [
        IndicatorKind::Btc,
        IndicatorKind::Eth,
        IndicatorKind::Trx,
        IndicatorKind::Xmr,
        IndicatorKind::Ltc,
        IndicatorKind::Iban,
        IndicatorKind::Telegram,
        IndicatorKind::Messenger,
        IndicatorKind::PaymentHandle,
    ];

    /// "btc", "eth", "trx", "xmr", "ltc", "iban", "telegram", "messenger", "payment_handle"
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Btc => "btc",
            IndicatorKind::Eth => "eth",
            IndicatorKind::Trx => "trx",
            IndicatorKind::Xmr => "xmr",
            IndicatorKind::Ltc => "ltc",
            IndicatorKind::Iban => "iban",
            IndicatorKind::Telegram => "telegram",
            IndicatorKind::Messenger => "messenger",
            IndicatorKind::PaymentHandle => "payment_handle",
        }
    }

    /// The kind with this exact (lower-case) name.
    pub fn from_name(s: &str) -> Option<IndicatorKind> {
        IndicatorKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether an address of this kind may be found written in pieces
    /// (btc, ltc, eth, trx, xmr); IBANs and links never are.
    pub fn can_be_split(self) -> bool {
        matches!(
            self,
            IndicatorKind::Btc
                | IndicatorKind::Ltc
                | IndicatorKind::Eth
                | IndicatorKind::Trx
                | IndicatorKind::Xmr
        )
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl std::fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of kinds as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KindMask(u16);

impl KindMask {
    pub(crate) fn of(kinds: &[IndicatorKind]) -> KindMask {
        KindMask(kinds.iter().fold(0, |m, k| m | k.bit()))
    }
    pub(crate) fn has(self, kind: IndicatorKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// A validated indicator found in raw text. start/end: UTF-8 byte offsets into
/// the text given, end exclusive, on char boundaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndicatorMatch {
    /// The detector that found it.
    pub kind: IndicatorKind,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// A fact a reviewer needs about this match; one of the [`notes`] constants.
    pub note: Option<&'static str>,
}

/// Compiled detectors for a set of kinds. Immutable, Send + Sync, cheap to
/// share behind Arc.
#[derive(Clone, Debug)]
pub struct IndicatorSet {
    /// Sorted, without duplicates.
    kinds: Vec<IndicatorKind>,
    mask: KindMask,
    /// Shortest alphanumeric run any enabled address kind can match; 0 when
    /// no enabled kind needs the run scan.
    run_min: usize,
    /// Link hosts of the enabled kinds.
    links: links::LinkScanner,
    /// Whether a cryptocurrency kind is enabled, so that addresses written
    /// in pieces are looked for.
    split: bool,
}

impl IndicatorSet {
    /// Compiles detectors for `kinds` (order and duplicates do not matter).
    pub fn new(kinds: &[IndicatorKind]) -> IndicatorSet {
        let mut sorted = kinds.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mask = KindMask::of(&sorted);
        IndicatorSet {
            run_min: crypto::min_run_len(mask),
            links: links::LinkScanner::new(mask),
            split: sorted.iter().any(|k| k.can_be_split()),
            kinds: sorted,
            mask,
        }
    }

    /// The kinds of this set, sorted, without duplicates.
    pub fn kinds(&self) -> &[IndicatorKind] {
        &self.kinds
    }

    /// Appends every validated match of the set's kinds to `out` (does not
    /// clear it), sorted by start (then end, then kind). Allocates nothing per
    /// call beyond growing `out`.
    pub fn find_all(&self, text: &str, out: &mut Vec<IndicatorMatch>) {
        let base = out.len();
        let mut emit = |m: IndicatorMatch| out.push(m);
        let iban = self.mask.has(IndicatorKind::Iban);
        if iban || self.split || (self.run_min > 0 && self.run_min < PROBE_MIN) {
            let (mut iban_end, mut split_end, mut split_tried) = (0, 0, None);
            let pieces = self.split;
            scan::for_each_candidate(text.as_bytes(), self.run_min, iban, pieces, |c| match c {
                scan::Candidate::Run(s, e) => {
                    crypto::classify_run(text, s, e, self.mask, &mut emit)
                }
                scan::Candidate::IbanStart(s) if s >= iban_end => {
                    if let Some(m) = iban::match_at(text, s) {
                        iban_end = m.end;
                        emit(m);
                    }
                }
                scan::Candidate::SplitStart(s, _) if s >= split_end => {
                    let tried = &mut split_tried;
                    if let Some(e) = split::find(text, s, self.mask, tried, &mut emit) {
                        split_end = e;
                    }
                }
                scan::Candidate::IbanStart(_) | scan::Candidate::SplitStart(..) => {}
            });
        } else if self.run_min > 0 {
            scan::for_each_run(text.as_bytes(), self.run_min, |s, e| {
                crypto::classify_run(text, s, e, self.mask, &mut emit)
            });
        }
        self.links.scan(text, &mut emit);
        out[base..].sort_unstable_by_key(|m| (m.start, m.end, m.kind));
    }
}

/// Validators usable alone (used by tests and by `kestrel explain`): return
/// Some(note) when valid (note may be None), None when invalid.
///
/// `candidate` is the whole token exactly: an address (in one run, or in
/// pieces as `find_all` reports it, note `split…`), an IBAN (printed or
/// grouped), a link (with or without scheme) or a `$cashtag`; no surrounding
/// text or punctuation is trimmed.
pub fn validate(kind: IndicatorKind, candidate: &str) -> Option<Option<&'static str>> {
    let or_split = |v: Option<Note>| v.or_else(|| split::validate(kind, candidate));
    match kind {
        IndicatorKind::Btc => or_split(crypto::btc(candidate)),
        IndicatorKind::Eth => or_split(crypto::eth(candidate)),
        IndicatorKind::Trx => or_split(crypto::trx(candidate)),
        IndicatorKind::Xmr => or_split(crypto::xmr(candidate)),
        IndicatorKind::Ltc => or_split(crypto::ltc(candidate)),
        IndicatorKind::Iban => iban::validate(candidate),
        IndicatorKind::Messenger => {
            crypto::session(candidate).or_else(|| links::validate(kind, candidate))
        }
        IndicatorKind::Telegram | IndicatorKind::PaymentHandle => links::validate(kind, candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in IndicatorKind::ALL {
            assert_eq!(IndicatorKind::from_name(k.name()), Some(k));
        }
        assert_eq!(IndicatorKind::from_name("BTC"), None);
        assert_eq!(IndicatorKind::from_name("payment-handle"), None);
        assert_eq!(IndicatorKind::PaymentHandle.name(), "payment_handle");
    }

    #[test]
    fn kinds_sorted_and_deduplicated() {
        let set = IndicatorSet::new(&[IndicatorKind::Xmr, IndicatorKind::Btc, IndicatorKind::Xmr]);
        assert_eq!(set.kinds(), &[IndicatorKind::Btc, IndicatorKind::Xmr]);
        assert!(IndicatorSet::new(&[]).kinds().is_empty());
    }

    #[test]
    fn split_notes_are_told_apart() {
        assert!(is_split_note(Some(notes::SPLIT)));
        assert!(is_split_note(Some(notes::SPLIT_P2SH)));
        assert!(is_split_note(Some(notes::SPLIT_STAGENET)));
        assert!(!is_split_note(None));
        assert!(!is_split_note(Some(notes::P2SH)));
        assert!(!is_split_note(Some(notes::UNCHECKSUMMED)));
        let splittable: Vec<&str> = IndicatorKind::ALL
            .into_iter()
            .filter(|k| k.can_be_split())
            .map(|k| k.name())
            .collect();
        assert_eq!(splittable, ["btc", "eth", "trx", "xmr", "ltc"]);
    }

    #[test]
    fn set_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<IndicatorSet>();
    }

    #[test]
    fn empty_set_finds_nothing() {
        let mut out = Vec::new();
        IndicatorSet::new(&[]).find_all(
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq t.me/somechannel $cashtag",
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn find_all_appends_and_sorts() {
        let set = IndicatorSet::new(&IndicatorKind::ALL);
        let mut out = vec![IndicatorMatch {
            kind: IndicatorKind::Eth,
            start: 999,
            end: 1000,
            note: None,
        }];
        let text = "t.me/somechannel then bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
        set.find_all(text, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].start, 999,
            "existing entries are kept, not re-sorted"
        );
        assert_eq!(out[1].kind, IndicatorKind::Telegram);
        assert_eq!(out[2].kind, IndicatorKind::Btc);
        assert!(out[1].start < out[2].start);
    }
}
