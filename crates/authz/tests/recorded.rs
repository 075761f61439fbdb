//! The IAM Toolbox client against recorded HTTP responses (no local server implements this API).
//! Response bodies follow the API reference's shapes for GetRequestAuthorizationDetails.

use aws_credential_types::Credentials;
use aws_sdk_iamtoolbox::config::{BehaviorVersion, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use denyctl_authz::{compare, fetch, AuthzError};
use denyctl_eval::scenario::Scenario;
use denyctl_eval::{evaluate, Decision, LayerKind};

fn response(status: u16, error_type: Option<&str>, body: &str) -> http::Response<SdkBody> {
    let mut b = http::Response::builder().status(status).header("content-type", "application/json");
    if let Some(t) = error_type {
        b = b.header("x-amzn-errortype", t);
    }
    b.body(SdkBody::from(body.to_string())).unwrap()
}

fn client(events: Vec<http::Response<SdkBody>>) -> (aws_sdk_iamtoolbox::Client, StaticReplayClient) {
    let replay = StaticReplayClient::new(
        events
            .into_iter()
            .map(|r| ReplayEvent::new(http::Request::builder().uri("https://iam-toolbox.us-east-1.amazonaws.com/").body(SdkBody::empty()).unwrap(), r))
            .collect(),
    );
    let conf = aws_sdk_iamtoolbox::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::for_tests())
        .http_client(replay.clone())
        .build();
    (aws_sdk_iamtoolbox::Client::from_conf(conf), replay)
}

const SCP_DENY: &str = r#"{
  "requestContext": {"aws:SourceIp": "203.0.113.7", "aws:MultiFactorAuthPresent": false,
                     "aws:PrincipalTag/team": "payments", "aws:PrincipalArn": "arn:aws:iam::111122223333:role/dev"},
  "evaluations": [{
    "action": "ec2:RunInstances",
    "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*",
    "context": {"ec2:InstanceType": "p5.48xlarge"},
    "evaluatedEffect": "EXPLICIT_DENY",
    "matchedPolicies": [
      {"uri": "arn:aws:organizations::999988887777:policy/o-abc/service_control_policy/p-deny", "matchedStatements": [{"sid": "DenyRun", "evaluatedEffect": "DENY"}]},
      {"uri": "arn:aws:iam::111122223333:role/dev/inline/dev", "matchedStatements": [{"sid": "All", "evaluatedEffect": "ALLOW"}]}
    ]
  }],
  "policies": [
    {"type": "SERVICE_CONTROL_POLICY", "inline": false, "uri": "arn:aws:organizations::999988887777:policy/o-abc/service_control_policy/p-deny",
     "attachedTo": [{"arn": "arn:aws:organizations::999988887777:ou/o-abc/ou-abcd-11111111"}]},
    {"type": "IDENTITY_BASED_POLICY", "inline": true, "uri": "arn:aws:iam::111122223333:role/dev/inline/dev",
     "attachedTo": [{"arn": "arn:aws:iam::111122223333:role/dev"}]}
  ]
}"#;

fn scp_scenario(deny_sid: &str, with_scp: bool) -> Scenario {
    let scp = if with_scp {
        serde_json::json!([{"target": "ou-abcd-11111111", "policies": [
            {"name": "FullAWSAccess", "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
            {"name": "p-deny", "document": {"Statement": [{"Sid": deny_sid, "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]}}]}])
    } else {
        serde_json::Value::Null
    };
    Scenario::from_json(serde_json::json!({
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/dev/alice", "action": "ec2:RunInstances",
                    "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*"},
        "policies": {"identity": [{"name": "dev", "document": {"Statement": [{"Sid": "All", "Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}}],
                     "scp": scp}
    }))
    .unwrap()
}

#[tokio::test]
async fn explicit_deny_in_an_scp_is_read_and_agrees() {
    let (c, replay) = client(vec![response(200, None, SCP_DENY)]);
    let rec = fetch(&c, "abc123def456").await.unwrap();
    assert_eq!(replay.actual_requests().count(), 1);
    let uri = replay.actual_requests().next().unwrap().uri().to_string();
    assert!(uri.contains("/authorization-details/abc123def456"), "{uri}");
    let e = &rec.evaluations[0];
    assert_eq!(e.decision, Some(Decision::ExplicitDeny));
    assert_eq!(e.matched[0].layer, Some(LayerKind::Scp));
    assert_eq!(e.matched[0].attached_to, ["arn:aws:organizations::999988887777:ou/o-abc/ou-abcd-11111111"]);
    assert_eq!(e.matched[0].statements[0].sid.as_deref(), Some("DenyRun"));
    // The recorded context fills in what the message leaves out.
    let ctx = rec.context_entries(Some(e));
    assert!(ctx.contains(&("aws:SourceIp".to_string(), vec!["203.0.113.7".to_string()])));
    assert!(ctx.contains(&("aws:MultiFactorAuthPresent".to_string(), vec!["false".to_string()])));
    assert!(ctx.contains(&("ec2:InstanceType".to_string(), vec!["p5.48xlarge".to_string()])));

    let sc = scp_scenario("DenyRun", true);
    let v = evaluate(&sc.request, &sc.layers);
    let cmp = compare(&rec, "ec2:RunInstances", &sc.request.resource, &v);
    assert!(cmp.agrees, "{:?}", cmp.differences);
    assert_eq!(cmp.aws_denying_layers, vec![LayerKind::Scp]);
}

#[tokio::test]
async fn disagreement_is_reported_not_hidden() {
    // denyctl could not see the SCP (say, no permission to read the organization): it would
    // allow; AWS's record says an SCP denied. The comparison must say so.
    let (c, _) = client(vec![response(200, None, SCP_DENY)]);
    let rec = fetch(&c, "abc123def456").await.unwrap();
    let sc = scp_scenario("DenyRun", false);
    let v = evaluate(&sc.request, &sc.layers);
    assert_eq!(v.decision, Decision::Allow);
    let cmp = compare(&rec, "ec2:RunInstances", &sc.request.resource, &v);
    assert!(!cmp.agrees);
    assert!(cmp.differences.iter().any(|d| d.contains("AWS decided explicit_deny where denyctl decided allow")), "{:?}", cmp.differences);
    assert!(cmp.differences.iter().any(|d| d.contains("DenyRun")), "{:?}", cmp.differences);
}

#[tokio::test]
async fn allow_shaped_record() {
    let body = r#"{"requestContext": {}, "evaluations": [{"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k",
        "evaluatedEffect": "ALLOW", "matchedPolicies": [{"uri": "u1", "matchedStatements": [{"sid": "Read", "evaluatedEffect": "ALLOW"}]}]}],
        "policies": [{"type": "IDENTITY_BASED_POLICY", "inline": true, "uri": "u1"}]}"#;
    let (c, _) = client(vec![response(200, None, body)]);
    let rec = fetch(&c, "allow1").await.unwrap();
    assert_eq!(rec.evaluations[0].decision, Some(Decision::Allow));
    assert_eq!(rec.evaluations[0].matched[0].layer, Some(LayerKind::Identity));
    assert_eq!(rec.evaluations[0].matched[0].inline, Some(true));
}

#[tokio::test]
async fn implicit_deny_with_missing_context_across_two_pages() {
    let page1 = r#"{"requestContext": {"aws:SourceVpce": "vpce-1a2b3c4d", "aws:TagKeys": ["env", "team"]},
        "evaluations": [{"action": "s3:PutObject", "resource": "arn:aws:s3:::prod/app.zip", "evaluatedEffect": "IMPLICIT_DENY", "matchedPolicies": []}],
        "policies": [], "nextToken": "page2"}"#;
    let page2 = r#"{"requestContext": {}, "evaluations": [{"action": "kms:GenerateDataKey", "resource": "arn:aws:kms:us-east-1:111122223333:key/k",
        "evaluatedEffect": "IMPLICIT_DENY"}], "policies": []}"#;
    let (c, replay) = client(vec![response(200, None, page1), response(200, None, page2)]);
    let rec = fetch(&c, "implicit9").await.unwrap();
    assert_eq!(replay.actual_requests().count(), 2);
    assert!(replay.actual_requests().nth(1).unwrap().uri().to_string().contains("nextToken=page2"));
    assert_eq!(rec.evaluations.len(), 2);
    let e = rec.evaluation_for("s3:putobject", "arn:aws:s3:::prod/app.zip").unwrap();
    assert_eq!(e.decision, Some(Decision::ImplicitDeny));
    let ctx = rec.context_entries(Some(e));
    assert!(ctx.contains(&("aws:SourceVpce".to_string(), vec!["vpce-1a2b3c4d".to_string()])));
    assert!(ctx.contains(&("aws:TagKeys".to_string(), vec!["env".to_string(), "team".to_string()])));
}

#[tokio::test]
async fn expired_id_is_not_found() {
    let (c, _) = client(vec![response(404, Some("ResourceNotFoundException"), r#"{"message": "Authorization details not found"}"#)]);
    assert_eq!(fetch(&c, "old1").await.unwrap_err(), AuthzError::NotFound("old1".into()));
}

#[tokio::test]
async fn access_denied_on_the_api_itself() {
    let (c, _) = client(vec![response(403, Some("AccessDeniedException"), r#"{"message": "User is not authorized to perform: iam:GetRequestAuthorizationDetails"}"#)]);
    let err = fetch(&c, "abc").await.unwrap_err();
    assert!(matches!(&err, AuthzError::NotPermitted(m) if m.contains("iam:GetRequestAuthorizationDetails")), "{err:?}");
    assert!(err.to_string().contains("needs iam:GetRequestAuthorizationDetails"));
}

#[tokio::test]
async fn malformed_id_is_refused_before_any_call() {
    let (c, replay) = client(vec![]);
    assert!(matches!(fetch(&c, "ABC/../x").await.unwrap_err(), AuthzError::Invalid { .. }));
    assert_eq!(replay.actual_requests().count(), 0);
}
