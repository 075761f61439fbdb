//! Policy documents: every valid shape parses; invalid ones get a precise error.

use denyctl_policy::{Arn, Effect, Policy, PrincipalType};
use proptest::prelude::*;

#[test]
fn accepts_every_shape() {
    let p = Policy::parse_str(r#"{
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "One", "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"], "Service": "s3.amazonaws.com",
                          "Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "79a59df9"},
            "NotAction": "s3:Delete*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a*", 1, true]},
                          "NumericLessThan": {"s3:max-keys": 10}, "Bool": {"aws:SecureTransport": false}}
        }
    }"#).unwrap();
    assert_eq!(p.statements.len(), 1);
    let s = &p.statements[0];
    assert_eq!(s.effect, Effect::Allow);
    assert!(s.action.negated && s.resource.as_ref().unwrap().negated);
    let pr = s.principal.as_ref().unwrap();
    assert!(pr.any);
    assert_eq!(pr.entries.iter().filter(|(t, _)| *t == PrincipalType::Service).count(), 1);
    assert_eq!(s.conditions.len(), 3);
    assert_eq!(s.conditions[0].values.iter().map(|v| v.raw.as_str()).collect::<Vec<_>>(), ["a*", "1", "true"]);
    assert_eq!(s.conditions[1].values[0].raw, "10");
    assert_eq!(s.conditions[2].values[0].raw, "false");
    // The original document, key order included, is kept for minimal-diff rewrites.
    let keys: Vec<&String> = p.raw()["Statement"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Sid", "Effect", "Principal", "NotAction", "NotResource", "Condition"]);
}

fn error_of(doc: &str) -> String {
    Policy::parse_str(doc).unwrap_err().to_string()
}

#[test]
fn errors_name_statement_sid_and_field() {
    let doc = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
        {"Sid":"Bad","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]}"#;
    assert_eq!(error_of(doc), "statement 1 (Sid \"Bad\"): Condition.StringEqualz: unknown condition operator (did you mean StringEquals?)");
    assert_eq!(
        error_of(r#"{"Statement":[{"Effect":"allow","Action":"s3:GetObject","Resource":"*"}]}"#),
        "statement 0: Effect: \"allow\" is not Allow or Deny (case matters)"
    );
    assert_eq!(
        error_of(r#"{"Statement":[{"Effect":"Allow","Action":["s3:GetObject",3],"Resource":"*"}]}"#),
        "statement 0: Action[1]: expected a string, found a number"
    );
    assert_eq!(
        error_of(r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resources":"*"}]}"#),
        "statement 0: Resources: unknown policy element (did you mean Resource?)"
    );
    assert!(error_of(r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#).contains("Action: missing"));
    assert!(error_of(r#"{"Statement":[{"Effect":"Allow","Action":"s3 GetObject","Resource":"*"}]}"#).contains("is not an action"));
    assert!(error_of(r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]}"#).contains("not both"));
    assert!(error_of(r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"arn:aws:iam::1:root"}]}"#).contains("principal string must be"));
    assert!(error_of(r#"{"Version":"2020-01-01"}"#).contains("Version"));
    assert!(error_of("[1,2]").contains("must be a JSON object"));
    assert!(error_of("{\"Statement\": [").contains("not valid JSON"));
    assert!(error_of(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Null":{"k":{"x":1}}}}]}"#).contains("Condition.Null.k"));
}

#[test]
fn variables_only_in_version_2012() {
    let new = Policy::parse_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}"}]}"#).unwrap();
    assert!(new.statements[0].resource.as_ref().unwrap().patterns[0].has_vars());
    let old = Policy::parse_str(r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/${aws:username}"}]}"#).unwrap();
    assert!(!old.statements[0].resource.as_ref().unwrap().patterns[0].has_vars());
}

proptest! {
    /// Arbitrary text never panics the parsers; it parses or gets an error.
    #[test]
    fn never_panics(s in "\\PC{0,200}") {
        let _ = Policy::parse_str(&s);
        let _ = Arn::parse(&s);
        let _ = denyctl_policy::Principal::parse(&s);
    }

    /// ARNs round-trip through parse and display.
    #[test]
    fn arn_round_trip(svc in "[a-z0-9-]{1,10}", region in "[a-z0-9-]{0,12}", acct in proptest::option::of("[0-9]{12}"), res in "[a-zA-Z0-9/:._*-]{1,40}") {
        for part in ["aws", "aws-cn", "aws-us-gov"] {
            let s = format!("arn:{part}:{svc}:{region}:{}:{res}", acct.clone().unwrap_or_default());
            let a = Arn::parse(&s).unwrap();
            prop_assert_eq!(a.to_string(), s);
        }
    }
}
