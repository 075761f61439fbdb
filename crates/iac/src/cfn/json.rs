//! JSON templates: a parser that keeps every node's byte span, and span-based edits that keep the
//! file's indentation (2 spaces, 4, CDK's 1, tabs) and layout byte for byte outside the edit.

use serde_json::Value as Json;

use super::node::{Key, Kind, Node, ParseError};

const MAX_DEPTH: usize = 256;

/// Parse JSON text into a positioned node tree.
pub fn parse_json(text: &str) -> Result<Node, ParseError> {
    let mut p = P { s: text.as_bytes(), text, i: 0 };
    p.ws();
    let n = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("text after the JSON document"));
    }
    Ok(n)
}

struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl P<'_> {
    fn line(&self, at: usize) -> usize {
        self.s[..at.min(self.s.len())].iter().filter(|&&b| b == b'\n').count()
    }
    fn err(&self, m: &str) -> ParseError {
        ParseError { line: self.line(self.i) + 1, message: m.to_string() }
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn node(&self, kind: Kind, start: usize, flow: bool, quote: Option<char>) -> Node {
        Node { kind, tag: None, start, end: self.i, line: self.line(start), flow, quote }
    }
    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let start = self.i;
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(self.node(Kind::Map(entries), start, true, None));
                }
                loop {
                    self.ws();
                    let kstart = self.i;
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a quoted key"));
                    }
                    let name = self.string()?;
                    let line = self.line(kstart);
                    let col = self.text[..kstart].rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0);
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.err("expected ':'"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    entries.push((Key { name, start: kstart, line, col }, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(self.node(Kind::Map(entries), start, true, None));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(self.node(Kind::Seq(items), start, true, None));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(self.node(Kind::Seq(items), start, true, None));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => {
                let s = self.string()?;
                Ok(self.node(Kind::Str(s), start, false, Some('"')))
            }
            Some(_) => {
                while self.i < self.s.len() && !matches!(self.s[self.i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                let v: Json = serde_json::from_str(word).map_err(|_| ParseError { line: self.line(start) + 1, message: format!("unexpected {word:?}") })?;
                if v.is_object() || v.is_array() || v.is_string() {
                    return Err(self.err("unexpected value"));
                }
                Ok(self.node(Kind::Lit(v), start, false, None))
            }
            None => Err(self.err("the document ends early")),
        }
    }
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = self.text.get(start..self.i).ok_or_else(|| self.err("a string cut inside a character"))?;
                    return serde_json::from_str::<String>(raw).map_err(|e| self.err(&format!("bad string: {e}")));
                }
                b'\n' => return Err(self.err("a string runs past the end of its line")),
                _ => self.i += 1,
            }
        }
        Err(self.err("a string is not closed"))
    }
}

/// The indentation of the line holding byte `at` (its leading spaces/tabs).
pub fn indent_at(text: &str, at: usize) -> String {
    let ls = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[ls..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

/// The indentation unit of a JSON text: the smallest positive indentation of a line (tab if tabs).
pub fn indent_unit(text: &str) -> String {
    let mut best: Option<String> = None;
    for l in text.lines() {
        let ind: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        if ind.is_empty() || ind.len() == l.len() {
            continue;
        }
        if best.as_ref().is_none_or(|b| ind.len() < b.len()) {
            best = Some(ind);
        }
    }
    best.unwrap_or_else(|| "  ".into())
}

/// `v` pretty-printed with `unit` indentation, every line after the first prefixed with `base`.
/// `compact`: on one line. In a template that writes intrinsics inline (`{ "Ref": "X" }`), new
/// intrinsics are written inline too.
pub fn write_value(v: &Json, unit: &str, base: &str, compact: bool) -> String {
    write_in(v, unit, base, compact, false)
}

fn write_in(v: &Json, unit: &str, base: &str, compact: bool, inline_intrinsics: bool) -> String {
    if compact {
        return inline(v);
    }
    let mut out = String::new();
    pretty(v, unit, base, inline_intrinsics, &mut out);
    out
}

fn is_intrinsic(v: &Json) -> bool {
    v.as_object().is_some_and(|o| o.len() == 1 && o.keys().all(|k| k == "Ref" || k.starts_with("Fn::")))
}

/// One line, with a space after `:` and `,` and inside braces, as hand-written templates do.
fn inline(v: &Json) -> String {
    match v {
        Json::Object(o) if o.is_empty() => "{}".into(),
        Json::Object(o) => format!("{{ {} }}", o.iter().map(|(k, x)| format!("{}: {}", Json::String(k.clone()), inline(x))).collect::<Vec<_>>().join(", ")),
        Json::Array(l) => format!("[{}]", l.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn pretty(v: &Json, unit: &str, ind: &str, ii: bool, out: &mut String) {
    if ii && is_intrinsic(v) && inline(v).len() <= 100 {
        out.push_str(&inline(v));
        return;
    }
    let inner = format!("{ind}{unit}");
    match v {
        Json::Object(o) if !o.is_empty() => {
            out.push_str("{\n");
            for (i, (k, x)) in o.iter().enumerate() {
                out.push_str(&inner);
                out.push_str(&Json::String(k.clone()).to_string());
                out.push_str(": ");
                pretty(x, unit, &inner, ii, out);
                out.push_str(if i + 1 < o.len() { ",\n" } else { "\n" });
            }
            out.push_str(ind);
            out.push('}');
        }
        Json::Array(l) if !l.is_empty() => {
            out.push_str("[\n");
            for (i, x) in l.iter().enumerate() {
                out.push_str(&inner);
                pretty(x, unit, &inner, ii, out);
                out.push_str(if i + 1 < l.len() { ",\n" } else { "\n" });
            }
            out.push_str(ind);
            out.push(']');
        }
        Json::Object(_) => out.push_str("{}"),
        Json::Array(_) => out.push_str("[]"),
        other => out.push_str(&other.to_string()),
    }
}

/// Whether the template writes intrinsics inline (`{ "Ref": "X" }`, `{"Fn::Sub": "..."}`).
fn inline_style(text: &str) -> bool {
    ["{ \"Ref\":", "{ \"Fn::", "{\"Ref\":", "{\"Fn::"].iter().any(|p| text.contains(p))
}

/// Whether the node is written on one line.
fn one_line(text: &str, n: &Node) -> bool {
    !text[n.start..n.end].contains('\n')
}

/// Append `v` to the array `arr`.
pub fn append(text: &str, arr: &Node, v: &Json) -> Result<String, String> {
    let Kind::Seq(items) = &arr.kind else { return Err("not a list".into()) };
    let unit = indent_unit(text);
    let ii = inline_style(text);
    let base = indent_at(text, arr.start);
    let (at, ins) = match items.last() {
        Some(last) if one_line(text, arr) => (last.end, format!(", {}", write_value(v, &unit, "", true))),
        Some(last) => {
            let ind = indent_at(text, last.start);
            (last.end, format!(",\n{ind}{}", write_in(v, &unit, &ind, false, ii)))
        }
        None => {
            let ind = format!("{base}{unit}");
            (arr.start + 1, format!("\n{ind}{}\n{base}", write_in(v, &unit, &ind, false, ii)))
        }
    };
    Ok(format!("{}{}{}", &text[..at], ins, &text[at..]))
}

/// Insert `key: v` into the object `obj`, after the entry `after` (else last).
pub fn insert(text: &str, obj: &Node, key: &str, v: &Json, after: Option<&str>) -> Result<String, String> {
    let Kind::Map(entries) = &obj.kind else { return Err("not an object".into()) };
    let unit = indent_unit(text);
    let ii = inline_style(text);
    let k = serde_json::to_string(key).unwrap_or_default();
    let prev = after.and_then(|a| entries.iter().find(|(k, _)| k.name == a)).or(entries.last());
    let (at, ins) = match prev {
        Some((pk, pv)) if one_line(text, obj) => {
            let _ = pk;
            (pv.end, format!(", {k}: {}", write_value(v, &unit, "", true)))
        }
        Some((pk, pv)) => {
            let ind = indent_at(text, pk.start);
            (pv.end, format!(",\n{ind}{k}: {}", write_in(v, &unit, &ind, false, ii)))
        }
        None => {
            let base = indent_at(text, obj.start);
            let ind = format!("{base}{unit}");
            (obj.start + 1, format!("\n{ind}{k}: {}\n{base}", write_in(v, &unit, &ind, false, ii)))
        }
    };
    Ok(format!("{}{}{}", &text[..at], ins, &text[at..]))
}

/// The value `n` becomes the list `[n, added...]`.
pub fn promote(text: &str, n: &Node, added: &[Json]) -> Result<String, String> {
    let old = &text[n.start..n.end];
    let unit = indent_unit(text);
    let ii = inline_style(text);
    if one_line(text, n) && added.iter().all(|a| !a.is_object()) && !old.starts_with('{') {
        let base = indent_at(text, n.start);
        let ind = format!("{base}{unit}");
        let mut parts = vec![old.to_string()];
        parts.extend(added.iter().map(|a| write_in(a, &unit, &ind, false, ii)));
        let body = parts.iter().map(|p| format!("{ind}{p}")).collect::<Vec<_>>().join(",\n");
        return Ok(format!("{}[\n{body}\n{base}]{}", &text[..n.start], &text[n.end..]));
    }
    let base = indent_at(text, n.start);
    let ind = format!("{base}{unit}");
    let old_re = old.replace('\n', &format!("\n{unit}"));
    let mut parts = vec![old_re];
    parts.extend(added.iter().map(|a| write_in(a, &unit, &ind, false, ii)));
    let body = parts.iter().map(|p| format!("{ind}{p}")).collect::<Vec<_>>().join(",\n");
    Ok(format!("{}[\n{body}\n{base}]{}", &text[..n.start], &text[n.end..]))
}
