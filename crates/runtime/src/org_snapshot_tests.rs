//! Unit tests of building a request from an organization snapshot (crate::org_snapshot).

use super::*;
use serde_json::json;

const ORG: &str = "o-test";

fn target(id: &str, ty: &str, parent: Option<&str>, scp: &[&str], rcp: &[&str]) -> OrgTarget {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    OrgTarget { id: id.into(), target_type: ty.into(), parent: parent.map(Into::into), scp: v(scp), rcp: v(rcp) }
}

fn doc(effect: &str, action: &str) -> Json {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]})
}

fn snapshot() -> OrgSnapshot {
    let managed_ref = SourcedPolicy {
        name: "arn:aws:iam::222222222222:policy/read".into(),
        document: Json::Null,
        source: PolicySource { kind: "managed".into(), attached_to: Some("role/app".into()), arn: Some("arn:aws:iam::222222222222:policy/read".into()), policy_id: None, version_id: Some("v2".into()), read_by: "iam:GetPolicyVersion".into(), extra: None },
    };
    let role = EntityRecord {
        arn: "arn:aws:iam::222222222222:role/svc/app".into(),
        name: "app".into(),
        path: "/svc/".into(),
        tags: BTreeMap::from([("team".to_string(), "data".to_string())]),
        trust: Some(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})),
        groups: vec![],
        policies: vec![managed_ref],
        boundary: None,
        unknown: vec![],
    };
    let a = AccountFile {
        format: ACCOUNT_FORMAT.into(),
        account: "222222222222".into(),
        read_as: "role".into(),
        managed: BTreeMap::from([("arn:aws:iam::222222222222:policy/read".to_string(), ManagedDoc { version_id: "v2".into(), document: doc("Allow", "s3:*") })]),
        roles: vec![role],
        users: vec![],
        groups: BTreeMap::new(),
        resources: vec![],
        calls: CallSummary::default(),
    };
    let policies = BTreeMap::from([
        ("p-full".to_string(), OrgPolicyDoc { name: "FullAWSAccess".into(), arn: None, policy_type: "scp".into(), document: doc("Allow", "*") }),
        ("p-deny".to_string(), OrgPolicyDoc { name: "no-delete".into(), arn: None, policy_type: "scp".into(), document: doc("Deny", "s3:DeleteBucket") }),
        ("p-rcp".to_string(), OrgPolicyDoc { name: "RCPFullAWSAccess".into(), arn: None, policy_type: "rcp".into(), document: doc("Allow", "*") }),
    ]);
    let tree = OrgTree {
        root: "r-1".into(),
        targets: vec![
            target("r-1", "ROOT", None, &["p-full"], &["p-rcp"]),
            target("ou-1", "ORGANIZATIONAL_UNIT", Some("r-1"), &["p-full", "p-deny"], &[]),
            target("222222222222", "ACCOUNT", Some("ou-1"), &["p-full"], &["p-rcp"]),
            target("333333333333", "ACCOUNT", Some("r-1"), &["p-full"], &[]),
        ],
        policies,
        unknown: BTreeMap::new(),
    };
    let entry = |id: &str, skipped: Option<&str>| AccountEntry {
        id: id.into(),
        name: id.into(),
        status: "ACTIVE".into(),
        file: skipped.is_none().then(|| format!("accounts/{id}.json")),
        read_as: None,
        skipped: skipped.map(Into::into),
    };
    let manifest = Manifest {
        format: ORG_FORMAT.into(),
        collected_at: "2025-03-02T00:00:00Z".into(),
        organization: OrgSummary { id: ORG.into(), arn: None, management_account_id: Some("111111111111".into()) },
        read_by: "me".into(),
        member_role: "OrganizationAccountAccessRole".into(),
        accounts: vec![entry("222222222222", None), entry("333333333333", Some("the member role cannot be entered: denied"))],
        resources: 0,
        calls: CallSummary::default(),
    };
    let accounts = BTreeMap::from([("222222222222".to_string(), Ok(a)), ("333333333333".to_string(), Err("skipped because the member role cannot be entered: denied".to_string()))]);
    OrgSnapshot { dir: PathBuf::from("snap"), manifest, tree, accounts }
}

#[test]
fn a_request_gets_the_chain_the_managed_documents_and_the_context() {
    let o = snapshot();
    let s = o.request("arn:aws:sts::222222222222:assumed-role/app/run-1", "s3:DeleteBucket", "arn:aws:s3:::b").unwrap();
    let scp = s.policies.scp.as_ref().unwrap();
    assert_eq!(scp.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), ["r-1", "ou-1", "222222222222"]);
    assert_eq!(scp[1].policies[1].name, "no-delete (p-deny)");
    assert_eq!(s.policies.rcp.as_ref().unwrap().len(), 3, "an S3 ARN has no account: the principal's");
    assert_eq!(s.policies.identity[0].document, doc("Allow", "s3:*"), "the managed document filled in");
    let c = &s.request.context;
    assert_eq!(c["aws:PrincipalOrgPaths"], json!(["o-test/r-1/ou-1/"]));
    assert_eq!(c["aws:PrincipalOrgID"], "o-test");
    assert_eq!(c["aws:PrincipalTag/team"], "data");
    assert_eq!(c["aws:PrincipalArn"], "arn:aws:iam::222222222222:role/svc/app");
    let (req, layers) = s.evaluable().unwrap();
    let v = denyctl_eval::evaluate(&req, &layers);
    assert_eq!(v.decision.as_str(), "explicit_deny");
    // A resource in another account: its own RCP chain; an unknown resource policy is said.
    let s = o.request("arn:aws:iam::222222222222:role/svc/app", "sqs:SendMessage", "arn:aws:sqs:us-east-1:333333333333:q").unwrap();
    assert_eq!(s.policies.rcp.as_ref().unwrap().iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), ["r-1", "333333333333"]);
    assert!(s.policies.unknown.iter().any(|u| u.layer == LayerKind::Resource && u.reason.contains("skipped because")), "{:?}", s.policies.unknown);
    // sts:AssumeRole: the trust policy from the role record.
    let s = o.request("arn:aws:iam::222222222222:role/svc/app", "sts:AssumeRole", "arn:aws:iam::222222222222:role/svc/app").unwrap();
    assert_eq!(s.policies.resource.unwrap().source.kind, "trust");
}

#[test]
fn what_is_not_in_the_snapshot_is_said_not_panicked() {
    let mut o = snapshot();
    let e = o.request("arn:aws:iam::333333333333:user/carol", "s3:ListAllMyBuckets", "*").unwrap_err();
    assert_eq!(e, "not in snapshot: account 333333333333 skipped because the member role cannot be entered: denied");
    let e = o.request("arn:aws:iam::444444444444:user/x", "s3:ListAllMyBuckets", "*").unwrap_err();
    assert!(e.starts_with("not in snapshot: account 444444444444 is not in organization o-test"), "{e}");
    assert!(o.request("config.amazonaws.com", "s3:GetObject", "*").unwrap_err().starts_with("not in snapshot:"));
    assert!(o.request("arn:aws:iam::222222222222:role/gone", "s3:GetObject", "*").unwrap_err().contains("does not exist"));
    // A parent chain that loops, and a managed document that is missing.
    o.tree.targets[0].parent = Some("222222222222".into());
    let s = o.request("arn:aws:iam::222222222222:role/app", "s3:GetObject", "*").unwrap();
    assert!(s.policies.scp.is_none() && s.policies.unknown.iter().any(|u| u.layer == LayerKind::Scp && u.reason.contains("loops")), "{:?}", s.policies.unknown);
    if let Some(Ok(a)) = o.accounts.get_mut("222222222222") {
        a.managed.clear();
    }
    assert!(o.request("arn:aws:iam::222222222222:role/app", "s3:GetObject", "*").unwrap_err().contains("managed policy"));
}
