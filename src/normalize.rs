//! Temporary stand-in for the folding module (replaced by the real one).
#![allow(missing_docs)]

#[derive(Default, Clone, Debug)]
pub struct FoldedText {
    text: String,
    raw_start: Vec<u32>,
    raw_end: Vec<u32>,
}
impl FoldedText {
    pub fn new() -> FoldedText {
        FoldedText::default()
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn folded_pos(&self, raw: usize) -> usize {
        self.raw_start.partition_point(|&r| (r as usize) < raw)
    }
    pub fn raw_span(&self, start: usize, end: usize) -> (usize, usize) {
        if start >= end || self.raw_start.is_empty() {
            return (0, 0);
        }
        (
            self.raw_start[start] as usize,
            self.raw_end[end - 1] as usize,
        )
    }
}
pub fn fold_into(raw: &str, out: &mut FoldedText) {
    out.text.clear();
    out.raw_start.clear();
    out.raw_end.clear();
    let mut pending_space = false;
    for (i, c) in raw.char_indices() {
        if c.is_alphanumeric() {
            if pending_space && !out.text.is_empty() {
                out.text.push(' ');
                out.raw_start.push(i as u32);
                out.raw_end.push(i as u32);
            }
            pending_space = false;
            for l in c.to_lowercase() {
                let n = l.len_utf8();
                out.text.push(l);
                for _ in 0..n {
                    out.raw_start.push(i as u32);
                    out.raw_end.push((i + c.len_utf8()) as u32);
                }
            }
        } else {
            pending_space = true;
        }
    }
}
pub fn fold(raw: &str) -> String {
    let mut f = FoldedText::new();
    fold_into(raw, &mut f);
    f.text
}
pub fn fold_regex(pattern: &str) -> Result<String, regex_syntax::ast::Error> {
    regex_syntax::ast::parse::Parser::new().parse(pattern)?;
    Ok(pattern.to_lowercase())
}
pub fn is_boundary(folded: &str, at: usize) -> bool {
    at == 0
        || at >= folded.len()
        || folded.as_bytes()[at] == b' '
        || folded.as_bytes()[at - 1] == b' '
}
