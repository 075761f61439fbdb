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
        let s = join_wrapped_arns(&s);
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
        if hay.len() < needle.len() {
            return None;
        }
        memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).map(|i| i + from)
    }

    /// Case-insensitive reverse find of `needle` in `[from, to)`.
    pub fn rfind(&self, needle: &str, from: usize, to: usize) -> Option<usize> {
        let hay = self.lower.get(from..to.min(self.len()))?;
        if hay.len() < needle.len() {
            return None;
        }
        memchr::memmem::rfind(hay.as_bytes(), needle.as_bytes()).map(|i| i + from)
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
                // Keep line breaks as line breaks: a hard-wrapped ARN is found by them.
                out.push(if chars.next() == Some('t') { ' ' } else { '\n' });
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

/// Words that follow an ARN in AWS's messages: a line that starts with one is not the ARN's tail.
const AFTER_ARN: &[&str] = &[
    "because", "with", "on", "and", "or", "for", "in", "is", "was", "not", "has", "does", "cannot", "to", "the", "status", "(service:", "go", "encoded", "at",
    "caused", "-", "--", "|", "user", "error", "unable",
];

/// Undo log viewers' hard wraps inside ARNs: a line that ends in an ARN and a next line that goes on
/// with the ARN's tail (after indentation or a `│` border) are one token again. The break counts as
/// inside the ARN when the line ends on an ARN separator (`/ : - _ .`), or the next line's first
/// token cannot start a new phrase (it is not a word AWS puts after a resource).
fn join_wrapped_arns(s: &str) -> String {
    if !s.contains('\n') || !s.contains("arn:") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(nl) = rest.find('\n') {
        let (line, after) = (&rest[..nl], &rest[nl + 1..]);
        out.push_str(line);
        let last = line.rsplit([' ', '\t']).next().unwrap_or("");
        let arn_at = last.find("arn:");
        let indent = after.len() - after.trim_start_matches([' ', '\t', '\r', '│']).len();
        let next = &after[indent..];
        let next_token = next.split([' ', '\t', '\r', '\n']).next().unwrap_or("");
        let joins = match arn_at {
            Some(a) if last.len() - a > "arn:aws:".len() && !line.ends_with([' ', '\t', '\r']) && !next_token.is_empty() => {
                let arn = &last[a..];
                let tail_ok = next_token.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | ':' | '_' | '*' | '$' | '{' | '<'));
                let separator = arn.ends_with(['/', ':', '-', '_']);
                let word = next_token.trim_end_matches([',', '.', ';', '"', '\'']).to_ascii_lowercase();
                // A quoted ARN that is not closed yet goes on; one whose quote closed is complete.
                let quote = last.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'));
                let closes = quote.is_some_and(|q| last.len() > 1 && last[1..].contains(q));
                let open_quote = quote.is_some() && !closes;
                // A plain word continues the ARN only after a long (fixed-width wrapped) line.
                let plain = !next_token.contains(['/', ':', '-', '_', '.']) && !next_token.chars().any(|c| c.is_ascii_digit());
                let long_line = line.chars().count() >= 60;
                tail_ok
                    && !starts_log_line(next_token)
                    && !AFTER_ARN.contains(&word.as_str())
                    && (separator
                        || open_quote
                        || (!AFTER_ARN.contains(&word.as_str()) && !closes && !next_token.contains("arn:") && looks_like_tail(next_token) && (!plain || long_line)))
            }
            _ => false,
        };
        if joins {
            rest = next;
        } else {
            out.push('\n');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A token that begins a new log line rather than continuing an ARN: a log level, a timestamp, a
/// label ending in a colon (`Error:`, `User:`).
fn starts_log_line(token: &str) -> bool {
    const LEVELS: &[&str] = &["ERROR", "WARN", "WARNING", "INFO", "DEBUG", "TRACE", "FATAL", "CRITICAL"];
    let bare = token.trim_start_matches(['[', '(']).trim_end_matches([']', ')', ':']);
    let date = token.len() >= 10 && token.as_bytes()[..4].iter().all(u8::is_ascii_digit) && token.as_bytes()[4] == b'-';
    LEVELS.contains(&bare) || date || token.ends_with(':')
}

/// The continuation of a wrapped ARN: no spaces (by construction), and not an English word in
/// sentence case that starts the next log line ("Error", "User:").
fn looks_like_tail(token: &str) -> bool {
    let first_upper = token.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let has_arn_chars = token.contains(['/', ':', '-', '_', '.']) || token.chars().any(|c| c.is_ascii_digit());
    !token.ends_with(':') && (has_arn_chars || !first_upper)
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
    fn joins_hard_wrapped_arns() {
        let t = Text::new("on resource: arn:aws:dynamodb:us-east-1:123456789012:table/my-\n    table because no");
        assert_eq!(t.s, "on resource: arn:aws:dynamodb:us-east-1:123456789012:table/my-table because no");
        let t = Text::new("on resource: \"arn:aws:s3:::b/some-ke\n    y.txt\" because no");
        assert_eq!(t.s, "on resource: \"arn:aws:s3:::b/some-key.txt\" because no");
        let t = Text::new("arn:aws:s3:::bucket/some/lo\n      ng/key.txt because no");
        assert_eq!(t.s, "arn:aws:s3:::bucket/some/long/key.txt because no");
        // A resource that ends the line, then the reason on the next: not joined.
        let t = Text::new("on resource: arn:aws:s3:::b/k\n because no identity-based policy");
        assert_eq!(t.s, "on resource: arn:aws:s3:::b/k because no identity-based policy");
        let t = Text::new("on resource: arn:aws:s3:::b/k\nError: next thing");
        assert_eq!(t.s, "on resource: arn:aws:s3:::b/k Error: next thing");
        // The principal on its own line, the statement on the next (console rendering).
        let t = Text::new("User: arn:aws:sts::111111111111:assumed-role/MyEC2Role/i-0abc123def456789\nis not authorized");
        assert_eq!(t.s, "User: arn:aws:sts::111111111111:assumed-role/MyEC2Role/i-0abc123def456789 is not authorized");
        let t = Text::new("on resource: arn:aws:iam::1:user/\nERROR next message");
        assert_eq!(t.s, "on resource: arn:aws:iam::1:user/ ERROR next message");
        let t = Text::new("on resource: arn:aws:iam::1:user/\n2024-01-01T00:00:00Z next message");
        assert_eq!(t.s, "on resource: arn:aws:iam::1:user/ 2024-01-01T00:00:00Z next message");
        let t = Text::new("on resource: arn:aws:s3:::b/k\nsomething else");
        assert_eq!(t.s, "on resource: arn:aws:s3:::b/k something else");
    }

    #[test]
    fn lower_keeps_offsets_with_unicode() {
        let t = Text::new("Ünïcode User: X");
        assert_eq!(t.s.len(), t.lower.len());
        let at = t.find("user:", 0, t.len()).unwrap();
        assert_eq!(t.slice(at, at + 5), "User:");
    }
}
