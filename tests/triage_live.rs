//! `denyctl triage` against moto's real server: the generated corpus (tests/common/corpus.rs) put in
//! a bucket under the organization trail layout and read from `s3://` (date prefixes chosen by
//! --since/--until, keys outside the range never read), giving the same groups as the local files;
//! and `--live --top N` deciding groups as `diagnose` does.

mod common;
#[path = "common/corpus.rs"]
mod corpus;
#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn denyctl(m: &moto::Moto, home: &std::path::Path, args: &[&str]) -> Output {
    denyctl_at(&m.endpoint, home, &[], args)
}

/// denyctl against `endpoint` (moto, or the fault proxy in front of it), with extra environment.
fn denyctl_at(endpoint: &str, home: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    common::schema::check_output(args, &String::from_utf8_lossy(&out.stdout));
    out
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
fn s3_objects_read_as_byte_ranges_give_the_same_groups_and_a_failing_range_skips_its_object() {
    use common::faultproxy::{Fault, FaultProxy, Rule, Schedule};
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let m = moto::Moto::start();
    let proxy = FaultProxy::start(m.port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = s3_client(&m, &rt);
    let home = tempfile::tempdir().unwrap();
    let bucket = "ranged-trail";
    rt.block_on(s3.create_bucket().bucket(bucket).send()).unwrap();
    let mut objects = Vec::new();
    let spec = corpus::Spec { denials: 240, extra_groups: 6, per_extra_group: 2, noise_per_denial: 1, look_alikes: 8, days: 2, per_file: 80 };
    corpus::generate(spec, 5, |rel, gz| objects.push((rel.to_string(), gz)));
    let write_local = |dir: &std::path::Path, leave_out: Option<&str>| {
        for (rel, gz) in objects.iter().filter(|(rel, _)| Some(rel.as_str()) != leave_out) {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, gz).unwrap();
        }
    };
    let (all_local, all_but_one) = (home.path().join("all"), home.path().join("all-but-one"));
    write_local(&all_local, None);
    for (key, body) in &objects {
        rt.block_on(s3.put_object().bucket(bucket).key(key).body(body.clone().into()).send()).unwrap();
    }
    let url = format!("s3://{bucket}/AWSLogs/{}/", corpus::ORG);
    let gets = |p: &FaultProxy| p.seen().iter().filter(|s| s.operation == "GetObject").count();
    let from_files = keys(&groups_of(&denyctl(&m, home.path(), &["triage", "--fold", all_local.to_str().unwrap(), "-o", "json"])));

    // Parts of 1,000 bytes: every object is several ranges, reassembled into the same groups.
    let part = 1000usize;
    let ranges: usize = objects.iter().map(|(_, gz)| gz.len().div_ceil(part)).sum();
    assert!(ranges > 3 * objects.len(), "{ranges} ranges for {} objects", objects.len());
    let out = denyctl_at(&proxy.endpoint, home.path(), &[("DENYCTL_S3_PART_SIZE", "1000")], &["triage", "--fold", &url, "-o", "json"]);
    assert_eq!(keys(&groups_of(&out)), from_files);
    assert_eq!(gets(&proxy), ranges, "one GET per range");

    // The default part size (8 MiB): one GET per object.
    proxy.clear();
    let out = denyctl_at(&proxy.endpoint, home.path(), &[], &["triage", "--fold", &url, "-o", "json"]);
    assert_eq!(keys(&groups_of(&out)), from_files);
    assert_eq!(gets(&proxy), objects.len());

    // One range of one object fails on every attempt: that object is skipped with the reason,
    // the others are triaged (the same groups as the local files without it).
    let victim = objects.iter().max_by_key(|(_, gz)| gz.len()).unwrap().0.clone();
    let name = victim.rsplit('/').next().unwrap();
    proxy.set(Schedule { seed: 1, rules: vec![Rule::request("s3", "GetObject", &format!("{name} bytes=1000-1999"), Fault::Http500)] });
    let out = denyctl_at(&proxy.endpoint, home.path(), &[("DENYCTL_S3_PART_SIZE", "1000")], &["triage", "--fold", &url, "-o", "json"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(&format!("skipped s3://{bucket}/{victim}: range bytes=1000-1999:")), "{err}");
    assert!(err.contains(&format!("{} sources read, 1 skipped", objects.len() - 1)), "{err}");
    assert!(proxy.injected() >= 2, "the SDK retried the failing range: {:?}", proxy.seen().iter().filter(|s| s.fault.is_some()).collect::<Vec<_>>());
    write_local(&all_but_one, Some(&victim));
    let without = keys(&groups_of(&denyctl(&m, home.path(), &["triage", "--fold", all_but_one.to_str().unwrap(), "-o", "json"])));
    assert_eq!(keys(&groups_of(&out)), without);
    assert_ne!(without, from_files, "the skipped object held denials");

    // An object overwritten after it was listed (the listing's answer held back by the proxy
    // meanwhile): skipped as changed, never read half old and half new.
    let rule = Rule { request: Some(format!("GET /{bucket}")), nth: Some(1), ..Rule::request("s3", "", "", Fault::Delay(std::time::Duration::from_secs(2))) };
    proxy.set(Schedule { seed: 1, rules: vec![Rule { operation: None, ..rule }] });
    let out = std::thread::scope(|sc| {
        let run = sc.spawn(|| denyctl_at(&proxy.endpoint, home.path(), &[("DENYCTL_S3_PART_SIZE", "1000")], &["triage", "--fold", &url, "-o", "json"]));
        let t = std::time::Instant::now();
        while proxy.seen().is_empty() && t.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        rt.block_on(s3.put_object().bucket(bucket).key(&victim).body(objects.iter().min_by_key(|(_, gz)| gz.len()).unwrap().1.clone().into()).send()).unwrap();
        run.join().unwrap()
    });
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(proxy.seen().first().and_then(|s| s.fault), Some("delay"), "{:?}", proxy.seen().first());
    assert!(err.contains(&format!("skipped s3://{bucket}/{victim}: changed since it was listed")), "{err}");
    assert_eq!(keys(&groups_of(&out)), without);

    // A bad part size: one line, exit 2.
    let out = denyctl_at(&m.endpoint, home.path(), &[("DENYCTL_S3_PART_SIZE", "lots")], &["triage", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DENYCTL_S3_PART_SIZE=lots"));
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

/// What the engine's GROUP BY gives for the corpus: the SQL's semantics written out over the events
/// (the SQL itself is checked against the recorded query).
fn engine_rows(events: &[Value], fold: bool) -> Vec<Vec<String>> {
    let codes = ["AccessDenied", "AccessDeniedException", "Client.UnauthorizedOperation", "ExpiredToken", "SignatureDoesNotMatch", "RequestTimeTooSkewed"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    let mut groups: BTreeMap<Vec<String>, Vec<&Value>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["errorCode"].as_str().is_some_and(|c| codes.contains(&c))) {
        let id = &e["userIdentity"];
        let principal = s(&id["sessionContext"]["sessionIssuer"]["arn"]).or(s(&id["arn"])).or(s(&id["invokedBy"])).or(s(&id["principalId"])).unwrap_or_default();
        let msg = e["errorMessage"].as_str().unwrap_or("");
        let from_msg = msg.split_once("on resource: ").map(|(_, r)| r.trim_start_matches('"')).filter(|r| r.starts_with("arn:")).map(|r| r.split(['"', ' ']).next().unwrap().to_string());
        let mut resource = from_msg.or_else(|| s(&e["resources"][0]["ARN"])).unwrap_or_default();
        if fold && resource.contains(":s3:::") && resource.split(":s3:::").nth(1).unwrap().contains('/') {
            resource = format!("{}*", &resource[..=resource.rfind('/').unwrap()]);
        }
        let mut shape = msg.to_string();
        if let Some(i) = shape.find("Encoded authorization failure message: ") {
            shape = format!("{}Encoded authorization failure message:", &shape[..i]);
        }
        // regexp_replace(…, 'arn:[^ "]+', 'ARN')
        let mut out = String::new();
        let mut rest = shape.as_str();
        while let Some(i) = rest.find("arn:") {
            out.push_str(&rest[..i]);
            out.push_str("ARN");
            rest = &rest[i..];
            rest = &rest[rest.find([' ', '"']).unwrap_or(rest.len())..];
        }
        out.push_str(rest);
        let shape = out;
        let key = vec![s(&e["recipientAccountId"]).unwrap(), principal, s(&e["eventSource"]).unwrap(), s(&e["eventName"]).unwrap(), s(&e["errorCode"]).unwrap(), resource, shape, e["eventTime"].as_str().unwrap()[..10].to_string()];
        groups.entry(key).or_default().push(e);
    }
    groups
        .into_iter()
        .map(|(mut key, evs)| {
            let first = evs.iter().min_by_key(|e| (e["eventTime"].as_str().unwrap(), e["eventID"].as_str().unwrap())).unwrap();
            let distinct = |f: &dyn Fn(&Value) -> String| evs.iter().map(|e| f(e)).collect::<std::collections::BTreeSet<_>>();
            let mut agents: BTreeMap<String, u64> = BTreeMap::new();
            for e in &evs {
                *agents.entry(e["userAgent"].as_str().unwrap().to_string()).or_default() += 1;
            }
            let mut top: Vec<(String, u64)> = agents.into_iter().collect();
            top.sort_by_key(|b| std::cmp::Reverse(b.1));
            top.truncate(3);
            let top: serde_json::Map<String, Value> = top.into_iter().map(|(a, n)| (a, n.into())).collect();
            key.extend([
                evs.len().to_string(),
                distinct(&|e| s(&e["userIdentity"]["arn"]).unwrap_or_else(|| key_principal(e))).len().to_string(),
                first["eventTime"].as_str().unwrap().to_string(),
                evs.iter().map(|e| e["eventTime"].as_str().unwrap()).max().unwrap().to_string(),
                distinct(&|e| e["awsRegion"].as_str().unwrap().to_string()).into_iter().collect::<Vec<_>>().join(","),
                distinct(&|e| e["sourceIPAddress"].as_str().unwrap().to_string()).len().to_string(),
                Value::Object(top).to_string(),
                first["eventID"].as_str().unwrap().to_string(),
                s(&first["userIdentity"]["arn"]).unwrap_or_default(),
                first["userIdentity"]["type"].as_str().unwrap().to_string(),
                first["errorMessage"].as_str().unwrap_or("").to_string(),
            ]);
            key
        })
        .collect()
}

fn key_principal(e: &Value) -> String {
    e["userIdentity"]["invokedBy"].as_str().unwrap_or("").to_string()
}

/// The generated corpus written as local `.json.gz` files under HOME/local: what was planted, every
/// event, and the folder.
fn local_corpus(home: &std::path::Path) -> (corpus::Corpus, Vec<Value>, std::path::PathBuf) {
    let local = home.join("local");
    let mut events = Vec::new();
    let spec = corpus::Spec { denials: 300, extra_groups: 6, per_extra_group: 3, noise_per_denial: 1, look_alikes: 9, days: 3, per_file: 100 };
    let c = corpus::generate(spec, 33, |rel, gz| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        events.extend(doc["Records"].as_array().unwrap().iter().cloned());
        let p = local.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gz).unwrap();
    });
    (c, events, local)
}

#[test]
fn athena_query_is_the_recorded_one_and_its_rows_give_the_planted_groups() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let m = moto::Moto::start();
    let home = tempfile::tempdir().unwrap();
    let table = "default.cloudtrail_logs";

    // The SQL, exactly as recorded (review a change to it like a change to code).
    let out = denyctl(&m, home.path(), &["triage", "--athena", table, "--fold", "--since", "2025-03-01", "--until", "2025-03-03", "--show-query"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/triage/athena-query.sql")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    // The corpus, as local files and as the engine's grouped rows (seeded through moto's results API).
    let (c, events, local) = local_corpus(home.path());
    let cols = ["account", "principal", "event_source", "event_name", "error_code", "resource", "message_shape", "day", "events", "sessions", "first_seen", "last_seen", "regions", "source_ips", "user_agents", "sample_event_id", "sample_arn", "sample_identity_type", "sample_message"];
    let cell = |v: &str| serde_json::json!({"VarCharValue": v});
    let mut rows = vec![serde_json::json!({"Data": cols.iter().map(|c| cell(c)).collect::<Vec<_>>()})];
    let engine = engine_rows(&events, true);
    assert!(engine.len() > c.planted.len(), "the engine's rows are finer (per day, per message shape) than the groups");
    rows.extend(engine.iter().map(|r| serde_json::json!({"Data": r.iter().map(|v| cell(v)).collect::<Vec<_>>()})));
    // A broken row: skipped and counted, the rest grouped.
    let mut broken: Vec<Value> = engine[0].iter().map(|v| cell(v)).collect();
    broken[8] = cell("many");
    rows.push(serde_json::json!({"Data": broken}));
    let column_info: Vec<Value> = cols.iter().map(|c| serde_json::json!({"Name": c, "Label": c, "Type": "varchar", "Nullable": "UNKNOWN", "CaseSensitive": true})).collect();
    let body = serde_json::json!({"account_id": moto::ACCOUNT, "region": "us-east-1", "results": [{"rows": rows, "column_info": column_info}]}).to_string();
    let (status, text) = moto::http(m.port, "POST", "/moto-api/static/athena/query-results", &[("Content-Type", "application/json")], &body).unwrap();
    assert_eq!(status, 201, "{text}");

    let out = denyctl(&m, home.path(), &["triage", "--athena", table, "--fold", "--output-location", "s3://athena-results/triage/", "-o", "json"]);
    let from_athena = groups_of(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let planted: BTreeMap<Key, ()> = c.planted.iter().map(|p| ((p.account.clone(), p.principal.clone(), p.action.clone(), p.resource.clone(), p.error_code.clone(), p.count), ())).collect();
    let got: BTreeMap<Key, ()> = keys(&from_athena).into_keys().map(|k| (k, ())).collect();
    assert_eq!(got, planted, "the engine's rows give exactly the planted groups");
    let from_files = groups_of(&denyctl(&m, home.path(), &["triage", "--fold", local.to_str().unwrap(), "-o", "json"]));
    let (fa, ff) = (keys(&from_athena), keys(&from_files));
    assert_eq!(fa.keys().collect::<Vec<_>>(), ff.keys().collect::<Vec<_>>(), "Athena and local files agree");
    for (k, a) in &fa {
        let f = &ff[k];
        for field in ["first_seen", "last_seen", "sample_event_id", "regions", "deny_kind", "policy_type", "per_day", "encoded_messages"] {
            assert_eq!(a[field], f[field], "{field} of {k:?}");
        }
        // Distinct counts come per row (per day): the group's is their largest, a lower bound.
        for field in ["sessions", "source_ips"] {
            let (x, y) = (a[field].as_u64().unwrap(), f[field].as_u64().unwrap());
            assert!(x > 0 && x <= y, "{field} of {k:?}: {x} vs {y}");
        }
    }
    for (name, n) in &c.look_alikes {
        assert!(err.contains(&format!("{n} {name}")), "look-alikes from the engine: {err}");
    }
    assert!(err.contains("1 events skipped"), "{err}");

    // A query that does not finish in time (moto keeps it RUNNING): stopped, named as skipped;
    // nothing else read → exit 2.
    let hold = r#"{"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}}"#;
    let (status, text) = moto::http(m.port, "POST", "/moto-api/state-manager/set-transition", &[("Content-Type", "application/json")], hold).unwrap();
    assert!(status < 300, "{status} {text}");
    let out = denyctl(&m, home.path(), &["triage", "--athena", table, "--athena-timeout", "1", "--output-location", "s3://athena-results/triage/"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("skipped athena:{table}: Athena query")) && err.contains("did not finish within 1 s"), "{err}");
}

#[test]
fn cloudtrail_lake_query_is_the_recorded_one_and_its_rows_give_the_planted_groups() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let m = moto::Moto::start();
    let home = tempfile::tempdir().unwrap();
    let store = "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE";
    let arn = format!("arn:aws:cloudtrail:us-east-1:{}:eventdatastore/{store}", moto::ACCOUNT);

    // The SQL, exactly as recorded; the ARN and the ID name the same store.
    let expected = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/triage/lake-query.sql")).unwrap();
    for name in [store, arn.as_str()] {
        let out = denyctl(&m, home.path(), &["triage", "--cloudtrail-lake", name, "--fold", "--since", "2025-03-01", "--until", "2025-03-03", "--show-query"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }
    let out = denyctl(&m, home.path(), &["triage", "--cloudtrail-lake", "eds; DROP", "--show-query"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1, "{}", String::from_utf8_lossy(&out.stderr));

    // Lake's result rows (lists of one-entry maps, timestamps as `2025-03-01 09:30:00.000`) for the
    // corpus go through the same reading as the command's (lake_row, then row_event) and give
    // exactly the planted groups, as the local files do.
    let (c, events, local) = local_corpus(home.path());
    let cols = denyctl_triage::query::COLUMNS;
    let lake_time = |v: &str| format!("{} {}.000", &v[..10], &v[11..19]);
    let mut t = denyctl_triage::Triage::new(denyctl_triage::Options { fold: true });
    for r in engine_rows(&events, true) {
        let cells: Vec<std::collections::HashMap<String, String>> = cols
            .iter()
            .zip(r)
            .map(|(k, v)| {
                let v = if *k == "first_seen" || *k == "last_seen" { lake_time(&v) } else { v };
                std::collections::HashMap::from([(k.to_string(), v)])
            })
            .collect();
        let (ev, agg) = denyctl_triage::query::row_event(&denyctl_triage::query::lake_row(cells)).unwrap();
        t.add_aggregate(&ev, &agg);
    }
    let from_lake: Vec<Value> = t.groups().iter().map(|g| serde_json::to_value(g).unwrap()).collect();
    let planted: BTreeMap<Key, ()> = c.planted.iter().map(|p| ((p.account.clone(), p.principal.clone(), p.action.clone(), p.resource.clone(), p.error_code.clone(), p.count), ())).collect();
    let got: BTreeMap<Key, ()> = keys(&from_lake).into_keys().map(|k| (k, ())).collect();
    assert_eq!(got, planted, "Lake's rows give exactly the planted groups");
    let from_files = groups_of(&denyctl(&m, home.path(), &["triage", "--fold", local.to_str().unwrap(), "-o", "json"]));
    let (fl, ff) = (keys(&from_lake), keys(&from_files));
    for (k, l) in &fl {
        for field in ["first_seen", "last_seen", "sample_event_id", "regions", "per_day"] {
            assert_eq!(l[field], ff[k][field], "{field} of {k:?}");
        }
    }

    // moto has no CloudTrail Lake: the query cannot start. The store is named as skipped with the
    // reason; with nothing else to read, exit 2; beside local files, those are still triaged.
    let out = denyctl(&m, home.path(), &["triage", "--cloudtrail-lake", store, "--query-timeout", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("skipped cloudtrail-lake:{store}: the CloudTrail Lake query could not be started")), "{err}");
    let out = denyctl(&m, home.path(), &["triage", "--cloudtrail-lake", store, "--fold", local.to_str().unwrap(), "-o", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("skipped cloudtrail-lake:{store}:")) && err.contains("1 skipped"), "{err}");
    assert_eq!(keys(&groups_of(&out)).into_keys().collect::<Vec<_>>(), ff.into_keys().collect::<Vec<_>>());
}
