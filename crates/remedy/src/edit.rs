//! Edits of a policy's raw JSON that keep everything else as it was, so the diff shows only the
//! change: append an Allow statement; narrow a Deny statement with an exception for one principal.

use denyctl_policy::Statement;
use serde_json::{Map, Value as Json};

/// The condition operator and key of the exception added to a Deny.
pub const EXCEPTION_OPERATOR: &str = "ArnNotEquals";
/// The context key of the exception: the caller's IAM entity (role ARN for a role session).
pub const EXCEPTION_KEY: &str = "aws:PrincipalArn";

/// A fresh policy document holding nothing yet.
pub fn new_document() -> Json {
    let mut m = Map::new();
    m.insert("Version".into(), Json::String("2012-10-17".into()));
    m.insert("Statement".into(), Json::Array(Vec::new()));
    Json::Object(m)
}

/// The key of an element, matched case-insensitively as AWS does.
fn key_of(obj: &Map<String, Json>, name: &str) -> Option<String> {
    if obj.contains_key(name) {
        return Some(name.to_string());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The statement list of a document, made a list if it was a single statement object.
fn statements_mut(doc: &mut Json) -> Result<&mut Vec<Json>, String> {
    let Json::Object(obj) = doc else { return Err("the document is not a JSON object".into()) };
    if obj.is_empty() {
        obj.insert("Version".into(), Json::String("2012-10-17".into()));
    }
    let key = match key_of(obj, "Statement") {
        Some(k) => k,
        None => {
            obj.insert("Statement".into(), Json::Array(Vec::new()));
            "Statement".to_string()
        }
    };
    let slot = obj.get_mut(&key).ok_or("Statement vanished")?;
    if let Json::Object(_) = slot {
        let single = std::mem::take(slot);
        *slot = Json::Array(vec![single]);
    }
    match slot {
        Json::Array(items) => Ok(items),
        _ => Err("Statement is neither a statement nor a list of statements".into()),
    }
}

/// The Sids in use in a document.
fn sids(doc: &Json) -> Vec<String> {
    let list = match doc.as_object().and_then(|o| key_of(o, "Statement").and_then(|k| o.get(&k).cloned())) {
        Some(Json::Array(items)) => items,
        Some(single @ Json::Object(_)) => vec![single],
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|s| s.as_object().and_then(|o| key_of(o, "Sid").and_then(|k| o.get(&k)?.as_str().map(str::to_string))))
        .collect()
}

/// A Sid (letters and digits only, as IAM requires) not yet used in `doc`: `Denyctl` + the action.
pub fn fresh_sid(doc: &Json, action: &str) -> String {
    let base: String = format!("Denyctl{}", action.split(':').map(capitalise).collect::<String>())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let used = sids(doc);
    if !used.contains(&base) {
        return base;
    }
    (2..).map(|n| format!("{base}{n}")).find(|s| !used.contains(s)).unwrap_or(base)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Append a statement; returns its index.
pub fn add_statement(doc: &mut Json, statement: Json) -> Result<usize, String> {
    let list = statements_mut(doc)?;
    list.push(statement);
    Ok(list.len() - 1)
}

/// Narrow the Deny statement at `index` so that it no longer applies to `principal_arn`, by
/// adding `ArnNotEquals {"aws:PrincipalArn": principal_arn}` to its condition block.
///
/// Correctness: a statement applies only when every condition holds (AND). A negated operator
/// with several values holds only when the key matches none of them (the values are OR-ed
/// inside the negation). So:
/// - no `ArnNotEquals aws:PrincipalArn` yet: the new entry is one more AND-ed condition; it
///   fails for exactly this principal, so the Deny stops applying to it and to nobody else;
/// - an existing `ArnNotEquals aws:PrincipalArn` list: the ARN is added to it; the list's
///   condition now fails for this principal too, and for every other principal holds exactly
///   as before (adding a value to a negated key = one more exception, the existing ones kept);
/// - existing `ArnNotLike` (or `StringNotEquals`...) on the same key are left alone: the new
///   `ArnNotEquals` entry is AND-ed with them, which is equally exact;
/// - a positive operator on the key (`ArnEquals`, `ArnLike`) is never touched: adding the
///   caller there would extend the Deny to it instead of excepting it.
///
/// Returns the statement as it is after the change.
pub fn narrow_deny(doc: &mut Json, index: usize, principal_arn: &str) -> Result<Json, String> {
    let list = statements_mut(doc)?;
    let stmt = list.get_mut(index).ok_or_else(|| format!("statement {index} does not exist"))?;
    let Json::Object(obj) = stmt else { return Err(format!("statement {index} is not an object")) };
    let ckey = match key_of(obj, "Condition") {
        Some(k) => k,
        None => {
            obj.insert("Condition".into(), Json::Object(Map::new()));
            "Condition".to_string()
        }
    };
    let Some(Json::Object(block)) = obj.get_mut(&ckey) else {
        return Err(format!("statement {index}: Condition is not an object"));
    };
    // Only the exact operator name (any case), without IfExists or a set qualifier.
    let op_key = block.keys().find(|k| k.eq_ignore_ascii_case(EXCEPTION_OPERATOR)).cloned();
    let op_key = match op_key {
        Some(k) => k,
        None => {
            block.insert(EXCEPTION_OPERATOR.into(), Json::Object(Map::new()));
            EXCEPTION_OPERATOR.to_string()
        }
    };
    let Some(Json::Object(keys)) = block.get_mut(&op_key) else {
        return Err(format!("statement {index}: Condition.{op_key} is not an object"));
    };
    let value = Json::String(principal_arn.to_string());
    match keys.keys().find(|k| k.eq_ignore_ascii_case(EXCEPTION_KEY)).cloned() {
        None => {
            keys.insert(EXCEPTION_KEY.into(), value);
        }
        Some(k) => {
            let slot = keys.get_mut(&k).ok_or("condition key vanished")?;
            match slot {
                Json::Array(items) => {
                    if !items.contains(&value) {
                        items.push(value);
                    }
                }
                single => {
                    if *single != value {
                        let old = std::mem::take(single);
                        *single = Json::Array(vec![old, value]);
                    }
                }
            }
        }
    }
    Ok(Json::Object(obj.clone()))
}

/// Make a narrowed Deny's exception exact: for a Deny on `Resource: "*"`, append a twin of the
/// original statement that still denies the caller every other resource (`NotResource` the one
/// resource, `ArnEquals aws:PrincipalArn` the caller). With the narrowed statement (which keeps
/// denying everyone else), only this principal on this resource is let through.
///
/// `original` is the statement before narrowing. Returns the twin, or `None` when the statement
/// cannot be made exact this way (a resource list or `NotResource`, or an existing positive
/// condition on `aws:PrincipalArn`, whose values an added one would widen).
pub fn exact_exception(doc: &mut Json, original: &Json, principal_arn: &str, resource: &str, sid: &str) -> Result<Option<Json>, String> {
    exact_exception_for(doc, original, principal_arn, resource, None, sid).map(|v| v.into_iter().next())
}

/// [`exact_exception`], and when `action` is given and the Deny's Action is `*` or `SERVICE:*`,
/// a second twin that keeps denying the caller every other action on the resource
/// (`Resource` the resource, `NotAction` the action): then only this principal, this action and
/// this resource are let through. Returns the twins added.
pub fn exact_exception_for(
    doc: &mut Json,
    original: &Json,
    principal_arn: &str,
    resource: &str,
    action: Option<&str>,
    sid: &str,
) -> Result<Vec<Json>, String> {
    let Some(first) = resource_twin(doc, original, principal_arn, resource, sid)? else { return Ok(Vec::new()) };
    let mut out = vec![first];
    let Json::Object(o) = original else { return Ok(out) };
    let Some(action) = action else { return Ok(out) };
    let service = action.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let whole = match key_of(o, "Action").and_then(|k| o.get(&k)) {
        Some(Json::String(a)) => a == "*" || a.eq_ignore_ascii_case(&format!("{service}:*")),
        Some(Json::Array(v)) if v.len() == 1 => v[0].as_str().is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(&format!("{service}:*"))),
        _ => false,
    };
    if !whole || key_of(o, "NotAction").is_some() {
        return Ok(out);
    }
    let mut twin = out[0].as_object().cloned().unwrap_or_default();
    twin.insert("Sid".into(), Json::String(format!("{sid}Action")));
    if let Some(k) = key_of(&twin, "NotResource") {
        twin.remove(&k);
    }
    if let Some(k) = key_of(&twin, "Action") {
        twin.remove(&k);
    }
    // Keep the element order readable: Sid, Effect, [Principal], NotAction, Resource, Condition.
    let mut ordered = Map::new();
    for (k, v) in twin {
        if k.eq_ignore_ascii_case("Condition") {
            ordered.insert("NotAction".into(), Json::Array(vec![Json::String(action.to_string())]));
            ordered.insert("Resource".into(), Json::Array(vec![Json::String(resource.to_string())]));
        }
        ordered.insert(k, v);
    }
    let twin = Json::Object(ordered);
    statements_mut(doc)?.push(twin.clone());
    out.push(twin);
    Ok(out)
}

fn resource_twin(doc: &mut Json, original: &Json, principal_arn: &str, resource: &str, sid: &str) -> Result<Option<Json>, String> {
    let Json::Object(o) = original else { return Ok(None) };
    let star = match key_of(o, "Resource").and_then(|k| o.get(&k)) {
        Some(Json::String(r)) => r == "*",
        Some(Json::Array(a)) => a.len() == 1 && a[0] == "*",
        _ => false,
    };
    if !star || key_of(o, "NotResource").is_some() || resource == "*" {
        return Ok(None);
    }
    let mut twin = o.clone();
    if let Some(ck) = key_of(&twin, "Condition") {
        if let Some(Json::Object(block)) = twin.get(&ck) {
            let positive = block.iter().any(|(op, keys)| {
                (op.eq_ignore_ascii_case("ArnEquals") || op.eq_ignore_ascii_case("ArnLike"))
                    && keys.as_object().is_some_and(|k| k.keys().any(|k| k.eq_ignore_ascii_case(EXCEPTION_KEY)))
            });
            if positive {
                return Ok(None);
            }
        }
    }
    if let Some(k) = key_of(&twin, "Resource") {
        twin.remove(&k);
    }
    twin.insert("NotResource".into(), Json::Array(vec![Json::String(resource.to_string())]));
    if let Some(k) = key_of(&twin, "Sid") {
        twin.remove(&k);
    }
    let mut ordered = Map::new();
    ordered.insert("Sid".into(), Json::String(sid.to_string()));
    ordered.extend(twin);
    let ck = key_of(&ordered, "Condition").unwrap_or_else(|| "Condition".to_string());
    let block = ordered.entry(ck).or_insert_with(|| Json::Object(Map::new()));
    let Json::Object(block) = block else { return Err("Condition is not an object".into()) };
    block.insert("ArnEquals".into(), serde_json::json!({ EXCEPTION_KEY: principal_arn }));
    let twin = Json::Object(ordered);
    statements_mut(doc)?.push(twin.clone());
    Ok(Some(twin))
}

/// Why a Deny statement looks like a deliberate guardrail (MFA, network origin, organization
/// perimeter, tags, TLS, regions), or `None`.
pub fn guardrail(s: &Statement) -> Option<String> {
    const KEYS: &[(&str, &str)] = &[
        ("aws:multifactorauthpresent", "requires MFA"),
        ("aws:multifactorauthage", "requires recent MFA"),
        ("aws:sourcevpc", "restricts the network origin (aws:SourceVpc)"),
        ("aws:sourcevpce", "restricts the network origin (aws:SourceVpce)"),
        ("aws:sourceip", "restricts the network origin (aws:SourceIp)"),
        ("aws:vpcsourceip", "restricts the network origin (aws:VpcSourceIp)"),
        ("aws:principalorgid", "is an organization perimeter (aws:PrincipalOrgID)"),
        ("aws:principalorgpaths", "is an organization perimeter (aws:PrincipalOrgPaths)"),
        ("aws:resourceorgid", "is an organization perimeter (aws:ResourceOrgID)"),
        ("aws:resourceorgpaths", "is an organization perimeter (aws:ResourceOrgPaths)"),
        ("aws:securetransport", "requires TLS (aws:SecureTransport)"),
        ("aws:requestedregion", "restricts regions (aws:RequestedRegion)"),
        ("aws:tagkeys", "restricts tags (aws:TagKeys)"),
    ];
    let mut why: Vec<String> = Vec::new();
    for c in &s.conditions {
        let k = c.key_lc.as_str();
        let hit = KEYS.iter().find(|(key, _)| *key == k).map(|(_, w)| w.to_string()).or_else(|| {
            let tag = ["principaltag/", "resourcetag/", "requesttag/"].iter().any(|t| k.contains(t));
            tag.then(|| format!("tests tags ({})", c.key))
        });
        if let Some(w) = hit {
            if !why.contains(&w) {
                why.push(w);
            }
        }
    }
    if why.is_empty() {
        return None;
    }
    let sid = s.sid.as_deref().map(|s| format!(" (Sid {s})")).unwrap_or_default();
    Some(format!(
        "statement {}{sid} looks like a deliberate guardrail: it {}; an exception for one principal should be agreed with whoever owns it",
        s.index,
        why.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_to_single_statement_object_and_empty_docs() {
        let mut d = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}});
        assert_eq!(add_statement(&mut d, json!({"x": 1})).unwrap(), 1);
        assert_eq!(d["Statement"].as_array().unwrap().len(), 2);
        let mut e = json!({});
        add_statement(&mut e, json!({"x": 1})).unwrap();
        assert_eq!(e, json!({"Version": "2012-10-17", "Statement": [{"x": 1}]}));
        assert!(add_statement(&mut json!([]), json!({})).is_err());
        assert!(add_statement(&mut json!({"Statement": 3}), json!({})).is_err());
    }

    #[test]
    fn sids_are_unique() {
        let d = json!({"Statement": [{"Sid": "DenyctlS3PutObject"}, {"Sid": "DenyctlS3PutObject2"}]});
        assert_eq!(fresh_sid(&d, "s3:PutObject"), "DenyctlS3PutObject3");
        assert_eq!(fresh_sid(&json!({}), "kms:GenerateDataKey"), "DenyctlKmsGenerateDataKey");
    }

    #[test]
    fn narrowing_merges_condition_blocks() {
        let arn = "arn:aws:iam::111122223333:role/deploy";
        // No condition yet.
        let mut d = json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]});
        let s = narrow_deny(&mut d, 0, arn).unwrap();
        assert_eq!(s["Condition"], json!({"ArnNotEquals": {"aws:PrincipalArn": arn}}));
        // Existing ArnNotEquals on the same key (any case): the value is added, OR-ed.
        let mut d = json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*",
            "Condition": {"arnNotEquals": {"AWS:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}}}]});
        let s = narrow_deny(&mut d, 0, arn).unwrap();
        assert_eq!(s["Condition"], json!({"arnNotEquals": {"AWS:PrincipalArn": ["arn:aws:iam::111122223333:role/admin", arn]}}));
        // Idempotent.
        let again = narrow_deny(&mut d, 0, arn).unwrap();
        assert_eq!(again, s);
        // ArnNotLike on the same key and another operator: a separate AND-ed ArnNotEquals entry.
        let mut d = json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin-*"}, "Bool": {"aws:SecureTransport": "false"}}}]});
        let s = narrow_deny(&mut d, 0, arn).unwrap();
        assert_eq!(s["Condition"]["ArnNotLike"], json!({"aws:PrincipalArn": "arn:aws:iam::*:role/admin-*"}));
        assert_eq!(s["Condition"]["ArnNotEquals"], json!({"aws:PrincipalArn": arn}));
        assert_eq!(s["Condition"]["Bool"], json!({"aws:SecureTransport": "false"}));
        // A positive ArnEquals on the key is never extended.
        let mut d = json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/x"}}}]});
        let s = narrow_deny(&mut d, 0, arn).unwrap();
        assert_eq!(s["Condition"]["ArnEquals"], json!({"aws:PrincipalArn": "arn:aws:iam::111122223333:role/x"}));
        assert_eq!(s["Condition"]["ArnNotEquals"], json!({"aws:PrincipalArn": arn}));
        assert!(narrow_deny(&mut d, 5, arn).is_err());
    }
}

/// The statement at an index of a document (`Statement` as a list or a single object).
pub fn statement_at(doc: &Json, index: usize) -> Option<&Json> {
    match doc.get("Statement")? {
        Json::Array(items) => items.get(index),
        single @ Json::Object(_) if index == 0 => Some(single),
        _ => None,
    }
}
