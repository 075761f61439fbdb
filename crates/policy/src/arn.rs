//! Amazon Resource Names: parsing per partition, and the principal forms STS reports.

use std::fmt;

/// Partitions denyctl knows. An ARN in another partition is rejected with a clear error.
pub const PARTITIONS: &[&str] = &[
    "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc",
];

/// Why a string is not a valid ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// It does not start with `arn:`.
    #[error("invalid ARN {0:?}: it must start with \"arn:\"")]
    NoPrefix(String),
    /// Fewer than six colon-separated parts.
    #[error("invalid ARN {0:?}: expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (is it truncated?)")]
    TooShort(String),
    /// The partition is not one AWS has.
    #[error("invalid ARN {arn:?}: unknown partition {partition:?} (expected one of aws, aws-cn, aws-us-gov, ...)")]
    Partition {
        /// The ARN.
        arn: String,
        /// The partition it names.
        partition: String,
    },
    /// Empty service or resource.
    #[error("invalid ARN {0:?}: the {1} part is empty")]
    Empty(String, &'static str),
    /// The account part is not 12 digits (or `aws` for AWS-managed resources).
    #[error("invalid ARN {0:?}: account {1:?} is not a 12-digit account ID")]
    Account(String, String),
}

/// A parsed ARN; borrowed parts of the original string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// Service namespace (`s3`, `iam`, `sts`, ...).
    pub service: String,
    /// Region; empty for global resources.
    pub region: String,
    /// Account ID; empty for S3 buckets and some others.
    pub account: String,
    /// Everything after the fifth colon (may itself contain colons).
    pub resource: String,
}

impl Arn {
    /// Parse an ARN. Wildcards are not allowed here (use the policy patterns for those).
    pub fn parse(s: &str) -> Result<Arn, ArnError> {
        let rest = s.strip_prefix("arn:").ok_or_else(|| ArnError::NoPrefix(s.to_string()))?;
        let mut parts = rest.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ArnError::TooShort(s.to_string()));
        };
        if !PARTITIONS.contains(&partition) {
            return Err(ArnError::Partition { arn: s.to_string(), partition: partition.to_string() });
        }
        if service.is_empty() {
            return Err(ArnError::Empty(s.to_string(), "service"));
        }
        if resource.is_empty() {
            return Err(ArnError::Empty(s.to_string(), "resource"));
        }
        let account_ok = account.is_empty()
            || account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
        if !account_ok {
            return Err(ArnError::Account(s.to_string(), account.to_string()));
        }
        Ok(Arn {
            partition: partition.to_string(),
            service: service.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:{}:{}:{}:{}", self.partition, self.service, self.region, self.account, self.resource)
    }
}

/// What kind of caller a principal ARN names, as STS GetCallerIdentity reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `arn:aws:iam::ACCT:user/PATH/NAME`.
    User {
        /// The user's path (`/` when none).
        path: String,
        /// The user name.
        name: String,
    },
    /// `arn:aws:iam::ACCT:role/PATH/NAME` (a role itself, e.g. as named in policies).
    Role {
        /// The role's path (`/` when none).
        path: String,
        /// The role name.
        name: String,
    },
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    AssumedRole {
        /// The role name (STS omits the path).
        role: String,
        /// The session name.
        session: String,
    },
    /// `arn:aws:sts::ACCT:federated-user/NAME`.
    FederatedUser {
        /// The federated user name.
        name: String,
    },
    /// `arn:aws:iam::ACCT:root`.
    Root,
}

/// A caller principal: its ARN, account and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The ARN.
    pub arn: Arn,
    /// What it is.
    pub kind: PrincipalKind,
}

/// Why a string is not a principal ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Not an ARN at all.
    #[error(transparent)]
    Arn(#[from] ArnError),
    /// An ARN, but not of a caller.
    #[error("{0:?} is not a principal ARN (expected an IAM user, role, assumed-role session, federated user or root)")]
    NotPrincipal(String),
}

fn split_path_name(rest: &str) -> Option<(String, String)> {
    let idx = rest.rfind('/');
    let (path, name) = match idx {
        Some(i) => (format!("/{}", &rest[..=i]), &rest[i + 1..]),
        None => ("/".to_string(), rest),
    };
    if name.is_empty() {
        return None;
    }
    Some((path.replace("//", "/"), name.to_string()))
}

impl Principal {
    /// Parse a principal ARN.
    pub fn parse(s: &str) -> Result<Principal, PrincipalError> {
        let arn = Arn::parse(s)?;
        let bad = || PrincipalError::NotPrincipal(s.to_string());
        if arn.account.len() != 12 {
            return Err(bad());
        }
        let kind = match arn.service.as_str() {
            "iam" => {
                if arn.resource == "root" {
                    PrincipalKind::Root
                } else if let Some(rest) = arn.resource.strip_prefix("user/") {
                    let (path, name) = split_path_name(rest).ok_or_else(bad)?;
                    PrincipalKind::User { path, name }
                } else if let Some(rest) = arn.resource.strip_prefix("role/") {
                    let (path, name) = split_path_name(rest).ok_or_else(bad)?;
                    PrincipalKind::Role { path, name }
                } else {
                    return Err(bad());
                }
            }
            "sts" => {
                if let Some(rest) = arn.resource.strip_prefix("assumed-role/") {
                    let (role, session) = rest.split_once('/').ok_or_else(bad)?;
                    if role.is_empty() || session.is_empty() {
                        return Err(bad());
                    }
                    PrincipalKind::AssumedRole { role: role.to_string(), session: session.to_string() }
                } else if let Some(name) = arn.resource.strip_prefix("federated-user/") {
                    if name.is_empty() {
                        return Err(bad());
                    }
                    PrincipalKind::FederatedUser { name: name.to_string() }
                } else {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        };
        Ok(Principal { arn, kind })
    }

    /// The account the principal belongs to.
    pub fn account(&self) -> &str {
        &self.arn.account
    }

    /// The IAM entity ARN that policies name: the role ARN for a session (path `/` unless known),
    /// the ARN itself otherwise. This is `aws:PrincipalArn`.
    pub fn entity_arn(&self) -> String {
        match &self.kind {
            PrincipalKind::AssumedRole { role, .. } => {
                format!("arn:{}:iam::{}:role/{}", self.arn.partition, self.arn.account, role)
            }
            _ => self.arn.to_string(),
        }
    }

    /// The account root ARN (`arn:PARTITION:iam::ACCT:root`).
    pub fn account_root(&self) -> String {
        format!("arn:{}:iam::{}:root", self.arn.partition, self.arn.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partitions() {
        for p in ["aws", "aws-cn", "aws-us-gov"] {
            let a = Arn::parse(&format!("arn:{p}:s3:::bucket/key:with:colons")).unwrap();
            assert_eq!(a.partition, p);
            assert_eq!(a.resource, "bucket/key:with:colons");
            assert_eq!(a.account, "");
        }
        assert!(matches!(Arn::parse("arn:foo:s3:::b"), Err(ArnError::Partition { .. })));
        assert!(matches!(Arn::parse("arn:aws:s3"), Err(ArnError::TooShort(_))));
        assert!(matches!(Arn::parse("arn:aws:iam::12345:user/x"), Err(ArnError::Account(..))));
        assert!(matches!(Arn::parse("s3://b/k"), Err(ArnError::NoPrefix(_))));
    }

    #[test]
    fn principals() {
        let p = Principal::parse("arn:aws:sts::111122223333:assumed-role/deploy/GitHubActions").unwrap();
        assert_eq!(p.kind, PrincipalKind::AssumedRole { role: "deploy".into(), session: "GitHubActions".into() });
        assert_eq!(p.entity_arn(), "arn:aws:iam::111122223333:role/deploy");
        let u = Principal::parse("arn:aws-cn:iam::111122223333:user/division/team/bob").unwrap();
        assert_eq!(u.kind, PrincipalKind::User { path: "/division/team/".into(), name: "bob".into() });
        assert_eq!(u.account_root(), "arn:aws-cn:iam::111122223333:root");
        assert!(Principal::parse("arn:aws:iam::111122223333:group/devs").is_err());
        assert!(Principal::parse("arn:aws:sts::111122223333:assumed-role/onlyrole").is_err());
    }
}
