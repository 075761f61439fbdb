//! Wildcard matching for IAM patterns: `*` (any run) and `?` (any one character).
//!
//! Patterns are bytes in which [`ESC`] marks the next byte as a literal (used for the
//! `${*}`, `${?}` escapes and for substituted variable values, which never act as wildcards).
//!
//! Two rules exist:
//! - plain ([`glob`]): `*` and `?` match any character (actions, `StringLike`);
//! - ARN resource rule ([`glob_arn`]): wildcards stay inside one colon-delimited segment,
//!   except a `*` that is the last character of a segment, which may extend past colons
//!   (IAM User Guide, "IAM JSON policy elements: Resource", Using wildcards in resource ARNs).

/// Escape byte: the byte after it is literal.
pub const ESC: u8 = 0x01;

/// Whether a raw (unescaped) pattern contains a wildcard.
pub fn has_wildcard(p: &str) -> bool {
    p.bytes().any(|b| b == b'*' || b == b'?')
}

/// Plain glob: `*` matches any run (including `:` and `/`), `?` any one character.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: correct when every `*` is unrestricted.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += char_len(text, t);
                    continue;
                }
                ESC if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                    p += 2;
                    t += 1;
                    continue;
                }
                c if c != ESC && c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                let next = st + char_len(text, st);
                star = Some((sp, next));
                p = sp + 1;
                t = next;
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Length in bytes of the UTF-8 character starting at `i` (1 for a continuation byte).
fn char_len(text: &[u8], i: usize) -> usize {
    match text.get(i) {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    }
}

/// One pattern element.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    Lit(u8),
    /// `*`; `true` when it may cross a colon (last character of its segment).
    Star(bool),
    Any,
}

fn tokens(pattern: &[u8]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            ESC if i + 1 < pattern.len() => {
                out.push(Tok::Lit(pattern[i + 1]));
                i += 2;
            }
            b'*' => {
                // Collapse runs of stars; the run may cross colons when it ends its segment.
                let mut j = i;
                while j < pattern.len() && pattern[j] == b'*' {
                    j += 1;
                }
                let ends_segment = j == pattern.len() || pattern[j] == b':';
                out.push(Tok::Star(ends_segment));
                i = j;
            }
            b'?' => {
                out.push(Tok::Any);
                i += 1;
            }
            c => {
                out.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    out
}

/// ARN resource glob: wildcards do not cross `:` unless the `*` ends its segment.
pub fn glob_arn(pattern: &[u8], text: &[u8]) -> bool {
    // Fast path: with no colon in the text, or no restricted star, the plain rule is the same
    // except that `?` never matches a colon.
    if !text.contains(&b':') {
        return glob(pattern, text);
    }
    let toks = tokens(pattern);
    if !toks.iter().any(|t| matches!(t, Tok::Star(false) | Tok::Any)) {
        return glob(pattern, text);
    }
    // General case: dynamic programming over (token, text position). Small inputs; no blow-up.
    let n = text.len();
    let mut row = vec![false; n + 1];
    row[0] = true;
    for tok in &toks {
        let mut next = vec![false; n + 1];
        match *tok {
            Tok::Lit(c) => {
                for j in 0..n {
                    if row[j] && text[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
            Tok::Any => {
                for j in 0..n {
                    if row[j] && text[j] != b':' {
                        let k = j + char_len(text, j);
                        if k <= n {
                            next[k] = true;
                        }
                    }
                }
            }
            Tok::Star(cross) => {
                let mut on = false;
                for j in 0..=n {
                    if row[j] {
                        on = true;
                    }
                    next[j] = on;
                    if j < n && !cross && text[j] == b':' {
                        on = false;
                    }
                }
            }
        }
        row = next;
    }
    row[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        assert!(glob(b"*", b"anything:at/all"));
        assert!(glob(b"s3:get*", b"s3:getobject"));
        assert!(glob(b"s3:get?bject", b"s3:getobject"));
        assert!(!glob(b"s3:get?bject", b"s3:getbject"));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        assert!(!glob(b"a*b*c", b"aXbYbZ"));
        assert!(glob(b"", b""));
        assert!(!glob(b"", b"x"));
        assert!(glob(b"**", b""));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(glob(&[b'a', ESC, b'*'], b"a*"));
        assert!(!glob(&[b'a', ESC, b'*'], b"ab"));
        assert!(glob_arn(&[b'a', b':', ESC, b'?'], b"a:?"));
    }

    #[test]
    fn arn_segments() {
        // A star that ends its segment may cross colons.
        assert!(glob_arn(b"arn:aws:s3:::b/*", b"arn:aws:s3:::b/x:y"));
        assert!(glob_arn(b"arn:aws:*", b"arn:aws:s3:::b/x"));
        assert!(glob_arn(b"*", b"arn:aws:s3:::b"));
        // A star inside a segment may not.
        assert!(glob_arn(b"arn:aws:logs:us-east-1:1:log-group:a*b", b"arn:aws:logs:us-east-1:1:log-group:aXb"));
        assert!(!glob_arn(b"arn:aws:logs:us-east-1:1:log-group:a*b", b"arn:aws:logs:us-east-1:1:log-group:a:b"));
        assert!(!glob_arn(b"arn:aws:iam::?:user/x", b"arn:aws:iam:::user/x"));
        // Backtracking past a restricted star into an earlier unrestricted one.
        assert!(glob_arn(b"x*:y*z", b"xq:yw:y1z"));
    }
}
