//! Compiled patterns for Action, Resource and condition values, with policy variables.

use crate::glob::{self, ESC};

/// One piece of a string that holds policy variables (`${aws:username}`).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Literal text, with its wildcards still active.
    Text(String),
    /// A literal character from `${*}`, `${?}` or `${$}`: never a wildcard.
    Escaped(char),
    /// A variable: the context key (lower-cased) and its default, if any.
    Var {
        /// The context key, lower-cased (keys are case-insensitive).
        key: String,
        /// `${key, 'default'}`.
        default: Option<String>,
    },
}

/// Split a string into pieces. `None` when it holds no variable.
/// An unterminated `${` is kept as literal text (AWS treats it so).
pub fn pieces(s: &str) -> Option<Vec<Piece>> {
    if !s.contains("${") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else { break };
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_string()));
        }
        let inner = rest[start + 2..start + 2 + len].trim();
        out.push(match inner {
            "*" => Piece::Escaped('*'),
            "?" => Piece::Escaped('?'),
            "$" => Piece::Escaped('$'),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d);
                        (k.trim(), Some(d.to_string()))
                    }
                    None => (inner, None),
                };
                Piece::Var { key: key.to_ascii_lowercase(), default }
            }
        });
        rest = &rest[start + 3 + len..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Some(out)
}

/// Resolve pieces into a glob pattern (escaping substituted text); `Err(key)` names the
/// first variable the lookup could not resolve (the element then does not match).
pub fn resolve<'a>(
    pieces: &'a [Piece],
    lookup: &dyn Fn(&str) -> Option<String>,
    escape_values: bool,
) -> Result<Vec<u8>, &'a str> {
    let mut out = Vec::new();
    let push_lit = |out: &mut Vec<u8>, s: &str| {
        for b in s.bytes() {
            if escape_values && (b == b'*' || b == b'?' || b == ESC) {
                out.push(ESC);
            }
            out.push(b);
        }
    };
    for p in pieces {
        match p {
            Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
            Piece::Escaped(c) => {
                if escape_values {
                    out.push(ESC);
                }
                out.push(*c as u8);
            }
            Piece::Var { key, default } => match lookup(key) {
                Some(v) => push_lit(&mut out, &v),
                None => match default {
                    Some(d) => push_lit(&mut out, d),
                    None => return Err(key.as_str()),
                },
            },
        }
    }
    Ok(out)
}

/// How the name part of an action pattern compares (after the service prefix matched); the
/// name is the comparison text after the colon.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Name {
    /// `*`.
    Any,
    /// No wildcard.
    Exact,
    /// `Get*`: a literal prefix then one trailing star.
    Prefix,
    /// Anything else with wildcards.
    Glob,
}

impl Name {
    fn new(n: &str) -> Name {
        if n == "*" {
            Name::Any
        } else if !glob::has_wildcard(n) {
            Name::Exact
        } else if n.strip_suffix('*').is_some_and(|p| !glob::has_wildcard(p)) {
            Name::Prefix
        } else {
            Name::Glob
        }
    }

    /// `pattern` is the name as written after the colon (lower-cased).
    fn matches(self, pattern: &str, name: &str) -> bool {
        match self {
            Name::Any => true,
            Name::Exact => pattern == name,
            Name::Prefix => name.starts_with(&pattern[..pattern.len() - 1]),
            Name::Glob => glob::glob(pattern.as_bytes(), name.as_bytes()),
        }
    }
}

/// How a pattern compares.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `*`: matches everything.
    Any,
    /// An action pattern with a literal service prefix (before the colon at this offset):
    /// compare the prefix, then the name.
    Action(usize, Name),
    /// No wildcard, no variable.
    Exact,
    /// A literal prefix and one trailing `*` (which may cross colons): `arn:aws:s3:::b/*`.
    Prefix,
    /// Wildcards, no variable.
    Glob,
    /// Holds policy variables, resolved per request.
    Vars(Vec<Piece>),
}

/// A compiled Action or Resource pattern. Keeps the original text for display and rewriting.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The text as written in the policy.
    pub raw: String,
    /// Comparison form when it differs from `raw` (an action with capitals, lower-cased).
    lower: Option<Box<str>>,
    kind: Kind,
}

/// The outcome of matching one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match<'a> {
    /// Matched.
    Yes,
    /// Did not match.
    No,
    /// A policy variable it needs is not in the request context.
    MissingVar(&'a str),
}

impl Pattern {
    /// An action pattern: case-insensitive, no variables.
    pub fn action(raw: &str) -> Pattern {
        let lower: Option<Box<str>> = raw.bytes().any(|b| b.is_ascii_uppercase()).then(|| raw.to_ascii_lowercase().into());
        let norm = lower.as_deref().unwrap_or(raw);
        let kind = if norm == "*" {
            Kind::Any
        } else if let Some((svc, name)) = norm.split_once(':').filter(|(svc, _)| !glob::has_wildcard(svc)) {
            Kind::Action(svc.len(), Name::new(name))
        } else if glob::has_wildcard(norm) {
            Kind::Glob
        } else {
            Kind::Exact
        };
        Pattern { raw: raw.to_string(), lower, kind }
    }

    /// The comparison form (lower-cased for actions).
    fn norm(&self) -> &str {
        self.lower.as_deref().unwrap_or(&self.raw)
    }

    /// A resource pattern: case-sensitive, ARN wildcard rule, variables when `vars` is true.
    pub fn resource(raw: &str, vars: bool) -> Pattern {
        let kind = if raw == "*" {
            Kind::Any
        } else if let Some(p) = vars.then(|| pieces(raw)).flatten() {
            Kind::Vars(p)
        } else if raw.strip_suffix('*').is_some_and(|p| !glob::has_wildcard(p)) {
            Kind::Prefix
        } else if glob::has_wildcard(raw) {
            Kind::Glob
        } else {
            Kind::Exact
        };
        Pattern { raw: raw.to_string(), lower: None, kind }
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        self.kind == Kind::Any
    }

    /// Whether it holds policy variables.
    pub fn has_vars(&self) -> bool {
        matches!(self.kind, Kind::Vars(_))
    }

    /// The literal service prefix of an action pattern (`s3` for `s3:Get*`), if it has one.
    pub fn action_service(&self) -> Option<&str> {
        match &self.kind {
            Kind::Action(colon, _) => Some(&self.norm()[..*colon]),
            _ => None,
        }
    }

    /// Match an action (already lower-cased by the caller).
    pub fn matches_action(&self, action_lc: &str) -> bool {
        match action_lc.split_once(':') {
            Some((svc, name)) => self.matches_action_parts(action_lc, svc, name),
            // Without a colon, a pattern with a literal service prefix (and so a colon) cannot match.
            None if matches!(self.kind, Kind::Action(..)) => false,
            None => self.matches_action_parts(action_lc, "", action_lc),
        }
    }

    /// Match an action given whole and split at its colon (all lower-cased): the hot path.
    pub fn matches_action_parts(&self, action_lc: &str, svc: &str, name: &str) -> bool {
        match &self.kind {
            Kind::Any => true,
            Kind::Action(colon, n) => {
                let norm = self.norm();
                norm[..*colon] == *svc && n.matches(&norm[*colon + 1..], name)
            }
            Kind::Exact => self.norm() == action_lc,
            Kind::Glob => glob::glob(self.norm().as_bytes(), action_lc.as_bytes()),
            Kind::Prefix | Kind::Vars(_) => false,
        }
    }

    /// Match a resource ARN; `lookup` resolves policy variables.
    pub fn matches_resource(&self, resource: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Match<'_> {
        let yes = |b: bool| if b { Match::Yes } else { Match::No };
        match &self.kind {
            Kind::Any => Match::Yes,
            Kind::Exact => yes(self.norm() == resource),
            Kind::Glob => yes(glob::glob_arn(self.norm().as_bytes(), resource.as_bytes())),
            Kind::Prefix => yes(resource.starts_with(&self.norm()[..self.norm().len() - 1])),
            Kind::Action(..) => Match::No,
            Kind::Vars(p) => match resolve(p, lookup, true) {
                Ok(pat) => yes(glob::glob_arn(&pat, resource.as_bytes())),
                Err(key) => Match::MissingVar(key),
            },
        }
    }
}
