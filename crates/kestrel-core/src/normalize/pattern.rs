//! Folding the literal parts of a regex, so that a pattern written in plain
//! words matches folded text.

use regex_syntax::ast::{
    self, parse::Parser, print::Printer, Ast, ClassUnicodeKind, Concat, Flag, Flags, FlagsItem,
    FlagsItemKind, Group, GroupKind, Literal, LiteralKind,
};

use super::table::{entry, K_SEP, K_SYM};
use super::{fold_into, FoldedText};

/// Folds the literal characters of a regex pattern (runs of literal chars
/// inside concatenations are folded like text, except separators: keep them;
/// e.g. `dollars?` -> `dolars?`, `\bSupport\b` -> `\bsuport\b`), leaving
/// classes, escapes and operators alone, so a regex written in plain words
/// matches folded text. Returns the rewritten pattern.
///
/// A run of literals is folded as one piece of text: its words are replaced
/// by their folded form (so `r3cruit` → `recruit`, `j\.o\.i\.n` → `join`),
/// the separators between words (space, `-`, escaped punctuation, `$ @ ! |`
/// that were not read as letters) are kept as written, and ignorable
/// characters are dropped. A literal alone under a repetition is folded on
/// its own; if it folds to several characters they are grouped (`ß+` →
/// `(?:ss)+`). A character class that names capitals (`[A-Z]`, `\p{Lu}`)
/// is made case-insensitive (`(?i:[A-Z])`), since folded text has none;
/// other classes are left alone. Repeated letters collapse in folded text,
/// so a regex that asks for a doubled letter (`sup{2}ort`) cannot match.
// The error type is the parser's own, as the engine's API expects.
#[allow(clippy::result_large_err)]
pub fn fold_regex(pattern: &str) -> Result<String, ast::Error> {
    let mut tree = Parser::new().parse(pattern)?;
    let mut folded = FoldedText::new();
    fold_ast(&mut tree, &mut folded);
    let mut s = String::with_capacity(pattern.len());
    Printer::new()
        .print(&tree, &mut s)
        .expect("printing to a String cannot fail");
    Ok(s)
}

fn fold_ast(node: &mut Ast, buf: &mut FoldedText) {
    match node {
        Ast::Concat(c) => {
            let old = std::mem::take(&mut c.asts);
            let mut new = Vec::with_capacity(old.len());
            let mut run: Vec<Literal> = Vec::new();
            for mut a in old {
                if let Ast::Literal(l) = &a {
                    run.push((**l).clone());
                    continue;
                }
                if !run.is_empty() {
                    new.extend(fold_run(&run, buf));
                    run.clear();
                }
                fold_ast(&mut a, buf);
                new.push(a);
            }
            if !run.is_empty() {
                new.extend(fold_run(&run, buf));
            }
            c.asts = new;
        }
        Ast::Alternation(a) => {
            for x in &mut a.asts {
                fold_ast(x, buf);
            }
        }
        Ast::Group(g) => fold_ast(&mut g.ast, buf),
        Ast::Repetition(r) => {
            if let Ast::Literal(l) = &*r.ast {
                let l = (**l).clone();
                *r.ast = group_of(fold_run(std::slice::from_ref(&l), buf), &l);
            } else {
                fold_ast(&mut r.ast, buf);
            }
        }
        Ast::Literal(l) => {
            let l = (**l).clone();
            let parts = fold_run(std::slice::from_ref(&l), buf);
            *node = concat_of(parts, &l);
        }
        Ast::ClassBracketed(_) | Ast::ClassUnicode(_) => {
            // Folded text has no capitals: a class that names some (`[A-Z]`,
            // `\p{Lu}`) matches case-insensitively, or it could never match.
            let names_capitals = match &*node {
                Ast::ClassUnicode(c) => match &c.kind {
                    ClassUnicodeKind::Named(name) => {
                        let name: String = name
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .flat_map(|c| c.to_lowercase())
                            .collect();
                        matches!(
                            name.as_str(),
                            "lu" | "lt" | "uppercase" | "uppercaseletter" | "titlecaseletter"
                        )
                    }
                    _ => false,
                },
                _ => {
                    let mut text = String::new();
                    Printer::new()
                        .print(node, &mut text)
                        .expect("printing to a String cannot fail");
                    text.chars().any(char::is_uppercase)
                }
            };
            if names_capitals {
                let span = *node.span();
                let class = std::mem::replace(node, Ast::empty(span));
                *node = Ast::group(Group {
                    span,
                    kind: GroupKind::NonCapturing(Flags {
                        span,
                        items: vec![FlagsItem {
                            span,
                            kind: FlagsItemKind::Flag(Flag::CaseInsensitive),
                        }],
                    }),
                    ast: Box::new(class),
                });
            }
        }
        Ast::Empty(_) | Ast::Flags(_) | Ast::Dot(_) | Ast::Assertion(_) | Ast::ClassPerl(_) => {}
    }
}

/// A separator as far as folding is concerned: kept verbatim in patterns.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        !c.is_ascii_alphanumeric()
    } else {
        matches!(entry(c).kind, K_SEP | K_SYM)
    }
}

fn lit(c: char, like: &Literal) -> Ast {
    Ast::literal(Literal {
        span: like.span,
        kind: LiteralKind::Verbatim,
        c,
    })
}

/// Folds a run of literals as text: folded words in place of the literals
/// that produced them, separators kept.
fn fold_run(run: &[Literal], buf: &mut FoldedText) -> Vec<Ast> {
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(run.len());
    for l in run {
        offsets.push(text.len());
        text.push(l.c);
    }
    fold_into(&text, buf);
    let folded = buf.as_str();
    let mut out = Vec::with_capacity(run.len());
    let mut li = 0;
    let mut ws = 0;
    while ws < folded.len() {
        let we = folded[ws..].find(' ').map_or(folded.len(), |k| ws + k);
        let (rs, re) = buf.raw_span(ws, we);
        let mut separated = ws == 0;
        while li < run.len() && offsets[li] < rs {
            if is_separator(run[li].c) {
                out.push(Ast::literal(run[li].clone()));
                separated = true;
            }
            li += 1;
        }
        if !separated {
            // Two words out of one character (`¼` → `1 4`).
            out.push(lit(' ', &run[li.min(run.len() - 1)]));
        }
        out.extend(
            folded[ws..we]
                .chars()
                .map(|c| lit(c, &run[li.min(run.len() - 1)])),
        );
        while li < run.len() && offsets[li] < re {
            li += 1;
        }
        ws = we + 1;
    }
    for l in &run[li..] {
        if is_separator(l.c) {
            out.push(Ast::literal(l.clone()));
        }
    }
    out
}

fn concat_of(mut parts: Vec<Ast>, like: &Literal) -> Ast {
    match parts.len() {
        0 => Ast::empty(like.span),
        1 => parts.pop().expect("one part"),
        _ => Ast::concat(Concat {
            span: like.span,
            asts: parts,
        }),
    }
}

/// What a repetition applies to: one literal stays bare, anything else is
/// put in a non-capturing group.
fn group_of(mut parts: Vec<Ast>, like: &Literal) -> Ast {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    Ast::group(Group {
        span: like.span,
        kind: GroupKind::NonCapturing(Flags {
            span: like.span,
            items: Vec::new(),
        }),
        ast: Box::new(concat_of(parts, like)),
    })
}
