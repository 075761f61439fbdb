//! The minimal trust-policy change for a denied federated role assumption
//! (`sts:AssumeRoleWithWebIdentity`, `sts:AssumeRoleWithSAML`): exactly the token's subject added
//! to the values of the trust statement's `sub` condition (this repository and this branch or
//! environment, never a wildcard), the missing `sts:TagSession` / `sts:SetSourceIdentity` added to
//! the statement that trusts the provider, or, when no statement trusts the provider, one
//! statement naming it with the token's exact audience and subject. The document keeps its shape
//! (a single statement stays an object, other statements are untouched). Pure.

use denyctl_eval::claims::{evaluate_trust, is_sub_key, unrestricted_statements, FailingCondition, TrustRequest, TrustVerdict, SET_SOURCE_IDENTITY, TAG_SESSION};
use denyctl_eval::Decision;
use denyctl_policy::{Base, Operator, Policy};
use serde::Serialize;
use serde_json::{json, Map, Value as Json};

/// A trust-policy change, checked: the request is allowed with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustFix {
    /// The trust policy after the change.
    pub after: Json,
    /// One line per edit (`token.actions.githubusercontent.com:sub += "repo:o/r:ref:refs/heads/x"` in statement 0).
    pub edits: Vec<String>,
    /// Things a reviewer must know (a statement with no `sub` condition: any repository on the provider can assume the role).
    pub warnings: Vec<String>,
    /// What the change newly allows, in words: exactly this subject.
    pub newly_allows: String,
}

/// Why no trust change is proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustFixError {
    /// The trust policy already allows the request.
    #[error("the trust policy already allows this request")]
    AlreadyAllowed,
    /// A Deny statement matches: not lifted automatically.
    #[error("a Deny statement of the trust policy matches ({0}); denyctl never lifts a Deny in a trust policy: a human must decide")]
    Denied(String),
    /// A condition other than the subject failed (audience, amr, ...): the token, not the policy, is likely wrong.
    #[error("{0}")]
    NotSubject(String),
    /// The document could not be read or edited.
    #[error("the trust policy: {0}")]
    Document(String),
    /// The change did not make the request allowed.
    #[error("the change was checked and the request is still denied ({0}); no plan")]
    Unverified(String),
}

fn statements_mut(doc: &mut Json) -> Result<Vec<&mut Json>, TrustFixError> {
    let st = doc.get_mut("Statement").ok_or_else(|| TrustFixError::Document("no Statement".into()))?;
    Ok(match st {
        Json::Array(a) => a.iter_mut().collect(),
        o @ Json::Object(_) => vec![o],
        _ => return Err(TrustFixError::Document("Statement is neither an object nor a list".into())),
    })
}

fn key_ci<'a>(m: &'a mut Map<String, Json>, key: &str) -> Option<&'a mut Json> {
    let k = m.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    m.get_mut(&k)
}

fn add_value(slot: &mut Json, value: &str) {
    match slot {
        Json::Array(a) => {
            if !a.iter().any(|v| v.as_str() == Some(value)) {
                a.push(Json::String(value.to_string()));
            }
        }
        Json::String(s) if s == value => {}
        other => {
            let old = other.take();
            *other = Json::Array(vec![old, Json::String(value.to_string())]);
        }
    }
}

fn add_action(stmt: &mut Json, action: &str) -> Result<(), TrustFixError> {
    let obj = stmt.as_object_mut().ok_or_else(|| TrustFixError::Document("a statement is not an object".into()))?;
    let slot = key_ci(obj, "Action").ok_or_else(|| TrustFixError::Document("the statement has no Action to extend".into()))?;
    add_value(slot, action);
    Ok(())
}

/// Add the exact subject to a failing `sub` condition of statement `index`.
fn add_subject(doc: &mut Json, index: usize, f: &FailingCondition) -> Result<String, TrustFixError> {
    let op = Operator::parse(&f.operator).ok_or_else(|| TrustFixError::Document(format!("unknown operator {}", f.operator)))?;
    let value = match f.request_value.as_deref() {
        Some([v]) => v.clone(),
        Some(_) => return Err(TrustFixError::NotSubject(format!("{} carries several values; denyctl adds one exact subject only", f.key))),
        None => return Err(TrustFixError::NotSubject(format!("the token carries no {} claim: the trust policy cannot be narrowed to it", f.key))),
    };
    // One more value in a positive string operator's list matches exactly that value, with or
    // without a set qualifier (GitHub's older examples use ForAllValues:StringEquals).
    let plain = matches!(op.base, Base::StringEquals | Base::StringLike | Base::StringEqualsIgnoreCase);
    if !plain {
        return Err(TrustFixError::NotSubject(format!("{} is tested with {}: denyctl only extends StringEquals/StringLike values", f.key, f.operator)));
    }
    if op.base == Base::StringLike && (value.contains('*') || value.contains('?')) {
        return Err(TrustFixError::NotSubject(format!("the subject {value:?} contains a wildcard character: it would match more than this token")));
    }
    let mut stmts = statements_mut(doc)?;
    let stmt = stmts.get_mut(index).ok_or_else(|| TrustFixError::Document(format!("no statement {index}")))?;
    let cond = stmt
        .as_object_mut()
        .and_then(|o| key_ci(o, "Condition"))
        .and_then(Json::as_object_mut)
        .and_then(|c| key_ci(c, &f.operator))
        .and_then(Json::as_object_mut)
        .and_then(|m| key_ci(m, &f.key))
        .ok_or_else(|| TrustFixError::Document(format!("statement {index} has no {} {} condition", f.operator, f.key)))?;
    add_value(cond, &value);
    Ok(value)
}

fn sid_label(sid: &Option<String>, index: usize) -> String {
    match sid {
        Some(s) => format!("statement {index} (Sid {s})"),
        None => format!("statement {index}"),
    }
}

/// Propose the minimal trust-policy change for a denied federated request (see the module comment).
pub fn fix_trust(doc: &Json, req: &TrustRequest) -> Result<TrustFix, TrustFixError> {
    let policy = Policy::from_json(doc.clone()).map_err(|e| TrustFixError::Document(e.to_string()))?;
    let before = evaluate_trust(&policy, req);
    if before.decision == Decision::Allow {
        return Err(TrustFixError::AlreadyAllowed);
    }
    if before.decision == Decision::ExplicitDeny {
        let which: Vec<String> = before.actions.iter().flat_map(|a| a.deciding.iter()).map(|s| sid_label(&s.sid, s.index)).collect();
        return Err(TrustFixError::Denied(which.join(", ")));
    }
    let mut warnings = Vec::new();
    for s in unrestricted_statements(&policy, req) {
        warnings.push(format!(
            "{} trusts {} for {} with no condition on its subject (sub): any identity the provider issues tokens for (any repository, on GitHub) can assume the role; add a sub condition",
            sid_label(&s.sid, s.index),
            req.principal,
            req.action
        ));
    }
    let mut after = doc.clone();
    let mut edits = Vec::new();
    let mut newly = String::new();
    let main_allowed = before.actions.first().is_some_and(|a| a.decision == Decision::Allow);
    if !main_allowed {
        if before.principal_trusted {
            // The statement to change: the one whose failing conditions are all subject keys.
            let mut by_stmt: Vec<(usize, Vec<&FailingCondition>)> = Vec::new();
            for f in &before.failing_conditions {
                match by_stmt.iter_mut().find(|(i, _)| *i == f.statement) {
                    Some((_, v)) => v.push(f),
                    None => by_stmt.push((f.statement, vec![f])),
                }
            }
            let pick = by_stmt.iter().find(|(_, fs)| fs.iter().all(|f| is_sub_key(&f.key)));
            let Some((index, fails)) = pick else {
                let other: Vec<String> = before
                    .failing_conditions
                    .iter()
                    .filter(|f| !is_sub_key(&f.key))
                    .map(|f| {
                        format!(
                            "{} {} {:?} but the request has {}",
                            f.key,
                            f.operator,
                            f.policy_values,
                            f.request_value.as_ref().map(|v| format!("{v:?}")).unwrap_or_else(|| "no value".into())
                        )
                    })
                    .collect();
                return Err(TrustFixError::NotSubject(format!(
                    "a condition other than the subject fails ({}): fix the token (e.g. the audience configure-aws-credentials asks for) rather than widening the trust policy",
                    other.join("; ")
                )));
            };
            for f in fails {
                let v = add_subject(&mut after, *index, f)?;
                edits.push(format!("{} {} += {v:?} in {}", f.key, f.operator, sid_label(&f.sid, *index)));
                newly = format!("tokens whose {} is exactly {v:?}", f.key);
            }
        } else {
            // No statement trusts the provider: one statement naming it, with the exact audience and subject.
            let mut eq = Map::new();
            for (k, v) in req.context.iter() {
                let lc = k.to_ascii_lowercase();
                if (lc.ends_with(":aud") || lc.ends_with(":sub")) && v.len() == 1 {
                    eq.insert(k.to_string(), Json::String(v[0].clone()));
                }
            }
            if !eq.keys().any(|k| is_sub_key(k)) {
                return Err(TrustFixError::NotSubject("the request carries no subject (sub): a statement without one would trust every identity of the provider".into()));
            }
            let mut actions = vec![Json::String(req.action.clone())];
            if req.session_tags {
                actions.push(json!(TAG_SESSION));
            }
            if req.source_identity {
                actions.push(json!(SET_SOURCE_IDENTITY));
            }
            let stmt = json!({"Sid": "DenyctlFederatedTrust", "Effect": "Allow", "Principal": {"Federated": req.principal},
                "Action": if actions.len() == 1 { actions[0].clone() } else { Json::Array(actions) },
                "Condition": {"StringEquals": Json::Object(eq.clone())}});
            match after.get_mut("Statement") {
                Some(Json::Array(a)) => a.push(stmt),
                Some(o @ Json::Object(_)) => {
                    let old = o.take();
                    *o = Json::Array(vec![old, stmt]);
                }
                _ => {
                    after = json!({"Version": "2012-10-17", "Statement": [stmt]});
                }
            }
            edits.push(format!("new statement DenyctlFederatedTrust: Allow {{Federated: {}}} {} when {}", req.principal, req.action, Json::Object(eq.clone())));
            newly = format!("tokens of {} with exactly {}", req.principal, Json::Object(eq));
        }
    }
    // The session-tag and source-identity actions, on the statement that now allows the request.
    let mid = evaluate_trust(&Policy::from_json(after.clone()).map_err(|e| TrustFixError::Document(e.to_string()))?, req);
    if let Some(allowing) = mid.actions.first().filter(|a| a.decision == Decision::Allow).and_then(|a| a.deciding.first()).map(|s| s.index) {
        for a in mid.actions.iter().skip(1).filter(|a| a.decision != Decision::Allow) {
            let mut stmts = statements_mut(&mut after)?;
            let stmt = stmts.get_mut(allowing).ok_or_else(|| TrustFixError::Document(format!("no statement {allowing}")))?;
            add_action(stmt, &a.action)?;
            edits.push(format!("Action += {} in statement {allowing} (the caller passes {})", a.action, if a.action == TAG_SESSION { "session tags" } else { "a source identity" }));
            if newly.is_empty() {
                newly = format!("{} for the identities statement {allowing} already trusts", a.action);
            }
        }
    }
    let check: TrustVerdict = evaluate_trust(&Policy::from_json(after.clone()).map_err(|e| TrustFixError::Document(e.to_string()))?, req);
    if check.decision != Decision::Allow {
        return Err(TrustFixError::Unverified(check.decision.as_str().into()));
    }
    Ok(TrustFix { after, edits, warnings, newly_allows: newly })
}

#[cfg(test)]
mod tests {
    use super::*;
    use denyctl_eval::claims::{context_of, oidc_context, GITHUB_HOST, WEB_IDENTITY};
    use denyctl_policy::PrincipalType;

    const GH: &str = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com";

    fn req(sub: &str) -> TrustRequest {
        TrustRequest {
            action: WEB_IDENTITY.into(),
            principal: GH.into(),
            principal_type: PrincipalType::Federated,
            context: context_of(&oidc_context(GITHUB_HOST, &json!({"sub": sub, "aud": "sts.amazonaws.com"}))),
            session_tags: false,
            source_identity: false,
        }
    }

    fn trust(cond: Json) -> Json {
        json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Federated": GH}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}})
    }

    #[test]
    fn adds_exactly_the_subject() {
        let doc = trust(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/octo-repo:ref:refs/heads/main"}}));
        let f = fix_trust(&doc, &req("repo:octo-org/octo-repo:ref:refs/heads/release")).unwrap();
        assert_eq!(
            f.after["Statement"]["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"],
            json!(["repo:octo-org/octo-repo:ref:refs/heads/main", "repo:octo-org/octo-repo:ref:refs/heads/release"])
        );
        // Nothing else changed: the audience is untouched, the statement stays an object.
        assert_eq!(f.after["Statement"]["Condition"]["StringEquals"], doc["Statement"]["Condition"]["StringEquals"]);
        assert!(f.warnings.is_empty());
        assert!(f.newly_allows.contains("repo:octo-org/octo-repo:ref:refs/heads/release"));
        // Never a wildcard over the organization.
        assert!(!f.after.to_string().contains("octo-org/*"));
        assert_eq!(fix_trust(&f.after, &req("repo:octo-org/octo-repo:ref:refs/heads/release")), Err(TrustFixError::AlreadyAllowed));
    }

    #[test]
    fn refuses_an_audience_mismatch() {
        let doc = trust(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}));
        let mut r = req("repo:a/b:ref:refs/heads/main");
        r.context.insert("token.actions.githubusercontent.com:aud", vec!["https://github.com/a".into()]);
        let e = fix_trust(&doc, &r).unwrap_err();
        assert!(matches!(e, TrustFixError::NotSubject(ref m) if m.contains(":aud")), "{e}");
    }

    #[test]
    fn new_statement_when_the_provider_is_not_trusted_and_warns_on_no_sub() {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let f = fix_trust(&doc, &req("repo:a/b:environment:prod")).unwrap();
        let added = &f.after["Statement"][1];
        assert_eq!(added["Principal"]["Federated"], GH);
        assert_eq!(added["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"], "repo:a/b:environment:prod");
        assert_eq!(added["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");

        let open = trust(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}));
        let mut r = req("repo:a/b:ref:refs/heads/main");
        r.session_tags = true;
        let f = fix_trust(&open, &r).unwrap();
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert!(f.warnings[0].contains("no condition on its subject"));
        assert_eq!(f.after["Statement"]["Action"], json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]));
    }

    #[test]
    fn never_lifts_a_deny() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": GH}, "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Sid": "NoForks", "Effect": "Deny", "Principal": {"Federated": GH}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:a/b:pull_request"}}}]});
        assert!(matches!(fix_trust(&doc, &req("repo:a/b:pull_request")), Err(TrustFixError::Denied(_))));
    }

    #[test]
    fn set_qualified_operators_take_the_exact_subject_too() {
        let doc = trust(json!({"ForAllValues:StringEquals": {"token.actions.githubusercontent.com:sub": "repo:a/b:ref:refs/heads/main",
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}));
        let f = fix_trust(&doc, &req("repo:a/b:ref:refs/heads/dev")).unwrap();
        assert_eq!(
            f.after["Statement"]["Condition"]["ForAllValues:StringEquals"]["token.actions.githubusercontent.com:sub"],
            json!(["repo:a/b:ref:refs/heads/main", "repo:a/b:ref:refs/heads/dev"])
        );
        let neg = trust(json!({"StringNotEquals": {"token.actions.githubusercontent.com:sub": "repo:a/b:pull_request"}}));
        assert!(matches!(fix_trust(&neg, &req("repo:a/b:pull_request")), Err(TrustFixError::NotSubject(_))));
    }

    #[test]
    fn a_wildcard_subject_is_refused() {
        let doc = trust(json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:a/b:ref:refs/heads/main"}}));
        assert!(matches!(fix_trust(&doc, &req("repo:a/*")), Err(TrustFixError::NotSubject(_))));
    }
}
