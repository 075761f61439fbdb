//! `whoami`: who is really calling in this runtime (STS GetCallerIdentity), and what AWS knows of
//! that principal: the role (with its path), boundary, tags, trust policy and max session; for a
//! user its groups; the organization.

use std::collections::BTreeMap;

use denyctl_policy::{Principal, PrincipalKind};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;

/// The organization the account belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// `o-...`.
    pub id: String,
    /// The organization ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The management account (not limited by SCPs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_account_id: Option<String>,
}

/// The live caller, as `whoami -o json` prints it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// The ARN as STS reports it.
    pub arn: String,
    /// The account.
    pub account: String,
    /// STS's UserId (`AROA...:session` for a role session); `aws:userid` of its requests.
    pub user_id: String,
    /// `assumed_role`, `user`, `root`, `federated_user` or `role`.
    pub kind: String,
    /// The role's ARN with its path (role sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The role session name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// The role's maximum session duration, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i32>,
    /// The role's trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<Json>,
    /// The IAM user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The IAM user's groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The permissions boundary's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// The principal's IAM tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The tags as the request context sees them (`aws:PrincipalTag/team`). Session tags are not
    /// readable after the fact and are not included.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub principal_tags: BTreeMap<String, String>,
    /// The organization, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrgSummary>,
    /// What could not be read, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// Who is calling with the caller's credentials.
pub async fn whoami(session: &Session) -> Result<Identity, RuntimeError> {
    whoami_at(session, 1).await
}

fn note(f: Failure, what: &str, out: &mut Vec<String>) -> Result<(), RuntimeError> {
    match f {
        Failure::Fatal(e) => Err(e),
        Failure::Read(e) => {
            out.push(format!("{what}: {e}"));
            Ok(())
        }
    }
}

/// Why the caller's own identity (sts:GetCallerIdentity) could not be had: AWS kept failing
/// (a service error), or the caller's credentials are not usable.
pub(crate) fn caller_failure(session: &Session, f: Failure) -> RuntimeError {
    match f {
        Failure::Fatal(e) => e,
        Failure::Read(e) if e.is_unavailable() => RuntimeError::Service { call: "sts:GetCallerIdentity".into(), detail: e.to_string() },
        Failure::Read(e) => RuntimeError::Credentials { role: "caller".into(), source_desc: session.caller.source_desc.clone(), detail: e.to_string() },
    }
}

/// `whoami` starting in a given wave (so a collection can run it alongside its own calls).
pub async fn whoami_at(session: &Session, wave: usize) -> Result<Identity, RuntimeError> {
    let id = session.identity_of(&session.caller, wave).await.map_err(|f| caller_failure(session, f))?;
    let p = Principal::parse(&id.arn)
        .map_err(|e| RuntimeError::UnknownPrincipal(format!("STS reported {:?}, which is not a principal ARN: {e}", id.arn)))?;
    let mut out = Identity { arn: id.arn.clone(), account: id.account.clone(), user_id: id.user_id.clone(), ..Default::default() };
    let w = wave + 1;
    let org = async {
        match session.organization(w).await {
            Ok(o) => Ok(o),
            Err(f) => Err(f),
        }
    };
    match &p.kind {
        PrincipalKind::AssumedRole { role, session: s } => {
            out.kind = "assumed_role".into();
            out.session_name = Some(s.clone());
            let (r, org) = futures::join!(session.role(role, w), org);
            match r {
                Ok(r) => {
                    out.role_arn = Some(r.arn);
                    out.max_session_duration = r.max_session;
                    out.permissions_boundary = r.boundary;
                    out.tags = r.tags;
                    match r.trust {
                        Ok(t) => out.trust_policy = Some(t),
                        Err(e) => out.unreadable.push(format!("trust policy: {e}")),
                    }
                }
                Err(f) => {
                    out.role_arn = Some(p.entity_arn());
                    note(f, "role (path, boundary, tags, trust policy; role_arn shown without its path)", &mut out.unreadable)?;
                }
            }
            set_org(org, &mut out)?;
        }
        PrincipalKind::User { name, .. } => {
            out.kind = "user".into();
            out.user_name = Some(name.clone());
            let (u, g, org) = futures::join!(session.user(name, w), session.groups_of(name, w), org);
            match u {
                Ok(u) => {
                    out.permissions_boundary = u.boundary;
                    out.tags = u.tags;
                }
                Err(f) => note(f, "user (boundary, tags)", &mut out.unreadable)?,
            }
            match g {
                Ok(g) => out.groups = Some(g),
                Err(f) => note(f, "groups", &mut out.unreadable)?,
            }
            set_org(org, &mut out)?;
        }
        PrincipalKind::Root => {
            out.kind = "root".into();
            set_org(org.await, &mut out)?;
        }
        PrincipalKind::FederatedUser { .. } => {
            out.kind = "federated_user".into();
            set_org(org.await, &mut out)?;
        }
        PrincipalKind::Role { .. } => {
            out.kind = "role".into();
            set_org(org.await, &mut out)?;
        }
    }
    out.principal_tags = out.tags.iter().map(|(k, v)| (format!("aws:PrincipalTag/{k}"), v.clone())).collect();
    Ok(out)
}

fn set_org(org: Result<Option<OrgSummary>, Failure>, out: &mut Identity) -> Result<(), RuntimeError> {
    match org {
        Ok(o) => out.organization = o,
        Err(f) => note(f, "organization", &mut out.unreadable)?,
    }
    Ok(())
}
