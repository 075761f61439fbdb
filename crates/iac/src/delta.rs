//! What a plan change does to a policy document, as a short list of additive operations that any
//! representation (a JSON value, a YAML template, an HCL `jsonencode`, a policy-document data
//! source) can replay in its own syntax.
//!
//! denyctl's changes only ever add: a statement appended, a condition operator or key added to a
//! statement, a value added to a condition's list (a scalar becoming a list). [`diff`] recovers
//! those operations from the plan's `before` and `after` documents, and [`apply`] replays them on
//! a JSON value; `apply(before, diff(before, after)) == after` is the invariant every backend's
//! patch relies on. Anything else (a value removed or replaced) is refused: denyctl never writes it.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One step of a path from the document root: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seg {
    /// An object key, matched case-insensitively (AWS element names are).
    Key(String),
    /// An array index.
    Index(usize),
}

/// One additive operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Append `value` to the array at `path`.
    Append {
        /// The array.
        path: Vec<Seg>,
        /// The new element.
        value: Json,
    },
    /// Insert `key: value` at the end of the object at `path`.
    Insert {
        /// The object.
        path: Vec<Seg>,
        /// The new key.
        key: String,
        /// Its value.
        value: Json,
    },
    /// The scalar or object at `path` becomes a list: `[old, added...]` (a single `Statement`
    /// object becoming a list of statements, a condition value gaining a second value).
    Promote {
        /// The scalar or object.
        path: Vec<Seg>,
        /// The values after the old one.
        added: Vec<Json>,
    },
}

/// The edit of one policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyEdit {
    /// The document before (`None`: a new policy is created with `after` as it is).
    pub before: Option<Json>,
    /// The document after.
    pub after: Json,
    /// The operations from `before` to `after` (empty when `before` is `None`).
    pub ops: Vec<Op>,
}

impl PolicyEdit {
    /// The edit from the plan's before and after documents.
    pub fn new(before: Option<&Json>, after: &Json) -> Result<PolicyEdit, String> {
        let ops = match before {
            Some(b) => diff(b, after)?,
            None => Vec::new(),
        };
        Ok(PolicyEdit { before: before.cloned(), after: after.clone(), ops })
    }

    /// The statements appended to the document's `Statement` list (or to a single statement
    /// promoted to a list), in order.
    pub fn appended_statements(&self) -> Vec<&Json> {
        let mut out = Vec::new();
        for op in &self.ops {
            match op {
                Op::Append { path, value } if is_statement_path(path) => out.push(value),
                Op::Promote { path, added } if is_statement_path(path) => out.extend(added.iter()),
                _ => {}
            }
        }
        out
    }
}

fn is_statement_path(path: &[Seg]) -> bool {
    matches!(path, [Seg::Key(k)] if k.eq_ignore_ascii_case("Statement"))
}

/// The key of `obj` equal to `name` ignoring ASCII case (the exact key first).
pub fn find_key<'a>(obj: &'a serde_json::Map<String, Json>, name: &str) -> Option<&'a str> {
    if let Some((k, _)) = obj.get_key_value(name) {
        return Some(k.as_str());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).map(String::as_str)
}

/// The additive operations that turn `before` into `after`, or why there are none.
pub fn diff(before: &Json, after: &Json) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    walk(before, after, &mut Vec::new(), &mut ops)?;
    Ok(ops)
}

fn show(path: &[Seg]) -> String {
    if path.is_empty() {
        return "the document".into();
    }
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn walk(b: &Json, a: &Json, path: &mut Vec<Seg>, ops: &mut Vec<Op>) -> Result<(), String> {
    if b == a {
        return Ok(());
    }
    match (b, a) {
        (Json::Object(bo), Json::Object(ao)) => {
            for (k, bv) in bo {
                let Some(ak) = find_key(ao, k) else {
                    return Err(format!("{} loses {k}: denyctl only adds to policies", show(path)));
                };
                path.push(Seg::Key(k.clone()));
                walk(bv, &ao[ak], path, ops)?;
                path.pop();
            }
            for (k, av) in ao {
                if find_key(bo, k).is_none() {
                    ops.push(Op::Insert { path: path.clone(), key: k.clone(), value: av.clone() });
                }
            }
            Ok(())
        }
        (Json::Array(bl), Json::Array(al)) => {
            if al.len() < bl.len() {
                return Err(format!("{} loses elements: denyctl only adds to policies", show(path)));
            }
            for (i, bv) in bl.iter().enumerate() {
                path.push(Seg::Index(i));
                walk(bv, &al[i], path, ops)?;
                path.pop();
            }
            for av in &al[bl.len()..] {
                ops.push(Op::Append { path: path.clone(), value: av.clone() });
            }
            Ok(())
        }
        (old, Json::Array(al)) if !matches!(old, Json::Array(_)) && al.first() == Some(old) => {
            ops.push(Op::Promote { path: path.clone(), added: al[1..].to_vec() });
            Ok(())
        }
        _ => Err(format!("{} changes from {b} to {a}: denyctl only adds to policies", show(path))),
    }
}

/// The value at `path` (keys matched ignoring case).
pub fn get<'a>(doc: &'a Json, path: &[Seg]) -> Option<&'a Json> {
    let mut cur = doc;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Json::Object(o)) => &o[find_key(o, k)?],
            (Seg::Index(i), Json::Array(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get_mut<'a>(doc: &'a mut Json, path: &[Seg]) -> Option<&'a mut Json> {
    let mut cur = doc;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Json::Object(o)) => {
                let key = find_key(o, k)?.to_string();
                o.get_mut(&key)?
            }
            (Seg::Index(i), Json::Array(l)) => l.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Replay `ops` on `doc` (the reference every backend's patch must agree with).
pub fn apply(doc: &mut Json, ops: &[Op]) -> Result<(), String> {
    for op in ops {
        match op {
            Op::Append { path, value } => match get_mut(doc, path) {
                Some(Json::Array(l)) => l.push(value.clone()),
                _ => return Err(format!("{} is not a list", show(path))),
            },
            Op::Insert { path, key, value } => match get_mut(doc, path) {
                Some(Json::Object(o)) => {
                    o.insert(key.clone(), value.clone());
                }
                _ => return Err(format!("{} is not an object", show(path))),
            },
            Op::Promote { path, added } => match get_mut(doc, path) {
                Some(slot) if !slot.is_array() => {
                    let old = std::mem::take(slot);
                    let mut l = vec![old];
                    l.extend(added.iter().cloned());
                    *slot = Json::Array(l);
                }
                _ => return Err(format!("{} is already a list", show(path))),
            },
        }
    }
    Ok(())
}

/// Two policy documents that AWS reads alike: keys compared ignoring case, a one-element list
/// equal to its element, `Version`/`Sid` kept (they are compared too).
pub fn same_policy(a: &Json, b: &Json) -> bool {
    normalise(a) == normalise(b)
}

/// The canonical form [`same_policy`] compares.
pub fn normalise(v: &Json) -> Json {
    match v {
        Json::Object(o) => {
            let mut keys: Vec<(String, Json)> = o.iter().map(|(k, v)| (k.to_ascii_lowercase(), normalise(v))).collect();
            keys.sort_by(|x, y| x.0.cmp(&y.0));
            Json::Object(keys.into_iter().collect())
        }
        Json::Array(l) if l.len() == 1 => normalise(&l[0]),
        Json::Array(l) => Json::Array(l.iter().map(normalise).collect()),
        Json::Bool(b) => Json::String(b.to_string()),
        Json::Number(n) => Json::String(n.to_string()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(before: Json, after: Json) -> Vec<Op> {
        let ops = diff(&before, &after).unwrap();
        let mut d = before.clone();
        apply(&mut d, &ops).unwrap();
        assert_eq!(d, after);
        ops
    }

    #[test]
    fn appended_statement() {
        let ops = roundtrip(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Sid": "X", "Effect": "Allow"}]}),
        );
        assert_eq!(ops, vec![Op::Append { path: vec![Seg::Key("Statement".into())], value: json!({"Sid": "X", "Effect": "Allow"}) }]);
    }

    #[test]
    fn single_statement_promoted() {
        let ops = roundtrip(
            json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}),
            json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}, {"Sid": "Y"}]}),
        );
        assert!(matches!(&ops[0], Op::Promote { .. }));
        let e = PolicyEdit::new(Some(&json!({"Statement": {"a": 1}})), &json!({"Statement": [{"a": 1}, {"b": 2}]})).unwrap();
        assert_eq!(e.appended_statements(), vec![&json!({"b": 2})]);
    }

    #[test]
    fn narrowed_deny_conditions() {
        let arn = "arn:aws:iam::111122223333:role/deploy";
        // A new operator block.
        roundtrip(
            json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}),
            json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}, "ArnNotEquals": {"aws:PrincipalArn": arn}}}]}),
        );
        // A value added to a scalar: promoted.
        let ops = roundtrip(
            json!({"Statement": [{"Effect": "Deny", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/a"}}}]}),
            json!({"Statement": [{"Effect": "Deny", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::1:role/a", arn]}}}]}),
        );
        assert!(matches!(&ops[0], Op::Promote { path, .. } if path.len() == 5));
        // No condition at all: inserted.
        roundtrip(json!({"Statement": [{"Effect": "Deny"}]}), json!({"Statement": [{"Effect": "Deny", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": arn}}}]}));
    }

    #[test]
    fn removals_and_replacements_are_refused() {
        assert!(diff(&json!({"a": 1}), &json!({})).is_err());
        assert!(diff(&json!({"a": [1, 2]}), &json!({"a": [1]})).is_err());
        assert!(diff(&json!({"a": "x"}), &json!({"a": "y"})).is_err());
        assert!(diff(&json!({"a": "x"}), &json!({"a": ["y", "x"]})).is_err());
    }

    #[test]
    fn case_insensitive_keys() {
        let ops = roundtrip(json!({"statement": [{"effect": "Deny"}]}), json!({"statement": [{"effect": "Deny"}, {"x": 1}]}));
        assert_eq!(ops.len(), 1);
        assert!(same_policy(&json!({"Statement": [{"Action": ["s3:GetObject"]}]}), &json!({"statement": {"action": "s3:GetObject"}})));
        assert!(!same_policy(&json!({"Action": ["a", "b"]}), &json!({"Action": ["b", "a"]})));
    }
}
