//! Condition operators as IAM documents them, parsed from their names.

use std::fmt;

use crate::pattern::{pieces, Piece};

/// The operator family, without `IfExists` or a set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Base {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASES: &[(&str, Base)] = &[
    ("StringEquals", Base::StringEquals),
    ("StringNotEquals", Base::StringNotEquals),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
    ("StringLike", Base::StringLike),
    ("StringNotLike", Base::StringNotLike),
    ("NumericEquals", Base::NumericEquals),
    ("NumericNotEquals", Base::NumericNotEquals),
    ("NumericLessThan", Base::NumericLessThan),
    ("NumericLessThanEquals", Base::NumericLessThanEquals),
    ("NumericGreaterThan", Base::NumericGreaterThan),
    ("NumericGreaterThanEquals", Base::NumericGreaterThanEquals),
    ("DateEquals", Base::DateEquals),
    ("DateNotEquals", Base::DateNotEquals),
    ("DateLessThan", Base::DateLessThan),
    ("DateLessThanEquals", Base::DateLessThanEquals),
    ("DateGreaterThan", Base::DateGreaterThan),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinaryEquals),
    ("IpAddress", Base::IpAddress),
    ("NotIpAddress", Base::NotIpAddress),
    ("ArnEquals", Base::ArnEquals),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEquals),
    ("ArnNotLike", Base::ArnNotLike),
    ("Null", Base::Null),
];

impl Base {
    /// The operator's name as AWS spells it.
    pub fn name(self) -> &'static str {
        BASES.iter().find(|(_, b)| *b == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// Whether the operator is a negation (`...Not...`): it holds when the positive test fails,
    /// and (AWS documents) when the key is absent from the request.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Base::StringNotEquals
                | Base::StringNotEqualsIgnoreCase
                | Base::StringNotLike
                | Base::NumericNotEquals
                | Base::DateNotEquals
                | Base::NotIpAddress
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }
}

/// `ForAllValues:` / `ForAnyValue:` qualifiers for multivalued context keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// No qualifier (single-valued comparison).
    None,
    /// `ForAllValues:` — every request value must match (holds on an empty or absent set).
    ForAllValues,
    /// `ForAnyValue:` — at least one request value must match.
    ForAnyValue,
}

/// A full condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    /// The family.
    pub base: Base,
    /// `...IfExists`: holds when the key is absent.
    pub if_exists: bool,
    /// The set qualifier.
    pub set: SetQualifier,
}

impl Operator {
    /// Parse an operator name such as `ForAnyValue:StringLikeIfExists` (case-insensitive).
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some((q, rest)) = name.split_once(':') {
            let set = if q.eq_ignore_ascii_case("ForAllValues") {
                SetQualifier::ForAllValues
            } else if q.eq_ignore_ascii_case("ForAnyValue") {
                SetQualifier::ForAnyValue
            } else {
                return None;
            };
            (set, rest)
        } else {
            (SetQualifier::None, name)
        };
        let (stem, if_exists) = match rest.len().checked_sub("ifexists".len()) {
            Some(at) if rest.is_char_boundary(at) && rest[at..].eq_ignore_ascii_case("ifexists") => (&rest[..at], true),
            _ => (rest, false),
        };
        let base = BASES.iter().find(|(n, _)| n.eq_ignore_ascii_case(stem)).map(|(_, b)| *b)?;
        if base == Base::Null && (if_exists || set != SetQualifier::None) {
            return None;
        }
        Some(Operator { base, if_exists, set })
    }

    /// A close known operator name for an unknown one.
    pub fn suggest(name: &str) -> Option<&'static str> {
        let stem = name.rsplit(':').next().unwrap_or(name).to_ascii_lowercase();
        BASES
            .iter()
            .map(|(n, _)| (*n, edit_distance(&stem, &n.to_ascii_lowercase())))
            .filter(|(_, d)| *d <= 3)
            .min_by_key(|(_, d)| *d)
            .map(|(n, _)| n)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.set {
            SetQualifier::ForAllValues => f.write_str("ForAllValues:")?,
            SetQualifier::ForAnyValue => f.write_str("ForAnyValue:")?,
            SetQualifier::None => {}
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

/// Levenshtein distance, for suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One value in a condition: its text, and its variables when it has any.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The value as written (numbers and booleans in their JSON spelling).
    pub raw: String,
    /// Its policy variables, when the policy version allows them and it holds any.
    pub vars: Option<Vec<Piece>>,
}

impl Value {
    /// A value; `vars` says whether policy variables are active (Version 2012-10-17).
    pub fn new(raw: String, vars: bool) -> Value {
        let vars = if vars { pieces(&raw) } else { None };
        Value { raw, vars }
    }
}

/// One `operator: { key: values }` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator as written.
    pub operator_raw: String,
    /// The parsed operator.
    pub operator: Operator,
    /// The context key as written.
    pub key: String,
    /// The key lower-cased (keys are case-insensitive).
    pub key_lc: String,
    /// The values (OR-ed).
    pub values: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators() {
        let o = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(o, Operator { base: Base::StringLike, if_exists: true, set: SetQualifier::ForAnyValue });
        assert_eq!(o.to_string(), "ForAnyValue:StringLikeIfExists");
        assert_eq!(Operator::parse("boolifexists").unwrap().base, Base::Bool);
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("ForSomeValues:StringEquals").is_none());
        assert_eq!(Operator::suggest("StringEqualz"), Some("StringEquals"));
        assert!(Base::ArnNotLike.is_negated() && !Base::ArnLike.is_negated());
    }
}
