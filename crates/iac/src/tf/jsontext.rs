//! JSON text with spans, edited in place: a heredoc's or a policy file's JSON keeps its layout
//! (and any `${...}` interpolations inside strings) while a statement is appended, a key
//! inserted or a scalar promoted to a list.

use serde_json::Value as Json;

use crate::delta::{Op, Seg};

/// A JSON node with its byte span in the text.
#[derive(Debug, Clone)]
pub enum Node {
    /// An object: members as (key, key span start, value).
    Obj(usize, usize, Vec<(String, Node)>),
    /// An array.
    Arr(usize, usize, Vec<Node>),
    /// A scalar (string, number, literal).
    Scalar(usize, usize),
}

impl Node {
    fn span(&self) -> (usize, usize) {
        match self {
            Node::Obj(s, e, _) | Node::Arr(s, e, _) | Node::Scalar(s, e) => (*s, *e),
        }
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("JSON: {what} at byte {}", self.i))
    }
    fn string(&mut self) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?;
                    return serde_json::from_str::<String>(raw).map_err(|e| format!("JSON string: {e}"));
                }
                _ => self.i += 1,
            }
        }
        self.err("unterminated string")
    }
    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > 64 {
            return self.err("nesting too deep");
        }
        self.ws();
        let start = self.i;
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Node::Obj(start, self.i, members));
                        }
                        Some(b',') if !members.is_empty() => self.i += 1,
                        Some(b'"') => {
                            let k = self.string()?;
                            self.ws();
                            if self.b.get(self.i) != Some(&b':') {
                                return self.err("expected `:`");
                            }
                            self.i += 1;
                            let v = self.value(depth + 1)?;
                            members.push((k, v));
                        }
                        _ => return self.err("expected a key or `}`"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Node::Arr(start, self.i, items));
                        }
                        Some(b',') if !items.is_empty() => self.i += 1,
                        Some(_) => items.push(self.value(depth + 1)?),
                        None => return self.err("unterminated list"),
                    }
                }
            }
            Some(b'"') => {
                self.string()?;
                Ok(Node::Scalar(start, self.i))
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == b'-' => {
                while self.i < self.b.len() && (self.b[self.i].is_ascii_alphanumeric() || b".+-".contains(&self.b[self.i])) {
                    self.i += 1;
                }
                Ok(Node::Scalar(start, self.i))
            }
            _ => self.err("expected a value"),
        }
    }
}

/// Parse `text` into spans.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut p = P { b: text.as_bytes(), i: 0 };
    let n = p.value(0)?;
    p.ws();
    if p.i != text.len() {
        return p.err("trailing text");
    }
    Ok(n)
}

fn find<'a>(n: &'a Node, path: &[Seg]) -> Option<&'a Node> {
    let mut cur = n;
    for s in path {
        cur = match (s, cur) {
            (Seg::Key(k), Node::Obj(_, _, m)) => &m.iter().find(|(mk, _)| mk == k).or_else(|| m.iter().find(|(mk, _)| mk.eq_ignore_ascii_case(k)))?.1,
            (Seg::Index(i), Node::Arr(_, _, l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The indentation (leading spaces/tabs) of the line holding byte `at`.
pub fn line_indent(text: &str, at: usize) -> String {
    let ls = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[ls..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
}

/// Pretty JSON of `v` with `unit` per level, every line after the first prefixed with `base`.
pub fn pretty(v: &Json, base: &str, unit: &str) -> String {
    let mut out = String::new();
    fn go(v: &Json, ind: &str, unit: &str, out: &mut String) {
        match v {
            Json::Object(o) if !o.is_empty() => {
                out.push_str("{\n");
                let inner = format!("{ind}{unit}");
                for (n, (k, x)) in o.iter().enumerate() {
                    out.push_str(&inner);
                    out.push_str(&Json::String(k.clone()).to_string());
                    out.push_str(": ");
                    go(x, &inner, unit, out);
                    out.push_str(if n + 1 < o.len() { ",\n" } else { "\n" });
                }
                out.push_str(ind);
                out.push('}');
            }
            Json::Array(l) if !l.is_empty() => {
                out.push_str("[\n");
                let inner = format!("{ind}{unit}");
                for (n, x) in l.iter().enumerate() {
                    out.push_str(&inner);
                    go(x, &inner, unit, out);
                    out.push_str(if n + 1 < l.len() { ",\n" } else { "\n" });
                }
                out.push_str(ind);
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    go(v, base, unit, &mut out);
    out
}

/// The indentation unit the text uses (`"  "` by default).
pub fn unit_of(text: &str) -> String {
    for l in text.lines() {
        let ind: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        if !ind.is_empty() && !l.trim().is_empty() {
            return ind;
        }
    }
    "  ".into()
}

/// Apply one op to the JSON `text`, keeping its layout. `fmt` writes a new value given the
/// indentation of its line.
pub fn apply_op(text: &str, op: &Op, fmt: &dyn Fn(&Json, &str) -> String) -> Result<String, String> {
    let root = parse(text)?;
    let unit = unit_of(text);
    let splice = |s: usize, e: usize, new: &str| format!("{}{}{}", &text[..s], new, &text[e..]);
    match op {
        Op::Append { path, value } => match find(&root, path) {
            Some(Node::Arr(s, e, items)) => match items.last() {
                Some(last) => {
                    let (ls, le) = last.span();
                    let ind = line_indent(text, ls);
                    let same_line = !text[*s..ls].contains('\n');
                    if same_line {
                        Ok(splice(le, le, &format!(", {}", fmt(value, &ind))))
                    } else {
                        Ok(splice(le, le, &format!(",\n{ind}{}", fmt(value, &ind))))
                    }
                }
                None => {
                    let ind = line_indent(text, *s);
                    let inner = format!("{ind}{unit}");
                    Ok(splice(s + 1, e - 1, &format!("\n{inner}{}\n{ind}", fmt(value, &inner))))
                }
            },
            _ => Err(format!("{path:?} is not a list in the JSON")),
        },
        Op::Insert { path, key, value } => match find(&root, path) {
            Some(Node::Obj(s, e, members)) => {
                let k = Json::String(key.clone()).to_string();
                match members.last() {
                    Some((_, last)) => {
                        let (_, le) = last.span();
                        // the key's line: search back from the value start for the key quote
                        let ind = line_indent(text, last.span().0);
                        let same_line = !text[*s..le].contains('\n');
                        if same_line {
                            Ok(splice(le, le, &format!(", {k}: {}", fmt(value, &ind))))
                        } else {
                            Ok(splice(le, le, &format!(",\n{ind}{k}: {}", fmt(value, &ind))))
                        }
                    }
                    None => {
                        let ind = line_indent(text, *s);
                        let inner = format!("{ind}{unit}");
                        Ok(splice(s + 1, e - 1, &format!("\n{inner}{k}: {}\n{ind}", fmt(value, &inner))))
                    }
                }
            }
            _ => Err(format!("{path:?} is not an object in the JSON")),
        },
        Op::Promote { path, added } => match find(&root, path) {
            Some(n @ (Node::Scalar(..) | Node::Obj(..))) => {
                let (s, e) = n.span();
                let parent_one_line = find(&root, &path[..path.len().saturating_sub(1)]).map(|p| p.span()).map(|(ps, pe)| !text[ps..pe].contains('\n')).unwrap_or(false);
                if parent_one_line && !text[s..e].contains('\n') {
                    let mut items = vec![text[s..e].to_string()];
                    items.extend(added.iter().map(|a| fmt(a, "")));
                    return Ok(splice(s, e, &format!("[{}]", items.join(", "))));
                }
                let ind = line_indent(text, s);
                let inner = format!("{ind}{unit}");
                let old = reindent(&text[s..e], &unit);
                let mut new = format!("[\n{inner}{old}");
                for a in added {
                    new.push_str(&format!(",\n{inner}{}", fmt(a, &inner)));
                }
                new.push_str(&format!("\n{ind}]"));
                Ok(splice(s, e, &new))
            }
            _ => Err(format!("{path:?} is already a list in the JSON")),
        },
    }
}

fn reindent(old: &str, unit: &str) -> String {
    old.replace('\n', &format!("\n{unit}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_keep_layout() {
        let t = "{\n  \"Statement\": [\n    {\n      \"Resource\": \"${aws_s3_bucket.b.arn}/*\",\n      \"Condition\": {\"ArnNotEquals\": {\"aws:PrincipalArn\": \"a\"}}\n    }\n  ]\n}";
        let f = |v: &Json, ind: &str| pretty(v, ind, "  ");
        let op = Op::Promote { path: vec![Seg::Key("Statement".into()), Seg::Index(0), Seg::Key("Condition".into()), Seg::Key("ArnNotEquals".into()), Seg::Key("aws:PrincipalArn".into())], added: vec![json!("b")] };
        let out = apply_op(t, &op, &f).unwrap();
        assert!(out.contains("${aws_s3_bucket.b.arn}/*"), "{out}");
        let op = Op::Append { path: vec![Seg::Key("Statement".into())], value: json!({"Sid": "X"}) };
        let out = apply_op(&out, &op, &f).unwrap();
        assert!(out.contains("    },\n    {\n      \"Sid\": \"X\"\n    }\n  ]"), "{out}");
        assert!(parse("{\"a\": [1,").is_err());
    }
}
