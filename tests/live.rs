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

fn lab() -> (
    std::sync::MutexGuard<'static, ()>,
    Lab,
    tokio::runtime::Runtime,
) {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lab = rt.block_on(Lab::new());
    (guard, lab, rt)
}

fn names(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn whoami_reports_the_role_session_with_operator_reads() {
    let (_g, lab, _rt) = lab();
    let r = lab.denyctl(
        None,
        &[
            "whoami",
            "--caller-profile",
            "caller",
            "--profile",
            "operator",
            "--org-profile",
            "org",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["arn"], lab.session_arn.as_str());
    assert_eq!(
        v["arn"],
        format!("arn:aws:sts::{}:assumed-role/dev/ci-run", lab.member)
    );
    assert_eq!(v["account"], lab.member.as_str());
    assert_eq!(v["kind"], "assumed_role");
    assert_eq!(
        v["role_arn"],
        format!("arn:aws:iam::{}:role/team/dev", lab.member),
        "role ARN with its path, from GetRole"
    );
    assert_eq!(v["session_name"], "ci-run");
    assert_eq!(v["max_session_duration"], 7200);
    assert_eq!(v["permissions_boundary"], lab.boundary_arn.as_str());
    assert_eq!(v["principal_tags"]["aws:PrincipalTag/team"], "payments");
    // moto returns the trust policy URL-encoded; whoami decodes it.
    assert_eq!(
        v["trust_policy"]["Statement"][0]["Action"],
        "sts:AssumeRole"
    );
    assert_eq!(v["organization"]["id"], lab.org_id.as_str());
    assert_eq!(
        v["organization"]["management_account_id"],
        lab.mgmt.as_str()
    );
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
    assert_eq!(
        v["arn"],
        format!("arn:aws:iam::{}:user/people/bob", lab.member)
    );
    assert_eq!(v["kind"], "user");
    assert_eq!(v["user_name"], "bob");
    assert_eq!(v["principal_tags"]["aws:PrincipalTag/team"], "web");
    let unreadable = names(&v["unreadable"]).join("\n");
    assert!(
        unreadable.contains("iam:ListGroupsForUser") && unreadable.contains("denied"),
        "{unreadable}"
    );
    assert!(
        unreadable.contains("organizations:DescribeOrganization"),
        "{unreadable}"
    );
    // With an operator that can read, the groups show.
    let r = lab.denyctl(
        Some(&lab.bob),
        &[
            "whoami",
            "--profile",
            "operator",
            "--caller-profile",
            "bob",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        names(&r.json()["groups"]),
        vec!["devs"],
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}

/// The caller makes a real request that moto denies; the message goes to `diagnose`.
async fn real_denial(lab: &Lab) -> String {
    let cfg = common::lab::sdk(&lab.moto.endpoint, &lab.caller).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let err = iam
        .get_user()
        .user_name("bob")
        .send()
        .await
        .expect_err("moto should deny iam:GetUser to the dev role");
    let raw = err.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 403);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap()).into_owned();
    let start = body.find("<Message>").expect("a message") + "<Message>".len();
    let end = body.find("</Message>").unwrap();
    body[start..end].to_string()
}

#[test]
fn diagnose_names_the_missing_identity_statement_of_a_real_denial() {
    let (_g, lab, rt) = lab();
    let msg = rt.block_on(real_denial(&lab));
    assert!(
        msg.contains(&lab.session_arn) && msg.contains("iam:GetUser"),
        "{msg}"
    );
    let bob = format!("arn:aws:iam::{}:user/people/bob", lab.member);
    // The caller's profile says who is calling; the operator's reads the policies.
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            &msg,
            "--resource",
            &bob,
            "--caller-profile",
            "caller",
            "--profile",
            "operator",
            "--org-profile",
            "org",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "exit 1: denied\n{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["decision"], "implicit_deny", "{v}");
    assert_eq!(names(&v["denied_by"]), vec!["identity"]);
    assert_eq!(
        v["unknown_layers"],
        Json::Array(vec![]),
        "every layer was readable"
    );
    assert_eq!(v["depends_on_unknown"], false);
    // The statement that comes closest, named: dev-read at its default version v2, Sid ReadAdmins,
    // whose Resource does not cover bob (v1, which allowed any user, is not the default).
    let identity = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "identity")
        .unwrap();
    assert_eq!(identity["outcome"], "no_allow");
    let miss = &identity["near_misses"][0];
    assert_eq!(miss["policy"], lab.dev_read_arn.as_str(), "{identity}");
    assert_eq!(miss["sid"], "ReadAdmins");
    assert_eq!(miss["failed"], "resource", "{miss}");
    assert_eq!(
        v["request"]["context"]["aws:PrincipalArn"],
        lab.role_arn.as_str()
    );
    assert!(
        r.stderr.is_empty() || !r.stderr.contains("WARNING"),
        "same principal: no warning\n{}",
        r.stderr
    );
    // The table view names the same.
    let t = lab.denyctl(
        None,
        &[
            "diagnose",
            &msg,
            "--resource",
            &bob,
            "--caller-profile",
            "caller",
            "--profile",
            "operator",
            "--org-profile",
            "org",
        ],
    );
    assert_eq!(t.code, 1);
    assert!(
        t.stdout.contains("DENIED") && t.stdout.contains("Sid ReadAdmins"),
        "{}",
        t.stdout
    );
}

#[test]
fn diagnose_finds_the_scp_deny_and_its_ou() {
    let (_g, lab, _rt) = lab();
    // moto does not enforce SCPs: the evaluation of the SCPs read from moto's organization is the check.
    let res = format!("arn:aws:ec2:us-east-1:{}:instance/*", lab.member);
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            "--principal",
            &lab.session_arn,
            "--action",
            "ec2:RunInstances",
            "--resource",
            &res,
            "--profile",
            "operator",
            "--caller-profile",
            "caller",
            "--org-profile",
            "org",
            "-o",
            "json",
            "-v",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["decision"], "explicit_deny");
    assert_eq!(names(&v["denied_by"]), vec!["scp"]);
    let scp = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "scp" && l["outcome"] == "explicit_deny")
        .expect("a denying SCP level");
    assert_eq!(scp["target"], lab.ou_prod.as_str(), "named with its OU");
    assert_eq!(
        scp["deciding"][0]["policy"],
        format!("deny-ec2-run ({})", lab.scp_id)
    );
    assert_eq!(scp["deciding"][0]["sid"], "NoRunInstances");
    let path = format!(
        "{}/{}/{}/{}/",
        lab.org_id, lab.root, lab.ou_workloads, lab.ou_prod
    );
    assert_eq!(
        v["request"]["context"]["aws:PrincipalOrgPaths"][0],
        path.as_str()
    );
    assert!(r.stderr.contains("AWS calls in"), "{}", r.stderr);
}

#[test]
fn an_unreadable_layer_is_unknown_with_the_call_that_would_read_it() {
    let (_g, lab, _rt) = lab();
    // The auditor may list and read the role's policies but not iam:GetPolicyVersion, nor the organization.
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            "--principal",
            &lab.session_arn,
            "--action",
            "ec2:RunInstances",
            "--resource",
            "*",
            "--profile",
            "auditor",
            "--caller-profile",
            "caller",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let unknown = v["unknown_layers"].as_array().unwrap();
    let reasons = |layer: &str| {
        unknown
            .iter()
            .filter(|u| u["layer"] == layer)
            .map(|u| u["reason"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        reasons("identity")
            .iter()
            .any(|r| r.contains("iam:GetPolicyVersion") && r.contains("denied")),
        "{unknown:?}"
    );
    assert!(
        reasons("permissions_boundary")
            .iter()
            .any(|r| r.contains("iam:GetPolicyVersion")),
        "{unknown:?}"
    );
    assert!(
        reasons("scp").iter().any(|r| r.contains("organizations:")),
        "{unknown:?}"
    );
    assert_eq!(v["depends_on_unknown"], true);
    // Never taken as allow: the inline policy allows ec2:RunInstances, yet the verdict says it
    // depends on what could not be read.
    assert_ne!(v["decision"], "allow");
}

#[test]
fn collect_then_diagnose_offline_gives_the_same_verdict() {
    let (_g, lab, _rt) = lab();
    let res = format!("arn:aws:ec2:us-east-1:{}:instance/*", lab.member);
    let args = [
        "--principal",
        &lab.session_arn,
        "--action",
        "ec2:RunInstances",
        "--resource",
        &res,
        "--profile",
        "operator",
        "--caller-profile",
        "caller",
        "--org-profile",
        "org",
        "-o",
        "json",
    ];
    let c = lab.denyctl(None, &[&["collect"][..], &args[..]].concat());
    assert_eq!(c.code, 0, "{}", c.stderr);
    let snap = c.json();
    assert_eq!(snap["format"], "denyctl-snapshot/1");
    let dev_read = snap["policies"]["identity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["source"]["arn"] == lab.dev_read_arn.as_str())
        .unwrap();
    assert_eq!(
        dev_read["source"]["version_id"], "v2",
        "the default version, recorded for compare-and-swap"
    );
    assert_eq!(
        snap["policies"]["permissions_boundary"]["source"]["arn"],
        lab.boundary_arn.as_str()
    );
    assert_eq!(
        snap["policies"]["scp"].as_array().unwrap().len(),
        4,
        "root, workloads, prod, account"
    );
    let file = lab.path("snapshot.json");
    std::fs::write(&file, &c.stdout).unwrap();
    let live = lab.denyctl(None, &[&["diagnose"][..], &args[..]].concat());
    // Offline: no credentials and no endpoint are needed.
    let off = lab.denyctl(
        None,
        &[
            "diagnose",
            "--snapshot",
            file.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    assert_eq!(
        (live.code, off.code),
        (1, 1),
        "{}\n{}",
        live.stderr,
        off.stderr
    );
    let (l, o) = (live.json(), off.json());
    for k in [
        "decision",
        "denied_by",
        "layers",
        "unknown_layers",
        "missing_context",
        "depends_on_unknown",
    ] {
        assert_eq!(l[k], o[k], "{k} differs");
    }
    assert_eq!(o["source"], "snapshot");
}

#[test]
fn a_denial_naming_another_principal_is_flagged() {
    let (_g, lab, _rt) = lab();
    let other = format!(
        "User: arn:aws:iam::{}:user/people/bob is not authorized to perform: iam:ListRoles",
        lab.member
    );
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            &other,
            "--profile",
            "operator",
            "--caller-profile",
            "caller",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("WARNING") && r.stderr.contains(&lab.session_arn),
        "{}",
        r.stderr
    );
    let v = r.json();
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("another identity"));
    assert_eq!(
        v["request"]["principal"],
        format!("arn:aws:iam::{}:user/people/bob", lab.member)
    );
}

#[test]
fn bad_credentials_and_unknown_principals_are_said_plainly() {
    let (_g, lab, _rt) = lab();
    let r = lab.denyctl(None, &["whoami", "--caller-profile", "stale"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("profile 'stale'") && r.stderr.contains("credentials"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stdout.is_empty());
    let ghost = format!("arn:aws:sts::{}:assumed-role/ghost/x", lab.member);
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            "--principal",
            &ghost,
            "--action",
            "s3:GetObject",
            "--resource",
            "*",
            "--profile",
            "operator",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_full_diagnose_stays_within_four_waves() {
    let (_g, lab, _rt) = lab();
    // The role has 5 inline and 5 managed policies and a boundary; the account sits under 2 OUs
    // (4 organization levels with SCPs). Measured on loopback moto; figures in docs/live.md.
    let res = format!("arn:aws:ec2:us-east-1:{}:instance/*", lab.member);
    let r = lab.denyctl(
        None,
        &[
            "diagnose",
            "--principal",
            &lab.session_arn,
            "--action",
            "ec2:RunInstances",
            "--resource",
            &res,
            "--profile",
            "operator",
            "--caller-profile",
            "caller",
            "--org-profile",
            "org",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = r.json();
    let (calls, waves) = (
        v["calls"]["count"].as_u64().unwrap(),
        v["calls"]["waves"].as_u64().unwrap(),
    );
    eprintln!(
        "full diagnose: {calls} AWS calls in {waves} waves, {:?} wall (debug build)",
        r.wall
    );
    assert!(waves <= 4, "{waves} waves");
    let identity = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["layer"] == "identity")
        .count();
    assert_eq!(identity, 1);
}

#[test]
fn an_encoded_message_that_cannot_be_decoded_is_said_and_the_named_request_diagnosed() {
    let (_g, lab, _rt) = lab();
    // EC2's form, through the AWS CLI. moto answers sts:DecodeAuthorizationMessage with a 500:
    // the note says the message could not be decoded, and the request the wrapper names is
    // diagnosed (the SCP on the OU denies ec2:RunInstances).
    let msg = "An error occurred (UnauthorizedOperation) when calling the RunInstances operation: You are not authorized to perform this operation. \
               Encoded authorization failure message: 4GIOHlTkIaWHQD0Q0m6XSnuUMCm-abcdefghijklmnopqrstuvwxyz0123456789";
    let res = format!("arn:aws:ec2:us-east-1:{}:instance/*", lab.member);
    let r = lab.denyctl(
        None,
        &["diagnose", msg, "--resource", &res, "--principal", &lab.session_arn, "--profile", "operator", "--caller-profile", "caller", "--org-profile", "org", "-o", "json"],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["request"]["action"], "ec2:RunInstances");
    assert_eq!(v["decision"], "explicit_deny");
    let notes = v["notes"].to_string();
    assert!(notes.contains("could not be decoded") && notes.contains("sts:DecodeAuthorizationMessage"), "{notes}");
}
