//! End to end against moto's real server (started by the harness; see tests/common/moto.rs):
//! whoami, collect, diagnose. moto enforces identity-based policies (and explicit Deny); it does
//! not enforce SCPs, boundaries or conditions: for those layers the evaluation is the check, and
//! each test says so.

mod common;

use std::sync::Mutex;

use common::lab::Lab;
use serde_json::Value as Json;

/// One moto world at a time: each test seeds its own server, and they share two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lab() -> (std::sync::MutexGuard<'static, ()>, Lab, tokio::runtime::Runtime) {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = rt.block_on(Lab::new());
    (guard, lab, rt)
}

fn names(v: &Json) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[test]
fn whoami_reports_the_role_session_with_operator_reads() {
    let (_g, lab, _rt) = lab();
    let r = lab.denyctl(None, &["whoami", "--caller-profile", "caller", "--profile", "operator", "--org-profile", "org", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["arn"], lab.session_arn.as_str());
    assert_eq!(v["arn"], format!("arn:aws:sts::{}:assumed-role/dev/ci-run", lab.member));
    assert_eq!(v["account"], lab.member.as_str());
    assert_eq!(v["kind"], "assumed_role");
    assert_eq!(v["role_arn"], format!("arn:aws:iam::{}:role/team/dev", lab.member), "role ARN with its path, from GetRole");
    assert_eq!(v["session_name"], "ci-run");
    assert_eq!(v["max_session_duration"], 7200);
    assert_eq!(v["permissions_boundary"], lab.boundary_arn.as_str());
    assert_eq!(v["principal_tags"]["aws:PrincipalTag/team"], "payments");
    // moto returns the trust policy URL-encoded; whoami decodes it.
    assert_eq!(v["trust_policy"]["Statement"][0]["Action"], "sts:AssumeRole");
    assert_eq!(v["organization"]["id"], lab.org_id.as_str());
    assert_eq!(v["organization"]["management_account_id"], lab.mgmt.as_str());
    assert!(v.get("unreadable").is_none(), "{v}");
}

#[test]
fn whoami_reports_a_user_and_what_the_caller_cannot_read() {
    let (_g, lab, _rt) = lab();
    // bob, from the environment (the default chain), reading with his own credentials: his group
    // lets him iam:GetUser but not iam:ListGroupsForUser nor the organization.
    let r = lab.denyctl(Some(&lab.bob), &["whoami", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["arn"], format!("arn:aws:iam::{}:user/people/bob", lab.member));
    assert_eq!(v["kind"], "user");
    assert_eq!(v["user_name"], "bob");
    assert_eq!(v["principal_tags"]["aws:PrincipalTag/team"], "web");
    let unreadable = names(&v["unreadable"]).join("\n");
    assert!(unreadable.contains("iam:ListGroupsForUser") && unreadable.contains("denied"), "{unreadable}");
    assert!(unreadable.contains("organizations:DescribeOrganization"), "{unreadable}");
    // With an operator that can read, the groups show.
    let r = lab.denyctl(Some(&lab.bob), &["whoami", "--profile", "operator", "--caller-profile", "bob", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(&r.json()["groups"]), vec!["devs"], "{}\n{}", r.stdout, r.stderr);
}
