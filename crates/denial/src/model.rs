//! What a parse returns: findings in the vocabulary of shared/denials/README.md.

use serde::Serialize;

/// What kind of thing a finding is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An authorization failure read from error text.
    Denial,
    /// An authorization failure read from a CloudTrail event.
    Cloudtrail,
    /// An error that looks like a denial but is not one (stale or wrong credentials, clock, missing key).
    NotADenial,
}

/// The policy layer a message names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    /// Identity-based policy of the principal.
    Identity,
    /// The resource's own policy (bucket, key, queue, secret policy).
    Resource,
    /// Permissions boundary on the principal.
    PermissionsBoundary,
    /// Session policy passed when the session was created.
    Session,
    /// Organizations service control policy.
    Scp,
    /// Organizations resource control policy.
    Rcp,
    /// VPC endpoint policy.
    VpcEndpoint,
    /// Role trust policy.
    Trust,
}

impl PolicyType {
    /// How AWS names the layer in prose.
    pub fn describe(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity-based policy",
            PolicyType::Resource => "resource-based policy",
            PolicyType::PermissionsBoundary => "permissions boundary",
            PolicyType::Session => "session policy",
            PolicyType::Scp => "service control policy (SCP)",
            PolicyType::Rcp => "resource control policy (RCP)",
            PolicyType::VpcEndpoint => "VPC endpoint policy",
            PolicyType::Trust => "role trust policy",
        }
    }
}

/// Whether the message says a Deny matched, or that nothing allowed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyKind {
    /// A Deny statement matched.
    Explicit,
    /// No statement allowed the request.
    Implicit,
}

/// CloudTrail details kept with a finding read from an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CloudTrailInfo {
    /// `eventTime`.
    pub event_time: Option<String>,
    /// `eventSource`, e.g. `s3.amazonaws.com`.
    pub event_source: Option<String>,
    /// `eventName`, the API operation.
    pub event_name: Option<String>,
    /// `awsRegion`.
    pub region: Option<String>,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `eventID`.
    pub event_id: Option<String>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `userIdentity.type` (IAMUser, AssumedRole, FederatedUser, Root, AWSService, AWSAccount, ...).
    pub identity_type: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn` for role sessions.
    pub session_issuer: Option<String>,
    /// `userIdentity.invokedBy` when a service called on the principal's behalf.
    pub invoked_by: Option<String>,
    /// `recipientAccountId`.
    pub recipient_account: Option<String>,
}

/// One authorization failure (or look-alike) found in the input. `None` means the input does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What this is.
    pub kind: Option<Kind>,
    /// The caller, as printed (an ARN, or whatever the message names).
    pub principal: Option<String>,
    /// The IAM action, service prefix lowercased (`sns:Publish`).
    pub action: Option<String>,
    /// The resource, as printed without the wrapper's quotes, brackets and trailing punctuation;
    /// an SQS queue URL as the queue's ARN.
    pub resource: Option<String>,
    /// The layer that denied.
    pub policy_type: Option<PolicyType>,
    /// Explicit or implicit.
    pub deny: Option<DenyKind>,
    /// The layer an explicit deny came through ("transitively through a ...").
    pub transitive_via: Option<PolicyType>,
    /// Whether an "Encoded authorization failure message" is present.
    pub encoded_message: bool,
    /// For look-alikes: the error they really are (`ExpiredToken`, `InvalidClientTokenId`, ...).
    pub other_error: Option<String>,
    /// IAM Access Troubleshooter authorization ID, for GetRequestAuthorizationDetails.
    pub authorization_id: Option<String>,
    /// The ARN of the policy the message names after its type, when it names one.
    pub policy_arn: Option<String>,
    /// Role name, for an assumed-role principal.
    pub role_name: Option<String>,
    /// Session name, for an assumed-role principal.
    pub session_name: Option<String>,
    /// The principal's account, from its ARN.
    pub account: Option<String>,
    /// The principal's partition (`aws`, `aws-cn`, `aws-us-gov`), from its ARN.
    pub partition: Option<String>,
    /// The encoded authorization message, for sts:DecodeAuthorizationMessage.
    pub encoded_blob: Option<String>,
    /// The API operation the wrapper or event names (`PutObject`).
    pub operation: Option<String>,
    /// The IAM service prefix the wrapper or event names (`s3`).
    pub service: Option<String>,
    /// The error code (`AccessDenied`, `Client.UnauthorizedOperation`, ...).
    pub error_code: Option<String>,
    /// The request ID the wrapper or event gives.
    pub request_id: Option<String>,
    /// The fields above that the input leaves unknown and that matter for a fix.
    pub unknown: Vec<&'static str>,
    /// The fields whose value, as printed, is redacted or elided (`REDACTED`, `<account-id>`, `...`,
    /// `XXXX`): reported as printed, never filled in, and not to be used as a real name.
    pub redacted: Vec<&'static str>,
    /// The message text this finding was read from (whitespace folded, authorization-ID pointer removed).
    pub message: String,
    /// Details from the CloudTrail event, when read from one.
    pub cloudtrail: Option<CloudTrailInfo>,
}

impl Finding {
    /// Fill in what follows from the fields already set: role and session, account, what is unknown.
    pub(crate) fn finish(mut self) -> Self {
        if let Some(p) = self.principal.as_deref() {
            if let Some(arn) = split_arn(p) {
                self.partition = Some(arn.partition.to_string()).filter(|s| !s.is_empty());
                self.account = Some(arn.account.to_string()).filter(|s| !s.is_empty());
                if arn.service == "sts" {
                    if let Some(rest) = arn.resource.strip_prefix("assumed-role/") {
                        let mut parts = rest.splitn(2, '/');
                        self.role_name = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
                        self.session_name = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
                    }
                }
            }
        }
        let mut unknown = Vec::new();
        if self.kind != Some(Kind::NotADenial) {
            if self.principal.is_none() {
                unknown.push("principal");
            }
            if self.action.is_none() {
                unknown.push("action");
            }
            if self.resource.is_none() {
                unknown.push("resource");
            }
            if self.policy_type.is_none() {
                unknown.push("policy_type");
            }
            if self.deny.is_none() {
                unknown.push("deny");
            }
        }
        self.unknown = unknown;
        let fields: [(&'static str, &Option<String>); 6] = [
            ("principal", &self.principal),
            ("account", &self.account),
            ("role_name", &self.role_name),
            ("session_name", &self.session_name),
            ("resource", &self.resource),
            ("policy_arn", &self.policy_arn),
        ];
        self.redacted = fields.iter().filter(|(_, v)| v.as_deref().is_some_and(is_redacted)).map(|(k, _)| *k).collect();
        self
    }
}

/// Whether a printed value has a part someone hid or cut: `REDACTED`, `<account-id>`, `{{account}}`,
/// `[redacted]`, `...`/`…`, a run of `x`, `*` or `#`, `account-id`/`account number` spelled out.
pub(crate) fn is_redacted(value: &str) -> bool {
    if value.contains("...") || value.contains('…') {
        return true;
    }
    value.split([':', '/']).any(|seg| {
        let wrapped = (seg.starts_with('<') && seg.ends_with('>')) || (seg.starts_with('{') && seg.ends_with('}')) || (seg.starts_with('[') && seg.ends_with(']'));
        let masked = (seg.len() >= 3 && seg.chars().all(|c| matches!(c, 'x' | 'X' | '*' | '#')))
            || (seg.len() >= 4 && seg.chars().all(|c| c.is_ascii_alphanumeric() && seg.starts_with(c)));
        let b = seg.as_bytes();
        let masked_tail = b.len() >= 6 && b[b.len() - 4..].eq_ignore_ascii_case(b"xxxx");
        wrapped || masked || masked_tail || names_a_placeholder(b)
    })
}

/// Whether a segment names a placeholder (`redacted`, `account-id`, `account number`,
/// `your-account`, `<`, `${`), in any ASCII case: one pass keyed by the first letter, no copy.
fn names_a_placeholder(b: &[u8]) -> bool {
    let at = |i: usize, w: &[u8]| b.len() >= i + w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w);
    const ACCOUNT: [&[u8]; 6] = [b"account-id", b"account_id", b"accountid", b"account id", b"account number", b"account-number"];
    (0..b.len()).any(|i| match b[i].to_ascii_lowercase() {
        b'<' => true,
        b'$' => at(i, b"${"),
        b'r' => at(i, b"redacted"),
        b'y' => at(i, b"your-account"),
        b'a' => ACCOUNT.iter().any(|w| at(i, w)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::is_redacted;

    #[test]
    fn recognises_redactions_not_names() {
        for v in ["arn:aws:sts::REDACTED:assumed-role/r/s", "arn:aws:iam::<account-id>:user/bob", "arn:aws:s3:::bucket/...", "arn:aws:iam::xxx:role/x", "***", "arn:aws:iam::{{AccountId}}:role/r", "arn:aws:sqs:us-west-2:[redacted]:q", "arn:aws:sts::XXXXX:assumed-role/AmazonGrafanaServiceRole-XXXX/s"] {
            assert!(is_redacted(v), "{v}");
        }
        for v in ["arn:aws:iam::123456789012:user/bob", "arn:aws:s3:::my-bucket/key.txt", "deploy-pl-prod", "arn:aws:logs:us-east-1:1:log-group:/aws/x:log-stream:"] {
            assert!(!is_redacted(v), "{v}");
        }
        for v in ["role/My-ACCOUNT_ID-role", "b/Your-Account/k", "x/pre${var}", "q/a<b", "k/UnRedacted", "r/dataxXxX", "r/Account Number 7"] {
            assert!(is_redacted(v), "{v}");
        }
        for v in ["role/accounting", "b/your-acc", "x/$HOME", "k/redact", "r/xxx7xxx", "r/my-accountant-id"] {
            assert!(!is_redacted(v), "{v}");
        }
    }
}

/// The parts of an ARN, borrowed.
pub(crate) struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Split `arn:partition:service:region:account:resource`.
pub(crate) fn split_arn(s: &str) -> Option<ArnParts<'_>> {
    let mut it = s.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let partition = it.next()?;
    let service = it.next()?;
    let _region = it.next()?;
    let account = it.next()?;
    let resource = it.next()?;
    Some(ArnParts { partition, service, account, resource })
}

/// A record of a CloudTrail file, or a line of a JSON-lines file, that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Where it is: `record 3` or `line 7`.
    pub location: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything a parse found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Parsed {
    /// Findings, in input order, duplicates removed.
    pub findings: Vec<Finding>,
    /// Records that could not be read (the others are still reported).
    pub skipped: Vec<Skipped>,
    /// For CloudTrail input: how many events were read in all (most are not errors).
    pub records: Option<usize>,
}
