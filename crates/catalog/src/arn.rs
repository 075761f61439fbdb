//! ARN formats from the catalog (`arn:${Partition}:s3:::${BucketName}/${ObjectName}`),
//! matched against concrete ARNs and filled in from the values of another match.

use std::sync::OnceLock;

use regex::Regex;

/// One ARN format of a resource type, with `${Var}` placeholders.
#[derive(Debug)]
pub struct ArnFormat {
    text: String,
    matcher: OnceLock<Option<Matcher>>,
}

/// A piece of an ARN format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Var(String),
    Wildcard,
}

/// The compiled form of an ARN format, built on first use.
#[derive(Debug)]
struct Matcher {
    regex: Regex,
    /// For each capture group (in order): the placeholder it fills, or `None` for a literal `*`.
    groups: Vec<Option<String>>,
    tokens: Vec<Token>,
    literal_len: usize,
}

/// How well a concrete ARN fits a format: lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Fit {
    /// Slashes that placeholders had to swallow (a format that names the ARN's `/` wins).
    absorbed_slashes: usize,
    /// Negated count of literal characters (the more specific format wins).
    neg_literal_len: isize,
}

impl ArnFormat {
    pub(crate) fn new(text: String) -> Self {
        Self {
            text,
            matcher: OnceLock::new(),
        }
    }

    /// The format as written in the catalog, e.g. `arn:${Partition}:s3:::${BucketName}`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholder names of the format, in order (e.g. `Partition`, `BucketName`).
    pub fn placeholders(&self) -> Vec<String> {
        tokenize(&self.text)
            .into_iter()
            .filter_map(|t| match t {
                Token::Var(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    fn matcher(&self) -> Option<&Matcher> {
        self.matcher
            .get_or_init(|| Matcher::build(&self.text))
            .as_ref()
    }

    /// Whether the concrete `arn` is of this format.
    pub fn matches(&self, arn: &str) -> bool {
        self.bind(arn).is_some()
    }

    /// Matches `arn` and returns the value of every placeholder, or `None` when it does not fit.
    pub fn bind(&self, arn: &str) -> Option<Vec<(String, String)>> {
        self.bind_with_fit(arn).map(|(b, _)| b)
    }

    pub(crate) fn bind_with_fit(&self, arn: &str) -> Option<(Vec<(String, String)>, Fit)> {
        let m = self.matcher()?;
        let caps = m.regex.captures(arn)?;
        let mut bindings: Vec<(String, String)> = Vec::new();
        let mut absorbed = 0;
        for (i, group) in m.groups.iter().enumerate() {
            let value = caps.get(i + 1).map(|c| c.as_str()).unwrap_or("");
            absorbed += value.matches('/').count();
            if let Some(name) = group {
                match bindings.iter().find(|(n, _)| n == name) {
                    Some((_, v)) if v != value => return None,
                    Some(_) => {}
                    None => bindings.push((name.clone(), value.to_string())),
                }
            }
        }
        let neg_literal_len = -(isize::try_from(m.literal_len).unwrap_or(isize::MAX));
        Some((
            bindings,
            Fit {
                absorbed_slashes: absorbed,
                neg_literal_len,
            },
        ))
    }

    /// Fills the placeholders from `bindings`; `None` if one is missing or the format has a `*`.
    pub fn instantiate(&self, bindings: &[(String, String)]) -> Option<String> {
        let m = self.matcher()?;
        let mut out = String::new();
        for t in &m.tokens {
            match t {
                Token::Literal(l) => out.push_str(l),
                Token::Var(v) => {
                    let (_, value) = bindings.iter().find(|(n, _)| n == v)?;
                    out.push_str(value);
                }
                Token::Wildcard => return None,
            }
        }
        Some(out)
    }
}

impl Matcher {
    fn build(text: &str) -> Option<Matcher> {
        let tokens = tokenize(text);
        let mut pattern = String::from("^");
        let mut groups = Vec::new();
        let mut literal_len = 0;
        let last = tokens.len().saturating_sub(1);
        for (i, t) in tokens.iter().enumerate() {
            match t {
                Token::Literal(l) => {
                    literal_len += l.len();
                    pattern.push_str(&regex::escape(l));
                }
                // A placeholder stays within one `:` segment, except the last one,
                // which takes the rest (object keys and role paths may hold `:` and `/`).
                Token::Var(v) => {
                    pattern.push_str(if i == last { "(.+)" } else { "([^:]+?)" });
                    groups.push(Some(v.clone()));
                }
                Token::Wildcard => {
                    pattern.push_str(if i == last { "(.*)" } else { "([^:]*?)" });
                    groups.push(None);
                }
            }
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).ok()?;
        Some(Matcher {
            regex,
            groups,
            tokens,
            literal_len,
        })
    }
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${") {
            if let Some(end) = after.find('}') {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Var(after[..end].to_string()));
                rest = &after[end + 1..];
                continue;
            }
        }
        if c == '*' {
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Wildcard);
        } else {
            literal.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> ArnFormat {
        ArnFormat::new(s.to_string())
    }

    #[test]
    fn bucket_and_object() {
        let bucket = fmt("arn:${Partition}:s3:::${BucketName}");
        let object = fmt("arn:${Partition}:s3:::${BucketName}/${ObjectName}");
        assert!(bucket.matches("arn:aws:s3:::b"));
        assert!(!object.matches("arn:aws:s3:::b"));
        let b = object.bind("arn:aws:s3:::b/dir/k:1").unwrap();
        assert_eq!(
            b,
            vec![
                ("Partition".into(), "aws".into()),
                ("BucketName".into(), "b".into()),
                ("ObjectName".into(), "dir/k:1".into())
            ]
        );
        assert_eq!(bucket.instantiate(&b).as_deref(), Some("arn:aws:s3:::b"));
        assert_eq!(
            object.placeholders(),
            vec!["Partition", "BucketName", "ObjectName"]
        );
    }

    #[test]
    fn placeholders_stay_in_their_segment() {
        let key = fmt("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}");
        assert!(key.matches("arn:aws:kms:eu-west-1:111122223333:key/1234abcd"));
        assert!(
            !key.matches("arn:aws:kms::111122223333:key/1234abcd"),
            "empty region"
        );
        assert!(!key.matches("arn:aws:kms:eu-west-1:1:2:key/x"));
        assert!(!key.matches("arn:aws:sqs:eu-west-1:111122223333:key/x"));
    }

    #[test]
    fn wildcards_and_odd_text() {
        let cert = fmt("arn:${Partition}:dms:${Region}:${Account}:cert:*");
        assert!(cert.matches("arn:aws:dms:us-east-1:1:cert:ABC"));
        assert_eq!(cert.instantiate(&[]), None);
        let odd = fmt("arn:${Partition:x(.*)[");
        assert!(!odd.matches("arn:aws"));
        assert!(odd.matches("arn:${Partition:x(.*)["));
    }
}
