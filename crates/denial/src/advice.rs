//! What a finding means, what to check next (organization guardrails first, then boundary and
//! session, then identity, then the resource's own policy), and the one wrong fix to avoid.

use crate::model::{DenyKind, Finding, Kind, PolicyType};

/// Plain advice for one finding.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Advice {
    /// One or two sentences: what the message means.
    pub meaning: String,
    /// What to check, in order.
    pub checks: Vec<String>,
    /// The tempting wrong fix.
    pub avoid: String,
}

const WHOAMI: &str = "Confirm who is calling: `aws sts get-caller-identity` with the same profile and environment; compare it with the principal above (AWS_* variables override profiles).";
const AVOID_WIDEN: &str = "Do not attach AdministratorAccess or grant \"Action\": \"*\" / \"Resource\": \"*\": allow exactly this action on this resource.";
const AVOID_DELETE_DENY: &str = "Do not delete the Deny statement: it is someone's guardrail. Narrow it with an exception for this principal and resource, agreed with its owner.";
const AVOID_POLICY_CHANGE: &str = "Do not change any policy: no permission fixes this error.";

fn check(ty: PolicyType, explicit: bool) -> String {
    let what = if explicit { "a Deny statement matching this request" } else { "an Allow for this action and resource" };
    match ty {
        PolicyType::Scp => format!("Service control policies on the account and every OU above it up to the root (`aws organizations list-policies-for-target --filter SERVICE_CONTROL_POLICY`): look for {what}. Only the management account can change them."),
        PolicyType::Rcp => format!("Resource control policies on the resource owner's account and its OUs (`--filter RESOURCE_CONTROL_POLICY`): look for {what}."),
        PolicyType::PermissionsBoundary => format!("The permissions boundary attached to the principal (`aws iam get-role`/`get-user`, PermissionsBoundary): look for {what}; the boundary caps what identity policies can grant."),
        PolicyType::Session => format!("The session policy passed when the session was created (AssumeRole `--policy`/`--policy-arns`, federation, SSO): look for {what}; re-create the session to change it."),
        PolicyType::Identity => format!("Identity-based policies of the principal (inline and managed, and groups for users): look for {what}, including its Condition."),
        PolicyType::Resource => format!("The resource's own policy (bucket, key, queue, topic or secret policy): look for {what}; across accounts both sides must allow."),
        PolicyType::VpcEndpoint => format!("The VPC endpoint policy of the endpoint the request went through: look for {what}."),
        PolicyType::Trust => format!("The role's trust policy (`aws iam get-role`, AssumeRolePolicyDocument): look for {what} naming the calling principal; the caller also needs sts:AssumeRole in its own policies."),
    }
}

/// Layers in the order a careful operator checks them.
const ORDER: &[PolicyType] = &[
    PolicyType::Scp,
    PolicyType::Rcp,
    PolicyType::PermissionsBoundary,
    PolicyType::Session,
    PolicyType::Identity,
    PolicyType::Resource,
    PolicyType::VpcEndpoint,
];

/// The federation actions: the caller is not an AWS principal yet, and the role's trust policy decides.
fn federation_advice(action: &str, f: &Finding) -> Option<Advice> {
    let explicit = f.deny == Some(DenyKind::Explicit);
    let (meaning, checks): (&str, &[&str]) = match action {
        "sts:AssumeRoleWithWebIdentity" => (
            "STS refused to exchange the web identity (OIDC) token for the role's credentials. The caller is not an AWS principal yet, so no identity policy is involved: the role's trust policy decides, by its Principal (the OIDC provider) and its conditions on the token's claims (`aud`, `sub`).",
            &[
                "The role's trust policy (`aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument`): an Allow for sts:AssumeRoleWithWebIdentity whose Principal is {\"Federated\": \"arn:aws:iam::ACCOUNT:oidc-provider/HOST\"} in the role's own account, and no Deny that matches.",
                "The identity provider (`aws iam list-open-id-connect-providers`, `aws iam get-open-id-connect-provider --open-id-connect-provider-arn ARN`): it exists in the role's account, its URL is the token's `iss` exactly (GitHub: token.actions.githubusercontent.com), and its client IDs (audiences) include the token's `aud` (GitHub's configure-aws-credentials: sts.amazonaws.com; EKS/IRSA: sts.amazonaws.com on the cluster's own provider).",
                "The token's `sub` against the trust policy's HOST:sub condition, character for character (values are case-sensitive; StringEquals takes no wildcards, StringLike does). GitHub: repo:OWNER/REPO:ref:refs/heads/BRANCH, repo:OWNER/REPO:environment:NAME when the job has an environment, repo:OWNER/REPO:pull_request for pull requests, or the organization's custom sub template. EKS/IRSA: system:serviceaccount:NAMESPACE:NAME. GitLab: project_path:GROUP/PROJECT:ref_type:branch:ref:BRANCH.",
                "The token's `aud` against the trust policy's HOST:aud condition (GitHub: sts.amazonaws.com unless the workflow sets `audience`).",
                "Session tags and source identity: when the caller passes them (configure-aws-credentials tags the session unless role-skip-session-tagging is set), the trust policy must also allow sts:TagSession (and sts:SetSourceIdentity).",
                "GitHub Actions: the job needs `permissions: id-token: write` to get a token at all; check the role ARN and the region in the workflow.",
            ],
        ),
        "sts:AssumeRoleWithSAML" => (
            "STS refused to exchange the SAML assertion for the role's credentials. The caller is not an AWS principal yet: the role's trust policy decides, by its Principal (the SAML provider) and its conditions on the assertion (`SAML:aud`, `SAML:sub`, ...).",
            &[
                "The role's trust policy (`aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument`): an Allow for sts:AssumeRoleWithSAML whose Principal is {\"Federated\": \"arn:aws:iam::ACCOUNT:saml-provider/NAME\"}, and its condition on SAML:aud (https://signin.aws.amazon.com/saml for console sign-in).",
                "The SAML provider (`aws iam get-saml-provider --saml-provider-arn ARN`): it exists in the role's account and its metadata (signing certificate) is the identity provider's current one.",
                "The assertion: its https://aws.amazon.com/SAML/Attributes/Role attribute pairs this role's ARN with this provider's ARN; SAML:sub, SAML:iss and any other keys the trust policy tests match; the assertion is not expired (clock) and the requested duration is within the role's maximum.",
                "Session tags and source identity passed in the assertion need sts:TagSession / sts:SetSourceIdentity in the trust policy too.",
            ],
        ),
        _ => return None,
    };
    let mut checks: Vec<String> = checks.iter().map(|c| c.to_string()).collect();
    if explicit {
        checks.insert(0, "A Deny statement matched: look for it in the role's trust policy first, then in SCPs and RCPs of the role's account.".to_string());
    }
    let avoid = "Do not widen the trust policy to any repository or subject (`repo:ORG/*`, `*`) or drop its `sub`/`aud` conditions: allow exactly the subject that failed (this repository and this branch or environment).";
    Some(Advice { meaning: meaning.to_string(), checks, avoid: avoid.to_string() })
}

/// What to check first when sts:AssumeRole is denied and the message does not say the layer.
const ASSUME_ROLE_TRUST: &str = "The target role's trust policy (`aws iam get-role --role-name ROLE --query Role.AssumeRolePolicyDocument`): an Allow for sts:AssumeRole naming the caller (its role or user ARN, or its account), with every Condition met (sts:ExternalId, aws:MultiFactorAuthPresent, aws:SourceIdentity, ...). In the same account a trust policy naming the caller is enough; across accounts the caller's own identity policy must also allow sts:AssumeRole on the role's ARN.";

impl Finding {
    /// What this finding means and what to do next.
    pub fn advice(&self) -> Advice {
        if self.kind == Some(Kind::NotADenial) {
            return look_alike_advice(self.other_error.as_deref().unwrap_or(""));
        }
        if let Some(a) = self.action.as_deref().and_then(|a| federation_advice(a, self)) {
            return a;
        }
        let explicit = self.deny == Some(DenyKind::Explicit);
        let mut checks = vec![WHOAMI.to_string()];
        let meaning = match (self.policy_type, self.deny) {
            (Some(ty), Some(DenyKind::Explicit)) => {
                let via = self.transitive_via.map(|v| format!(", reached through a {}", v.describe())).unwrap_or_default();
                checks.push(check(ty, true));
                if let Some(v) = self.transitive_via {
                    checks.push(check(v, true));
                }
                format!("A Deny statement in a {}{via} matched this request. An explicit deny wins over every Allow, so adding permissions elsewhere will not help.", ty.describe())
            }
            (Some(ty), _) => {
                checks.push(check(ty, false));
                format!("Nothing in the {} allows this request (an implicit deny). Every layer that applies must allow it; this one does not.", ty.describe())
            }
            (None, Some(DenyKind::Explicit)) => {
                checks.extend(ORDER.iter().map(|ty| check(*ty, true)));
                "A Deny statement matched this request, but the message does not say in which layer. An explicit deny wins over every Allow.".to_string()
            }
            (None, _) => {
                checks.extend(ORDER.iter().map(|ty| check(*ty, explicit)));
                "AWS refused the request, and the message does not say which layer refused it or whether a Deny matched. Check the layers in order.".to_string()
            }
        };
        if self.action.as_deref() == Some("sts:AssumeRole") {
            match self.policy_type {
                None => checks.insert(1, ASSUME_ROLE_TRUST.to_string()),
                Some(PolicyType::Trust) => {}
                Some(_) => checks.push(check(PolicyType::Trust, explicit)),
            }
        }
        if self.encoded_message {
            checks.insert(1, "Decode the encoded message (`aws sts decode-authorization-message --encoded-message ...`, needs sts:DecodeAuthorizationMessage): it names the statement and the request context.".to_string());
        }
        if self.authorization_id.is_some() {
            checks.insert(1, "AWS kept its own record of this decision: `aws iam-toolbox get-request-authorization-details --authorization-id ID` (needs iam:GetRequestAuthorizationDetails, kept at least 24 hours).".to_string());
        }
        let head = matches!(self.operation.as_deref(), Some("HeadObject" | "HeadBucket"));
        if head && self.principal.is_none() {
            checks.insert(1, "A HEAD request's error has no body, so S3 cannot say who was denied or by which layer: repeat the request as GET (`aws s3api get-object ... /dev/null`, or `aws s3api list-objects-v2` for a bucket) with the same credentials to read AWS's full message.".to_string());
        }
        if self.service.as_deref() == Some("s3") && self.deny.is_none() && self.policy_type.is_none() {
            checks.push("S3 answers Access Denied, not 404, for a key that does not exist when the caller lacks s3:ListBucket on the bucket: check the key exists. A bucket owned by another account, Object Ownership/ACLs and SSE-KMS (kms:Decrypt, kms:GenerateDataKey) give the same message.".to_string());
        }
        if self.kind == Some(Kind::Cloudtrail) && self.resource.is_none() {
            checks.push("The event's requestParameters name the bucket, key, queue or key that was asked for.".to_string());
        }
        let avoid = if explicit { AVOID_DELETE_DENY } else { AVOID_WIDEN }.to_string();
        Advice { meaning, checks, avoid }
    }
}

fn look_alike_advice(code: &str) -> Advice {
    let family = crate::lookalike::by_code(code).map_or(code, |l| l.name);
    let (meaning, checks): (&str, &[&str]) = match family {
        "ExpiredToken" => (
            "Your credentials are stale: the temporary security token has expired. This is not a permissions problem.",
            &["Refresh the credentials: `aws sso login`, re-assume the role, or restart the process that cached them.", "Look for old AWS_SESSION_TOKEN / AWS_ACCESS_KEY_ID variables that override a fresh profile.", "For long jobs, use a credential provider that refreshes, or a longer session duration."],
        ),
        "InvalidClientTokenId" => (
            "You are not who you think: AWS does not recognise these credentials (unknown or deleted access key, a session token missing or from elsewhere, or keys for another partition or a disabled opt-in region).",
            &[WHOAMI, "Check which credentials are used: environment variables, then the profile, then instance or container roles.", "Keys of aws-cn or aws-us-gov only work in their own partition; an opt-in region must be enabled for the account."],
        ),
        "InvalidAccessKeyId" => (
            "You are not who you think: this access key ID does not exist in this partition (deleted, mistyped, or from another account or partition).",
            &[WHOAMI, "Check AWS_ACCESS_KEY_ID and the profile's aws_access_key_id; list the user's keys with `aws iam list-access-keys`."],
        ),
        "SignatureDoesNotMatch" => (
            "The request was signed with a secret key that does not match the access key, or signed wrongly (clock, proxy, special characters).",
            &["Check the secret access key that goes with this access key ID (copy/paste, quoting, trailing spaces).", "Check the clock (`date -u`) and any proxy that rewrites requests or headers."],
        ),
        "RequestExpired" | "RequestTimeTooSkewed" | "RequestNotYetValid" => (
            "Time is wrong, not permissions: the request's signature time is outside what AWS accepts (a clock out of sync, or a presigned URL used after it expired or before it starts).",
            &["Check the clock (`date -u`, NTP/chrony) on the machine that signed the request.", "For presigned URLs: generate a new one with a longer expiry, and note the expiry of the credentials that signed it."],
        ),
        "AuthFailure" => (
            "AWS could not validate the credentials: they are wrong, expired, or not valid in this region.",
            &[WHOAMI, "Check the region: an opt-in region must be enabled for the account."],
        ),
        "MultiFactorAuthentication" => (
            "The MFA code or device was rejected; this is about the MFA login, not the policies.",
            &["Check the MFA serial (the device ARN) and use a fresh code; check the device is assigned to this user."],
        ),
        "NoCredentials" => (
            "No credentials were found at all, so the request was never authorized.",
            &["Configure credentials: `aws configure`, `aws sso login`, or an instance/container role; check AWS_PROFILE and AWS_CONFIG_FILE."],
        ),
        "MissingAuthenticationToken" => (
            "The request was not signed, or (API Gateway) the URL, stage or method does not exist.",
            &["Check the URL, stage and method; sign the request with SigV4 if the API uses IAM authorization."],
        ),
        "NotFoundException" => (
            "The KMS key or alias was not found: wrong key ID, alias, region or account. Across accounts, use the full key ARN.",
            &["Check the key ARN, its region and account: `aws kms describe-key --key-id ARN` in the key's region."],
        ),
        "EcrAuthorizationTokenExpired" => (
            "The registry login is stale: the ECR authorization token that `docker login` stored has expired (they last 12 hours). This is not a permissions problem.",
            &["Log in again: `aws ecr get-login-password --region REGION | docker login --username AWS --password-stdin ACCOUNT.dkr.ecr.REGION.amazonaws.com`.", "In long-running hosts or CI caches, refresh the login before each pull or use the amazon-ecr-credential-helper."],
        ),
        "AuthorizationFailure" => (
            "This is not AWS: AuthorizationFailure / AuthorizationPermissionMismatch is Azure Storage's answer (a SAS token, a storage firewall or network rule, or a missing data-plane role such as Storage Blob Data Reader). No AWS policy is involved.",
            &["Check the request's host: *.blob.core.windows.net, *.dfs.core.windows.net and the like are Azure.", "In Azure: the storage account's networking (firewall, private endpoints), the SAS token's permissions and expiry, and the caller's data-plane role assignment."],
        ),
        "OptInRequired" => (
            "The account is not subscribed to the service, or the region is not enabled.",
            &["Enable the region or subscribe the account to the service."],
        ),
        _ => ("This error is not an authorization denial.", &[WHOAMI]),
    };
    Advice { meaning: meaning.to_string(), checks: checks.iter().map(|s| s.to_string()).collect(), avoid: AVOID_POLICY_CHANGE.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_layer_checks_guardrails_first() {
        let f = Finding { kind: Some(Kind::Denial), ..Finding::default() };
        let a = f.advice();
        assert!(a.checks[1].starts_with("Service control policies"));
        assert!(a.checks[2].starts_with("Resource control policies"));
        assert!(a.checks[3].starts_with("The permissions boundary"));
        assert!(a.checks[4].starts_with("The session policy"));
        assert!(a.checks[5].starts_with("Identity-based"));
        assert!(a.checks[6].starts_with("The resource's own policy"));
        assert!(a.avoid.contains("AdministratorAccess"));
    }

    #[test]
    fn explicit_deny_warns_against_deleting_it() {
        let f = Finding { kind: Some(Kind::Denial), deny: Some(DenyKind::Explicit), policy_type: Some(PolicyType::Scp), ..Finding::default() };
        assert!(f.advice().avoid.contains("Do not delete the Deny"));
    }

    #[test]
    fn federation_denials_get_trust_policy_advice() {
        let f = Finding { kind: Some(Kind::Denial), action: Some("sts:AssumeRoleWithWebIdentity".into()), ..Finding::default() };
        let a = f.advice();
        assert!(a.meaning.contains("trust policy"), "{}", a.meaning);
        assert!(a.checks.iter().any(|c| c.contains("oidc-provider")));
        assert!(a.checks.iter().any(|c| c.contains("`sub`") && c.contains("repo:OWNER/REPO")));
        assert!(a.checks.iter().any(|c| c.contains("`aud`")));
        assert!(!a.checks.iter().any(|c| c.starts_with("Service control policies")), "no generic checklist");
        assert!(a.avoid.contains("sub"));
        let f = Finding { kind: Some(Kind::Denial), action: Some("sts:AssumeRoleWithSAML".into()), ..Finding::default() };
        assert!(f.advice().checks.iter().any(|c| c.contains("SAML:aud")));
        let f = Finding { kind: Some(Kind::Denial), action: Some("sts:AssumeRole".into()), ..Finding::default() };
        assert!(f.advice().checks[1].starts_with("The target role's trust policy"));
    }

    #[test]
    fn look_alikes_say_stale_or_not_who_you_think() {
        let f = Finding { kind: Some(Kind::NotADenial), other_error: Some("ExpiredTokenException".into()), ..Finding::default() };
        assert!(f.advice().meaning.contains("stale"));
        let f = Finding { kind: Some(Kind::NotADenial), other_error: Some("InvalidClientTokenId".into()), ..Finding::default() };
        assert!(f.advice().meaning.contains("not who you think"));
    }
}
