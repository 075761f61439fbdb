//! Unit tests of the CloudFormation backend: bad input never panics, intrinsics render, edits
//! keep the bytes around them.

use serde_json::json;

use super::intrinsics::Ctx;
use super::template::parse;
use super::{json as j, node, yaml};
use crate::model::Live;

fn live() -> Live {
    Live { partition: "aws".into(), account: "111122223333".into(), region: "us-east-1".into() }
}

#[test]
fn junk_never_panics() {
    let junk = ["", "{", "[[[[", "Resources: [", "\u{0}\u{1}\u{fffd}binary", "{\"Resources\": {\"A\": ", "Resources:\n  A:\n    Type: AWS::IAM::Role\n   Properties: x\n", "Resources: &a\n  B: *b\n", "\"\\", "{\"a\":\"\\u12\"}"];
    for t in junk {
        let _ = parse("t.yaml", t);
        let _ = node::parse_yaml(t);
        let _ = j::parse_json(t);
    }
    let deep = "[".repeat(10_000);
    assert!(j::parse_json(&deep).is_err());
    assert!(node::parse_yaml(&deep).is_err());
    let e = parse("t.json", "{\"AWSTemplateFormatVersion\": \"2010-09-09\", \"Resources\": {\"A\": {\"Type\": \"AWS::S3::Bucket\",}}}").unwrap_err();
    assert!(e.to_string().starts_with("t.json: -: the template does not parse as JSON: line 1"), "{e}");
}

#[test]
fn short_forms_become_long_forms() {
    let t = "Resources:\n  R:\n    Type: X\n    Properties:\n      A: !Sub 'a-${B}'\n      G: !GetAtt Role.Arn\n      J: !Join ['', [x, !Ref AWS::Region]]\n";
    let tpl = parse("t.yaml", t).unwrap().unwrap();
    let p = &tpl.json["Resources"]["R"]["Properties"];
    assert_eq!(p["A"], json!({"Fn::Sub": "a-${B}"}));
    assert_eq!(p["G"], json!({"Fn::GetAtt": ["Role", "Arn"]}));
    assert_eq!(p["J"], json!({"Fn::Join": ["", ["x", {"Ref": "AWS::Region"}]]}));
}

#[test]
fn intrinsics_render() {
    let t = r#"{"Parameters": {"Env": {"Type": "String", "Default": "prod"}},
      "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}, "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]}},
      "Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "${Env}-b"}}},
                    "R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r", "Path": "/ci/"}},
                    "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}}}"#;
    let tpl = parse("t.json", t).unwrap().unwrap();
    let c: Ctx = tpl.ctx(&live(), None);
    let r = |v: serde_json::Value| c.render(&v);
    assert_eq!(r(json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${B}/*"})).unwrap(), Some(json!("arn:aws:s3:::prod-b/*")));
    assert_eq!(r(json!({"Fn::Sub": ["${X}-${!Lit}", {"X": {"Ref": "AWS::AccountId"}}]})).unwrap(), Some(json!("111122223333-${Lit}")));
    assert_eq!(r(json!({"Fn::GetAtt": ["R", "Arn"]})).unwrap(), Some(json!("arn:aws:iam::111122223333:role/ci/r")));
    assert_eq!(r(json!({"Fn::Sub": "${Q.Arn}"})).unwrap(), Some(json!("arn:aws:sqs:us-east-1:111122223333:q")));
    assert_eq!(r(json!({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]})).unwrap(), Some(json!("b")));
    assert_eq!(r(json!({"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]})).unwrap(), None);
    assert_eq!(r(json!(["a", {"Fn::If": ["IsProd", "p", "d"]}])).unwrap(), Some(json!(["a", "p"])));
    let e = r(json!({"Fn::ImportValue": "x"})).unwrap_err();
    assert!(e.expression.starts_with("Fn::ImportValue"), "{e:?}");
    assert!(r(json!({"Fn::GetAtt": ["R", "RoleId"]})).is_err());
}

#[test]
fn json_edits_keep_the_rest() {
    let t = "{\n \"a\": [\n  1\n ],\n \"b\": \"x\"\n}\n";
    let n = j::parse_json(t).unwrap();
    let a = n.get("a").unwrap();
    let out = j::append(t, a, &json!({"k": 2})).unwrap();
    assert_eq!(out, "{\n \"a\": [\n  1,\n  {\n   \"k\": 2\n  }\n ],\n \"b\": \"x\"\n}\n");
    let out = j::insert(t, &n, "c", &json!(true), None).unwrap();
    assert_eq!(out, "{\n \"a\": [\n  1\n ],\n \"b\": \"x\",\n \"c\": true\n}\n");
    let out = j::promote(t, n.get("b").unwrap(), &[json!("y")]).unwrap();
    assert_eq!(out, "{\n \"a\": [\n  1\n ],\n \"b\": [\n  \"x\",\n  \"y\"\n ]\n}\n");
}

#[test]
fn yaml_edits_keep_comments_and_tags() {
    let t = "Statement:\n  # first\n  - Effect: Allow # keep\n    Resource: !Sub \"${B}\"\nNext: 1\n";
    let root = node::parse_yaml(t).unwrap();
    let (k, seq) = root.entry("Statement").unwrap();
    let st = yaml::detect(t, &root, Some(&root));
    let out = yaml::append(t, k, seq, &json!({"Effect": "Deny", "Resource": {"Fn::GetAtt": ["X", "Arn"]}}), &st).unwrap();
    assert_eq!(out, "Statement:\n  # first\n  - Effect: Allow # keep\n    Resource: !Sub \"${B}\"\n  - Effect: Deny\n    Resource: !GetAtt X.Arn\nNext: 1\n");
    let t2 = "C:\n  K: 'a' # why\n";
    let r2 = node::parse_yaml(t2).unwrap();
    let c = r2.get("C").unwrap();
    let (k2, v2) = c.entry("K").unwrap();
    let st2 = yaml::detect(t2, &r2, Some(&r2));
    assert_eq!(yaml::promote(t2, k2, v2, &[json!("b")], &st2).unwrap(), "C:\n  K: # why\n    - 'a'\n    - 'b'\n");
}

#[test]
fn flow_values_are_refused_not_broken() {
    use crate::delta::PolicyEdit;
    use crate::model::{Backend, Slot, SourceFile, Sources, Wanted};
    let t = "Resources:\n  P:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n      ManagedPolicyName: b\n      PolicyDocument:\n        Statement:\n          - { Effect: Deny, Action: '*', Resource: '*', Condition: { ArnNotEquals: { aws:PrincipalArn: 'arn:aws:iam::111122223333:role/a' } } }\n";
    let before = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/a"}}}]});
    let mut after = before.clone();
    after["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] = json!(["arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:role/b"]);
    let edit = PolicyEdit::new(Some(&before), &after).unwrap();
    let w = Wanted { change: "c1".into(), layer: "permissions_boundary".into(), slot: Slot::Boundary { policy_arn: "arn:aws:iam::111122223333:policy/b".into(), policy_name: "b".into() }, edit };
    let sources = Sources { files: vec![SourceFile { path: "p.yaml".into(), text: t.into() }], live: live(), ..Sources::default() };
    let (locs, errs) = super::CloudFormation.locate(&w, &sources);
    assert!(errs.is_empty() && locs.len() == 1, "{locs:?} {errs:?}");
    let e = super::CloudFormation.patch(&w, &locs[0], &sources).unwrap_err();
    assert!(e.to_string().contains("flow-style"), "{e}");
}

#[test]
fn crlf_templates_stay_crlf() {
    use crate::delta::PolicyEdit;
    use crate::model::{Backend, Slot, SourceFile, Sources, Wanted};
    let t = "Resources:\r\n  P:\r\n    Type: AWS::IAM::ManagedPolicy\r\n    Properties:\r\n      ManagedPolicyName: b\r\n      PolicyDocument:\r\n        Statement:\r\n          - Effect: Allow\r\n            Action: s3:GetObject\r\n            Resource: '*'\r\n";
    let s0 = json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"});
    let s1 = json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"});
    let edit = PolicyEdit::new(Some(&json!({"Statement": [s0.clone()]})), &json!({"Statement": [s0, s1]})).unwrap();
    let w = Wanted { change: "c1".into(), layer: "permissions_boundary".into(), slot: Slot::Boundary { policy_arn: "arn:aws:iam::111122223333:policy/b".into(), policy_name: "b".into() }, edit: edit.clone() };
    let sources = Sources { files: vec![SourceFile { path: "p.yaml".into(), text: t.into() }], live: live(), ..Sources::default() };
    let (locs, _) = super::CloudFormation.locate(&w, &sources);
    let p = super::CloudFormation.patch(&w, &locs[0], &sources).unwrap();
    let after = &p.edits[0].after;
    assert_eq!(after.matches("\r\n").count(), after.matches('\n').count(), "{after:?}");
    assert!(after.starts_with(t), "{after:?}");
    assert!(crate::delta::same_policy(p.rendered_after.as_ref().unwrap(), &edit.after));
}
