//! One test (at least) per proposal kind, built from the scenario corpus and small fixtures:
//! each asserts the exact statement added or narrowed and that re-evaluation allows.

use std::path::Path;

use denyctl_eval::scenario::Scenario;
use denyctl_eval::{evaluate, Context, Decision, LayerKind, NamedPolicy, Request};
use denyctl_policy::Policy;
use denyctl_remedy::{
    plan, Change, EditKind, Options, Plan, PolicyVersion, RemedyError, Scope, Status, TargetKind,
};
use serde_json::{json, Value};

fn corpus(rel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Scenario::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(v: Value) -> Scenario {
    Scenario::from_json(v).expect("fixture parses")
}

fn make(sc: &Scenario, opts: &Options) -> Plan {
    let v = evaluate(&sc.request, &sc.layers);
    plan(&sc.request, &sc.layers, &v, opts).expect("a plan")
}

fn only_change(p: &Plan) -> &Change {
    assert_eq!(p.changes.len(), 1, "{}", serde_json::to_string_pretty(&p.changes).unwrap());
    &p.changes[0]
}

/// The statements of a policy document.
fn statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        o @ Value::Object(_) => vec![o.clone()],
        _ => Vec::new(),
    }
}

fn named(name: &str, doc: &Value) -> NamedPolicy {
    NamedPolicy::new(name, Policy::from_json(doc.clone()).expect("after parses"))
}

/// The same request by another principal, with the given layers.
fn as_other(sc: &Scenario, principal: &str) -> Request {
    Request::new(principal, &sc.request.action, &sc.request.resource, Some(&sc.request.resource_account), Context::new()).unwrap()
}

// ---------------------------------------------------------------- missing identity allow

#[test]
fn identity_allow_is_one_exact_statement_on_the_role() {
    let sc = corpus("shared/01-s3-put-no-identity-allow.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.status_reason);
    let c = only_change(&p);
    assert_eq!(c.layer, LayerKind::Identity);
    assert_eq!(c.edit, EditKind::AddAllow);
    assert_eq!(c.target.kind, TargetKind::InlinePolicy);
    assert_eq!(c.target.role_name.as_deref(), Some("deploy-role"), "the role, not the session");
    assert!(c.target.policy_name.starts_with("denyctl-"));
    assert!(c.target.create && c.before.is_none());
    assert_eq!(
        c.statements,
        [json!({"Sid": "DenyctlS3PutObject", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::prod-artifacts/releases/app.zip"})]
    );
    assert_eq!(statements(&c.after), c.statements);
    assert!(c.applicable && !c.needs_human);
    assert!(c.newly_allowed.is_empty() && p.no_new_access.newly_allowed.is_empty());
    assert!(p.no_new_access.checked > 100, "every s3 action on the object and its neighbours: {}", p.no_new_access.checked);
    // Re-evaluate independently: the caller's layers plus the new policy allow the request.
    let mut layers = sc.layers.clone();
    layers.identity.push(named(&c.target.policy_name, &c.after));
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
    assert_eq!(p.verification.after.decision, "allow");
    assert_eq!(p.verification.before.denied_by, [LayerKind::Identity]);
    assert_eq!(p.replay.action, "s3:PutObject");
    assert_eq!(p.plan_version, 1);
}

#[test]
fn an_existing_denyctl_policy_is_extended_not_duplicated() {
    let sc = corpus("shared/01-s3-put-no-identity-allow.json");
    let first = make(&sc, &Options::default());
    let name = first.changes[0].target.policy_name.clone();
    // The same role is later denied s3:GetObject on another object: the same policy grows.
    let mut layers = sc.layers.clone();
    layers.identity.push(named(&format!("inline:{name}"), &first.changes[0].after));
    let req = Request::new(&sc.request.principal_raw, "s3:DeleteObject", "arn:aws:s3:::prod-artifacts/releases/app.zip", None, Context::new()).unwrap();
    let v = evaluate(&req, &layers);
    let p = plan(&req, &layers, &v, &Options::default()).unwrap();
    let c = only_change(&p);
    assert_eq!(c.target.policy_name, name);
    assert!(!c.target.create);
    assert_eq!(statements(c.before.as_ref().unwrap()).len(), 1);
    let after = statements(&c.after);
    assert_eq!(after.len(), 2);
    assert_eq!(after[1], json!({"Sid": "DenyctlS3DeleteObject", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::prod-artifacts/releases/app.zip"}));
    // The diff shows only the new statement.
    let removed = c.diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).count();
    assert_eq!(removed, 0, "{}", c.diff);
    assert_eq!(p.status, Status::Ready);
}

fn get_object_fixture() -> Scenario {
    fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject",
                    "resource": "arn:aws:s3:::team-data/reports/2024/q1.csv"},
        "policies": {"identity": [{"name": "inline:dev", "document": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::team-data"}]}}]}
    }))
}

#[test]
fn bucket_wide_scope_is_refused_and_lists_what_it_opens() {
    let sc = get_object_fixture();
    let p = make(&sc, &Options { scope: Scope::Bucket, ..Options::default() });
    assert_eq!(p.status, Status::Refused);
    assert!(p.status_reason.as_deref().unwrap_or("").contains("--accept-widening"));
    let c = only_change(&p);
    assert_eq!(c.statements[0]["Resource"], "arn:aws:s3:::team-data/*");
    let opened: Vec<(&str, &str)> = p.no_new_access.newly_allowed.iter().map(|a| (a.action.as_str(), a.resource.as_str())).collect();
    assert!(opened.contains(&("s3:GetObject", "arn:aws:s3:::team-data/reports/2024/denyctl-probe-sibling")), "{opened:?}");
    assert!(opened.contains(&("s3:GetObject", "arn:aws:s3:::team-data/denyctl-probe-other/object")), "{opened:?}");
    // Nothing outside the bucket, and no other action.
    assert!(opened.iter().all(|(a, r)| *a == "s3:GetObject" && r.starts_with("arn:aws:s3:::team-data/")), "{opened:?}");
    assert_eq!(c.newly_allowed, p.no_new_access.newly_allowed);
    // Accepted explicitly: ready, and the plan says it was accepted.
    let ok = make(&sc, &Options { scope: Scope::Bucket, accept_widening: true, ..Options::default() });
    assert_eq!(ok.status, Status::Ready);
    assert!(ok.no_new_access.widening_accepted);
}

#[test]
fn wider_scopes_are_alternatives_with_what_they_would_open() {
    let sc = get_object_fixture();
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready);
    let scopes: Vec<Scope> = p.alternatives.iter().map(|a| a.scope).collect();
    assert_eq!(scopes, [Scope::Prefix, Scope::Bucket, Scope::AccessLevel]);
    let prefix = &p.alternatives[0];
    assert_eq!(prefix.statement["Resource"], "arn:aws:s3:::team-data/reports/2024/*");
    let res: Vec<&str> = prefix.newly_allowed.iter().map(|a| a.resource.as_str()).collect();
    assert_eq!(res, ["arn:aws:s3:::team-data/reports/2024/denyctl-probe-sibling"]);
    let bucket = &p.alternatives[1];
    assert!(bucket.newly_allowed.len() > prefix.newly_allowed.len());
    let level = &p.alternatives[2];
    let actions: Vec<&str> = level.newly_allowed.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"s3:GetObjectVersion") && actions.contains(&"s3:GetObjectTagging"), "{actions:?}");
    assert!(level.newly_allowed.iter().all(|a| a.resource == "arn:aws:s3:::team-data/reports/2024/q1.csv"));
}

#[test]
fn list_bucket_on_an_object_is_granted_on_the_bucket() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:ListBucket",
                    "resource": "arn:aws:s3:::team-data/reports/q1.csv"},
        "policies": {"identity": []}
    }));
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert_eq!(c.statements[0]["Action"], "s3:ListBucket");
    assert_eq!(c.statements[0]["Resource"], "arn:aws:s3:::team-data");
    assert!(c.notes.iter().any(|n| n.contains("scoped to the bucket")), "{:?}", c.notes);
    assert_eq!(p.verification.after.decision, "allow");
    assert_eq!(p.status, Status::Ready);
    // Replay is still the request as it was denied.
    assert_eq!(p.replay.resource, "arn:aws:s3:::team-data/reports/q1.csv");
}

#[test]
fn star_only_for_actions_without_resource_level_permissions() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:ListAllMyBuckets", "resource": "*"},
        "policies": {"identity": []}
    }));
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert_eq!(c.statements[0]["Resource"], "*");
    assert!(c.notes.iter().any(|n| n.contains("no resource-level permissions")), "{:?}", c.notes);
    assert_eq!(p.status, Status::Ready);
    // An action that has resource-level permissions is never granted on "*".
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "*"},
        "policies": {"identity": []}
    }));
    let v = evaluate(&sc.request, &sc.layers);
    let err = plan(&sc.request, &sc.layers, &v, &Options::default()).unwrap_err();
    assert!(matches!(err, RemedyError::NoResourceArn { .. }));
    assert!(err.to_string().contains("give the resource ARN"));
}

// ---------------------------------------------------------------- explicit Deny

#[test]
fn identity_deny_is_narrowed_not_deleted() {
    let sc = corpus("shared/26-identity-explicit-deny-sqs.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.status_reason);
    let c = only_change(&p);
    assert_eq!(c.edit, EditKind::NarrowDeny);
    assert_eq!((c.target.kind, c.target.policy_name.as_str(), c.target.user_name.as_deref()), (TargetKind::InlinePolicy, "guard", Some("analyst")));
    let after = statements(&c.after);
    assert_eq!(after.len(), 1, "the Deny statement is still there");
    assert_eq!(
        after[0],
        json!({"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:111122223333:orders",
               "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/analyst"}}})
    );
    // In the caller's own inline policy, the exception switches the Deny off for it: a person decides.
    assert!(c.needs_human);
    // The evaluator: the caller is allowed; another user with the same policies is still denied.
    let mut layers = sc.layers.clone();
    layers.identity[1] = named("guard", &c.after);
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
    let other = as_other(&sc, "arn:aws:iam::111122223333:user/intern");
    assert_eq!(evaluate(&other, &layers).decision, Decision::ExplicitDeny);
}

#[test]
fn mfa_guardrail_needs_a_human_and_its_widening_is_refused() {
    let sc = corpus("shared/12-mfa-notaction-no-mfa.json");
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert!(c.needs_human);
    assert!(c.needs_human_reason.as_deref().unwrap_or("").contains("MFA"), "{:?}", c.needs_human_reason);
    // Still a Deny with its NotAction and its MFA condition, plus the exception.
    let s = &statements(&c.after)[0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(s["Sid"], "DenyAllExceptListedIfNoMFA");
    assert_eq!(s["Condition"]["BoolIfExists"], json!({"aws:MultiFactorAuthPresent": "false"}));
    assert_eq!(s["Condition"]["ArnNotEquals"], json!({"aws:PrincipalArn": "arn:aws:iam::111122223333:user/ops"}));
    // The exception lets the caller do every other iam action without MFA: refused.
    assert_eq!(p.status, Status::Refused);
    assert!(p.no_new_access.newly_allowed.iter().any(|a| a.action == "iam:AttachRolePolicy"));
}

#[test]
fn bucket_deny_narrowed_for_the_caller_still_denies_others() {
    let sc = corpus("shared/18-bucket-deny-not-from-vpce.json");
    let p = make(&sc, &Options { accept_widening: true, ..Options::default() });
    let c = only_change(&p);
    assert_eq!((c.layer, c.target.kind), (LayerKind::Resource, TargetKind::ResourcePolicy));
    assert_eq!(c.target.resource_arn.as_deref(), Some("arn:aws:s3:::example-bucket"));
    assert_eq!(c.target.service.as_deref(), Some("s3"));
    assert!(c.needs_human_reason.as_deref().unwrap_or("").contains("SourceVpce"));
    let s = &statements(&c.after)[0];
    assert_eq!(s["Effect"], "Deny");
    assert_eq!(s["Condition"]["StringNotEqualsIfExists"], json!({"aws:SourceVpce": "vpce-1a2b3c4d"}));
    assert_eq!(s["Condition"]["ArnNotEquals"], json!({"aws:PrincipalArn": "arn:aws:iam::444455556666:user/dev"}));
    let mut layers = sc.layers.clone();
    layers.resource = Some(named("bucket", &c.after));
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
    let other = as_other(&sc, "arn:aws:iam::444455556666:user/other");
    assert_eq!(evaluate(&other, &layers).decision, Decision::ExplicitDeny);
    assert_eq!(p.status, Status::Ready);
    assert!(p.no_new_access.widening_accepted);
}

#[test]
fn existing_exception_list_is_extended_and_kept() {
    let admin = "arn:aws:iam::111122223333:role/admin";
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/etl/job-42", "action": "s3:PutObject",
                    "resource": "arn:aws:s3:::warehouse/in/a.parquet"},
        "policies": {
            "identity": [{"name": "inline:etl", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::warehouse/in/*"}]}}],
            "resource": {"name": "bucket-policy", "document": {"Version": "2012-10-17", "Statement": [
                {"Sid": "OnlyAdminsWrite", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": "arn:aws:s3:::warehouse/*",
                 "Condition": {"ArnNotEquals": {"aws:PrincipalArn": admin}}}]}}
        }
    }));
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    let role = "arn:aws:iam::111122223333:role/etl";
    assert_eq!(statements(&c.after)[0]["Condition"], json!({"ArnNotEquals": {"aws:PrincipalArn": [admin, role]}}));
    assert!(!c.needs_human);
    let mut layers = sc.layers.clone();
    layers.resource = Some(named("bucket-policy", &c.after));
    // The caller (any session of the role) is let through; the admin still is; anyone else is not.
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
    let mut admin_layers = layers.clone();
    admin_layers.identity = vec![named("a", &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))];
    assert_eq!(evaluate(&as_other(&sc, "arn:aws:sts::111122223333:assumed-role/admin/x"), &admin_layers).decision, Decision::Allow);
    assert_eq!(evaluate(&as_other(&sc, "arn:aws:sts::111122223333:assumed-role/intern/x"), &admin_layers).decision, Decision::ExplicitDeny);
    // The exception names the role (aws:PrincipalArn of a role session), and widens nothing else
    // beyond the role's own identity allow (s3:PutObject under warehouse/in/).
    for a in &p.no_new_access.newly_allowed {
        assert_eq!(a.action, "s3:PutObject");
        assert!(a.resource.starts_with("arn:aws:s3:::warehouse/in/"), "{a:?}");
    }
}

#[test]
fn boundary_deny_is_narrowed_and_the_missing_allow_added_in_one_change() {
    let sc = corpus("shared/09-boundary-deny-ec2.json");
    let p = make(&sc, &Options { accept_widening: true, ..Options::default() });
    let c = only_change(&p);
    assert_eq!(c.target.kind, TargetKind::Boundary);
    let after = statements(&c.after);
    assert_eq!(after.len(), 4);
    assert_eq!(after[0]["Effect"], "Deny");
    assert_eq!(after[0]["Action"], "ec2:*");
    assert_eq!(after[0]["Condition"], json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::444455556666:user/ExampleUser"}}));
    // The exact exception: the caller is still denied every other resource the Deny covered.
    assert_eq!(after[1]["Effect"], "Deny");
    assert_eq!(after[1]["Action"], "ec2:*");
    assert!(after[1].get("Resource").is_none());
    assert_eq!(after[1]["NotResource"], json!([sc.request.resource]));
    assert_eq!(after[1]["Condition"]["ArnEquals"], json!({"aws:PrincipalArn": "arn:aws:iam::444455556666:user/ExampleUser"}));
    // ... and every other ec2 action on this resource.
    assert_eq!(after[2]["Effect"], "Deny");
    assert_eq!(after[2]["NotAction"], json!([sc.request.action]));
    assert_eq!(after[2]["Resource"], json!([sc.request.resource]));
    assert_eq!(after[2]["Condition"]["ArnEquals"], json!({"aws:PrincipalArn": "arn:aws:iam::444455556666:user/ExampleUser"}));
    assert_eq!(after[3]["Action"], "ec2:RunInstances");
    assert_eq!(p.verification.after.decision, "allow");
    assert_eq!(c.blast_radius, Some(denyctl_remedy::BlastRadius::Text("unknown".into())));
}

// ---------------------------------------------------------------- boundary missing allow

#[test]
fn boundary_allow_says_it_is_shared() {
    let sc = corpus("shared/10-boundary-missing-allow.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.status_reason);
    let c = only_change(&p);
    assert_eq!((c.layer, c.target.kind, c.target.policy_name.as_str()), (LayerKind::PermissionsBoundary, TargetKind::Boundary, "boundary"));
    assert_eq!(
        c.statements,
        [json!({"Sid": "DenyctlS3PutObject", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::team-data/report.csv"})]
    );
    assert_eq!(statements(&c.after)[0], json!({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}), "existing statement untouched");
    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["blast_radius"], "unknown");
    let versions = c.versions.as_ref().unwrap();
    assert!(!versions.known && versions.note.contains("non-default"));
    let mut layers = sc.layers.clone();
    layers.permissions_boundary = Some(named("boundary", &c.after));
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
}

// ---------------------------------------------------------------- resource policies

#[test]
fn key_policy_names_the_role_with_resource_star() {
    let sc = corpus("shared/04-kms-key-policy-does-not-name-role.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.no_new_access.newly_allowed);
    let c = only_change(&p);
    assert_eq!((c.layer, c.target.kind), (LayerKind::Resource, TargetKind::ResourcePolicy));
    assert_eq!(c.target.service.as_deref(), Some("kms"));
    assert_eq!(c.target.resource_arn.as_deref(), Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd-56ef-78ab-90cd-1234567890ef"));
    assert_eq!(
        c.statements,
        [json!({"Sid": "DenyctlKmsGenerateDataKey", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:role/deploy-role"},
                "Action": "kms:GenerateDataKey", "Resource": "*"})]
    );
    assert!(c.notes.iter().any(|n| n.contains("means this key")));
    // Other principals were probed too (the statement names one role only).
    assert!(p.no_new_access.checked > 200);
    let mut layers = sc.layers.clone();
    layers.resource = Some(named("key-policy", &c.after));
    assert_eq!(evaluate(&sc.request, &layers).decision, Decision::Allow);
    let other = as_other(&sc, "arn:aws:sts::111122223333:assumed-role/other-role/s");
    assert_ne!(evaluate(&other, &layers).decision, Decision::Allow);
}

#[test]
fn cross_account_bucket_names_the_caller_and_the_exact_object() {
    let sc = corpus("shared/23-cross-account-bucket-no-bucket-allow.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready);
    let c = only_change(&p);
    assert_eq!(c.target.resource_arn.as_deref(), Some("arn:aws:s3:::shared-data"));
    let s = &c.statements[0];
    assert_eq!(s["Principal"], json!({"AWS": "arn:aws:iam::444455556666:user/reader"}));
    assert_eq!(s["Action"], "s3:GetObject");
    assert_eq!(s["Resource"], "arn:aws:s3:::shared-data/x.csv");
    assert!(p.no_new_access.newly_allowed.is_empty());
}

#[test]
fn cross_account_with_neither_side_gets_both_changes() {
    let sc = corpus("own/214-cross-account-neither-side.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.status_reason);
    let layers: Vec<LayerKind> = p.changes.iter().map(|c| c.layer).collect();
    assert_eq!(layers, [LayerKind::Identity, LayerKind::Resource]);
    assert_eq!(p.changes[1].statements[0]["Principal"], json!({"AWS": "arn:aws:iam::444455556666:user/reader"}));
    assert_eq!(p.changes[1].statements[0]["Resource"], "arn:aws:sqs:us-east-1:111122223333:orders");
    assert_eq!(p.changes[0].statements[0]["Resource"], "arn:aws:sqs:us-east-1:111122223333:orders");
    assert_eq!(p.verification.after.decision, "allow");
}

#[test]
fn trust_policy_statement_names_the_role_and_has_no_resource() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/ci/run-7", "action": "sts:AssumeRole",
                    "resource": "arn:aws:iam::111122223333:role/deployer"},
        "policies": {
            "identity": [{"name": "inline:ci", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111122223333:role/deployer"}]}}],
            "resource": {"name": "trust-policy", "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}
        }
    }));
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "{:?}", p.status_reason);
    let c = only_change(&p);
    assert_eq!(c.target.kind, TargetKind::TrustPolicy);
    assert_eq!(c.target.role_name.as_deref(), Some("deployer"));
    assert_eq!(
        c.statements,
        [json!({"Sid": "DenyctlStsAssumeRole", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/ci"}, "Action": "sts:AssumeRole"})]
    );
    assert_eq!(c.size.as_ref().map(|s| s.limit), Some(2048));
    assert!(p.no_new_access.newly_allowed.is_empty(), "{:?}", p.no_new_access.newly_allowed);
}

#[test]
fn missing_key_policy_is_created() {
    let sc = corpus("own/193-kms-no-key-policy.json");
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert!(c.target.create && c.before.is_none());
    assert!(c.diff.starts_with("--- /dev/null"));
    assert_eq!(p.verification.after.decision, "allow");
}

// ---------------------------------------------------------------- hand-offs

#[test]
fn scp_missing_allow_is_a_handoff_for_the_org_admin() {
    let sc = corpus("shared/08-scp-ou-level-missing-allow.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::NeedsHandoff);
    let c = only_change(&p);
    assert!(!c.applicable);
    assert_eq!((c.target.kind, c.target.org_target.as_deref(), c.target.policy_name.as_str()), (TargetKind::Scp, Some("ou-abcd-11111111"), "s3-only"));
    assert_eq!(c.statements[0]["Action"], "sqs:SendMessage");
    assert_eq!(c.statements[0]["Resource"], "arn:aws:sqs:us-east-1:111122223333:orders");
    assert_eq!(p.handoffs.len(), 1);
    let h = &p.handoffs[0];
    assert_eq!(h.change, c.id);
    assert!(h.to.contains("organization"));
    assert!(h.body.contains("ou-abcd-11111111") && h.body.contains("+      \"Action\": \"sqs:SendMessage\""), "{}", h.body);
    assert_eq!(p.verification.after.denied_by, [LayerKind::Scp]);
    assert_eq!(p.verification.with_handoffs.decision, "allow");
    assert!(p.verification.next_hop.as_deref().unwrap_or("").starts_with("scp: hand-off c1"));
}

#[test]
fn rcp_deny_is_a_narrowing_handoff() {
    let sc = corpus("shared/21-rcp-deny-deleteobject.json");
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert_eq!((c.target.kind, c.edit, c.applicable), (TargetKind::Rcp, EditKind::NarrowDeny, false));
    assert!(c.needs_human);
    assert_eq!(statements(&c.after)[0]["Effect"], "Deny");
    assert_eq!(p.handoffs.len(), 1);
}

#[test]
fn session_policy_means_reissuing_the_session() {
    let sc = corpus("shared/46-session-policy-limits.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::NeedsHandoff);
    let c = only_change(&p);
    assert_eq!((c.target.kind, c.applicable), (TargetKind::Session, false));
    assert_eq!(c.statements[0]["Action"], "s3:PutObject");
    let h = &p.handoffs[0];
    assert!(h.body.contains("cannot be edited") && h.body.contains("aws sts assume-role --role-arn arn:aws:iam::111122223333:role/deploy-role"), "{}", h.body);
    // Session deny: narrowed in the re-issued policy, never dropped.
    let sc = corpus("shared/47-session-policy-deny.json");
    let p = make(&sc, &Options { accept_widening: true, ..Options::default() });
    let c = only_change(&p);
    let after = statements(&c.after);
    assert_eq!(after.iter().filter(|s| s["Effect"] == "Deny").count(), 2, "the narrowed Deny and its exact twin: {after:?}");
}

#[test]
fn vpc_endpoint_policy_is_a_handoff_for_the_network_owner() {
    let sc = corpus("shared/48-vpc-endpoint-policy-limits.json");
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert_eq!((c.target.kind, c.applicable), (TargetKind::VpcEndpointPolicy, false));
    assert!(c.statements[0]["Principal"].is_object());
    assert!(p.handoffs[0].to.contains("network"));
}

// ---------------------------------------------------------------- IAM limits

#[test]
fn managed_policy_at_five_versions_deletes_the_oldest_non_default() {
    let arn = "arn:aws:iam::111122223333:policy/sqs-guard";
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/analyst", "action": "sqs:SendMessage",
                    "resource": "arn:aws:sqs:us-east-1:111122223333:orders"},
        "policies": {"identity": [
            {"name": "inline:read", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}},
            {"name": arn, "document": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:111122223333:orders"}]}}
        ]}
    }));
    let v = |id: &str, d: bool| PolicyVersion { version_id: id.into(), is_default: d, create_date: None };
    let mut opts = Options::default();
    // The default is the OLDEST version: deleting "the oldest" naively would delete it.
    opts.policy_versions.insert(arn.into(), vec![v("v1", true), v("v2", false), v("v3", false), v("v4", false), v("v5", false)]);
    opts.versions.insert(arn.into(), "v1".into());
    let p = make(&sc, &opts);
    let c = only_change(&p);
    assert_eq!((c.target.kind, c.target.policy_arn.as_deref()), (TargetKind::ManagedPolicy, Some(arn)));
    let vp = c.versions.as_ref().unwrap();
    assert_eq!((vp.known, vp.count, vp.delete_version.as_deref()), (true, Some(5), Some("v2")));
    assert_eq!(c.version_token.as_deref(), Some("v1"));
    assert_eq!(p.versions_read.get(arn), Some(&Some("v1".to_string())));
    assert_eq!(p.versions_read.get("inline:read"), Some(&None));
    // A managed policy shared by others: no "own inline policy" flag; the Deny stays.
    assert!(!c.needs_human);
    assert_eq!(statements(&c.after)[0]["Effect"], "Deny");
}

fn big_inline(n: usize) -> Value {
    let statements: Vec<Value> = (0..n)
        .map(|i| json!({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": format!("arn:aws:dynamodb:us-east-1:111122223333:table/table-number-{i:04}")}))
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[test]
fn user_inline_quota_full_falls_back_to_a_managed_policy() {
    let doc = big_inline(16);
    assert!(denyctl_remedy::limits::policy_size(&doc) < 2048 && denyctl_remedy::limits::policy_size(&doc) > 1900);
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [{"name": "inline:tables", "document": doc}]}
    }));
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready);
    let c = only_change(&p);
    assert_eq!(c.target.kind, TargetKind::ManagedPolicy);
    assert_eq!(c.target.user_name.as_deref(), Some("dev"));
    assert!(c.target.policy_arn.as_deref().unwrap_or("").starts_with("arn:aws:iam::111122223333:policy/denyctl-"));
    assert!(c.notes.iter().any(|n| n.contains("2048-character quota")), "{:?}", c.notes);
    assert_eq!(c.size.as_ref().map(|s| s.limit), Some(6144));
    // A role has five times the room: the same policies stay inline.
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/app/s", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [{"name": "inline:tables", "document": big_inline(16)}]}
    }));
    assert_eq!(only_change(&make(&sc, &Options::default())).target.kind, TargetKind::InlinePolicy);
}

#[test]
fn full_boundary_is_a_clear_error() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [{"name": "inline:all", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}],
                     "permissions_boundary": {"name": "arn:aws:iam::111122223333:policy/boundary", "document": big_inline(52)}}
    }));
    let v = evaluate(&sc.request, &sc.layers);
    let err = plan(&sc.request, &sc.layers, &v, &Options::default()).unwrap_err();
    match &err {
        RemedyError::PolicyTooLarge { limit, size, .. } => assert!(*limit == 6144 && *size > 6144),
        other => panic!("expected PolicyTooLarge, got {other:?}"),
    }
    assert!(err.to_string().contains("6144-character quota"), "{err}");
}

// ---------------------------------------------------------------- plan as a whole

#[test]
fn already_allowed_needs_nothing() {
    let sc = corpus("shared/02-s3-put-allowed.json");
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::AlreadyAllowed);
    assert!(p.changes.is_empty() && p.handoffs.is_empty());
}

#[test]
fn unsupported_callers_get_a_clear_error() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:sts::111122223333:federated-user/bob", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": []}
    }));
    let v = evaluate(&sc.request, &sc.layers);
    let err = plan(&sc.request, &sc.layers, &v, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("GetFederationToken"), "{err}");
}

#[test]
fn plans_are_deterministic_and_round_trip_as_json() {
    let a = serde_json::to_string(&make(&corpus("shared/01-s3-put-no-identity-allow.json"), &Options::default())).unwrap();
    let b = serde_json::to_string(&make(&corpus("shared/01-s3-put-no-identity-allow.json"), &Options::default())).unwrap();
    assert_eq!(a, b);
    let back: Plan = serde_json::from_str(&a).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), a);
}

/// Every scenario of the corpus: no panic; a plan or a clear error; never `*` in Action; `*` in
/// Resource only for actions without resource-level permissions or in a key policy; every
/// ready plan allows the request when re-evaluated; a Deny statement is never removed.
#[test]
fn whole_corpus_holds_the_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut files: Vec<_> = ["shared", "own"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut planned = 0;
    for f in &files {
        let sc = Scenario::parse_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let v = evaluate(&sc.request, &sc.layers);
        let p = match plan(&sc.request, &sc.layers, &v, &Options { accept_widening: true, ..Options::default() }) {
            Ok(p) => p,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        planned += 1;
        if p.status == Status::Ready {
            assert_eq!(p.verification.after.decision, "allow", "{}", f.display());
        }
        for c in &p.changes {
            for s in &c.statements {
                let actions: Vec<&str> = match &s["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if c.edit == EditKind::AddAllow {
                    assert!(actions.iter().all(|a| !a.contains('*')), "{}: {s}", f.display());
                    if s["Resource"] == "*" {
                        let cat = denyctl_catalog::catalog().unwrap();
                        let no_rlp = actions.iter().all(|a| cat.action(a).is_ok_and(|a| !a.supports_resource_level_permissions()));
                        assert!(no_rlp || c.target.service.as_deref() == Some("kms"), "{}: {s}", f.display());
                    }
                }
            }
            // No Deny is ever removed: every Deny of before is still there (its Condition may have
            // gained an exception), and an exact exception may add a twin Deny.
            let denies = |d: Option<&Value>| d.map(|d| statements(d).into_iter().filter(|s| s["Effect"] == "Deny").collect::<Vec<_>>()).unwrap_or_default();
            let (before, after) = (denies(c.before.as_ref()), denies(Some(&c.after)));
            assert!(after.len() >= before.len(), "{}: a Deny was removed", f.display());
            for b in &before {
                let same = |a: &Value| a["Action"] == b["Action"] && a["NotAction"] == b["NotAction"] && a["Resource"] == b["Resource"] && a["Principal"] == b["Principal"];
                assert!(after.iter().any(same), "{}: Deny {b} was removed", f.display());
            }
        }
    }
    assert!(planned > 60, "{planned}");
}

#[test]
fn unknown_layers_are_said() {
    let mut sc = corpus("shared/01-s3-put-no-identity-allow.json");
    sc.layers.unknown.push(denyctl_eval::UnknownLayer { layer: LayerKind::Resource, reason: "s3:GetBucketPolicy denied".into() });
    let p = make(&sc, &Options::default());
    assert!(p.verification.depends_on_unknown);
    assert!(p.notes.iter().any(|n| n.contains("could not be read")), "{:?}", p.notes);
}

/// Same account, neither the identity policies nor the resource policy allow: one change is
/// enough, and it goes where AWS requires it (a key policy must allow) or where identity grants
/// belong (a bucket).
#[test]
fn same_account_grant_is_one_change_in_the_right_place() {
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-56ef-78ab-90cd-1234567890ef";
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/ci-deploy/GitHubActions", "action": "kms:GenerateDataKey", "resource": key},
        "policies": {"identity": [{"name": "inline:ci-base", "document": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::prod-artifacts"}]}}],
                     "resource": {"name": "key-policy", "document": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/key-admin"}, "Action": "kms:*", "Resource": "*"}]}}}
    }));
    assert_eq!(evaluate(&sc.request, &sc.layers).denied_by, [LayerKind::Identity, LayerKind::Resource]);
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready);
    let c = only_change(&p);
    assert_eq!((c.layer, c.target.kind), (LayerKind::Resource, TargetKind::ResourcePolicy), "the key policy alone: {p:#?}");
    assert_eq!(p.verification.after.decision, "allow");

    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/dev", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"},
        "policies": {"identity": [],
                     "resource": {"name": "bucket", "document": {"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/other"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}}}
    }));
    assert_eq!(evaluate(&sc.request, &sc.layers).denied_by, [LayerKind::Identity, LayerKind::Resource]);
    let p = make(&sc, &Options::default());
    let c = only_change(&p);
    assert_eq!(c.layer, LayerKind::Identity, "the identity grant alone: {p:#?}");
    assert_eq!(p.verification.after.decision, "allow");
}

/// A Deny over every action of a service and every resource is narrowed to exactly this
/// principal, this action and this resource: two twin statements keep denying the rest.
#[test]
fn a_broad_deny_gets_an_exact_exception() {
    let sc = fixture(json!({
        "request": {"principal": "arn:aws:iam::111122223333:user/ops", "action": "s3:GetObject", "resource": "arn:aws:s3:::audit/2026/report.pdf"},
        "policies": {"identity": [{"name": "arn:aws:iam::111122223333:policy/storage", "document": {"Version": "2012-10-17", "Statement": [
            {"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Sid": "NoS3", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}}]}
    }));
    let p = make(&sc, &Options::default());
    assert_eq!(p.status, Status::Ready, "exact: nothing else is newly allowed: {:?}", p.no_new_access.newly_allowed);
    assert!(p.no_new_access.newly_allowed.is_empty());
    let c = only_change(&p);
    assert_eq!(c.edit, EditKind::NarrowDeny);
    let after = statements(&c.after);
    assert_eq!(after.iter().filter(|s| s["Effect"] == "Deny").count(), 3, "{after:#?}");
    let mut layers = sc.layers.clone();
    layers.identity = vec![named("arn:aws:iam::111122223333:policy/storage", &c.after)];
    let decide = |principal: &str, action: &str, resource: &str| {
        let r = Request::new(principal, action, resource, None, Default::default()).unwrap();
        evaluate(&r, &layers).decision
    };
    let ops = "arn:aws:iam::111122223333:user/ops";
    assert_eq!(decide(ops, "s3:GetObject", "arn:aws:s3:::audit/2026/report.pdf"), Decision::Allow);
    assert_eq!(decide(ops, "s3:DeleteObject", "arn:aws:s3:::audit/2026/report.pdf"), Decision::ExplicitDeny);
    assert_eq!(decide(ops, "s3:GetObject", "arn:aws:s3:::audit/2026/other.pdf"), Decision::ExplicitDeny);
    assert_eq!(decide("arn:aws:iam::111122223333:user/someone", "s3:GetObject", "arn:aws:s3:::audit/2026/report.pdf"), Decision::ExplicitDeny);
}
