//! `denyctl triage` against moto's real server: the generated corpus (tests/common/corpus.rs) put in
//! a bucket under the organization trail layout and read from `s3://` (date prefixes chosen by
//! --since/--until, keys outside the range never read), giving the same groups as the local files;
//! and `--live --top N` deciding groups as `diagnose` does.

#[allow(dead_code)]
#[path = "common/corpus.rs"]
mod corpus;
#[allow(dead_code)]
#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn denyctl(m: &moto::Moto, home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("AWS_ENDPOINT_URL", &m.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

type Key = (String, String, String, Option<String>, String, u64);

fn groups_of(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "triage failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}

fn keys(groups: &[Value]) -> BTreeMap<Key, Value> {
    groups
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().map(str::to_string);
            ((s("account").unwrap(), s("principal").unwrap(), s("action").unwrap(), s("resource"), s("error_code").unwrap(), g["count"].as_u64().unwrap()), g.clone())
        })
        .collect()
}

fn s3_client(m: &moto::Moto, rt: &tokio::runtime::Runtime) -> aws_sdk_s3::Client {
    let conf = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&m.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "test"))
            .load(),
    );
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build())
}

#[test]
fn s3_trail_gives_the_planted_groups_within_the_dates() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let m = moto::Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = s3_client(&m, &rt);
    let home = tempfile::tempdir().unwrap();
    let local = home.path().join("local");
    let bucket = "org-trail";
    rt.block_on(s3.create_bucket().bucket(bucket).send()).unwrap();

    let mut objects = Vec::new();
    let spec = corpus::Spec { denials: 400, extra_groups: 10, per_extra_group: 2, noise_per_denial: 1, look_alikes: 12, days: 3, per_file: 120 };
    let c = corpus::generate(spec, 21, |rel, gz| objects.push((rel.to_string(), gz)));
    for (rel, gz) in &objects {
        let p = local.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gz).unwrap();
    }
    // Outside the date range (a day in 2024, with denials of its own), a digest file and another
    // service's logs: none may be read with --since/--until.
    let (y, mo, d) = corpus::START;
    let first = objects[0].0.clone();
    let outside = first.replace(&format!("/{y:04}/{mo:02}/{d:02}/"), "/2024/01/15/");
    let digest = first.replace("/CloudTrail/", "/CloudTrail-Digest/");
    let config = first.replace("/CloudTrail/", "/Config/");
    let truncated = first.replace(".json.gz", "-truncated.json.gz");
    let mut extra = vec![(outside.clone(), objects[0].1.clone()), (digest, b"{}".to_vec()), (config, b"not a log".to_vec())];
    extra.push((truncated.clone(), objects[0].1[..objects[0].1.len() / 2].to_vec()));
    for (key, body) in objects.iter().chain(extra.iter()) {
        rt.block_on(s3.put_object().bucket(bucket).key(key).body(body.clone().into()).send()).unwrap();
    }

    let url = format!("s3://{bucket}/AWSLogs/{}/", corpus::ORG);
    let since = format!("{y:04}-{mo:02}-{d:02}");
    let until = format!("{y:04}-{mo:02}-{:02}", d + spec.days - 1);
    let out = denyctl(&m, home.path(), &["triage", "--fold", &url, "--since", &since, "--until", &until, "-o", "json"]);
    let from_s3 = groups_of(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let planted: BTreeMap<Key, ()> = c.planted.iter().map(|p| ((p.account.clone(), p.principal.clone(), p.action.clone(), p.resource.clone(), p.error_code.clone(), p.count), ())).collect();
    let got: BTreeMap<Key, ()> = keys(&from_s3).into_keys().map(|k| (k, ())).collect();
    // The truncated object is in the range: named as skipped, the rest triaged.
    assert!(err.contains(&format!("skipped s3://{bucket}/{truncated}: gzip does not decompress: truncated")), "{err}");
    assert_eq!(got, planted, "the groups planted in the date range, exactly");
    assert!(err.contains(&format!("{} sources read, 1 skipped", objects.len())), "{err}");

    // The same corpus from local files: the same groups, the same statistics.
    let from_files = groups_of(&denyctl(&m, home.path(), &["triage", "--fold", local.to_str().unwrap(), "-o", "json"]));
    assert_eq!(keys(&from_s3), keys(&from_files));

    // Without dates every key under the prefix is read: the 2024 file's denials count too.
    let all = groups_of(&denyctl(&m, home.path(), &["triage", "--fold", &url, "-o", "json"]));
    let total = |g: &[Value]| g.iter().map(|x| x["count"].as_u64().unwrap()).sum::<u64>();
    assert!(total(&all) > total(&from_s3), "{} vs {}", total(&all), total(&from_s3));

    // A bucket that does not exist: nothing read, exit 2, the source named.
    let out = denyctl(&m, home.path(), &["triage", "s3://no-such-bucket/AWSLogs/", "--since", &since, "--until", &until]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-bucket"));
}

#[test]
fn live_top_groups_are_decided_as_diagnose_decides() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let m = moto::Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = s3_client(&m, &rt);
    rt.block_on(s3.create_bucket().bucket("reports").send()).unwrap();
    m.iam_user("bob", Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}"#));
    m.iam_user("carol", Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#));
    let a = moto::ACCOUNT;
    let ev = |i: usize, who: &str, action: &str, key: &str| {
        serde_json::json!({"eventVersion": "1.09", "eventTime": format!("2025-03-01T00:00:{:02}Z", i % 60), "eventSource": "s3.amazonaws.com",
            "eventName": action, "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1", "userAgent": "aws-cli/2", "eventID": format!("e{i}"),
            "errorCode": "AccessDenied", "recipientAccountId": a,
            "errorMessage": format!("User: arn:aws:iam::{a}:user/{who} is not authorized to perform: s3:{action} on resource: \"arn:aws:s3:::reports/{key}\" because no identity-based policy allows the s3:{action} action"),
            "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{a}:user/{who}"), "accountId": a}})
    };
    let mut records: Vec<Value> = (0..5).map(|i| ev(i, "bob", "PutObject", "q1/a.csv")).collect();
    records.extend((5..8).map(|i| ev(i, "carol", "GetObject", "q1/b.csv")));
    records.push(ev(9, "bob", "DeleteObject", "q1/c.csv"));
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("events.json");
    std::fs::write(&file, serde_json::json!({"Records": records}).to_string()).unwrap();

    let out = denyctl(&m, home.path(), &["triage", file.to_str().unwrap(), "--live", "--top", "2", "-o", "json"]);
    let groups = groups_of(&out);
    assert_eq!(groups.len(), 3);
    for g in &groups[..2] {
        let d = denyctl(&m, home.path(), &["diagnose", "--principal", g["principal"].as_str().unwrap(), "--action", g["action"].as_str().unwrap(), "--resource", g["resource"].as_str().unwrap(), "-o", "json"]);
        let d: Value = serde_json::from_slice(&d.stdout).unwrap_or_else(|e| panic!("diagnose: {e}: {}", String::from_utf8_lossy(&d.stderr)));
        let by: Vec<&str> = d["denied_by"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert_eq!(g["verdict"]["decision"], d["decision"], "{g}");
        assert_eq!(g["verdict"]["denied_by"], by.join(","), "{g}");
        assert_eq!(g["verdict"]["source"], "live");
    }
    assert_eq!((groups[0]["principal"].as_str().unwrap(), groups[0]["verdict"]["decision"].as_str()), (format!("arn:aws:iam::{a}:user/bob").as_str(), Some("implicit_deny")));
    assert_eq!(groups[1]["verdict"]["decision"], "explicit_deny");
    assert!(groups[2].get("verdict").is_none(), "only the top 2 are diagnosed");
}
