//! The verdict explains itself: deciding statements, near misses with the failing element or
//! condition (expected and actual values), missing context keys, unknown layers.

use denyctl_eval::scenario::Scenario;
use denyctl_eval::{evaluate, Decision, LayerKind, Miss, Outcome, UnknownLayer};
use serde_json::json;

fn scenario(v: serde_json::Value) -> Scenario {
    Scenario::from_json(v).expect("valid scenario")
}

#[test]
fn condition_failure_names_operator_key_expected_and_actual() {
    let sc = scenario(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject",
                    "resource": "arn:aws:s3:::b/k", "context": {"aws:SourceIp": "198.51.100.7"}},
        "policies": {"identity": [{"name": "office-only", "document": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Office", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "192.0.2.0/24"]}}}]}}]}
    }));
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ImplicitDeny);
    assert_eq!(v.denied_by, vec![LayerKind::Identity]);
    let id = v.layer(LayerKind::Identity).unwrap();
    assert_eq!(id.outcome, Outcome::NoAllow);
    assert_eq!(id.near_misses.len(), 1);
    let nm = &id.near_misses[0];
    assert_eq!(&*nm.statement.policy, "office-only");
    assert_eq!(nm.statement.sid.as_deref(), Some("Office"));
    assert_eq!(
        nm.miss,
        Miss::Condition {
            operator: "IpAddress".into(),
            key: "aws:SourceIp".into(),
            expected: vec!["203.0.113.0/24".into(), "192.0.2.0/24".into()],
            actual: Some(vec!["198.51.100.7".into()]),
        }
    );
    assert!(v.missing_context.is_empty());
}

#[test]
fn missing_context_key_is_reported_not_silently_false() {
    let sc = scenario(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "ec2:StopInstances",
                    "resource": "arn:aws:ec2:us-east-1:111122223333:instance/i-1"},
        "policies": {"identity": [{"name": "tagged", "document": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:StopInstances", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}}]}}]}
    }));
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ImplicitDeny);
    assert_eq!(v.missing_context, vec!["aws:ResourceTag/team".to_string()]);
    match &v.layer(LayerKind::Identity).unwrap().near_misses[0].miss {
        Miss::Condition { actual, key, .. } => {
            assert_eq!(key, "aws:ResourceTag/team");
            assert_eq!(actual, &None);
        }
        other => panic!("expected a condition miss, got {other:?}"),
    }
}

#[test]
fn resource_miss_and_deciding_deny_are_named() {
    let sc = scenario(json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/ci/run-1", "action": "s3:PutObject",
                    "resource": "arn:aws:s3:::prod/app.zip"},
        "policies": {
            "identity": [{"name": "ci", "document": {"Version": "2012-10-17", "Statement": [
                {"Sid": "Staging", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::staging/*"}]}}],
            "permissions_boundary": {"name": "arn:aws:iam::111122223333:policy/boundary", "document": {"Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Sid": "NoProd", "Effect": "Deny", "Action": "s3:Put*", "Resource": "arn:aws:s3:::prod/*"}]}}
        }
    }));
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ExplicitDeny);
    assert_eq!(v.denied_by, vec![LayerKind::PermissionsBoundary]);
    let b = v.layer(LayerKind::PermissionsBoundary).unwrap();
    assert_eq!(b.deciding.len(), 1);
    assert_eq!(b.deciding[0].index, 1);
    assert_eq!(b.deciding[0].sid.as_deref(), Some("NoProd"));
    let id = v.layer(LayerKind::Identity).unwrap();
    assert_eq!(id.near_misses[0].miss, Miss::Resource { patterns: vec!["arn:aws:s3:::staging/*".into()], negated: false });
    // The JSON carries the same facts.
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["decision"], "explicit_deny");
    assert_eq!(j["denied_by"], json!(["permissions_boundary"]));
    assert_eq!(j["layers"][0]["deciding"][0]["sid"], "NoProd");
}

#[test]
fn unknown_layer_is_never_allow_and_flags_dependence() {
    // Identity allows; the SCPs could not be read. The reported decision is allow only if the
    // SCPs permit it: the verdict must say the conclusion depends on the unknown layer.
    let mut sc = scenario(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [{"name": "u", "document": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}]}
    }));
    sc.layers.unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: "organizations:ListPoliciesForTarget denied".into() });
    let v = evaluate(&sc.request, &sc.layers);
    assert!(v.depends_on_unknown);
    assert_eq!(v.layer(LayerKind::Scp).unwrap().outcome, Outcome::Unknown);
    assert_eq!(v.unknown_layers.len(), 1);

    // Cross-account with an unreadable bucket policy: implicit deny either way? No: a readable
    // policy could allow, so the decision depends on it; and `resource` is not blamed.
    let mut sc = scenario(json!({
        "request": {"principal": "arn:aws:iam::444455556666:user/dev", "action": "s3:GetObject",
                    "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333"},
        "policies": {"identity": [{"name": "u", "document": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}]}
    }));
    sc.layers.unknown.push(UnknownLayer { layer: LayerKind::Resource, reason: "s3:GetBucketPolicy denied".into() });
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ImplicitDeny);
    assert!(v.depends_on_unknown);
    assert!(!v.denied_by.contains(&LayerKind::Resource));
}

#[test]
fn explicit_deny_cannot_be_overturned_by_unknown_layers() {
    let mut sc = scenario(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [{"name": "u", "document": {"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}}]}
    }));
    sc.layers.unknown.push(UnknownLayer { layer: LayerKind::Resource, reason: "unreadable".into() });
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ExplicitDeny);
    assert!(!v.depends_on_unknown);
}

fn own(name: &str) -> Scenario {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/own");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy().ends_with(&format!("-{name}.json"))))
        .unwrap_or_else(|| panic!("no scenario {name}"));
    Scenario::parse_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn absent_variable_in_notresource_excludes_nothing_and_is_reported() {
    let sc = own("var-absent-notresource-deny-applies");
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ExplicitDeny);
    assert_eq!(v.missing_context, vec!["aws:username".to_string()]);
    let id = v.layer(LayerKind::Identity).unwrap();
    assert_eq!(id.deciding.len(), 1);
    assert_eq!(id.deciding[0].index, 1);
}

#[test]
fn absent_variable_in_resource_is_named_as_the_miss() {
    let sc = own("var-absent-resource-deny-matches-nothing");
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::Allow);
    let id = v.layer(LayerKind::Identity).unwrap();
    assert_eq!(id.near_misses.len(), 1);
    assert_eq!(id.near_misses[0].miss, Miss::MissingVariable { key: "aws:username".into() });
    assert!(v.assumptions.is_empty());
}

#[test]
fn principal_star_under_a_boundary_says_the_reading_is_assumed() {
    let sc = own("boundary-principal-star-read-as-limited");
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ImplicitDeny);
    assert_eq!(v.assumptions.len(), 1, "{:?}", v.assumptions);
    let a = &v.assumptions[0];
    assert_eq!(a.id, "principal_star_boundary");
    assert_eq!(a.otherwise, Decision::Allow);
    assert!(a.note.contains("permissions boundary"), "{}", a.note);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["assumptions"][0]["otherwise"], "allow");
}

#[test]
fn no_assumption_when_the_reading_does_not_matter() {
    // Principal "*" without a boundary: both readings allow.
    let v = {
        let sc = own("resource-policy-aws-star-same-account-no-identity");
        evaluate(&sc.request, &sc.layers)
    };
    assert_eq!(v.decision, Decision::Allow);
    assert!(v.assumptions.is_empty());
    assert!(serde_json::to_value(&v).unwrap().get("assumptions").is_none(), "absent from JSON when empty");
    // A role-ARN grant under a boundary is documented: no assumption either.
    let sc = own("boundary-role-arn-resource-policy-limited");
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::ImplicitDeny);
    assert!(v.assumptions.is_empty());
    // Cross account, "*" grants are limited on the caller's side in any reading.
    let sc = own("resource-policy-star-principal-cross-account");
    let v = evaluate(&sc.request, &sc.layers);
    assert!(v.assumptions.is_empty());
}

#[test]
fn principal_star_under_a_session_policy_or_on_a_key_is_flagged_too() {
    for (name, layer) in [("session-policy-principal-star-read-as-limited", "session policy"), ("kms-key-policy-principal-star-boundary-read-as-limited", "permissions boundary")] {
        let sc = own(name);
        let v = evaluate(&sc.request, &sc.layers);
        assert_eq!(v.decision, Decision::ImplicitDeny, "{name}");
        assert_eq!(v.assumptions.len(), 1, "{name}: {:?}", v.assumptions);
        assert_eq!(v.assumptions[0].otherwise, Decision::Allow, "{name}");
        assert!(v.assumptions[0].note.contains(layer), "{name}: {}", v.assumptions[0].note);
    }
}
