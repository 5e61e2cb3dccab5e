//! A YAML document as a tree of nodes that remember where they stand in the file.
//!
//! Rule authors must be told the exact line and column of every mistake, and
//! serde-based YAML loaders lose positions after deserialization. This module
//! keeps the parser's event stream as a small tree with a [`Mark`] on every node,
//! so the rule loader can point at any key or value it rejects.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mark {
    /// Line, counting from 1.
    pub line: usize,
    /// Column in characters, counting from 1.
    pub col: usize,
}

impl Mark {
    fn from_marker(m: Marker) -> Mark {
        Mark {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// How a scalar was written, which decides whether `3` is a number or a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    /// Unquoted: may be a number, boolean or null.
    Plain,
    /// Quoted or a block scalar: always a string.
    Quoted,
    /// A block scalar (`|` or `>`): a string whose text starts on the next line.
    Block,
}

/// One node of a YAML document.
#[derive(Clone, Debug)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node starts.
    pub mark: Mark,
}

/// The content of a [`Node`].
#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar with the style it was written in.
    Scalar(String, ScalarStyle),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar's text, if this node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// True for a plain `~`, `null`, `Null`, `NULL` or an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, ScalarStyle::Plain)
            if s.is_empty() || s == "~" || s.eq_ignore_ascii_case("null"))
    }

    /// A word for error messages: what kind of node this is.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar(..) if self.is_null() => "null",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub mark: Mark,
    /// The parser's own description.
    pub message: String,
}

/// Parses one YAML document. An empty file gives `None`.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        mark: Mark::from_marker(*e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root)
}

enum Open {
    Seq(Mark, usize, Vec<Node>),
    Map(Mark, usize, Vec<(Node, Node)>, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<SyntaxError>,
    documents: usize,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        let mark = Mark::from_marker(marker);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let style = match style {
                    TScalarStyle::Plain => ScalarStyle::Plain,
                    TScalarStyle::Literal | TScalarStyle::Folded => ScalarStyle::Block,
                    _ => ScalarStyle::Quoted,
                };
                self.push_node(
                    Node {
                        value: Value::Scalar(text, style),
                        mark,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(mark, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(mark, anchor, Vec::new(), None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq(mark, anchor, items)) => (
                        Node {
                            value: Value::Seq(items),
                            mark,
                        },
                        anchor,
                    ),
                    Some(Open::Map(mark, anchor, entries, _)) => (
                        Node {
                            value: Value::Map(entries),
                            mark,
                        },
                        anchor,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::DocumentStart => {
                self.documents += 1;
                // Only the first document would be read: a second one (its
                // rules, its unknown keys) would be ignored without a word.
                if self.documents == 2 && self.error.is_none() {
                    self.error = Some(SyntaxError {
                        mark,
                        message:
                            "a second YAML document ('---'): a rule file holds one \
                                  document; put these rules in the first, or in a file of their own"
                                .into(),
                    });
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push_node(node, 0),
                None => {
                    if self.error.is_none() {
                        self.error = Some(SyntaxError {
                            mark,
                            message: "alias to an unknown anchor".into(),
                        });
                    }
                }
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_one_based_line_and_column() {
        let doc = parse("rules:\n  - id: a\n    title: \"x\"\n")
            .unwrap()
            .unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!("root is not a map")
        };
        let (key, list) = &entries[0];
        assert_eq!(key.as_scalar(), Some("rules"));
        assert_eq!(key.mark, Mark { line: 1, col: 1 });
        let Value::Seq(items) = &list.value else {
            panic!("rules is not a list")
        };
        let Value::Map(rule) = &items[0].value else {
            panic!("rule is not a map")
        };
        assert_eq!(rule[1].0.mark, Mark { line: 3, col: 5 });
        assert_eq!(rule[1].1.mark, Mark { line: 3, col: 12 });
        assert!(matches!(
            rule[1].1.value,
            Value::Scalar(_, ScalarStyle::Quoted)
        ));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("rules:\n  - id: a\n   bad: [\n").unwrap_err();
        assert!(err.mark.line >= 3, "{err:?}");
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let doc = parse("a: &x [1, 2]\nb: *x\n").unwrap().unwrap();
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        assert!(matches!(&entries[1].1.value, Value::Seq(v) if v.len() == 2));
    }
}
