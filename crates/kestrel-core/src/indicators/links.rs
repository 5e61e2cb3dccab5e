//! Link grammars for the `telegram`, `messenger` and `payment_handle` kinds,
//! and bare `$cashtag`s.
//!
//! A link is found at the slash after a known host. Host and scheme match in
//! any case; the host may be preceded by `www.` and by `https://` or
//! `http://` (not `tg://`), which are then part of the span. Without a scheme
//! the host must not follow a word char, `.`, `-`, `/`, `@`, `:` or `\`
//! (`notat.me/x`, `my-t.me/x`, `user@t.me/x`, `example.com/t.me/x` are not
//! links to `t.me`); with one, the scheme must not follow a word char.
//!
//! The link runs over URL characters (ASCII letters, digits and
//! ``-._~:/?#[]@!$&()*+,;=%``), less trailing `.` `,` `;` `:` `!` `?` `*` and
//! an unbalanced trailing `)` or `]`. A link glued to a non-ASCII letter or
//! digit is rejected. The first path segment (up to `/`, `?` or `#`) must
//! match the host's grammar exactly, else nothing is reported; anything after
//! it (`/123`, `?start=x`) is part of the span. Fixed path words (`joinchat`,
//! `invite`, `u`, `f`, …) match in any case.
//!
//! | host | path | note |
//! |---|---|---|
//! | `t.me`, `telegram.me`, `telegram.dog` | USERNAME: 5–32 of `[A-Za-z0-9_]`, first a letter, not a Telegram path word (`joinchat`, `addstickers`, `share`, `proxy`, …) | — |
//! | ditto | `s/USERNAME` (channel preview) | — |
//! | ditto | `joinchat/HASH`, `+HASH`, `addlist/HASH`; HASH 16–32 of `[A-Za-z0-9_-]` | `invite` |
//! | ditto | `+PHONE`: 7–15 digits | `phone` |
//! | ditto | `c/ID`: 5–16 digits | `private` |
//! | `tg://` | `resolve?domain=USERNAME`, `join?invite=HASH` (more `&` parameters allowed) | —, `invite` |
//! | `chat.whatsapp.com` | `[invite/]CODE`: 20–24 of `[A-Za-z0-9]` | `whatsapp` |
//! | `wa.me` | `[+]PHONE` (7–15 digits), `message/CODE` (8–20 of `[A-Za-z0-9]`) | `whatsapp` |
//! | `api.whatsapp.com` | `send?phone=[+]PHONE` (or `send/?phone=`) | `whatsapp` |
//! | `signal.group` | `#KEY`: 40–256 of `[A-Za-z0-9_-]` | `signal` |
//! | `signal.me` | `#p/[+]PHONE`, `#eu/KEY` (20–256 of `[A-Za-z0-9_-]`) | `signal` |
//! | `discord.gg` | CODE: 2–32 of `[A-Za-z0-9-]`, first and last alphanumeric | `discord` |
//! | `discord.com`, `discordapp.com` | `invite/CODE` | `discord` |
//! | `threema.id` | ID: exactly 8 of `[A-Z0-9*]` | `threema` |
//! | `paypal.me` | NAME: 1–20 of `[A-Za-z0-9]` | `paypal` |
//! | `paypal.com` | `paypalme/NAME`; `donate?hosted_button_id=ID` (or `donate/?…`; ID 6–32 of `[A-Za-z0-9]`) | `paypal`, `paypal_donate` |
//! | `cash.app` | `$TAG`: 1–20 of `[A-Za-z0-9]`, first a letter | `cashapp` |
//! | `venmo.com` | `[u/]NAME`: 5–30 of `[A-Za-z0-9_-]`, first alphanumeric, without `u/` not a site page (`about`, `signup`, …) | `venmo` |
//! | `ko-fi.com` | NAME: 3–50 of `[A-Za-z0-9_]`, not a site page | `kofi` |
//! | `buymeacoffee.com` | NAME: 3–50 of `[A-Za-z0-9_-]`, first alphanumeric, not a site page | `buymeacoffee` |
//! | `patreon.com` | NAME (3–64 of `[A-Za-z0-9_-]`, not a site page), `c/NAME`, `join/NAME`, `user?u=ID` | `patreon` |
//! | `gofundme.com` | `f/SLUG`: 3–128 of `[A-Za-z0-9-]`, first alphanumeric | `gofundme` |
//! | `gofund.me` | CODE: 5–12 of `[A-Za-z0-9]` | `gofundme` |
//!
//! A bare cashtag is `$` + TAG as for `cash.app` (1–20 letters and digits,
//! first a letter, so `$100`, `$5.99`, `$20k` and `$5M` are amounts, not
//! tags), a whole token: not after a word char or one of ``$/=.-@\&#+%``,
//! not followed by a word char or `$`. Note `ticker_like` when TAG is 1–6
//! capital letters (`$BTC`, `$TSLA`), else `cashtag`.

use memchr::{memchr2_iter, memchr_iter};

use super::notes::*;
use super::scan::{word_char_at, word_char_before};
use super::{IndicatorKind, IndicatorMatch, KindMask, Note};

/// Parses the path after a host's slash: returns how many bytes of it the
/// grammar consumed, and the note.
type Parser = fn(&[u8]) -> Option<(usize, Note)>;

/// A path word or prefix, the check of what follows it, and the note.
type Form = (&'static [u8], fn(&[u8]) -> bool, Note);

#[derive(Debug)]
struct Host {
    /// Lower case, ending with the `/` found by the scan.
    pattern: &'static [u8],
    kind: IndicatorKind,
    /// May be preceded by `www.` and `https://` / `http://`.
    prefixes: bool,
    parse: Parser,
}

const fn host(pattern: &'static [u8], kind: IndicatorKind, parse: Parser) -> Host {
    Host {
        pattern,
        kind,
        prefixes: true,
        parse,
    }
}

use IndicatorKind::{Messenger, PaymentHandle, Telegram};

static HOSTS: [Host; 22] = [
    host(b"t.me/", Telegram, telegram),
    host(b"telegram.me/", Telegram, telegram),
    host(b"telegram.dog/", Telegram, telegram),
    Host {
        pattern: b"tg://",
        kind: Telegram,
        prefixes: false,
        parse: tg,
    },
    host(b"chat.whatsapp.com/", Messenger, whatsapp_group),
    host(b"wa.me/", Messenger, wa_me),
    host(b"api.whatsapp.com/", Messenger, whatsapp_api),
    host(b"signal.group/", Messenger, signal_group),
    host(b"signal.me/", Messenger, signal_me),
    host(b"discord.gg/", Messenger, discord_gg),
    host(b"discord.com/", Messenger, discord_com),
    host(b"discordapp.com/", Messenger, discord_com),
    host(b"threema.id/", Messenger, threema),
    host(b"paypal.me/", PaymentHandle, paypal_me),
    host(b"paypal.com/", PaymentHandle, paypal_com),
    host(b"cash.app/", PaymentHandle, cash_app),
    host(b"venmo.com/", PaymentHandle, venmo),
    host(b"ko-fi.com/", PaymentHandle, kofi),
    host(b"buymeacoffee.com/", PaymentHandle, buymeacoffee),
    host(b"patreon.com/", PaymentHandle, patreon),
    host(b"gofundme.com/", PaymentHandle, gofundme),
    host(b"gofund.me/", PaymentHandle, gofund_me),
];

/// The link hosts (and the cashtag rule) of a set of kinds.
#[derive(Clone, Debug)]
pub(crate) struct LinkScanner {
    hosts: Vec<&'static Host>,
    /// Bytes that end an enabled host just before its slash, in both cases.
    before_slash: [bool; 256],
    cashtag: bool,
}

impl LinkScanner {
    pub(crate) fn new(mask: KindMask) -> LinkScanner {
        let hosts: Vec<&'static Host> = HOSTS.iter().filter(|h| mask.has(h.kind)).collect();
        let mut before_slash = [false; 256];
        for h in &hosts {
            let c = h.pattern[h.pattern.len() - 2];
            before_slash[usize::from(c)] = true;
            before_slash[usize::from(c.to_ascii_uppercase())] = true;
        }
        LinkScanner {
            hosts,
            before_slash,
            cashtag: mask.has(PaymentHandle),
        }
    }

    /// Emits every link (and cashtag) of the enabled kinds, in text order.
    pub(crate) fn scan(&self, text: &str, emit: &mut impl FnMut(IndicatorMatch)) {
        let b = text.as_bytes();
        let mut last_end = 0;
        let mut at = |j: usize| {
            if j < last_end {
                return; // inside a link already reported
            }
            let found = if b[j] == b'/' {
                self.link_at(text, j)
            } else {
                cashtag_at(text, j)
            };
            if let Some(m) = found {
                last_end = m.end;
                emit(m);
            }
        };
        match (!self.hosts.is_empty(), self.cashtag) {
            (true, true) => memchr2_iter(b'/', b'$', b).for_each(&mut at),
            (true, false) => memchr_iter(b'/', b).for_each(&mut at),
            (false, true) => memchr_iter(b'$', b).for_each(&mut at),
            (false, false) => {}
        }
    }

    /// A link whose host ends with the slash at `j`.
    fn link_at(&self, text: &str, j: usize) -> Option<IndicatorMatch> {
        let b = text.as_bytes();
        if j == 0 || !self.before_slash[usize::from(b[j - 1])] {
            return None;
        }
        self.hosts.iter().find_map(|h| {
            let p = h.pattern;
            let hs = (j + 1).checked_sub(p.len())?;
            if !b[hs..=j].eq_ignore_ascii_case(p) {
                return None;
            }
            link_from(text, h, hs, j + 1)
        })
    }
}

fn ends_with_ci(b: &[u8], suffix: &[u8]) -> bool {
    b.len() >= suffix.len() && b[b.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn is_url_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&()*+,;=%".contains(&c)
}

/// Drops trailing sentence punctuation, and a `)` or `]` that closes nothing
/// opened inside the link.
fn trim_end(b: &[u8], start: usize, min: usize, mut end: usize) -> usize {
    let count = |s: &[u8], c: u8| s.iter().filter(|&&x| x == c).count();
    while end > min {
        let link = &b[start..end];
        let trim = match b[end - 1] {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'*' => true,
            b')' => count(link, b')') > count(link, b'('),
            b']' => count(link, b']') > count(link, b'['),
            _ => false,
        };
        if !trim {
            break;
        }
        end -= 1;
    }
    end
}

/// The link of host `h` at `host_start`, its path starting at `path_start`.
fn link_from(text: &str, h: &Host, host_start: usize, path_start: usize) -> Option<IndicatorMatch> {
    let b = text.as_bytes();
    let mut start = host_start;
    let mut scheme = false;
    if h.prefixes {
        if ends_with_ci(&b[..start], b"www.") {
            start -= 4;
        }
        for sch in [&b"https://"[..], b"http://"] {
            if ends_with_ci(&b[..start], sch) {
                start -= sch.len();
                scheme = true;
                break;
            }
        }
    }
    if word_char_before(text, start) || (!scheme && start > 0 && b"./-@:\\".contains(&b[start - 1]))
    {
        return None;
    }
    let raw_end = path_start
        + b[path_start..]
            .iter()
            .take_while(|&&c| is_url_byte(c))
            .count();
    if word_char_at(text, raw_end) {
        return None;
    }
    let end = trim_end(b, start, path_start, raw_end);
    let path = &b[path_start..end];
    let (used, note) = (h.parse)(path)?;
    match path.get(used) {
        None | Some(b'/' | b'?' | b'#') => Some(IndicatorMatch {
            kind: h.kind,
            start,
            end,
            note,
        }),
        Some(_) => None,
    }
}

/// A bare `$cashtag` at the `$` at `j`.
fn cashtag_at(text: &str, j: usize) -> Option<IndicatorMatch> {
    let b = text.as_bytes();
    if j > 0 && (b"$/=.-@\\&#+%".contains(&b[j - 1]) || word_char_before(text, j)) {
        return None;
    }
    let tag = alnum_prefix(&b[j + 1..]);
    if !cashtag(tag) {
        return None;
    }
    let end = j + 1 + tag.len();
    if word_char_at(text, end) || b.get(end) == Some(&b'$') {
        return None;
    }
    let ticker = tag.len() <= 6 && tag.iter().all(u8::is_ascii_uppercase);
    Some(IndicatorMatch {
        kind: PaymentHandle,
        start: j,
        end,
        note: Some(if ticker { TICKER_LIKE } else { CASHTAG }),
    })
}

/// Validates one whole link or cashtag of `kind`.
pub(crate) fn validate(kind: IndicatorKind, candidate: &str) -> Option<Note> {
    let scanner = LinkScanner::new(KindMask::of(&[kind]));
    let mut found = None;
    scanner.scan(candidate, &mut |m| {
        if m.start == 0 && m.end == candidate.len() && found.is_none() {
            found = Some(m.note);
        }
    });
    found
}

// ---- grammar helpers ----

/// The first path segment: up to `/`, `?`, `#` or the end.
fn seg(p: &[u8]) -> &[u8] {
    let n = p
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(p.len());
    &p[..n]
}

fn alnum_prefix(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    &p[..n]
}

fn strip_ci<'a>(p: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (p.len() >= prefix.len() && p[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &p[prefix.len()..])
}

/// `p` starts with path word `kw` and a slash: the rest after the slash.
fn after_word<'a>(p: &'a [u8], kw: &[u8]) -> Option<&'a [u8]> {
    strip_ci(p, kw)?.strip_prefix(b"/")
}

fn len_in(s: &[u8], lo: usize, hi: usize) -> bool {
    (lo..=hi).contains(&s.len())
}

fn b64url(c: &u8) -> bool {
    c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'
}

fn word_or_underscore(c: &u8) -> bool {
    c.is_ascii_alphanumeric() || *c == b'_'
}

fn digits(s: &[u8], lo: usize, hi: usize) -> bool {
    len_in(s, lo, hi) && s.iter().all(u8::is_ascii_digit)
}

/// Optional `+` then 7–15 digits.
fn phone(s: &[u8]) -> bool {
    digits(s.strip_prefix(b"+").unwrap_or(s), 7, 15)
}

fn reserved(s: &[u8], words: &[&str]) -> bool {
    words.iter().any(|w| s.eq_ignore_ascii_case(w.as_bytes()))
}

/// After a parameter value ending at `used`: more `&` parameters are taken
/// into the link.
fn with_params(p: &[u8], used: usize) -> usize {
    if p.get(used) == Some(&b'&') {
        p.len()
    } else {
        used
    }
}

// ---- telegram ----

/// Paths on t.me that look like usernames but are Telegram features.
const TG_WORDS: &[&str] = &[
    "joinchat",
    "addlist",
    "addstickers",
    "addemoji",
    "addtheme",
    "share",
    "proxy",
    "socks",
    "setlanguage",
    "confirmphone",
    "login",
    "invoice",
    "contact",
    "giftcode",
    "boost",
];

fn tg_username(s: &[u8]) -> bool {
    len_in(s, 5, 32) && s[0].is_ascii_alphabetic() && s.iter().all(word_or_underscore)
}

fn tg_hash(s: &[u8]) -> bool {
    len_in(s, 16, 32) && s.iter().all(b64url)
}

fn telegram(p: &[u8]) -> Option<(usize, Note)> {
    let words: [Form; 4] = [
        (b"joinchat", tg_hash, Some(INVITE)),
        (b"addlist", tg_hash, Some(INVITE)),
        (b"s", tg_username, None),
        (b"c", |s| digits(s, 5, 16), Some(PRIVATE)),
    ];
    for (kw, check, note) in words {
        if let Some(rest) = after_word(p, kw) {
            let s = seg(rest);
            return check(s).then_some((kw.len() + 1 + s.len(), note));
        }
    }
    let s = seg(p);
    if let Some(h) = s.strip_prefix(b"+") {
        return if digits(h, 7, 15) {
            Some((s.len(), Some(PHONE)))
        } else if tg_hash(h) {
            Some((s.len(), Some(INVITE)))
        } else {
            None
        };
    }
    (tg_username(s) && !reserved(s, TG_WORDS)).then_some((s.len(), None))
}

/// The path after `tg://`.
fn tg(p: &[u8]) -> Option<(usize, Note)> {
    let forms: [Form; 2] = [
        (b"resolve?domain=", tg_username, None),
        (b"join?invite=", tg_hash, Some(INVITE)),
    ];
    for (prefix, check, note) in forms {
        if let Some(rest) = strip_ci(p, prefix) {
            let v = &rest[..rest.iter().take_while(|c| b64url(c)).count()];
            return check(v).then(|| (with_params(p, prefix.len() + v.len()), note));
        }
    }
    None
}

// ---- messenger ----

fn whatsapp_group(p: &[u8]) -> Option<(usize, Note)> {
    let (skip, rest) = after_word(p, b"invite").map_or((0, p), |r| (7, r));
    let s = seg(rest);
    (len_in(s, 20, 24) && s.iter().all(u8::is_ascii_alphanumeric))
        .then_some((skip + s.len(), Some(WHATSAPP)))
}

fn wa_me(p: &[u8]) -> Option<(usize, Note)> {
    if let Some(rest) = after_word(p, b"message") {
        let s = seg(rest);
        return (len_in(s, 8, 20) && s.iter().all(u8::is_ascii_alphanumeric))
            .then_some((8 + s.len(), Some(WHATSAPP)));
    }
    let s = seg(p);
    phone(s).then_some((s.len(), Some(WHATSAPP)))
}

fn whatsapp_api(p: &[u8]) -> Option<(usize, Note)> {
    let prefix: &[u8] = if strip_ci(p, b"send/?").is_some() {
        b"send/?phone="
    } else {
        b"send?phone="
    };
    let rest = strip_ci(p, prefix)?;
    let n = rest
        .iter()
        .enumerate()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'+'))
        .count();
    phone(&rest[..n]).then(|| (with_params(p, prefix.len() + n), Some(WHATSAPP)))
}

fn b64url_run(p: &[u8], lo: usize, hi: usize) -> Option<usize> {
    let n = p.iter().take_while(|c| b64url(c)).count();
    (lo..=hi).contains(&n).then_some(n)
}

fn signal_group(p: &[u8]) -> Option<(usize, Note)> {
    let key = p.strip_prefix(b"#")?;
    Some((1 + b64url_run(key, 40, 256)?, Some(SIGNAL)))
}

fn signal_me(p: &[u8]) -> Option<(usize, Note)> {
    if let Some(rest) = p.strip_prefix(b"#p/") {
        let n = rest
            .iter()
            .enumerate()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'+'))
            .count();
        return phone(&rest[..n]).then_some((3 + n, Some(SIGNAL)));
    }
    let key = p.strip_prefix(b"#eu/")?;
    Some((4 + b64url_run(key, 20, 256)?, Some(SIGNAL)))
}

fn discord_code(s: &[u8]) -> bool {
    len_in(s, 2, 32)
        && s.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && s[0].is_ascii_alphanumeric()
        && s[s.len() - 1].is_ascii_alphanumeric()
}

fn discord_gg(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    discord_code(s).then_some((s.len(), Some(DISCORD)))
}

fn discord_com(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(after_word(p, b"invite")?);
    discord_code(s).then_some((7 + s.len(), Some(DISCORD)))
}

fn threema(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    (s.len() == 8
        && s.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'*'))
    .then_some((8, Some(THREEMA)))
}

// ---- payment handles ----

fn paypal_name(s: &[u8]) -> bool {
    len_in(s, 1, 20) && s.iter().all(u8::is_ascii_alphanumeric)
}

fn paypal_me(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    paypal_name(s).then_some((s.len(), Some(PAYPAL)))
}

fn paypal_com(p: &[u8]) -> Option<(usize, Note)> {
    if let Some(rest) = after_word(p, b"paypalme") {
        let s = seg(rest);
        return paypal_name(s).then_some((9 + s.len(), Some(PAYPAL)));
    }
    let prefix: &[u8] = if strip_ci(p, b"donate/?").is_some() {
        b"donate/?hosted_button_id="
    } else {
        b"donate?hosted_button_id="
    };
    let id = alnum_prefix(strip_ci(p, prefix)?);
    len_in(id, 6, 32).then(|| (with_params(p, prefix.len() + id.len()), Some(PAYPAL_DONATE)))
}

/// A Cash App tag without its `$`.
fn cashtag(t: &[u8]) -> bool {
    len_in(t, 1, 20) && t[0].is_ascii_alphabetic() && t.iter().all(u8::is_ascii_alphanumeric)
}

fn cash_app(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    cashtag(s.strip_prefix(b"$")?).then_some((s.len(), Some(CASHAPP)))
}

/// A profile name: `lo..=hi` chars of letters, digits and `extra`, first
/// alphanumeric.
fn profile_name(s: &[u8], lo: usize, hi: usize, extra: &[u8]) -> bool {
    len_in(s, lo, hi)
        && s[0].is_ascii_alphanumeric()
        && s.iter()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

const VENMO_PAGES: &[&str] = &[
    "about",
    "account",
    "business",
    "legal",
    "login",
    "signin",
    "signup",
    "security",
    "privacy",
    "terms",
    "resources",
    "careers",
    "contact",
    "developers",
    "pricing",
    "rewards",
    "giftcards",
    "features",
    "support",
    "people",
    "settings",
    "invite",
    "referrals",
    "creditcard",
    "debitcard",
];

fn venmo(p: &[u8]) -> Option<(usize, Note)> {
    if let Some(rest) = after_word(p, b"u") {
        let s = seg(rest);
        return profile_name(s, 5, 30, b"_-").then_some((2 + s.len(), Some(VENMO)));
    }
    let s = seg(p);
    (profile_name(s, 5, 30, b"_-") && !reserved(s, VENMO_PAGES)).then_some((s.len(), Some(VENMO)))
}

const KOFI_PAGES: &[&str] = &[
    "explore", "manage", "account", "about", "login", "signin", "signup", "register", "settings",
    "home", "shop", "blog", "pricing", "features", "gold", "support", "terms", "privacy", "post",
    "album", "summary", "feed", "search", "help",
];

fn kofi(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    (profile_name(s, 3, 50, b"_") && !reserved(s, KOFI_PAGES)).then_some((s.len(), Some(KOFI)))
}

const BMAC_PAGES: &[&str] = &[
    "explore",
    "explore-creators",
    "about",
    "login",
    "signin",
    "signup",
    "faq",
    "privacy-policy",
    "terms",
    "pricing",
    "features",
    "brand",
    "blog",
    "dashboard",
    "settings",
    "apps",
    "extras",
    "membership",
    "memberships",
    "help",
    "support",
    "invite",
    "careers",
    "webhooks",
    "integrations",
];

fn buymeacoffee(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    (profile_name(s, 3, 50, b"_-") && !reserved(s, BMAC_PAGES))
        .then_some((s.len(), Some(BUYMEACOFFEE)))
}

const PATREON_PAGES: &[&str] = &[
    "login",
    "signup",
    "home",
    "explore",
    "about",
    "search",
    "messages",
    "settings",
    "notifications",
    "policy",
    "policies",
    "legal",
    "pricing",
    "product",
    "apps",
    "blog",
    "careers",
    "create",
    "posts",
    "membership",
    "creators",
    "start",
    "library",
    "terms",
    "privacy",
    "help",
    "support",
    "discover",
    "portal",
    "user",
    "join",
];

fn patreon(p: &[u8]) -> Option<(usize, Note)> {
    for kw in [&b"c"[..], b"join"] {
        if let Some(rest) = after_word(p, kw) {
            let s = seg(rest);
            return profile_name(s, 3, 64, b"_-")
                .then_some((kw.len() + 1 + s.len(), Some(PATREON)));
        }
    }
    if let Some(rest) = strip_ci(p, b"user?u=") {
        let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        return len_in(&rest[..n], 1, 20).then(|| (with_params(p, 7 + n), Some(PATREON)));
    }
    let s = seg(p);
    (profile_name(s, 3, 64, b"_-") && !reserved(s, PATREON_PAGES))
        .then_some((s.len(), Some(PATREON)))
}

fn gofundme(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(after_word(p, b"f")?);
    profile_name(s, 3, 128, b"-").then_some((2 + s.len(), Some(GOFUNDME)))
}

fn gofund_me(p: &[u8]) -> Option<(usize, Note)> {
    let s = seg(p);
    (len_in(s, 5, 12) && s.iter().all(u8::is_ascii_alphanumeric))
        .then_some((s.len(), Some(GOFUNDME)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(kinds: &[IndicatorKind], text: &str) -> Vec<(IndicatorKind, String, Note)> {
        let scanner = LinkScanner::new(KindMask::of(kinds));
        let mut v = Vec::new();
        scanner.scan(text, &mut |m| {
            v.push((m.kind, text[m.start..m.end].to_string(), m.note))
        });
        v
    }

    fn one(kind: IndicatorKind, text: &str) -> Option<(String, Note)> {
        let v = find(&[kind], text);
        assert!(v.len() <= 1, "{v:?}");
        v.into_iter().next().map(|(_, s, n)| (s, n))
    }

    #[test]
    fn every_host_pattern_ends_with_slash_and_is_lower_case() {
        for h in &HOSTS {
            assert!(h.pattern.ends_with(b"/"));
            assert!(!h.pattern.iter().any(u8::is_ascii_uppercase));
        }
    }

    #[test]
    fn telegram_forms() {
        let t = Telegram;
        assert_eq!(
            one(t, "see t.me/durov_news."),
            Some(("t.me/durov_news".into(), None))
        );
        assert_eq!(
            one(t, "(https://www.T.me/joinchat/AAAAAEcGeaBmbLfnQRWxYw)"),
            Some((
                "https://www.T.me/joinchat/AAAAAEcGeaBmbLfnQRWxYw".into(),
                Some(INVITE)
            ))
        );
        assert_eq!(
            one(t, "t.me/+AbCdEfGhIjKlMnOp!"),
            Some(("t.me/+AbCdEfGhIjKlMnOp".into(), Some(INVITE)))
        );
        assert_eq!(
            one(t, "t.me/+4915112345678"),
            Some(("t.me/+4915112345678".into(), Some(PHONE)))
        );
        assert_eq!(
            one(t, "t.me/c/1234567890/55"),
            Some(("t.me/c/1234567890/55".into(), Some(PRIVATE)))
        );
        assert_eq!(
            one(t, "t.me/s/channel_x"),
            Some(("t.me/s/channel_x".into(), None))
        );
        assert_eq!(
            one(t, "telegram.dog/somebot?start=abc"),
            Some(("telegram.dog/somebot?start=abc".into(), None))
        );
        assert_eq!(
            one(t, "tg://resolve?domain=somechannel&post=5 ok"),
            Some(("tg://resolve?domain=somechannel&post=5".into(), None))
        );
        assert_eq!(
            one(t, "tg://join?invite=AbCdEfGhIjKlMnOp"),
            Some(("tg://join?invite=AbCdEfGhIjKlMnOp".into(), Some(INVITE)))
        );
        for bad in [
            "notat.me/somechannel",
            "at.me/somechannel",
            "t.me/abcd",
            "t.me/1abcde",
            "t.me/share/url?url=x",
            "t.me/addstickers/pack",
            "t.me/joinchat/short",
            "t.me/+12345",
            "t.me/abcdefg.xyz",
            "user@t.me/abcdefg",
            "example.com/t.me/abcdefg",
            "t.me/abcdefgé",
            "t.me/",
            "tg://resolve?domain=abc",
            "tg://msg?text=hello",
            "xhttps://t.me/abcdefg",
        ] {
            assert_eq!(one(t, bad), None, "{bad}");
        }
    }

    #[test]
    fn messenger_forms() {
        let m = Messenger;
        let cases = [
            ("chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv", WHATSAPP),
            ("https://chat.whatsapp.com/invite/AbCdEfGhIjKlMnOpQrStUv", WHATSAPP),
            ("wa.me/15551234567", WHATSAPP),
            ("wa.me/+15551234567?text=hi", WHATSAPP),
            ("wa.me/message/ABCDEFGHIJ1234", WHATSAPP),
            ("https://api.whatsapp.com/send?phone=15551234567&text=hi", WHATSAPP),
            ("signal.group/#CjQKIHx1a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5EhBwYXNzd29yZHBhc3N3b3Jk", SIGNAL),
            ("signal.me/#p/+15551234567", SIGNAL),
            ("signal.me/#eu/AbCdEfGhIjKlMnOpQrStUvWxYz", SIGNAL),
            ("discord.gg/abc123XY", DISCORD),
            ("https://discord.com/invite/my-server", DISCORD),
            ("discordapp.com/invite/abc123XY", DISCORD),
            ("threema.id/ECHOECHO", THREEMA),
            ("threema.id/*GATEWAY?text=x", THREEMA),
        ];
        for (link, note) in cases {
            assert_eq!(
                one(m, &format!("[{link}]")),
                Some((link.to_string(), Some(note))),
                "{link}"
            );
        }
        for bad in [
            "chat.whatsapp.com/short",
            "chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv_x",
            "wa.me/12345",
            "wa.me/abc",
            "signal.group/#short",
            "signal.group/abc",
            "discord.gg/-abc",
            "discord.gg/a",
            "discord.com/channels/123",
            "threema.id/ECHOECH",
            "threema.id/echoecho",
            "mydiscord.gg/abc123",
        ] {
            assert_eq!(one(m, bad), None, "{bad}");
        }
    }

    #[test]
    fn payment_forms() {
        let p = PaymentHandle;
        let cases = [
            ("paypal.me/JohnDoe42", PAYPAL),
            ("https://www.paypal.com/paypalme/JohnDoe42/10", PAYPAL),
            (
                "https://www.paypal.com/donate/?hosted_button_id=ABCDEF123&source=url",
                PAYPAL_DONATE,
            ),
            ("cash.app/$JohnDoe", CASHAPP),
            ("venmo.com/u/John-Doe", VENMO),
            ("venmo.com/JohnDoe_1", VENMO),
            ("ko-fi.com/johndoe", KOFI),
            ("buymeacoffee.com/john-doe", BUYMEACOFFEE),
            ("patreon.com/johndoe", PATREON),
            ("patreon.com/c/johndoe", PATREON),
            ("patreon.com/user?u=12345", PATREON),
            ("gofundme.com/f/help-our-brothers", GOFUNDME),
            ("gofund.me/a1b2c3d4", GOFUNDME),
        ];
        for (link, note) in cases {
            assert_eq!(
                one(p, &format!("{link}.")),
                Some((link.to_string(), Some(note))),
                "{link}"
            );
        }
        for bad in [
            "paypal.me/",
            "paypal.me/abcdefghijklmnopqrstu",
            "paypal.com/signin",
            "cash.app/$100",
            "venmo.com/about",
            "venmo.com/abc",
            "ko-fi.com/explore",
            "patreon.com/login",
            "gofundme.com/discover",
            "gofundme.com/f/-x",
        ] {
            assert_eq!(one(p, bad), None, "{bad}");
        }
    }

    #[test]
    fn cashtags() {
        let p = PaymentHandle;
        assert_eq!(
            one(p, "send to $JohnDoe42 now"),
            Some(("$JohnDoe42".into(), Some(CASHTAG)))
        );
        assert_eq!(
            one(p, "buy $TSLA"),
            Some(("$TSLA".into(), Some(TICKER_LIKE)))
        );
        assert_eq!(one(p, "$abc."), Some(("$abc".into(), Some(CASHTAG))));
        for bad in [
            "costs $100",
            "costs $5.99",
            "costs $20k",
            "$5M raised",
            "US$100",
            "a$bc",
            "$$abc",
            "$abc$",
            "$abc_def",
            "$abcdefghijklmnopqrstu",
            "$",
            "$ abc",
            "$abcé",
        ] {
            assert_eq!(one(p, bad), None, "{bad}");
        }
    }

    #[test]
    fn kinds_do_not_leak() {
        let text = "t.me/somechannel wa.me/15551234567 paypal.me/abc $abc";
        let all = find(&[Telegram, Messenger, PaymentHandle], text);
        assert_eq!(all.len(), 4);
        assert_eq!(find(&[Telegram], text).len(), 1);
        assert_eq!(find(&[Messenger], text).len(), 1);
        assert_eq!(find(&[PaymentHandle], text).len(), 2);
        assert!(find(&[IndicatorKind::Btc], text).is_empty());
    }

    #[test]
    fn validate_whole_candidate_only() {
        assert_eq!(validate(Telegram, "t.me/somechannel"), Some(None));
        assert_eq!(validate(Telegram, "t.me/somechannel."), None);
        assert_eq!(validate(Telegram, " t.me/somechannel"), None);
        assert_eq!(validate(Messenger, "t.me/somechannel"), None);
        assert_eq!(validate(PaymentHandle, "$abc"), Some(Some(CASHTAG)));
    }
}
