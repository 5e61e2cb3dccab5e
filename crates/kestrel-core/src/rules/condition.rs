//! The condition language of a rule: `and`, `or`, `not`, parentheses,
//! `N of (a, b, …)`, `any of them`, `all of them`, `N of them`, `near(a, b, N)`
//! and `#term >= N`.
//!
//! Parsing is separate from name resolution so that the loader can report an
//! unknown term at its exact column, and so that `them` can be resolved once
//! the loader knows which terms the `unless` condition uses.

use std::fmt;

/// A comparison in a count condition `#term OP N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn holds(self, left: u32, right: u32) -> bool {
        match self {
            CmpOp::Ge => left >= right,
            CmpOp::Gt => left > right,
            CmpOp::Le => left <= right,
            CmpOp::Lt => left < right,
            CmpOp::Eq => left == right,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Lt => "<",
            CmpOp::Eq => "==",
        }
    }
}

/// How many of a list of terms must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// At least this many.
    AtLeast(u32),
    /// All of them.
    All,
}

/// A parsed condition. Term references are indices into the rule's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// The term matched (at least `min_count` times).
    Term(usize),
    /// Negation.
    Not(Box<Expr>),
    /// Every operand holds.
    And(Vec<Expr>),
    /// Some operand holds.
    Or(Vec<Expr>),
    /// At least `n` (or all) of the listed terms hold.
    Of(Quantity, Vec<usize>),
    /// Some match of `a` and some match of `b` in the same field are at most
    /// `words` words apart.
    Near(usize, usize, u32),
    /// The number of matches of a term compared with a constant.
    Count(usize, CmpOp, u32),
    /// The term holds and every match of it lies inside quotation marks
    /// (a quoted call in a report, not the call itself).
    Quoted(usize),
    /// The term holds and some match of it lies inside quotation marks.
    AnyQuoted(usize),
    /// The term holds on its matches outside quotation marks alone (for a
    /// `weights:` term, the score of the entries found outside them).
    Unquoted(usize),
}

/// A condition as parsed, before `them` is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Term(usize),
    Not(Box<Parsed>),
    And(Vec<Parsed>),
    Or(Vec<Parsed>),
    Of(Quantity, Vec<usize>),
    OfThem(Quantity),
    Near(usize, usize, u32),
    Count(usize, CmpOp, u32),
    Quoted(usize),
    AnyQuoted(usize),
    Unquoted(usize),
}

impl Parsed {
    /// Replaces `… of them` with the given terms.
    pub(crate) fn resolve(self, them: &[usize]) -> Expr {
        match self {
            Parsed::Term(t) => Expr::Term(t),
            Parsed::Not(e) => Expr::Not(Box::new(e.resolve(them))),
            Parsed::And(v) => Expr::And(v.into_iter().map(|e| e.resolve(them)).collect()),
            Parsed::Or(v) => Expr::Or(v.into_iter().map(|e| e.resolve(them)).collect()),
            Parsed::Of(q, v) => Expr::Of(q, v),
            Parsed::OfThem(q) => Expr::Of(q, them.to_vec()),
            Parsed::Near(a, b, n) => Expr::Near(a, b, n),
            Parsed::Count(t, op, n) => Expr::Count(t, op, n),
            Parsed::Quoted(t) => Expr::Quoted(t),
            Parsed::AnyQuoted(t) => Expr::AnyQuoted(t),
            Parsed::Unquoted(t) => Expr::Unquoted(t),
        }
    }

    /// Every term named explicitly (not through `them`).
    pub(crate) fn named_terms(&self, out: &mut Vec<usize>) {
        match self {
            Parsed::Term(t)
            | Parsed::Count(t, _, _)
            | Parsed::Quoted(t)
            | Parsed::AnyQuoted(t)
            | Parsed::Unquoted(t) => out.push(*t),
            Parsed::Not(e) => e.named_terms(out),
            Parsed::And(v) | Parsed::Or(v) => v.iter().for_each(|e| e.named_terms(out)),
            Parsed::Of(_, v) => out.extend(v),
            Parsed::OfThem(_) => {}
            Parsed::Near(a, b, _) => out.extend([*a, *b]),
        }
    }

    /// True when the condition says `of them` somewhere.
    pub(crate) fn uses_them(&self) -> bool {
        match self {
            Parsed::OfThem(_) => true,
            Parsed::Not(e) => e.uses_them(),
            Parsed::And(v) | Parsed::Or(v) => v.iter().any(Parsed::uses_them),
            _ => false,
        }
    }
}

/// What a condition needs to know about a post's matches to be evaluated.
pub trait Facts {
    /// How many times the term matched in the fields the rule scans.
    fn count(&self, term: usize) -> u32;
    /// The term holds: matched at least its `min_count` times.
    fn holds(&self, term: usize) -> bool;
    /// Some match of `a` and some of `b` are at most `words` words apart.
    fn near(&self, a: usize, b: usize, words: u32) -> bool;
    /// The term holds and every one of its matches lies inside a quotation.
    fn quoted(&self, term: usize) -> bool;
    /// The term holds and some match of it lies inside a quotation.
    fn any_quoted(&self, term: usize) -> bool;
    /// The term holds on its matches outside quotations alone.
    fn unquoted(&self, term: usize) -> bool;
}

impl Expr {
    /// Calls `f` on this expression and on each expression inside it,
    /// outermost first, in the order written.
    pub fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Not(x) => x.visit(f),
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|x| x.visit(f)),
            _ => {}
        }
    }

    /// Every term the condition names, in the order written, repeats kept.
    pub fn terms(&self, out: &mut Vec<usize>) {
        self.visit(&mut |e| match e {
            Expr::Term(t)
            | Expr::Count(t, _, _)
            | Expr::Quoted(t)
            | Expr::AnyQuoted(t)
            | Expr::Unquoted(t) => out.push(*t),
            Expr::Of(_, v) => out.extend(v),
            Expr::Near(a, b, _) => out.extend([*a, *b]),
            Expr::Not(_) | Expr::And(_) | Expr::Or(_) => {}
        });
    }

    /// Evaluates the condition.
    pub fn eval(&self, facts: &dyn Facts) -> bool {
        match self {
            Expr::Term(t) => facts.holds(*t),
            Expr::Not(e) => !e.eval(facts),
            Expr::And(v) => v.iter().all(|e| e.eval(facts)),
            Expr::Or(v) => v.iter().any(|e| e.eval(facts)),
            Expr::Of(q, terms) => {
                let need = match q {
                    Quantity::AtLeast(n) => *n as usize,
                    Quantity::All => terms.len(),
                };
                let mut have = 0;
                for t in terms {
                    if facts.holds(*t) {
                        have += 1;
                        if have >= need {
                            return true;
                        }
                    }
                }
                have >= need
            }
            Expr::Near(a, b, n) => facts.near(*a, *b, *n),
            Expr::Count(t, op, n) => op.holds(facts.count(*t), *n),
            Expr::Quoted(t) => facts.quoted(*t),
            Expr::AnyQuoted(t) => facts.any_quoted(*t),
            Expr::Unquoted(t) => facts.unquoted(*t),
        }
    }

    /// Renders the condition with term names, for explanations.
    pub fn display<'a>(&'a self, names: &'a [String]) -> impl fmt::Display + 'a {
        ExprDisplay { expr: self, names }
    }
}

struct ExprDisplay<'a> {
    expr: &'a Expr,
    names: &'a [String],
}

impl<'a> fmt::Display for ExprDisplay<'a> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |t: &usize| self.names[*t].as_str();
        let sub = |e: &'a Expr| ExprDisplay {
            expr: e,
            names: self.names,
        };
        match self.expr {
            Expr::Term(t) => write!(f, "{}", n(t)),
            Expr::Not(e) => write!(f, "not {}", sub(e)),
            Expr::And(v) | Expr::Or(v) => {
                let op = if matches!(self.expr, Expr::And(_)) {
                    " and "
                } else {
                    " or "
                };
                write!(f, "(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, "{op}")?;
                    }
                    write!(f, "{}", sub(e))?;
                }
                write!(f, ")")
            }
            Expr::Of(q, terms) => {
                match q {
                    Quantity::AtLeast(k) => write!(f, "{k} of (")?,
                    Quantity::All => write!(f, "all of (")?,
                }
                for (i, t) in terms.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", n(t))?;
                }
                write!(f, ")")
            }
            Expr::Near(a, b, k) => write!(f, "near({}, {}, {k})", n(a), n(b)),
            Expr::Count(t, op, k) => write!(f, "#{} {} {k}", n(t), op.as_str()),
            Expr::Quoted(t) => write!(f, "quoted({})", n(t)),
            Expr::AnyQuoted(t) => write!(f, "any_quoted({})", n(t)),
            Expr::Unquoted(t) => write!(f, "unquoted({})", n(t)),
        }
    }
}

/// A condition syntax error; `offset` is a character offset into the condition text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// Characters from the start of the condition text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(u32),
    LParen,
    RParen,
    Comma,
    Hash,
    Cmp(CmpOp),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Num(n) => write!(f, "'{n}'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
            Tok::Hash => f.write_str("'#'"),
            Tok::Cmp(op) => write!(f, "'{}'", op.as_str()),
            Tok::End => f.write_str("the end of the condition"),
        }
    }
}

/// Words with a meaning in conditions; no term may be named after one.
pub const RESERVED: &[&str] = &["and", "or", "not", "of", "any", "all", "them", "near"];

/// True for a character that may appear in a term name.
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '#' => {
                i += 1;
                Tok::Hash
            }
            '>' | '<' | '=' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('=', Some('=')) => (CmpOp::Eq, 2),
                    ('>', _) => (CmpOp::Gt, 1),
                    ('<', _) => (CmpOp::Lt, 1),
                    _ => {
                        return Err(ConditionError {
                            offset: start,
                            message: "'=' is not an operator here; did you mean '>='?".into(),
                        })
                    }
                };
                i += len;
                Tok::Cmp(op)
            }
            c if c.is_ascii_digit()
                && !chars[i..]
                    .iter()
                    .take_while(|c| is_name_char(**c))
                    .any(|c| !c.is_ascii_digit()) =>
            {
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text.parse::<u32>().map_err(|_| ConditionError {
                    offset: start,
                    message: format!("number {text} is too large"),
                })?;
                Tok::Num(n)
            }
            c if is_name_char(c) => {
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            other => {
                let hint = match other {
                    '&' => " (write 'and')",
                    '|' => " (write 'or')",
                    '!' => " (write 'not')",
                    _ => "",
                };
                return Err(ConditionError {
                    offset: start,
                    message: format!("unexpected character '{other}'{hint}"),
                });
            }
        };
        out.push((tok, start));
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

/// Parses a condition, resolving term names with `lookup`.
pub(crate) fn parse(
    src: &str,
    lookup: &dyn Fn(&str) -> Option<usize>,
) -> Result<Parsed, ConditionError> {
    let toks = lex(src)?;
    let mut p = ParserState {
        toks,
        pos: 0,
        lookup,
    };
    if p.peek() == &Tok::End {
        return Err(ConditionError {
            offset: 0,
            message: "the condition is empty".into(),
        });
    }
    let e = p.or()?;
    match p.peek() {
        Tok::End => Ok(e),
        Tok::Ident(w) if RESERVED.contains(&w.to_lowercase().as_str()) => Err(p.err(format!(
            "expected 'and', 'or' or the end, found '{w}' (operators are lower case: '{}')",
            w.to_lowercase()
        ))),
        t => Err(p.err(format!("expected 'and', 'or' or the end, found {t}"))),
    }
}

struct ParserState<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<usize>,
}

impl ParserState<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)].0
    }

    fn offset(&self) -> usize {
        self.toks[self.pos].1
    }

    fn err(&self, message: String) -> ConditionError {
        ConditionError {
            offset: self.offset(),
            message,
        }
    }

    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].0.clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }

    fn expect(&mut self, want: Tok) -> Result<(), ConditionError> {
        if *self.peek() == want {
            self.bump();
            Ok(())
        } else {
            Err(self.err(format!("expected {want}, found {}", self.peek())))
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ConditionError> {
        if self.is_kw(kw) {
            self.bump();
            Ok(())
        } else {
            Err(self.err(format!("expected '{kw}', found {}", self.peek())))
        }
    }

    fn or(&mut self) -> Result<Parsed, ConditionError> {
        let mut items = vec![self.and()?];
        while self.is_kw("or") {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Parsed::Or(items)
        })
    }

    fn and(&mut self) -> Result<Parsed, ConditionError> {
        let mut items = vec![self.unary()?];
        while self.is_kw("and") {
            self.bump();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Parsed::And(items)
        })
    }

    fn unary(&mut self) -> Result<Parsed, ConditionError> {
        if self.is_kw("not") {
            self.bump();
            return Ok(Parsed::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn term(&mut self) -> Result<usize, ConditionError> {
        match self.peek().clone() {
            Tok::Ident(name) if !RESERVED.contains(&name.as_str()) => match (self.lookup)(&name) {
                Some(t) => {
                    self.bump();
                    Ok(t)
                }
                None if RESERVED.contains(&name.to_lowercase().as_str()) => Err(self.err(format!(
                    "unknown term '{name}' (operators are lower case: '{}')",
                    name.to_lowercase()
                ))),
                None => Err(self.err(format!("unknown term '{name}'"))),
            },
            t => Err(self.err(format!("expected a term name, found {t}"))),
        }
    }

    fn number(&mut self) -> Result<u32, ConditionError> {
        match self.peek().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(n)
            }
            t => Err(self.err(format!("expected a number, found {t}"))),
        }
    }

    fn of_list(&mut self, q: Quantity) -> Result<Parsed, ConditionError> {
        self.expect_kw("of")?;
        if self.is_kw("them") {
            self.bump();
            return Ok(Parsed::OfThem(q));
        }
        self.expect(Tok::LParen)?;
        let mut terms = vec![self.term()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            let t = self.term()?;
            if terms.contains(&t) {
                // `2 of (a, a, b)` would count `a` twice and hold on `a` alone.
                return Err(ConditionError {
                    offset: self.toks[self.pos - 1].1,
                    message: format!(
                        "term {} appears twice in the list; each term counts once",
                        self.toks[self.pos - 1].0
                    ),
                });
            }
            terms.push(t);
        }
        self.expect(Tok::RParen)?;
        if let Quantity::AtLeast(n) = q {
            if n as usize > terms.len() {
                return Err(ConditionError {
                    offset: self.toks[self.pos - 1].1,
                    message: format!("{n} of a list of {} terms can never hold", terms.len()),
                });
            }
        }
        Ok(Parsed::Of(q, terms))
    }

    fn primary(&mut self) -> Result<Parsed, ConditionError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Tok::Num(n) => {
                self.bump();
                if n == 0 {
                    return Err(ConditionError {
                        offset: self.toks[self.pos - 1].1,
                        message: "'0 of' always holds; use a number of at least 1".into(),
                    });
                }
                self.of_list(Quantity::AtLeast(n))
            }
            Tok::Hash => {
                self.bump();
                let t = self.term()?;
                let op = match self.peek().clone() {
                    Tok::Cmp(op) => {
                        self.bump();
                        op
                    }
                    t => return Err(self.err(format!("expected '>=' after the term, found {t}"))),
                };
                let n = self.number()?;
                Ok(Parsed::Count(t, op, n))
            }
            Tok::Ident(kw) if kw == "any" && *self.peek_at(1) == Tok::Ident("of".into()) => {
                self.bump();
                self.of_list(Quantity::AtLeast(1))
            }
            Tok::Ident(kw) if kw == "all" && *self.peek_at(1) == Tok::Ident("of".into()) => {
                self.bump();
                self.of_list(Quantity::All)
            }
            Tok::Ident(kw) if kw == "near" && *self.peek_at(1) == Tok::LParen => {
                self.bump();
                self.bump();
                let a = self.term()?;
                self.expect(Tok::Comma)?;
                let b = self.term()?;
                self.expect(Tok::Comma)?;
                let n = self.number()?;
                self.expect(Tok::RParen)?;
                Ok(Parsed::Near(a, b, n))
            }
            Tok::Ident(kw)
                if matches!(kw.as_str(), "quoted" | "any_quoted" | "unquoted")
                    && *self.peek_at(1) == Tok::LParen =>
            {
                let make = match kw.as_str() {
                    "quoted" => Parsed::Quoted,
                    "any_quoted" => Parsed::AnyQuoted,
                    _ => Parsed::Unquoted,
                };
                self.bump();
                self.bump();
                let t = self.term()?;
                self.expect(Tok::RParen)?;
                Ok(make(t))
            }
            _ => Ok(Parsed::Term(self.term()?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["appeal", "wallet", "amount", "news", "x1", "a-b"];

    fn p(src: &str) -> Result<Expr, ConditionError> {
        let lookup = |n: &str| NAMES.iter().position(|m| *m == n);
        parse(src, &lookup).map(|e| e.resolve(&[0, 1, 2]))
    }

    struct F(Vec<u32>);
    impl Facts for F {
        fn count(&self, t: usize) -> u32 {
            self.0[t]
        }
        fn holds(&self, t: usize) -> bool {
            self.0[t] > 0
        }
        fn near(&self, a: usize, b: usize, _: u32) -> bool {
            self.0[a] > 0 && self.0[b] > 0
        }
        fn quoted(&self, t: usize) -> bool {
            self.0[t] > 1
        }
        fn any_quoted(&self, t: usize) -> bool {
            self.0[t] > 2
        }
        fn unquoted(&self, t: usize) -> bool {
            self.0[t] > 3
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = p("appeal or wallet and amount").unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![
                Expr::Term(0),
                Expr::And(vec![Expr::Term(1), Expr::Term(2)])
            ])
        );
    }

    #[test]
    fn not_binds_tightest() {
        let e = p("not appeal and wallet").unwrap();
        assert_eq!(
            e,
            Expr::And(vec![Expr::Not(Box::new(Expr::Term(0))), Expr::Term(1)])
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        let e = p("(appeal or wallet) and amount").unwrap();
        assert!(e.eval(&F(vec![0, 1, 1, 0, 0, 0])));
        assert!(!e.eval(&F(vec![1, 1, 0, 0, 0, 0])));
    }

    #[test]
    fn n_of_list_counts_terms_that_hold() {
        let e = p("2 of (appeal, wallet, amount)").unwrap();
        assert!(!e.eval(&F(vec![1, 0, 0, 0, 0, 0])));
        assert!(e.eval(&F(vec![1, 0, 3, 0, 0, 0])));
    }

    #[test]
    fn them_resolves_to_the_given_terms() {
        assert_eq!(
            p("any of them").unwrap(),
            Expr::Of(Quantity::AtLeast(1), vec![0, 1, 2])
        );
        assert_eq!(
            p("all of them").unwrap(),
            Expr::Of(Quantity::All, vec![0, 1, 2])
        );
        assert_eq!(
            p("2 of them").unwrap(),
            Expr::Of(Quantity::AtLeast(2), vec![0, 1, 2])
        );
    }

    #[test]
    fn counts_and_near_parse() {
        assert_eq!(p("#appeal >= 3").unwrap(), Expr::Count(0, CmpOp::Ge, 3));
        assert_eq!(p("near(appeal, wallet, 5)").unwrap(), Expr::Near(0, 1, 5));
        assert_eq!(p("quoted(wallet)").unwrap(), Expr::Quoted(1));
        let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            p("appeal and not quoted(appeal)")
                .unwrap()
                .display(&names)
                .to_string(),
            "(appeal and not quoted(appeal))"
        );
        assert!(p("quoted(appeal, wallet)").is_err());
        assert_eq!(p("any_quoted(wallet)").unwrap(), Expr::AnyQuoted(1));
        assert_eq!(
            p("news and any_quoted(appeal)")
                .unwrap()
                .display(&NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .to_string(),
            "(news and any_quoted(appeal))"
        );
        assert!(p("any_quoted(nosuch)").is_err());
        assert_eq!(p("unquoted(news)").unwrap(), Expr::Unquoted(3));
        assert_eq!(
            p("quoted(appeal) and not unquoted(news)")
                .unwrap()
                .display(&NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .to_string(),
            "(quoted(appeal) and not unquoted(news))"
        );
        assert!(p("unquoted(appeal, wallet)").is_err());
        assert!(p("quoted(nosuch)").is_err());
        assert_eq!(
            p("x1 and a-b").unwrap(),
            Expr::And(vec![Expr::Term(4), Expr::Term(5)])
        );
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let e = p("appeal and walet").unwrap_err();
        assert_eq!(e.offset, 11);
        assert!(e.message.contains("unknown term 'walet'"));
        let e = p("appeal and (wallet").unwrap_err();
        assert_eq!(e.offset, 18);
        let e = p("appeal wallet").unwrap_err();
        assert_eq!(e.offset, 7);
        let e = p("4 of (appeal, wallet)").unwrap_err();
        assert!(e.message.contains("never hold"));
        let e = p("near(appeal, wallet)").unwrap_err();
        assert!(e.message.contains("expected ','"), "{e:?}");
        assert!(p("").is_err());
        assert!(p("appeal ^ wallet").is_err());
        assert!(p("appeal AND wallet")
            .unwrap_err()
            .message
            .contains("lower case"));
        assert!(p("appeal && wallet")
            .unwrap_err()
            .message
            .contains("write 'and'"));
        assert!(p("#appeal = 2").is_err());
    }

    #[test]
    fn display_round_trips_names() {
        let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
        let e = p("appeal and not (wallet or #amount >= 2)").unwrap();
        assert_eq!(
            e.display(&names).to_string(),
            "(appeal and not (wallet or #amount >= 2))"
        );
    }
}
