//! `denyctl collect --org DIR` and `denyctl triage --snapshot DIR` against moto's real server: an
//! organization (management account, members A and B in an OU with an SCP, an SCP on B, member C
//! whose member role the operator may not enter), each member seeded through its
//! OrganizationAccountAccessRole with the SDK; the generated CloudTrail corpus (tests/common/corpus.rs)
//! rewritten onto these accounts. `collect --org` reads A, B and the management account, skips C with
//! the reason; `triage --snapshot` decides every group from the folder, as `diagnose` decides live.

mod common;
#[path = "common/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::lab::{sdk, Keys};
use common::moto::Moto;
use serde_json::{json, Value};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const KEY_IN_CORPUS: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

struct Org {
    moto: Moto,
    home: tempfile::TempDir,
    mgmt: String,
    a: String,
    b: String,
    c: String,
    key_id: String,
    /// The management user collect --org runs as (IAM enforced while it runs).
    admin: Keys,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn doc(v: Value) -> String {
    v.to_string()
}

impl Org {
    /// Run denyctl with `keys` as the default credentials (profiles a, b and mgmt in the credentials file).
    fn denyctl(&self, keys: &Keys, args: &[&str]) -> Run {
        let h = self.home.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", h)
            .env("AWS_CONFIG_FILE", h.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", h.join("credentials"))
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
            .args(args);
        if let Some(t) = &keys.token {
            cmd.env("AWS_SESSION_TOKEN", t);
        }
        let out = cmd.output().expect("run denyctl");
        let r = Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() };
        common::schema::check_output(args, &r.stdout);
        r
    }

    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }

    /// The corpus's account IDs and key replaced by this organization's.
    fn rewrite(&self, s: &str) -> String {
        let key = format!("arn:aws:kms:us-east-1:{}:key/{KEY_IN_CORPUS}", corpus::ACCOUNTS[0]);
        s.replace(&key, &format!("arn:aws:kms:us-east-1:{}:key/{}", self.a, self.key_id))
            .replace(corpus::ACCOUNTS[0], &self.mgmt)
            .replace(corpus::ACCOUNTS[1], &self.a)
            .replace(corpus::ACCOUNTS[2], &self.b)
    }
}

fn testing() -> Keys {
    Keys { id: "testing".into(), secret: "testing".into(), token: None }
}

async fn assume(sts: &aws_sdk_sts::Client, account: &str) -> Keys {
    let a = sts.assume_role().role_arn(format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole")).role_session_name("seed").send().await.expect("assume member role");
    let c = a.credentials().unwrap();
    Keys { id: c.access_key_id().into(), secret: c.secret_access_key().into(), token: Some(c.session_token().into()) }
}

fn s3_of(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(cfg).force_path_style(true).build())
}

async fn seed() -> Org {
    let moto = Moto::start();
    moto.reset();
    let ep = moto.endpoint.clone();
    let mcfg = sdk(&ep, &testing()).await;
    let org = aws_sdk_organizations::Client::new(&mcfg);
    let sts = aws_sdk_sts::Client::new(&mcfg);
    let mgmt = sts.get_caller_identity().send().await.unwrap().account().unwrap().to_string();
    org.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await.expect("create organization");
    let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let mut ids = Vec::new();
    for name in ["team-a", "team-b", "locked"] {
        let r = org.create_account().account_name(name).email(format!("{name}@example.com")).send().await.expect("create account");
        ids.push(r.create_account_status().and_then(|s| s.account_id()).unwrap().to_string());
    }
    let (a, b, c) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let ou = org.create_organizational_unit().parent_id(&root).name("workloads").send().await.unwrap().organizational_unit().unwrap().id().unwrap().to_string();
    for acct in [&a, &b] {
        org.move_account().account_id(acct).source_parent_id(&root).destination_parent_id(&ou).send().await.expect("move account");
    }
    let scp = |name: &str, sid: &str, action: &str| {
        org.create_policy()
            .name(name)
            .description(name)
            .r#type(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
            .content(doc(json!({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Deny", "Action": action, "Resource": "*"}]})))
            .send()
    };
    let id_of = |p: aws_sdk_organizations::operation::create_policy::CreatePolicyOutput| p.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).unwrap().to_string();
    let no_writes = id_of(scp("no-order-writes", "NoOrderWrites", "dynamodb:PutItem").await.unwrap());
    org.attach_policy().policy_id(&no_writes).target_id(&ou).send().await.expect("attach scp to OU");
    let no_ec2 = id_of(scp("no-instances", "NoInstances", "ec2:RunInstances").await.unwrap());
    org.attach_policy().policy_id(&no_ec2).target_id(&b).send().await.expect("attach scp to account");

    // The management account: console-bob (no policies), u0, and the operator collect --org runs as,
    // who may enter every member role but C's.
    let iam = aws_sdk_iam::Client::new(&mcfg);
    for u in ["console-bob", "u0"] {
        iam.create_user().user_name(u).send().await.unwrap();
    }
    let op = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "NotLocked", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": format!("arn:aws:iam::{c}:role/OrganizationAccountAccessRole")}]});
    iam.create_user().user_name("org-admin").send().await.unwrap();
    iam.put_user_policy().user_name("org-admin").policy_name("admin").policy_document(doc(op)).send().await.unwrap();
    let k = iam.create_access_key().user_name("org-admin").send().await.unwrap();
    let k = k.access_key().unwrap();
    let admin = Keys { id: k.access_key_id().into(), secret: k.secret_access_key().into(), token: None };

    let allow = |actions: &[&str], resource: &str| doc(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}));
    let everything = allow(&["*"], "*");
    let trust = doc(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{mgmt}:root")}, "Action": "sts:AssumeRole"}]}));

    // Member A: ci-deploy (path build/, may only read artifacts), alice (DynamoDB, denied by the OU's
    // SCP), u1, the artifacts bucket with a policy, and the KMS key B's analytics role is denied by.
    let ka = assume(&sts, &a).await;
    let acfg = sdk(&ep, &ka).await;
    let iam_a = aws_sdk_iam::Client::new(&acfg);
    iam_a.put_role_policy().role_name("OrganizationAccountAccessRole").policy_name("admin").policy_document(&everything).send().await.unwrap();
    iam_a.create_role().role_name("ci-deploy").path("/build/").assume_role_policy_document(&trust).send().await.unwrap();
    let read_artifacts = iam_a.create_policy().policy_name("read-artifacts").policy_document(allow(&["s3:GetObject", "s3:ListBucket"], &format!("arn:aws:s3:::artifacts-{a}/*"))).send().await.unwrap();
    iam_a.attach_role_policy().role_name("ci-deploy").policy_arn(read_artifacts.policy().unwrap().arn().unwrap()).send().await.unwrap();
    iam_a.tag_role().role_name("ci-deploy").tags(aws_sdk_iam::types::Tag::builder().key("team").value("build").build().unwrap()).send().await.unwrap();
    iam_a.create_user().user_name("alice").send().await.unwrap();
    iam_a.create_group().group_name("writers").send().await.unwrap();
    iam_a.add_user_to_group().group_name("writers").user_name("alice").send().await.unwrap();
    iam_a.put_group_policy().group_name("writers").policy_name("orders").policy_document(allow(&["dynamodb:*"], "*")).send().await.unwrap();
    iam_a.create_user().user_name("u1").send().await.unwrap();
    let s3a = s3_of(&acfg);
    let bucket = format!("artifacts-{a}");
    s3a.create_bucket().bucket(&bucket).send().await.unwrap();
    let bp = json!({"Version": "2012-10-17", "Statement": [{"Sid": "BuildReads", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{a}:role/build/ci-deploy")}, "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    s3a.put_bucket_policy().bucket(&bucket).policy(doc(bp)).send().await.unwrap();
    let kp = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{a}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoAnalytics", "Effect": "Deny", "Principal": {"AWS": format!("arn:aws:iam::{b}:role/analytics")}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let kms = aws_sdk_kms::Client::new(&acfg);
    let key = kms.create_key().policy(doc(kp)).send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_string();

    // Member B: app-runner (may run instances; the SCP on B says no), analytics (may decrypt), u2.
    let kb = assume(&sts, &b).await;
    let bcfg = sdk(&ep, &kb).await;
    let iam_b = aws_sdk_iam::Client::new(&bcfg);
    iam_b.put_role_policy().role_name("OrganizationAccountAccessRole").policy_name("admin").policy_document(&everything).send().await.unwrap();
    iam_b.create_role().role_name("app-runner").assume_role_policy_document(&trust).send().await.unwrap();
    iam_b.put_role_policy().role_name("app-runner").policy_name("ec2").policy_document(allow(&["ec2:RunInstances", "ec2:Describe*"], "*")).send().await.unwrap();
    iam_b.create_role().role_name("analytics").assume_role_policy_document(&trust).send().await.unwrap();
    iam_b.put_role_policy().role_name("analytics").policy_name("decrypt").policy_document(allow(&["kms:Decrypt"], "*")).send().await.unwrap();
    iam_b.create_user().user_name("u2").send().await.unwrap();

    // Member C: carol (never read: the operator may not enter C's member role).
    let kc = assume(&sts, &c).await;
    aws_sdk_iam::Client::new(&sdk(&ep, &kc).await).create_user().user_name("carol").send().await.unwrap();

    let home = tempfile::tempdir().unwrap();
    let mut creds = String::new();
    for (name, k) in [("a", &ka), ("b", &kb), ("mgmt", &testing())] {
        creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.id, k.secret));
        if let Some(t) = &k.token {
            creds.push_str(&format!("aws_session_token = {t}\n"));
        }
    }
    std::fs::write(home.path().join("credentials"), creds).unwrap();
    std::fs::write(home.path().join("config"), "[profile a]\nregion = us-east-1\n[profile b]\nregion = us-east-1\n[profile mgmt]\nregion = us-east-1\n").unwrap();
    Org { moto, home, mgmt, a, b, c, key_id, admin }
}

fn gunzip(gz: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut s).unwrap();
    s
}

fn gzip(s: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(s.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// The corpus on this organization's accounts, plus a few denials of C's carol; returns the
/// planted groups (rewritten) by (principal, action, resource).
fn write_corpus(o: &Org, dir: &Path) -> BTreeMap<(String, String, Option<String>), u64> {
    let spec = corpus::Spec { denials: 150, extra_groups: 3, per_extra_group: 2, noise_per_denial: 1, look_alikes: 6, days: 2, per_file: 100 };
    let c = corpus::generate(spec, 7, |rel, gz| {
        let p = dir.join(o.rewrite(rel));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gzip(&o.rewrite(&gunzip(&gz)))).unwrap();
    });
    let c_acct = &o.c;
    let carol: Vec<Value> = (0..3)
        .map(|i| json!({"eventVersion": "1.09", "eventTime": format!("2025-03-01T01:00:0{i}Z"), "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
            "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.9", "userAgent": "aws-cli/2", "eventID": format!("carol-{i}"), "errorCode": "AccessDenied", "recipientAccountId": c_acct,
            "errorMessage": format!("User: arn:aws:iam::{c_acct}:user/carol is not authorized to perform: s3:ListAllMyBuckets because no identity-based policy allows the s3:ListAllMyBuckets action"),
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{c_acct}:user/carol"), "accountId": c_acct}}))
        .collect();
    std::fs::write(dir.join("carol.json"), json!({"Records": carol}).to_string()).unwrap();
    let mut planted: BTreeMap<_, u64> = c.planted.iter().map(|p| ((o.rewrite(&p.principal), p.action.clone(), p.resource.as_deref().map(|r| o.rewrite(r))), p.count)).collect();
    planted.insert((format!("arn:aws:iam::{c_acct}:user/carol"), "s3:ListAllMyBuckets".into(), None), 3);
    planted
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn org_snapshot_decides_every_group_as_diagnose_does() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let o = rt.block_on(seed());
    let trail = o.path("trail");
    let planted = write_corpus(&o, &trail);
    let groups_file = o.path("groups.json");
    let t = o.denyctl(&testing(), &["triage", "--fold", trail.to_str().unwrap(), "-o", "json"]);
    assert_eq!(t.code, 0, "{}", t.stderr);
    std::fs::write(&groups_file, &t.stdout).unwrap();
    let found: BTreeMap<_, u64> = t
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| ((g["principal"].as_str().unwrap().to_string(), g["action"].as_str().unwrap().to_string(), g["resource"].as_str().map(str::to_string)), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, planted, "the planted groups on this organization's accounts");

    // collect --org as the management account's operator, IAM enforced: C's member role is denied.
    let snap = o.path("org-snap");
    o.moto.set_auth(true);
    let run = o.denyctl(&o.admin, &["collect", "--org", snap.to_str().unwrap(), "--resources-from", groups_file.to_str().unwrap(), "-o", "json"]);
    o.moto.set_auth(false);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("skipped account {}: the member role cannot be entered", o.c)), "{}", run.stderr);
    eprintln!("collect --org: {}", run.stderr);
    let m = run.json();
    assert_eq!(m, { let mut x = read(&snap.join("manifest.json")); x.as_object_mut().unwrap().shift_insert(0, "schema_version".into(), m["schema_version"].clone()); x });
    assert_eq!(m["format"], "denyctl-org-snapshot/1");
    assert_eq!(m["member_role"], "OrganizationAccountAccessRole");
    let by_id: BTreeMap<&str, &Value> = m["accounts"].as_array().unwrap().iter().map(|a| (a["id"].as_str().unwrap(), a)).collect();
    assert_eq!(by_id.len(), 4);
    for id in [&o.mgmt, &o.a, &o.b] {
        assert_eq!(by_id[id.as_str()]["file"], format!("accounts/{id}.json"), "{m:#}");
    }
    assert!(by_id[o.c.as_str()]["skipped"].as_str().unwrap().contains("denied"), "{m:#}");
    assert!(!snap.join(format!("accounts/{}.json", o.c)).exists());
    assert!(!o.path(".org-snap.tmp").exists() && std::fs::read_dir(o.home.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-")));

    // The files: the tree with both SCPs where they are attached, A's entities with their policies.
    let tree = read(&snap.join("org.json"));
    let target = |id: &str| tree["targets"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("{id} in {tree:#}")).clone();
    let names = |ids: &Value| ids.as_array().unwrap().iter().map(|i| tree["policies"][i.as_str().unwrap()]["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let ou = target(&o.a)["parent"].as_str().unwrap().to_string();
    assert!(names(&target(&ou)["scp"]).contains(&"no-order-writes".to_string()), "{tree:#}");
    assert!(names(&target(&o.b)["scp"]).contains(&"no-instances".to_string()), "{tree:#}");
    assert_eq!(target(&o.b)["parent"], ou.as_str());
    assert_eq!(target(&ou)["parent"], tree["root"]);
    let fa = read(&snap.join(format!("accounts/{}.json", o.a)));
    let role = fa["roles"].as_array().unwrap().iter().find(|r| r["name"] == "ci-deploy").expect("ci-deploy read");
    assert_eq!((role["path"].as_str(), role["tags"]["team"].as_str()), (Some("/build/"), Some("build")));
    assert!(role["trust"]["Statement"].is_array());
    let managed = format!("arn:aws:iam::{}:policy/read-artifacts", o.a);
    assert!(role["policies"].as_array().unwrap().iter().any(|p| p["name"] == managed.as_str() && p["document"].is_null()));
    assert!(fa["managed"][&managed]["document"]["Statement"].is_array(), "the managed document once, in `managed`");
    let alice = fa["users"].as_array().unwrap().iter().find(|u| u["name"] == "alice").unwrap();
    assert_eq!(alice["groups"], json!(["writers"]));
    assert_eq!(fa["groups"]["writers"], json!(["inline:orders (group/writers)"]));
    let bucket_res = fa["resources"].as_array().unwrap().iter().find(|r| r["resource"].as_str().unwrap().starts_with(&format!("arn:aws:s3:::artifacts-{}/", o.a))).expect("the bucket's layer");
    assert_eq!(bucket_res["policy"]["document"]["Statement"][0]["Sid"], "BuildReads");
    let key_res = fa["resources"].as_array().unwrap().iter().find(|r| r["resource"].as_str().unwrap().ends_with(&o.key_id)).expect("the key's layer");
    assert_eq!(key_res["policy"]["document"]["Statement"][1]["Sid"], "NoAnalytics");

    // triage --snapshot: every group decided from the folder.
    let d = o.denyctl(&testing(), &["triage", "--fold", trail.to_str().unwrap(), "--snapshot", snap.to_str().unwrap(), "-o", "json"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    let decided = d.json();
    assert!(d.stderr.contains(&format!("groups decided from the organization snapshot {}; 2 not in it", snap.display())), "carol's and the service's: {}", d.stderr);
    let groups = decided.as_array().unwrap();
    assert_eq!(groups.len(), planted.len());
    let find = |who: &str, action: &str| groups.iter().find(|g| g["principal"].as_str().unwrap().ends_with(who) && g["action"] == action).unwrap_or_else(|| panic!("{who} {action}"));
    let carol = find(":user/carol", "s3:ListAllMyBuckets");
    assert_eq!(carol["verdict"]["decision"], "unknown");
    let why = carol["verdict"]["error"].as_str().unwrap();
    assert!(why.starts_with(&format!("not in snapshot: account {} skipped because the member role cannot be entered", o.c)), "{why}");
    let alice = find(":user/alice", "dynamodb:PutItem");
    assert_eq!((alice["verdict"]["decision"].as_str(), alice["verdict"]["denied_by"].as_str()), (Some("explicit_deny"), Some("scp")), "{alice:#}");
    assert!(alice["verdict"]["statement"].as_str().unwrap().contains("NoOrderWrites"), "{alice:#}");
    let runner = find(":role/app-runner", "ec2:RunInstances");
    assert!(runner["verdict"]["statement"].as_str().unwrap().contains("NoInstances"), "{runner:#}");
    // Cross-account: B's role, A's key: the snapshot holds both sides.
    let analytics = find(":role/analytics", "kms:Decrypt");
    assert_eq!((analytics["verdict"]["decision"].as_str(), analytics["verdict"]["denied_by"].as_str()), (Some("explicit_deny"), Some("resource")), "{analytics:#}");
    let svc = find("config.amazonaws.com", "s3:GetObject");
    assert!(svc["verdict"]["error"].as_str().unwrap().starts_with("not in snapshot:"), "{svc:#}");
    for g in groups {
        assert!(g["verdict"]["decision"].is_string(), "{g:#}");
    }

    // The same groups diagnosed live, each as its account's operator (SCPs read by the management
    // account): the same decision, denying layers and plan.
    let mut compared = 0;
    for g in groups {
        let principal = g["principal"].as_str().unwrap();
        let profile = if principal.contains(&o.a) {
            "a"
        } else if principal.contains(&o.b) {
            "b"
        } else if principal.contains(&o.mgmt) {
            "mgmt"
        } else {
            continue;
        };
        if g["action"] == "kms:Decrypt" {
            continue; // cross-account: no one operator reads both sides live
        }
        let resource = g["resource"].as_str().unwrap_or("*");
        let live = o.denyctl(&testing(), &["--profile", profile, "--org-profile", "mgmt", "diagnose", "--principal", principal, "--action", g["action"].as_str().unwrap(), "--resource", resource, "-o", "json"]);
        let l = live.json();
        let by: Vec<&str> = l["denied_by"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        let want_by = if by.is_empty() { Value::Null } else { Value::from(by.join(",")) };
        assert_eq!((&g["verdict"]["decision"], &g["verdict"]["denied_by"]), (&l["decision"], &want_by), "{principal} {}: snapshot {:#} live {l:#}", g["action"], g["verdict"]);
        // The same layers unknown, and the deciding statement is one live names.
        let mut unknown_live: Vec<&str> = l["unknown_layers"].as_array().into_iter().flatten().map(|u| u["layer"].as_str().unwrap()).collect();
        let mut unknown_snap: Vec<&str> = g["verdict"]["unknown_layers"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
        unknown_live.sort();
        unknown_live.dedup();
        unknown_snap.sort();
        unknown_snap.dedup();
        assert_eq!(unknown_snap, unknown_live, "{principal} {}", g["action"]);
        if let Some((policy, sid)) = g["verdict"]["statement"].as_str().and_then(|s| s.split_once('#')) {
            let named = l["layers"].as_array().unwrap().iter().flat_map(|x| x["deciding"].as_array().into_iter().flatten()).any(|d| {
                d["policy"] == policy && (d["sid"] == sid || sid == format!("statement {}", d["index"].as_u64().unwrap_or(0) + 1))
            });
            assert!(named, "{principal} {}: {policy}#{sid} not among live's deciding statements: {l:#}", g["action"]);
        }
        // And the plan `fix` makes live: the same change ids and status.
        let plan = o.denyctl(&testing(), &["--profile", profile, "--org-profile", "mgmt", "fix", "--dry-run", "--principal", principal, "--action", g["action"].as_str().unwrap(), "--resource", resource, "-o", "json"]);
        let p = plan.json();
        let ids: Vec<&Value> = p["changes"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
        assert_eq!(g["verdict"]["plan_changes"].as_array().unwrap().iter().collect::<Vec<_>>(), ids, "{principal} {}: {:#} vs {p:#}", g["action"], g["verdict"]);
        assert_eq!(g["verdict"]["plan_status"], p["status"], "{principal} {}", g["action"]);
        let diff = o.denyctl(&testing(), &["--profile", profile, "--org-profile", "mgmt", "fix", "--dry-run", "--principal", principal, "--action", g["action"].as_str().unwrap(), "--resource", resource, "-o", "diff"]);
        assert!(!diff.stdout.is_empty(), "{}", diff.stderr);
        assert_eq!(g["verdict"]["plan_diff"].as_str().unwrap(), diff.stdout, "{principal} {}: the same change", g["action"]);
        eprintln!("same verdict: {principal} {} {resource}: {} {}, plan {:?}", g["action"], l["decision"], want_by, ids);
        compared += 1;
    }
    assert!(compared >= 8, "{compared} groups compared");

    // Bad input: a folder that is no snapshot, a truncated manifest, an account file gone.
    let empty = o.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let bad = o.denyctl(&testing(), &["triage", trail.to_str().unwrap(), "--snapshot", empty.to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert_eq!(bad.stderr.lines().filter(|l| !l.starts_with("triage:") && !l.starts_with("denyctl: skipped")).count(), 1, "{}", bad.stderr);
    let broken = o.path("broken");
    common::copy_dir(&snap, &broken);
    let text = std::fs::read_to_string(broken.join("manifest.json")).unwrap();
    std::fs::write(broken.join("manifest.json"), &text[..text.len() / 2]).unwrap();
    let bad = o.denyctl(&testing(), &["triage", trail.to_str().unwrap(), "--snapshot", broken.to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("not an organization snapshot") && !bad.stderr.contains("panicked"), "{}", bad.stderr);
    std::fs::write(broken.join("manifest.json"), &text).unwrap();
    std::fs::remove_file(broken.join(format!("accounts/{}.json", o.b))).unwrap();
    let partial = o.denyctl(&testing(), &["triage", "--fold", trail.to_str().unwrap(), "--snapshot", broken.to_str().unwrap(), "-o", "json"]);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    for g in partial.json().as_array().unwrap() {
        let p = g["principal"].as_str().unwrap();
        if p.contains(&format!(":{}:", o.b)) {
            let e = g["verdict"]["error"].as_str().unwrap();
            assert!(e.starts_with(&format!("not in snapshot: account {} its file cannot be used", o.b)), "{e}");
        } else if p.contains(&format!(":{}:user/alice", o.a)) {
            assert_eq!(g["verdict"]["decision"], "explicit_deny");
        }
    }
    // An existing folder is never written over; nothing readable: exit 2.
    let again = o.denyctl(&o.admin, &["collect", "--org", snap.to_str().unwrap()]);
    assert_eq!(again.code, 2, "{}", again.stderr);
}

fn policy_file(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("docs/policies").join(name)).unwrap()
}

/// docs/policies: a management-account user with only org-reader.json and reader.json, member roles
/// with only reader.json, IAM enforced: collect --org reads every account with no call denied.
#[test]
fn org_reader_and_reader_policies_are_enough_for_collect_org() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let o = rt.block_on(seed());
    let groups = o.path("groups.json");
    let trail = o.path("trail");
    write_corpus(&o, &trail);
    let t = o.denyctl(&testing(), &["triage", "--fold", trail.to_str().unwrap(), "-o", "json"]);
    std::fs::write(&groups, &t.stdout).unwrap();
    let lp = rt.block_on(async {
        let ep = o.moto.endpoint.clone();
        let mcfg = sdk(&ep, &testing()).await;
        let sts = aws_sdk_sts::Client::new(&mcfg);
        // moto checks three S3 setting reads as s3:ListBucket (see tests/least_privilege.rs): that only, for moto.
        let moto_names = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"}]}).to_string();
        for acct in [&o.a, &o.b, &o.c] {
            let iam = aws_sdk_iam::Client::new(&sdk(&ep, &assume(&sts, acct).await).await);
            let _ = iam.delete_role_policy().role_name("OrganizationAccountAccessRole").policy_name("admin").send().await;
            iam.put_role_policy().role_name("OrganizationAccountAccessRole").policy_name("reader").policy_document(policy_file("reader.json")).send().await.unwrap();
            iam.put_role_policy().role_name("OrganizationAccountAccessRole").policy_name("moto-names").policy_document(&moto_names).send().await.unwrap();
        }
        let iam = aws_sdk_iam::Client::new(&mcfg);
        iam.create_user().user_name("lp-org").send().await.unwrap();
        for f in ["org-reader.json", "reader.json"] {
            let p = iam.create_policy().policy_name(format!("lp-{}", f.trim_end_matches(".json"))).policy_document(policy_file(f)).send().await.unwrap();
            iam.attach_user_policy().user_name("lp-org").policy_arn(p.policy().unwrap().arn().unwrap()).send().await.unwrap();
        }
        let keys = |k: aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput| {
            let k = k.access_key().unwrap();
            Keys { id: k.access_key_id().into(), secret: k.secret_access_key().into(), token: None }
        };
        // A user with org-reader.json only: it can read the organization but no account.
        iam.create_user().user_name("org-only").send().await.unwrap();
        iam.put_user_policy().user_name("org-only").policy_name("org").policy_document(policy_file("org-reader.json")).send().await.unwrap();
        (keys(iam.create_access_key().user_name("lp-org").send().await.unwrap()), keys(iam.create_access_key().user_name("org-only").send().await.unwrap()))
    });
    let (lp, org_only) = lp;
    let snap = o.path("lp-snap");
    o.moto.set_auth(true);
    let run = o.denyctl(&lp, &["collect", "--org", snap.to_str().unwrap(), "--resources-from", groups.to_str().unwrap(), "-o", "json"]);
    // Another member role, which the policy does not let it enter: the members are skipped, the
    // management account is still read and written.
    let other = o.path("other-role");
    let partial = o.denyctl(&lp, &["collect", "--org", other.to_str().unwrap(), "--member-role", "Auditor", "-o", "json"]);
    // No account readable at all: exit 2, nothing written.
    let none = o.path("none");
    let nothing = o.denyctl(&org_only, &["collect", "--org", none.to_str().unwrap(), "--member-role", "Auditor"]);
    o.moto.set_auth(false);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    let pm = partial.json();
    let skipped: Vec<&str> = pm["accounts"].as_array().unwrap().iter().filter(|a| a["skipped"].is_string()).map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 3, "{pm:#}");
    assert!(!skipped.contains(&o.mgmt.as_str()) && other.join(format!("accounts/{}.json", o.mgmt)).is_file());
    assert!(partial.stderr.contains(&format!("skipped account {}: the member role cannot be entered: sts:AssumeRole on arn:aws:iam::{}:role/Auditor was denied", o.a, o.a)), "{}", partial.stderr);
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);
    assert!(nothing.stderr.contains("no account of") && nothing.stderr.contains("nothing written"), "{}", nothing.stderr);
    assert!(!none.exists(), "nothing written");
    assert!(std::fs::read_dir(o.home.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-")), "no temporary folder left");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let m = run.json();
    assert!(m["accounts"].as_array().unwrap().iter().all(|a| a["file"].is_string()), "every account read: {m:#}");
    assert_eq!(m["calls"].get("failed"), None, "organization reads: {m:#}");
    for id in [&o.mgmt, &o.a, &o.b, &o.c] {
        let f = read(&snap.join(format!("accounts/{id}.json")));
        eprintln!("account {id}: {} calls for {} roles, {} users, {} resources", f["calls"]["count"], f["roles"].as_array().unwrap().len(), f["users"].as_array().unwrap().len(), f["resources"].as_array().unwrap().len());
        let failed: Vec<&Value> = f["calls"]["failed"].as_array().into_iter().flatten().filter(|c| c["result"] != "not found").collect();
        assert!(failed.is_empty(), "account {id}: {failed:#?}");
        for r in f["resources"].as_array().unwrap() {
            let denied: Vec<&Value> = r["unknown"].as_array().into_iter().flatten().filter(|u| u["reason"].as_str().unwrap_or("").contains("denied")).collect();
            assert!(denied.is_empty(), "{}: {denied:#?}", r["resource"]);
        }
    }
}
