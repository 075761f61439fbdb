//! Folding pasted text into one searchable line: JSON escapes undone, entities decoded,
//! every run of whitespace (and terminal box-drawing borders) folded to one space.
//! `Text` keeps an ASCII-lowercased twin with the same byte offsets for case-insensitive search.

/// Normalised text and its ASCII-lowercased twin (same byte offsets, same char boundaries).
pub(crate) struct Text {
    pub s: String,
    pub lower: String,
}

impl Text {
    /// Normalise pasted text.
    pub fn new(raw: &str) -> Text {
        let mut s = raw.to_string();
        for _ in 0..3 {
            match unescape_json(&s) {
                Some(u) => s = u,
                None => break,
            }
        }
        let s = decode_entities(&s);
        let s = fold_whitespace(&s);
        let lower = s.to_ascii_lowercase();
        Text { s, lower }
    }

    /// Byte length.
    pub fn len(&self) -> usize {
        self.s.len()
    }

    /// Case-insensitive find of an ASCII-lowercase `needle` in `[from, to)`.
    pub fn find(&self, needle: &str, from: usize, to: usize) -> Option<usize> {
        let hay = self.lower.get(from..to.min(self.len()))?;
        hay.find(needle).map(|i| i + from)
    }

    /// Case-insensitive reverse find of `needle` in `[from, to)`.
    pub fn rfind(&self, needle: &str, from: usize, to: usize) -> Option<usize> {
        let hay = self.lower.get(from..to.min(self.len()))?;
        hay.rfind(needle).map(|i| i + from)
    }

    /// Whether the text at `at` starts with the ASCII-lowercase `needle` (case-insensitive).
    pub fn at(&self, at: usize, needle: &str) -> bool {
        self.lower.get(at..).is_some_and(|t| t.starts_with(needle))
    }

    /// The slice `[a, b)`, or "" when that is not on char boundaries.
    pub fn slice(&self, a: usize, b: usize) -> &str {
        self.s.get(a..b.min(self.len())).unwrap_or("")
    }

    /// Skip spaces from `at`.
    pub fn skip_spaces(&self, mut at: usize) -> usize {
        let b = self.s.as_bytes();
        while at < b.len() && b[at] == b' ' {
            at += 1;
        }
        at
    }

    /// End of the whitespace-delimited token starting at `at` (not past `to`).
    pub fn token_end(&self, at: usize, to: usize) -> usize {
        let to = to.min(self.len());
        match self.s.get(at..to) {
            Some(rest) => rest.find(' ').map_or(to, |i| at + i),
            None => at,
        }
    }

    /// A position at or before `at` that is a char boundary.
    pub fn floor(&self, mut at: usize) -> usize {
        at = at.min(self.len());
        while at > 0 && !self.s.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

/// Undo JSON string escapes when the text carries them (`\"`, `\n`, `\\`, `\uXXXX`); `None` when there are none.
fn unescape_json(s: &str) -> Option<String> {
    let looks_escaped = s.contains("\\\"") || s.contains("\\n") || s.contains("\\t") || s.contains("\\u00") || s.contains("\\\\");
    if !looks_escaped {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut changed = false;
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('"') | Some('\\') | Some('/') | Some('\'') => {
                out.push(chars.next().unwrap_or(' '));
                changed = true;
            }
            Some('n') | Some('r') | Some('t') => {
                chars.next();
                out.push(' ');
                changed = true;
            }
            Some('u') => {
                let hex: String = chars.clone().skip(1).take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 4).and_then(char::from_u32) {
                    Some(ch) => {
                        for _ in 0..5 {
                            chars.next();
                        }
                        out.push(ch);
                        changed = true;
                    }
                    None => out.push('\\'),
                }
            }
            _ => out.push('\\'),
        }
    }
    changed.then_some(out)
}

/// Decode the few HTML/XML entities error pages use.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&quot;", "\"").replace("&#34;", "\"").replace("&apos;", "'").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Fold every run of whitespace, and the `│` borders Terraform draws, into one space.
fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '│' || c == '\u{feff}' {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lines_and_escapes() {
        let t = Text::new("a\\n  \\\"b\\\"\n│ c");
        assert_eq!(t.s, "a \"b\" c");
    }

    #[test]
    fn lower_keeps_offsets_with_unicode() {
        let t = Text::new("Ünïcode User: X");
        assert_eq!(t.s.len(), t.lower.len());
        let at = t.find("user:", 0, t.len()).unwrap();
        assert_eq!(t.slice(at, at + 5), "User:");
    }
}
