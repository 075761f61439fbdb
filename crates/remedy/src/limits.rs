//! IAM quotas a plan must respect (IAM User Guide, "IAM and AWS STS quotas"): policy sizes
//! counted without whitespace, and five versions per managed policy.

use serde_json::Value as Json;

use crate::model::{PolicyVersion, VersionPlan};

/// Aggregate size of all inline policies of a role.
pub const ROLE_INLINE: usize = 10_240;
/// Aggregate size of all inline policies of a user.
pub const USER_INLINE: usize = 2_048;
/// Size of a customer managed policy (also a permissions boundary).
pub const MANAGED: usize = 6_144;
/// Size of a role trust policy (the default quota; it can be raised to 4,096).
pub const TRUST: usize = 2_048;
/// Size of an SCP or RCP.
pub const ORG_POLICY: usize = 5_120;
/// Versions a managed policy can have.
pub const MAX_VERSIONS: usize = 5;

/// The size of a policy as IAM counts it: characters, white space not counted. (White space
/// inside string values is counted: the conservative reading.)
pub fn policy_size(doc: &Json) -> usize {
    serde_json::to_string(doc).map(|s| s.chars().count()).unwrap_or(usize::MAX)
}

/// The size quota of a resource policy, by service (bytes; from each service's documentation).
pub fn resource_policy_limit(service: &str) -> Option<(usize, &'static str)> {
    match service {
        "s3" => Some((20_480, "S3 bucket policy (20 KB)")),
        "kms" => Some((32_768, "KMS key policy (32 KB)")),
        "sqs" => Some((8_192, "SQS queue policy (8,192 bytes)")),
        "secretsmanager" => Some((20_480, "Secrets Manager resource policy (20,480 characters)")),
        _ => None,
    }
}

/// What to do about versions before writing a new version of a managed policy.
///
/// With five versions already, the oldest version that is **not** the default is deleted
/// first (oldest by creation date when every version has one, else by version number, else by
/// list order). The default version is never deleted.
pub fn version_plan(versions: Option<&[PolicyVersion]>) -> VersionPlan {
    let Some(list) = versions else {
        return VersionPlan {
            known: false,
            count: None,
            delete_version: None,
            note: format!(
                "versions not read: if the policy already has {MAX_VERSIONS}, delete its oldest non-default version before CreatePolicyVersion (never the default)"
            ),
        };
    };
    if list.len() < MAX_VERSIONS {
        return VersionPlan {
            known: true,
            count: Some(list.len()),
            delete_version: None,
            note: format!("{} of {MAX_VERSIONS} versions: CreatePolicyVersion --set-as-default", list.len()),
        };
    }
    let number = |v: &PolicyVersion| v.version_id.trim_start_matches(['v', 'V']).parse::<u64>().ok();
    let mut candidates: Vec<(usize, &PolicyVersion)> = list.iter().enumerate().filter(|(_, v)| !v.is_default).collect();
    if candidates.iter().all(|(_, v)| v.create_date.is_some()) {
        candidates.sort_by(|(ia, a), (ib, b)| a.create_date.cmp(&b.create_date).then(ia.cmp(ib)));
    } else if candidates.iter().all(|(_, v)| number(v).is_some()) {
        candidates.sort_by_key(|(i, v)| (number(v), *i));
    }
    match candidates.first() {
        Some((_, v)) => VersionPlan {
            known: true,
            count: Some(list.len()),
            delete_version: Some(v.version_id.clone()),
            note: format!(
                "{} versions (the quota is {MAX_VERSIONS}): delete {} (the oldest non-default version), then CreatePolicyVersion --set-as-default",
                list.len(),
                v.version_id
            ),
        },
        None => VersionPlan {
            known: true,
            count: Some(list.len()),
            delete_version: None,
            note: "every version is marked default (inconsistent listing): re-read the versions before applying".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(id: &str, default: bool, date: Option<&str>) -> PolicyVersion {
        PolicyVersion { version_id: id.into(), is_default: default, create_date: date.map(str::to_string) }
    }

    #[test]
    fn size_ignores_whitespace() {
        let pretty = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let text = serde_json::to_string_pretty(&pretty).unwrap();
        assert!(text.len() > policy_size(&pretty));
        assert_eq!(policy_size(&pretty), r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.len());
    }

    #[test]
    fn five_versions_delete_oldest_non_default() {
        // The default is the oldest: it must survive; v2 goes.
        let list = vec![v("v1", true, None), v("v2", false, None), v("v3", false, None), v("v4", false, None), v("v5", false, None)];
        let p = version_plan(Some(&list));
        assert_eq!(p.delete_version.as_deref(), Some("v2"));
        // Dates win over numbers.
        let list = vec![
            v("v7", false, Some("2024-03-01T00:00:00Z")),
            v("v3", false, Some("2024-05-01T00:00:00Z")),
            v("v9", true, Some("2023-01-01T00:00:00Z")),
            v("v4", false, Some("2024-02-01T00:00:00Z")),
            v("v5", false, Some("2024-04-01T00:00:00Z")),
        ];
        assert_eq!(version_plan(Some(&list)).delete_version.as_deref(), Some("v4"));
        // Numeric order, not text order (v10 is newer than v9).
        let list = vec![v("v10", false, None), v("v9", false, None), v("v11", true, None), v("v12", false, None), v("v13", false, None)];
        assert_eq!(version_plan(Some(&list)).delete_version.as_deref(), Some("v9"));
        // Fewer than five: nothing deleted; unknown: said so.
        assert_eq!(version_plan(Some(&list[..3])).delete_version, None);
        assert!(!version_plan(None).known);
    }
}
