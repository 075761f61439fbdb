//! YAML templates: line-based edits located by the parsed tree's key positions (so comments, key
//! order, quoting and short-form tags outside the edit stay byte for byte), and an emitter that
//! writes new values in the template's own style.

use serde_json::Value as Json;

use super::node::{Key, Kind, Node};

/// How the template writes YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct YStyle {
    /// Spaces per mapping level.
    pub unit: usize,
    /// Columns a block sequence's dash sits right of its key (0 or the unit).
    pub seq_off: usize,
    /// Short-form tags (`!Sub`) rather than `Fn::Sub:` keys.
    pub short: bool,
    /// The quote used for string values that are quoted.
    pub quote: char,
    /// Quote every string value (the policy's own values are all quoted).
    pub quote_all: bool,
    /// Quote the string of a short-form tag (`!Sub "..."`), as most of the template's do.
    pub tag_quote: bool,
}

fn col_of(text: &str, at: usize) -> usize {
    text[..at].rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0)
}

/// The template's YAML style, read from its tree (`doc`: the policy document, for quoting).
pub fn detect(text: &str, root: &Node, doc: Option<&Node>) -> YStyle {
    let mut units = Vec::new();
    let mut offs = Vec::new();
    let mut short = false;
    walk(text, root, &mut units, &mut offs, &mut short);
    let (mut tq, mut tp) = (0, 0);
    count_tagged(root, &mut tq, &mut tp);
    let unit = units.iter().copied().filter(|u| *u > 0).min().unwrap_or(2);
    let seq_off = most(&offs).unwrap_or(unit);
    let (mut q, mut dq, mut sq, mut all) = (0, 0, 0, 0);
    if let Some(d) = doc {
        count_quotes(d, &mut q, &mut dq, &mut sq, &mut all);
    }
    if dq == 0 && sq == 0 {
        // No quoted value in the document: the template's most common quote.
        dq = text.matches(": \"").count();
        sq = text.matches(": '").count();
    }
    YStyle { unit, seq_off, short, quote: if sq > dq { '\'' } else { '"' }, quote_all: all > 0 && q * 2 > all, tag_quote: tq >= tp }
}

fn most(v: &[usize]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for x in v {
        let c = v.iter().filter(|y| *y == x).count();
        if best.is_none_or(|(_, bc)| c > bc) {
            best = Some((*x, c));
        }
    }
    best.map(|b| b.0)
}

fn walk(text: &str, n: &Node, units: &mut Vec<usize>, offs: &mut Vec<usize>, short: &mut bool) {
    if n.tag.is_some() {
        *short = true;
    }
    match &n.kind {
        Kind::Map(m) => {
            for (k, v) in m {
                if let (Kind::Map(c), false) = (&v.kind, v.flow) {
                    if let Some((ck, _)) = c.first() {
                        if ck.line > k.line && ck.col > k.col {
                            units.push(ck.col - k.col);
                        }
                    }
                }
                if let (Kind::Seq(_), false) = (&v.kind, v.flow) {
                    let c = col_of(text, v.start);
                    if v.line > k.line && c >= k.col {
                        offs.push(c - k.col);
                    }
                }
                walk(text, v, units, offs, short);
            }
        }
        Kind::Seq(l) => l.iter().for_each(|i| walk(text, i, units, offs, short)),
        _ => {}
    }
}

fn count_tagged(n: &Node, q: &mut usize, p: &mut usize) {
    match &n.kind {
        Kind::Map(m) => m.iter().for_each(|(_, v)| count_tagged(v, q, p)),
        Kind::Seq(l) => l.iter().for_each(|v| count_tagged(v, q, p)),
        Kind::Str(_) if n.tag.as_deref() == Some("Sub") => {
            if n.quote.is_some() {
                *q += 1
            } else {
                *p += 1
            }
        }
        _ => {}
    }
}

fn count_quotes(n: &Node, q: &mut usize, dq: &mut usize, sq: &mut usize, all: &mut usize) {
    match &n.kind {
        Kind::Map(m) => m.iter().for_each(|(_, v)| count_quotes(v, q, dq, sq, all)),
        Kind::Seq(l) => l.iter().for_each(|v| count_quotes(v, q, dq, sq, all)),
        Kind::Str(_) if n.tag.is_none() => {
            *all += 1;
            match n.quote {
                Some('"') => {
                    *q += 1;
                    *dq += 1
                }
                Some(_) => {
                    *q += 1;
                    *sq += 1
                }
                None => {}
            }
        }
        _ => {}
    }
}

fn needs_quote(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "*&![]{}'\"%@`|>#?:,0123456789".contains(first) || s.starts_with("- ") || s == "-" {
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains('\t') || s.contains('\n') {
        return true;
    }
    let l = s.to_ascii_lowercase();
    matches!(l.as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n") || s.parse::<f64>().is_ok()
}

/// A scalar as the template would write it.
pub fn scalar(s: &str, st: &YStyle) -> String {
    if !st.quote_all && !needs_quote(s) {
        return s.to_string();
    }
    if st.quote == '\'' && !s.contains('\n') {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn json_scalar(v: &Json, st: &YStyle) -> String {
    match v {
        Json::String(s) => scalar(s, st),
        Json::Null => "null".into(),
        other => other.to_string(),
    }
}

fn intrinsic(v: &Json) -> Option<(&str, &Json)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let (k, a) = o.iter().next()?;
    if k == "Ref" || k == "Condition" {
        return Some((k.as_str(), a));
    }
    k.strip_prefix("Fn::").map(|t| (t, a))
}

/// The text after `key:` (or after `- `) for `v` at indentation `ind`: ` scalar`, or a newline
/// and the block lines.
fn after_key(v: &Json, ind: usize, st: &YStyle) -> String {
    if st.short {
        if let Some((tag, a)) = intrinsic(v) {
            if tag == "GetAtt" {
                if let Some([Json::String(x), Json::String(y)]) = a.as_array().map(|l| l.as_slice()) {
                    return format!(" !GetAtt {x}.{y}");
                }
            }
            return match a {
                Json::Array(_) | Json::Object(_) => format!(" !{tag}{}", after_key(a, ind, st)),
                s => format!(" !{tag} {}", json_scalar(s, &YStyle { quote_all: st.tag_quote || st.quote_all, ..st.clone() })),
            };
        }
    }
    match v {
        Json::Object(o) if !o.is_empty() => {
            let c = ind + st.unit;
            format!("\n{}", block_map(o, c, st))
        }
        Json::Array(l) if !l.is_empty() => {
            let c = ind + st.seq_off;
            format!("\n{}", block_seq(l, c, st))
        }
        Json::Object(_) => " {}".into(),
        Json::Array(_) => " []".into(),
        s => format!(" {}", json_scalar(s, st)),
    }
}

fn block_map(o: &serde_json::Map<String, Json>, ind: usize, st: &YStyle) -> String {
    let pad = " ".repeat(ind);
    o.iter().map(|(k, v)| format!("{pad}{}:{}", scalar(k, &YStyle { quote_all: false, ..st.clone() }), after_key(v, ind, st))).collect::<Vec<_>>().join("\n")
}

fn block_seq(l: &[Json], dash: usize, st: &YStyle) -> String {
    l.iter().map(|v| item(v, dash, st)).collect::<Vec<_>>().join("\n")
}

/// A sequence item `- ...` with its dash at column `dash`.
pub fn item(v: &Json, dash: usize, st: &YStyle) -> String {
    let pad = " ".repeat(dash);
    match v {
        Json::Object(o) if !o.is_empty() && intrinsic(v).is_none_or(|_| !st.short) => {
            let body = block_map(o, dash + 2, st);
            format!("{pad}- {}", &body[dash + 2..])
        }
        _ => format!("{pad}-{}", after_key(v, dash, st)),
    }
}

fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        out.push((at, l.trim_end_matches(['\n', '\r'])));
        at += l.len();
    }
    out
}

fn indent(l: &str) -> usize {
    l.chars().take_while(|c| *c == ' ').count()
}

fn is_content(l: &str) -> bool {
    let t = l.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// The byte offset of the end of the last content line of `key`'s value (its own line when the
/// value is inline).
pub fn region_end(text: &str, key: &Key) -> usize {
    let ls = lines(text);
    let mut end = ls.get(key.line).map(|(a, l)| a + l.len()).unwrap_or(text.len());
    for (a, l) in ls.iter().skip(key.line + 1) {
        if !is_content(l) {
            continue;
        }
        let i = indent(l);
        let t = l.trim_start();
        if i > key.col || (i == key.col && (t.starts_with("- ") || t == "-")) {
            end = a + l.len();
        } else {
            break;
        }
    }
    end
}

/// Append `v` to the block sequence `seq` that is the value of `key`.
pub fn append(text: &str, key: &Key, seq: &Node, v: &Json, st: &YStyle) -> Result<String, String> {
    if seq.flow {
        let Some(close) = flow_close(text, seq.start) else { return Err("a flow list that does not close".into()) };
        if v.is_object() {
            return Err("appending a mapping to a flow-style [..] list is not supported; write the list in block style".into());
        }
        let empty = matches!(&seq.kind, Kind::Seq(l) if l.is_empty());
        let sep = if empty { "" } else { ", " };
        return Ok(format!("{}{sep}{}{}", &text[..close], after_key(v, 0, st).trim_start(), &text[close..]));
    }
    let first_item = lines(text).into_iter().skip(key.line + 1).find(|(_, l)| is_content(l)).filter(|(_, l)| l.trim_start().starts_with('-'));
    let dash = first_item.map(|(_, l)| indent(l)).unwrap_or_else(|| col_of(text, seq.start));
    let at = region_end(text, key);
    Ok(format!("{}\n{}{}", &text[..at], item(v, dash, st), &text[at..]))
}

fn flow_close(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in text[start..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') | (None, '\'') => quote = Some(c),
            (None, '[') | (None, '{') => depth += 1,
            (None, ']') | (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(start + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Insert `name: v` into the block mapping `map` after the entry `after` (else its last entry).
pub fn insert(text: &str, map: &Node, name: &str, v: &Json, after: Option<&str>, st: &YStyle) -> Result<String, String> {
    let Kind::Map(entries) = &map.kind else { return Err("not a mapping".into()) };
    if map.flow {
        return Err("inserting into a flow-style {..} mapping is not supported".into());
    }
    let prev = after.and_then(|a| entries.iter().find(|(k, _)| k.name == a)).or(entries.last());
    let Some((pk, _)) = prev else { return Err("an empty mapping".into()) };
    let first_col = entries.first().map(|(k, _)| k.col).unwrap_or(pk.col);
    let at = region_end(text, pk);
    let pad = " ".repeat(first_col);
    let k = scalar(name, &YStyle { quote_all: false, ..st.clone() });
    Ok(format!("{}\n{pad}{k}:{}{}", &text[..at], after_key(v, first_col, st), &text[at..]))
}

/// The value of `key` (the node `n`) becomes a list `[n, added...]`.
pub fn promote(text: &str, key: &Key, n: &Node, added: &[Json], st: &YStyle) -> Result<String, String> {
    let ls = lines(text);
    let Some((la, line)) = ls.get(key.line).copied() else { return Err("the key's line is missing".into()) };
    let dash = key.col + st.seq_off;
    let after_colon = value_start(line, key.start.saturating_sub(la)).ok_or("the key has no ':'")?;
    let rest = &line[after_colon..];
    let news: Vec<String> = added.iter().map(|a| item(a, dash, st)).collect();
    if n.line == key.line && !rest.trim().is_empty() {
        if n.flow {
            return Err("promoting a flow-style value is not supported".into());
        }
        let (val, comment) = split_comment(rest);
        let old = format!("{}- {}", " ".repeat(dash), val.trim());
        let mut out = format!("{}{}", &text[..la + after_colon], if comment.is_empty() { String::new() } else { format!(" {}", comment.trim()) });
        out = out.trim_end_matches(' ').to_string();
        out.push('\n');
        out.push_str(&old);
        for s in &news {
            out.push('\n');
            out.push_str(s);
        }
        out.push_str(&text[la + line.len()..]);
        return Ok(out);
    }
    let (on_line, _) = split_comment(rest);
    if !on_line.trim().is_empty() {
        return Err(format!("the value starts on the key's line ({}) and goes on below: promote it by hand", on_line.trim()));
    }
    // A block value on the next lines: it becomes the first item.
    let end = region_end(text, key);
    let body = &text[la + line.len()..end];
    let mut c0 = None;
    let mut moved = Vec::new();
    for l in body.split('\n').skip(1) {
        if is_content(l) && c0.is_none() {
            c0 = Some(indent(l));
            let pre = " ".repeat(dash);
            moved.push(format!("{pre}- {}", l.trim_start()));
            continue;
        }
        let shift = (dash + 2) as isize - c0.unwrap_or(dash + 2) as isize;
        moved.push(reindent(l, shift));
    }
    let mut out = format!("{}\n{}", &text[..la + line.len()], moved.join("\n"));
    for s in &news {
        out.push('\n');
        out.push_str(s);
    }
    out.push_str(&text[end..]);
    Ok(out)
}

fn reindent(l: &str, shift: isize) -> String {
    if l.trim().is_empty() {
        return l.to_string();
    }
    let i = indent(l) as isize;
    format!("{}{}", " ".repeat((i + shift).max(0) as usize), l.trim_start())
}

fn value_start(line: &str, key_at: usize) -> Option<usize> {
    let rest = line.get(key_at..)?;
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') | (None, '\'') if i == 0 => quote = Some(c),
            (None, ':') if rest[i + 1..].is_empty() || rest[i + 1..].starts_with([' ', '\t']) => return Some(key_at + i + 1),
            _ => {}
        }
    }
    None
}

fn split_comment(s: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') | (None, '\'') => quote = Some(c),
            (None, '#') if prev == ' ' || prev == '\t' => return (&s[..i], &s[i..]),
            _ => {}
        }
        prev = c;
    }
    (s, "")
}
