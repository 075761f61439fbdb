//! The seam to the IAM action catalog: API operation → IAM action, SDK service name → IAM prefix.
//! The catalog crate will implement [`ActionCatalog`] from AWS's service authorization reference;
//! until then [`BuiltinCatalog`] knows the usual names and the well-known mismatches.

/// Maps what SDKs and CloudTrail print to IAM vocabulary.
pub trait ActionCatalog {
    /// The IAM action authorizing `operation` of the service with IAM prefix `service`, if known.
    fn action_for(&self, service: &str, operation: &str) -> Option<String>;

    /// The IAM prefix for a service name as an SDK, endpoint or CloudTrail prints it (`Amazon S3`, `AWSKMS`, `Secrets Manager`).
    fn service_prefix(&self, name: &str) -> Option<String> {
        builtin_service_prefix(name)
    }

    /// The IAM prefix of the one service that has API operation `operation`, when only one has it
    /// (`HeadObject` → `s3`); `None` for names several services share (`ListTagsForResource`).
    fn service_for_operation(&self, operation: &str) -> Option<String> {
        OPERATION_SERVICES.iter().find(|(op, _)| op.eq_ignore_ascii_case(operation)).map(|(_, svc)| svc.to_string())
    }
}

/// Operations that only one service has, for wrappers that print the operation and not the service.
const OPERATION_SERVICES: &[(&str, &str)] = &[
    ("HeadObject", "s3"),
    ("HeadBucket", "s3"),
    ("GetObject", "s3"),
    ("PutObject", "s3"),
    ("CopyObject", "s3"),
    ("DeleteObject", "s3"),
    ("DeleteObjects", "s3"),
    ("ListObjects", "s3"),
    ("ListObjectsV2", "s3"),
    ("ListObjectVersions", "s3"),
    ("ListBuckets", "s3"),
    ("CreateBucket", "s3"),
    ("GetBucketPolicy", "s3"),
    ("PutBucketPolicy", "s3"),
    ("GetBucketLocation", "s3"),
    ("GetBucketAcl", "s3"),
    ("GetObjectAcl", "s3"),
    ("PutObjectAcl", "s3"),
    ("GetObjectTagging", "s3"),
    ("CreateMultipartUpload", "s3"),
    ("UploadPart", "s3"),
    ("CompleteMultipartUpload", "s3"),
    ("AssumeRole", "sts"),
    ("AssumeRoleWithWebIdentity", "sts"),
    ("AssumeRoleWithSAML", "sts"),
    ("GetCallerIdentity", "sts"),
    ("GetSessionToken", "sts"),
    ("GetFederationToken", "sts"),
    ("DecodeAuthorizationMessage", "sts"),
    ("SendMessage", "sqs"),
    ("SendMessageBatch", "sqs"),
    ("ReceiveMessage", "sqs"),
    ("GetQueueUrl", "sqs"),
    ("GetQueueAttributes", "sqs"),
    ("GetSecretValue", "secretsmanager"),
    ("GenerateDataKey", "kms"),
    ("GetAuthorizationToken", "ecr"),
    ("GetParameter", "ssm"),
    ("GetParameters", "ssm"),
    ("GetParametersByPath", "ssm"),
];

/// Built-in knowledge: the operation is its own action name, except for a table of well-known mismatches.
#[derive(Copy, Clone, Debug, Default)]
pub struct BuiltinCatalog;

/// Operations whose IAM action has another name: (prefix, operation, action).
const MISMATCHES: &[(&str, &str, &str)] = &[
    ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "HeadBucket", "s3:ListBucket"),
    ("s3", "ListObjects", "s3:ListBucket"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
    ("s3", "ListObjectVersions", "s3:ListBucketVersions"),
    ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
    ("s3", "ListMultipartUploads", "s3:ListBucketMultipartUploads"),
    ("s3", "ListParts", "s3:ListMultipartUploadParts"),
    ("s3", "CreateMultipartUpload", "s3:PutObject"),
    ("s3", "UploadPart", "s3:PutObject"),
    ("s3", "UploadPartCopy", "s3:PutObject"),
    ("s3", "CompleteMultipartUpload", "s3:PutObject"),
    ("s3", "CopyObject", "s3:PutObject"),
    ("s3", "DeleteObjects", "s3:DeleteObject"),
    ("s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration"),
    ("s3", "PutBucketEncryption", "s3:PutEncryptionConfiguration"),
    ("s3", "DeleteBucketEncryption", "s3:PutEncryptionConfiguration"),
    ("s3", "GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    ("s3", "PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
    ("s3", "GetBucketReplication", "s3:GetReplicationConfiguration"),
    ("s3", "PutBucketReplication", "s3:PutReplicationConfiguration"),
    ("s3", "GetBucketCors", "s3:GetBucketCORS"),
    ("s3", "PutBucketCors", "s3:PutBucketCORS"),
    ("s3", "GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
    ("s3", "PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("lambda", "InvokeAsync", "lambda:InvokeFunction"),
    ("lambda", "InvokeWithResponseStream", "lambda:InvokeFunction"),
    ("dynamodb", "TransactGetItems", "dynamodb:GetItem"),
    ("dynamodb", "TransactWriteItems", "dynamodb:PutItem"),
    ("sqs", "SendMessageBatch", "sqs:SendMessage"),
    ("sqs", "DeleteMessageBatch", "sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"),
];

impl ActionCatalog for BuiltinCatalog {
    fn action_for(&self, service: &str, operation: &str) -> Option<String> {
        if service.is_empty() || operation.is_empty() || !operation.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let found = MISMATCHES.iter().find(|(s, op, _)| *s == service && op.eq_ignore_ascii_case(operation));
        Some(found.map_or_else(|| format!("{service}:{operation}"), |(_, _, action)| action.to_string()))
    }
}

/// SDK service names, endpoint labels and CloudTrail sources whose IAM prefix is not their folded name.
const SERVICE_NAMES: &[(&str, &str)] = &[
    ("securitytokenservice", "sts"),
    ("securitytoken", "sts"),
    ("identitymanagement", "iam"),
    ("identitymanagementservice", "iam"),
    ("simplesystemsmanagement", "ssm"),
    ("simpleemailservice", "ses"),
    ("simpleemailservicev2", "ses"),
    ("sesv2", "ses"),
    ("email", "ses"),
    ("simplenotificationservice", "sns"),
    ("simplequeueservice", "sqs"),
    ("queue", "sqs"),
    ("keymanagementservice", "kms"),
    ("dynamodbv2", "dynamodb"),
    ("dynamodbstreams", "dynamodb"),
    ("cloudwatchlogs", "logs"),
    ("cloudwatchevents", "events"),
    ("eventbridge", "events"),
    ("monitoring", "cloudwatch"),
    ("elbv2", "elasticloadbalancing"),
    ("elasticloadbalancingv2", "elasticloadbalancing"),
    ("elasticloadbalancing", "elasticloadbalancing"),
    ("sfn", "states"),
    ("stepfunctions", "states"),
    ("cognitoidentityprovider", "cognito-idp"),
    ("cognitoidentity", "cognito-identity"),
    ("route53", "route53"),
    ("secretsmanager", "secretsmanager"),
    ("apigateway", "apigateway"),
    ("elasticcontainerregistry", "ecr"),
    ("elasticcontainerservice", "ecs"),
    ("elastickubernetesservice", "eks"),
    ("relationaldatabaseservice", "rds"),
    ("kinesisfirehose", "firehose"),
    ("applicationautoscaling", "application-autoscaling"),
    ("autoscaling", "autoscaling"),
    ("servicequotas", "servicequotas"),
    ("resourcegroupstaggingapi", "tag"),
    ("iamtoolbox", "iam"),
];

/// Fold a service name (`Amazon S3`, `AWSKMS`, `s3.amazonaws.com`, `Secrets Manager`) to an IAM prefix.
pub(crate) fn builtin_service_prefix(name: &str) -> Option<String> {
    let mut n = name.trim().to_ascii_lowercase();
    for suffix in [".amazonaws.com.cn", ".amazonaws.com"] {
        if let Some(stripped) = n.strip_suffix(suffix) {
            n = stripped.to_string();
        }
    }
    let folded: String = n.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let mut folded = folded.replace('-', "");
    for prefix in ["amazon", "aws"] {
        if folded.len() > prefix.len() {
            if let Some(rest) = folded.strip_prefix(prefix) {
                folded = rest.to_string();
            }
        }
    }
    if folded.is_empty() || folded.len() > 40 {
        return None;
    }
    if let Some((_, prefix)) = SERVICE_NAMES.iter().find(|(k, _)| *k == folded) {
        return Some(prefix.to_string());
    }
    // An endpoint label keeps its hyphens (`cognito-idp`); a display name does not have any.
    if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && n.contains('-') {
        return Some(n);
    }
    Some(folded)
}

/// The service of an AWS endpoint URL or host (`https://sqs.us-west-2.amazonaws.com/`, `b.s3.eu-west-1.amazonaws.com`).
pub(crate) fn service_of_host(url: &str) -> Option<String> {
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.split(['/', ':', '?']).next()?.to_ascii_lowercase();
    let base = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = base.split('.').collect();
    if labels.iter().any(|l| *l == "s3" || l.starts_with("s3-")) {
        return Some("s3".into());
    }
    let first = labels.first()?;
    if first.contains('-') && labels.len() > 1 && first.chars().filter(|c| *c == '-').count() >= 2 {
        // region first (`eu-west-1.queue.amazonaws.com`)
        return builtin_service_prefix(labels.get(1)?);
    }
    builtin_service_prefix(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_mismatched_operations() {
        let c = BuiltinCatalog;
        assert_eq!(c.action_for("s3", "HeadObject").as_deref(), Some("s3:GetObject"));
        assert_eq!(c.action_for("s3", "ListObjectsV2").as_deref(), Some("s3:ListBucket"));
        assert_eq!(c.action_for("s3", "PutObject").as_deref(), Some("s3:PutObject"));
        assert_eq!(c.action_for("lambda", "Invoke").as_deref(), Some("lambda:InvokeFunction"));
        assert_eq!(c.action_for("s3", "Put Object"), None);
    }

    #[test]
    fn unique_operations_name_their_service() {
        let c = BuiltinCatalog;
        assert_eq!(c.service_for_operation("HeadObject").as_deref(), Some("s3"));
        assert_eq!(c.service_for_operation("AssumeRoleWithWebIdentity").as_deref(), Some("sts"));
        assert_eq!(c.service_for_operation("ListTagsForResource"), None);
    }

    #[test]
    fn folds_service_names() {
        for (name, prefix) in [
            ("Amazon S3", "s3"),
            ("S3", "s3"),
            ("AmazonSQS", "sqs"),
            ("AWSSecurityTokenService", "sts"),
            ("AWSKMS", "kms"),
            ("Secrets Manager", "secretsmanager"),
            ("CloudWatch Logs", "logs"),
            ("AmazonIdentityManagement", "iam"),
            ("s3.amazonaws.com", "s3"),
            ("cognito-idp.amazonaws.com", "cognito-idp"),
            ("SESV2", "ses"),
            ("Lambda", "lambda"),
        ] {
            assert_eq!(builtin_service_prefix(name).as_deref(), Some(prefix), "{name}");
        }
    }

    #[test]
    fn service_from_hosts() {
        assert_eq!(service_of_host("https://sqs.us-west-2.amazonaws.com/").as_deref(), Some("sqs"));
        assert_eq!(service_of_host("https://my-shop1.s3.ap-south-1.amazonaws.com/a/b.jpg").as_deref(), Some("s3"));
        assert_eq!(service_of_host("https://eu-west-1.queue.amazonaws.com/").as_deref(), Some("sqs"));
        assert_eq!(service_of_host("https://sts.cn-north-1.amazonaws.com.cn").as_deref(), Some("sts"));
        assert_eq!(service_of_host("https://example.com/"), None);
    }
}
