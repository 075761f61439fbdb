//! A template as a tree of positioned nodes, parsed from YAML (with its short-form tags) or JSON,
//! and its conversion to JSON with every intrinsic in long form (`{"Fn::Sub": ...}`).

use serde_json::{Map, Value as Json};
use yaml_rust2::parser::Parser;
use yaml_rust2::scanner::TScalarStyle;
use yaml_rust2::Event;

/// A node of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it holds.
    pub kind: Kind,
    /// The YAML tag without its `!` (`Sub`, `Ref`), if any.
    pub tag: Option<String>,
    /// Byte offset of its first character (YAML block collections: of their first item).
    pub start: usize,
    /// Byte offset just after it (JSON only; 0 in YAML).
    pub end: usize,
    /// 0-based line of `start`.
    pub line: usize,
    /// Written in flow style (`[..]`, `{..}`).
    pub flow: bool,
    /// Quote of a scalar (`"`, `'`, or none).
    pub quote: Option<char>,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A mapping, in order.
    Map(Vec<(Key, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A string (every YAML scalar).
    Str(String),
    /// A JSON number, bool or null, as written.
    Lit(Json),
}

/// A mapping key and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// Byte offset of the key (its quote, if quoted).
    pub start: usize,
    /// 0-based line.
    pub line: usize,
    /// 0-based column (in characters).
    pub col: usize,
}

impl Node {
    /// The entries of a mapping (empty otherwise).
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.kind {
            Kind::Map(m) => m,
            _ => &[],
        }
    }

    /// The value of `key` (exact match first, then ignoring ASCII case).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The entry of `key` (exact match first, then ignoring ASCII case).
    pub fn entry(&self, key: &str) -> Option<&(Key, Node)> {
        let e = self.entries();
        e.iter().find(|(k, _)| k.name == key).or_else(|| e.iter().find(|(k, _)| k.name.eq_ignore_ascii_case(key)))
    }

    /// A plain string value (no tag).
    pub fn str(&self) -> Option<&str> {
        match (&self.kind, &self.tag) {
            (Kind::Str(s), None) => Some(s),
            _ => None,
        }
    }

    /// The value as JSON, intrinsics in long form.
    pub fn to_json(&self) -> Json {
        let plain = match &self.kind {
            Kind::Map(m) => {
                let mut o = Map::new();
                for (k, v) in m {
                    o.insert(k.name.clone(), v.to_json());
                }
                Json::Object(o)
            }
            Kind::Seq(l) => Json::Array(l.iter().map(Node::to_json).collect()),
            Kind::Str(s) => Json::String(s.clone()),
            Kind::Lit(v) => v.clone(),
        };
        match self.tag.as_deref() {
            None => plain,
            Some("Ref") => single("Ref", plain),
            Some("Condition") => single("Condition", plain),
            Some("GetAtt") => match plain {
                Json::String(s) => match s.split_once('.') {
                    Some((a, b)) => single("Fn::GetAtt", Json::Array(vec![a.into(), b.into()])),
                    None => single("Fn::GetAtt", Json::Array(vec![s.into()])),
                },
                other => single("Fn::GetAtt", other),
            },
            Some(t) if t.starts_with("tag:") || t.contains('/') => plain,
            Some(t) => single(&format!("Fn::{t}"), plain),
        }
    }
}

fn single(k: &str, v: Json) -> Json {
    let mut o = Map::new();
    o.insert(k.to_string(), v);
    Json::Object(o)
}

/// A parse error: 1-based line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based line.
    pub line: usize,
    /// Why.
    pub message: String,
}

/// Parse YAML text into a node tree (the first document).
pub fn parse_yaml(text: &str) -> Result<Node, ParseError> {
    let byte_of: Vec<usize> = text.char_indices().map(|(b, _)| b).chain(std::iter::once(text.len())).collect();
    let mut p = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut anchors: Vec<(usize, Node)> = Vec::new();
    loop {
        let (ev, m) = p.next_token().map_err(|e| ParseError { line: e.marker().line(), message: e.info().to_string() })?;
        let start = byte_of.get(m.index()).copied().unwrap_or(text.len());
        let line = m.line().saturating_sub(1);
        let node = match ev {
            Event::StreamEnd | Event::DocumentEnd => break,
            Event::StreamStart | Event::DocumentStart | Event::Nothing => continue,
            Event::Alias(id) => match anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, n)) => n.clone(),
                None => return Err(ParseError { line: m.line(), message: "an alias to an unknown anchor".into() }),
            },
            Event::Scalar(v, style, anchor, tag) => {
                let quote = match style {
                    TScalarStyle::DoubleQuoted => Some('"'),
                    TScalarStyle::SingleQuoted => Some('\''),
                    _ => None,
                };
                let kind = if style == TScalarStyle::Plain && tag.is_none() && matches!(v.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Lit(Json::Null)
                } else {
                    Kind::Str(v)
                };
                let n = Node { kind, tag: tag.map(|t| t.suffix), start, end: 0, line, flow: false, quote };
                if anchor > 0 {
                    anchors.push((anchor, n.clone()));
                }
                n
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= 256 => {
                return Err(ParseError { line: m.line(), message: "nested too deeply".into() });
            }
            Event::SequenceStart(anchor, tag) => {
                push_frame(&mut stack, true, start, line, tag.map(|t| t.suffix), anchor, text);
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                push_frame(&mut stack, false, start, line, tag.map(|t| t.suffix), anchor, text);
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(f) = stack.pop() else { return Err(ParseError { line: m.line(), message: "unbalanced collection".into() }) };
                let kind = if f.is_seq {
                    Kind::Seq(f.items)
                } else {
                    let mut entries = Vec::new();
                    let mut it = f.items.into_iter();
                    while let Some(k) = it.next() {
                        let v = it.next().unwrap_or(Node { kind: Kind::Lit(Json::Null), tag: None, start: k.start, end: 0, line: k.line, flow: false, quote: None });
                        let name = match &k.kind {
                            Kind::Str(s) => s.clone(),
                            Kind::Lit(j) => j.to_string(),
                            _ => return Err(ParseError { line: k.line + 1, message: "a mapping key that is not a scalar".into() }),
                        };
                        let col = text[..k.start].rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0);
                        entries.push((Key { name, start: k.start, line: k.line, col }, v));
                    }
                    Kind::Map(entries)
                };
                let n = Node { kind, tag: f.tag, start: f.start, end: 0, line: f.line, flow: f.flow, quote: None };
                if f.anchor > 0 {
                    anchors.push((f.anchor, n.clone()));
                }
                n
            }
        };
        match stack.last_mut() {
            Some(f) => f.items.push(node),
            None => {
                root = Some(node);
            }
        }
    }
    root.ok_or(ParseError { line: 1, message: "the file is empty".into() })
}

struct Frame {
    is_seq: bool,
    flow: bool,
    start: usize,
    line: usize,
    tag: Option<String>,
    anchor: usize,
    items: Vec<Node>,
}

fn p_kind(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|s| s.chars().next())
}

fn push_frame(stack: &mut Vec<Frame>, is_seq: bool, start: usize, line: usize, tag: Option<String>, anchor: usize, text: &str) {
    let flow = matches!(p_kind(text, start), Some('[') | Some('{'));
    stack.push(Frame { is_seq, flow, start, line, tag, anchor, items: Vec::new() });
}
