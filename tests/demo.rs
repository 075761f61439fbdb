//! The README's first command: `denyctl demo` starts moto, seeds four incidents and diagnoses
//! each through the live code path. Needs DENYCTL_MOTO_SERVER (scripts/test.sh sets it).

use assert_cmd::Command;

#[test]
fn demo_diagnoses_every_incident() {
    let moto = std::env::var("DENYCTL_MOTO_SERVER")
        .expect("DENYCTL_MOTO_SERVER is not set: run the tests through ./scripts/test.sh, which installs moto");
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("denyctl")
        .unwrap()
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DENYCTL_MOTO_SERVER", moto)
        .env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let incidents: Vec<&str> = stdout.split("━━ incident ").skip(1).collect();
    assert_eq!(incidents.len(), 4, "{stdout}");
    // 1: the CI role session has no identity allow for s3:PutObject.
    assert!(incidents[0].contains("assumed-role/ci-deploy/GitHubActions"), "{}", incidents[0]);
    assert!(incidents[0].contains("no Allow in the identity-based policies"), "{}", incidents[0]);
    // 2: alice's own explicit Deny, named by Sid.
    assert!(incidents[1].contains("DENIED by an explicit Deny in the identity-based policies"), "{}", incidents[1]);
    assert!(incidents[1].contains("Sid ChangeFreeze"), "{}", incidents[1]);
    // 3: the boundary allows only s3:Get*.
    assert!(incidents[2].contains("no Allow in the permissions boundary"), "{}", incidents[2]);
    // 4: the SCP on the OU, by Sid.
    assert!(incidents[3].contains("DENIED by an explicit Deny in the service control policies"), "{}", incidents[3]);
    assert!(incidents[3].contains("Sid ProtectBuckets"), "{}", incidents[3]);
    assert!(stdout.contains("4 incident(s) diagnosed as denied; 3 fixed and verified"), "{stdout}");
    // The fix sessions: S3 verified by a real replay as the caller, then the bucket's KMS key (the
    // hidden hop) — verified by evaluation, as moto does not enforce key policies, and said so.
    assert!(incidents[0].contains("✓ s3:PutObject on arn:aws:s3:::prod-artifacts/releases/app.zip: fixed"), "{}", incidents[0]);
    assert!(incidents[0].contains("verified by replaying it as the caller"), "{}", incidents[0]);
    assert!(incidents[0].contains("✓ kms:GenerateDataKey on arn:aws:kms:"), "{}", incidents[0]);
    assert!(incidents[0].contains("this server does not enforce kms's resource policies"), "{}", incidents[0]);
    // The Deny is narrowed, not deleted: moto ignores conditions, so evaluation is the check.
    assert!(incidents[1].contains("✓ sqs:SendMessage"), "{}", incidents[1]);
    assert!(incidents[1].contains("ArnNotEquals"), "{}", incidents[1]);
    assert!(incidents[1].contains("does not evaluate conditions"), "{}", incidents[1]);
    // The boundary gets the action; moto verifies the identity side by replay.
    assert!(incidents[2].contains("✓ s3:PutObject on arn:aws:s3:::reports/q3.csv: fixed"), "{}", incidents[2]);
    // The SCP cannot be changed by the caller: a hand-off file for the organization's admin.
    assert!(incidents[3].contains("→ s3:DeleteBucket on arn:aws:s3:::legacy-logs: left for someone else"), "{}", incidents[3]);
    assert!(incidents[3].contains("denyctl rollback") == false, "nothing was applied for the SCP: {}", incidents[3]);
}
