//! Temporary stand-in for the indicator detectors (replaced by the real ones).
#![allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorKind {
    Btc,
    Eth,
    Trx,
    Xmr,
    Ltc,
    Iban,
    Telegram,
    Messenger,
    PaymentHandle,
}
impl IndicatorKind {
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
    pub fn from_name(s: &str) -> Option<IndicatorKind> {
        Self::ALL.iter().copied().find(|k| k.name() == s)
    }
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndicatorMatch {
    pub kind: IndicatorKind,
    pub start: usize,
    pub end: usize,
    pub note: Option<&'static str>,
}
pub struct IndicatorSet {
    kinds: Vec<IndicatorKind>,
}
impl IndicatorSet {
    pub fn new(kinds: &[IndicatorKind]) -> IndicatorSet {
        IndicatorSet {
            kinds: kinds.to_vec(),
        }
    }
    pub fn kinds(&self) -> &[IndicatorKind] {
        &self.kinds
    }
    pub fn find_all(&self, _text: &str, _out: &mut Vec<IndicatorMatch>) {}
}
pub fn validate(_kind: IndicatorKind, _candidate: &str) -> Option<Option<&'static str>> {
    None
}
