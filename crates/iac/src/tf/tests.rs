//! Bad input never panics and never yields a partial edit: junk states, truncated `.tf` files,
//! heredocs whose JSON cannot be edited in place.

use serde_json::json;

use super::*;
use crate::delta::PolicyEdit;
use crate::model::{Live, Slot, SourceFile, StateSource};

fn live() -> Live {
    Live { partition: "aws".into(), account: "111122223333".into(), region: "us-east-1".into() }
}

fn kms_wanted() -> Wanted {
    let before = json!({"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]});
    let mut after = before.clone();
    if let Some(l) = after["Statement"].as_array_mut() {
        l.push(json!({"Sid": "B", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": "kms:Decrypt", "Resource": "*"}));
    }
    Wanted {
        change: "c1".into(),
        layer: "resource".into(),
        slot: Slot::ResourcePolicy { service: "kms".into(), resource_arn: "arn:aws:kms:us-east-1:111122223333:key/k1".into(), create: false },
        edit: PolicyEdit::new(Some(&before), &after).expect("edit"),
    }
}

fn state_text() -> String {
    json!({"version": 4, "resources": [{"mode": "managed", "type": "aws_kms_key", "name": "k", "instances": [{"attributes": {"arn": "arn:aws:kms:us-east-1:111122223333:key/k1", "key_id": "k1"}}]}]}).to_string()
}

fn sources(tf: &str, state: &str) -> Sources {
    Sources {
        files: vec![SourceFile { path: "main.tf".into(), text: tf.into() }],
        stacks: vec![],
        states: vec![StateSource { origin: "s.tfstate".into(), dir: String::new(), text: state.into() }],
        live: live(),
    }
}

#[test]
fn junk_states_are_errors() {
    for junk in ["", "\u{0}\u{1}binary", "{\"version\": 3, \"resources\": []}", "[1,2", "{\"values\": 1}"] {
        let (locs, errs) = Terraform.locate(&kms_wanted(), &sources("", junk));
        assert!(locs.is_empty());
        assert_eq!(errs.len(), 1, "{junk:?}: {errs:?}");
        assert!(errs[0].to_string().starts_with("s.tfstate: -: "), "{}", errs[0]);
    }
}

#[test]
fn truncated_tf_is_an_error() {
    let tf = "resource \"aws_kms_key\" \"k\" {\n  policy = jsonencode({\n    Statement = [\n";
    let (locs, errs) = Terraform.locate(&kms_wanted(), &sources(tf, &state_text()));
    assert!(locs.is_empty());
    assert!(errs.iter().any(|e| e.to_string().contains("does not parse as HCL")), "{errs:?}");
}

#[test]
fn heredoc_with_bare_interpolation_is_refused_whole() {
    let tf = "resource \"aws_kms_key\" \"k\" {\n  policy = <<EOF\n{\"Version\": \"2012-10-17\", \"Statement\": ${jsonencode(local.s)}}\nEOF\n}\n";
    let s = sources(tf, &state_text());
    let (locs, errs) = Terraform.locate(&kms_wanted(), &s);
    assert!(errs.is_empty(), "{errs:?}");
    let e = Terraform.patch(&kms_wanted(), &locs[0], &s).expect_err("no partial edit");
    assert!(e.to_string().starts_with("main.tf: aws_kms_key.k: the heredoc's JSON"), "{e}");
}

#[test]
fn expression_forms_without_an_in_place_edit_are_refused() {
    let tf = "resource \"aws_kms_key\" \"k\" {\n  policy = local.key_policy\n}\n";
    let s = sources(tf, &state_text());
    let (locs, _) = Terraform.locate(&kms_wanted(), &s);
    let e = Terraform.patch(&kms_wanted(), &locs[0], &s).expect_err("refused");
    assert!(e.to_string().contains("not a form denyctl edits in place"), "{e}");
}

#[test]
fn the_same_owner_through_two_states_is_one_owner() {
    let tf = "resource \"aws_kms_key\" \"k\" {\n  policy = jsonencode({ Version = \"2012-10-17\", Statement = [] })\n}\n";
    let mut s = sources(tf, &state_text());
    s.files.push(SourceFile { path: "terraform.tfstate".into(), text: state_text() });
    let (locs, errs) = Terraform.locate(&kms_wanted(), &s);
    assert_eq!(locs.len(), 1, "{locs:?} {errs:?}");
}
