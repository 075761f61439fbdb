//! Writing a plan's changes to AWS, safely: re-read each target and compare it with the plan
//! (compare-and-swap), back up every before-image, write in a safe order, undo on failure, and
//! restore the before-images exactly (rollback): the text as AWS returned it, and "no policy"
//! by deleting what the fix created (resource policies through the plugin's `delete_policy`).
//! What an interrupted write did is worked out from the target ([`reconcile`]). Also what the
//! live planner needs besides the collected layers: version tokens and managed-policy version
//! lists.
//!
//! Version tokens: a managed policy's (or boundary's) token is its default version id (`v3`);
//! inline and trust policies have none in IAM, so their token is `sha256:` of the canonical
//! document ([`denyctl_plugin_api::version_token`]); resource policies use their plugin's token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use denyctl_plugin_api::{version_token, PluginCtx, PluginError, Registry};
use denyctl_policy::{Principal, PrincipalKind};
use denyctl_remedy::{Change, EditKind, PolicyVersion, Target, TargetKind};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::calls::Failure;
use crate::config::Session;
use crate::decode;
use crate::error::ReadError;
use crate::snapshot::Snapshot;

/// The backup file format this module writes.
pub const BACKUP_FORMAT: &str = "denyctl-backup/1";

/// Why a read, write or restore could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The target is not what the plan (or the backup) says it was: nothing is written.
    #[error("{0}")]
    Stale(String),
    /// denyctl cannot write this kind of target.
    #[error("{0}")]
    Unsupported(String),
    /// AWS refused or failed.
    #[error("{0}")]
    Aws(String),
    /// The target (its role, user, bucket, key, queue or secret) no longer exists: nothing is written.
    #[error("{0}")]
    Gone(String),
}

/// Test-only hook: `DENYCTL_TEST_CRASH_AFTER_WRITE=N` aborts the process right after its Nth
/// write to AWS (before the journal and backup record it), to test that `apply` and `rollback`
/// finish the job after a crash. Never set it outside tests.
pub const CRASH_AFTER_WRITE_ENV: &str = "DENYCTL_TEST_CRASH_AFTER_WRITE";

static WRITES: AtomicUsize = AtomicUsize::new(0);

/// Count one write to AWS (and abort here when the test hook says so).
fn wrote() {
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var(CRASH_AFTER_WRITE_ENV).ok().and_then(|v| v.trim().parse::<usize>().ok()) == Some(n) {
        eprintln!("denyctl: {CRASH_AFTER_WRITE_ENV}={n}: aborting after write {n} (test hook)");
        std::process::abort();
    }
}

fn aws(f: Failure) -> ApplyError {
    match f {
        Failure::Read(e) => ApplyError::Aws(e.to_string()),
        Failure::Fatal(e) => ApplyError::Aws(e.to_string()),
    }
}

fn not_found(f: &Failure) -> bool {
    matches!(f, Failure::Read(ReadError::NotFound { .. }))
}

fn plugin_err(e: PluginError) -> ApplyError {
    match e {
        PluginError::Conflict(m) => ApplyError::Stale(m),
        PluginError::NotFound(m) => ApplyError::Gone(format!("{m}: it no longer exists")),
        PluginError::Unsupported(m) | PluginError::InvalidInput(m) => ApplyError::Unsupported(m),
        other => ApplyError::Aws(other.to_string()),
    }
}

/// A target as it is now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Current {
    /// Whether the policy exists.
    pub exists: bool,
    /// The document (decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Json>,
    /// The document's text exactly as AWS returned it (URL-decoded): written back on rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The version token (default version id, `sha256:` of the document, or the plugin's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Managed policies: the default version id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_version: Option<String>,
    /// Managed policies: every version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<PolicyVersion>,
    /// A policy denyctl creates: whether it is attached to the role or user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<bool>,
}

/// A managed-policy version deleted to make room (the five-version quota), kept in the backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedVersion {
    /// Its id.
    pub version_id: String,
    /// Its document.
    pub document: Json,
}

/// What a write did, as rollback needs to know it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Managed policies: the version created (and made default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_version: Option<String>,
    /// Managed policies: the non-default version deleted first because there were five.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_version: Option<SavedVersion>,
    /// A managed policy created by denyctl (and attached).
    #[serde(default)]
    pub created_policy: bool,
    /// Resource policies: the plugin's token after the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The before-image of one change, and what applying it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// The change id (`c1`).
    pub change: String,
    /// Where it goes.
    pub target: Target,
    /// The target before the change, as read just before writing.
    pub before: Current,
    /// A managed-policy version that will be deleted to make room, with its document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_delete: Option<SavedVersion>,
    /// Set once the change has been written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

/// The backup file: every before-image, saved before anything is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// `denyctl-backup/1`.
    pub format: String,
    /// `sha256:` of the plan file's changes (ties the backup to its plan).
    pub plan_token: String,
    /// The entries, in the order the changes are applied.
    pub entries: Vec<BackupEntry>,
}

/// The token that ties a backup to the changes of a plan.
pub fn plan_token(changes: &[Change]) -> String {
    let v = serde_json::to_value(changes).unwrap_or(Json::Null);
    version_token(Some(&v))
}

/// How a target compares with the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// It is as the plan read it: the change can be written.
    Ready,
    /// It already is the plan's `after`: nothing to write.
    AlreadyApplied,
    /// It changed since the plan was made: why.
    Changed(String),
}

fn who(t: &Target) -> String {
    match (&t.role_name, &t.user_name) {
        (Some(r), _) => format!("role {r}"),
        (None, Some(u)) => format!("user {u}"),
        _ => "?".into(),
    }
}

/// One line naming a target (`inline policy denyctl-1a2b of user alice`).
pub fn describe(t: &Target) -> String {
    match t.kind {
        TargetKind::InlinePolicy => format!("inline policy {} of {}", t.policy_name, who(t)),
        TargetKind::ManagedPolicy => format!("managed policy {}", t.policy_arn.as_deref().unwrap_or(&t.policy_name)),
        TargetKind::Boundary => format!("permissions boundary {}", t.policy_arn.as_deref().unwrap_or(&t.policy_name)),
        TargetKind::TrustPolicy => format!("trust policy of role {}", t.role_name.as_deref().unwrap_or("?")),
        TargetKind::ResourcePolicy => format!("resource policy of {}", t.resource_arn.as_deref().unwrap_or(&t.policy_name)),
        other => format!("{} {}", other.as_str(), t.policy_name),
    }
}

/// The text of a policy document as IAM returned it, URL-decoded when it was encoded.
fn decoded_text(raw: &str) -> String {
    let trimmed = raw.trim();
    if serde_json::from_str::<Json>(trimmed).is_ok_and(|v| v.is_object()) {
        return raw.to_string();
    }
    percent_encoding::percent_decode_str(trimmed).decode_utf8().map(|c| c.into_owned()).unwrap_or_else(|_| raw.to_string())
}

fn document(call: &str, target: &str, raw: &str) -> Result<(Json, String), ApplyError> {
    let doc = decode::policy_document(raw).map_err(|e| ApplyError::Aws(format!("{call} on {target}: {e}")))?;
    Ok((doc, decoded_text(raw)))
}

fn inline_name(t: &Target) -> Result<&str, ApplyError> {
    let n = t.policy_name.strip_prefix("inline:").unwrap_or(&t.policy_name);
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)) {
        return Err(ApplyError::Unsupported(format!(
            "inline policy {n:?}: not an inline policy of the caller's role or user (a group's policy?); denyctl writes only the caller's own inline policies"
        )));
    }
    Ok(n)
}

fn managed_arn(t: &Target) -> Result<&str, ApplyError> {
    t.policy_arn
        .as_deref()
        .or_else(|| t.policy_name.starts_with("arn:").then_some(t.policy_name.as_str()))
        .ok_or_else(|| ApplyError::Unsupported(format!("{}: no policy ARN in the plan", describe(t))))
}

fn trust_role(t: &Target) -> Result<String, ApplyError> {
    t.role_name
        .clone()
        .or_else(|| t.resource_arn.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string))
        .ok_or_else(|| ApplyError::Unsupported(format!("{}: no role name in the plan", describe(t))))
}

/// The clients and plugins a write needs.
pub struct Writer<'a> {
    /// The run (the operator's clients are used).
    pub session: &'a Session,
    /// The service plugins (resource policies).
    pub plugins: &'a Registry,
}

impl Writer<'_> {
    fn plugin_ctx(&self) -> PluginCtx {
        PluginCtx::new(self.session.operator.config.clone(), self.session.operator.profile.clone())
    }

    fn plugin_for(&self, t: &Target) -> Result<&dyn denyctl_plugin_api::ServicePlugin, ApplyError> {
        let service = t.service.clone().unwrap_or_default();
        self.plugins
            .list()
            .into_iter()
            .find(|i| i.services.iter().any(|s| s.eq_ignore_ascii_case(&service)))
            .and_then(|i| self.plugins.get(&i.name))
            .ok_or_else(|| ApplyError::Unsupported(format!("{}: no plugin writes {service:?} resource policies", describe(t))))
    }

    async fn versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, ApplyError> {
        let s = self.session;
        let out = s
            .call(&s.operator, "iam:ListPolicyVersions", arn, 1, s.operator.iam.list_policy_versions().policy_arn(arn).send())
            .await
            .map_err(aws)?;
        Ok(out
            .versions()
            .iter()
            .map(|v| PolicyVersion {
                version_id: v.version_id().unwrap_or_default().to_string(),
                is_default: v.is_default_version(),
                create_date: v.create_date().and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            })
            .collect())
    }

    async fn version_document(&self, arn: &str, id: &str) -> Result<(Json, String), ApplyError> {
        let s = self.session;
        let target = format!("{arn} version {id}");
        let out = s
            .call(&s.operator, "iam:GetPolicyVersion", &target, 1, s.operator.iam.get_policy_version().policy_arn(arn).version_id(id).send())
            .await
            .map_err(aws)?;
        let raw = out.policy_version().and_then(|v| v.document()).unwrap_or_default();
        document("iam:GetPolicyVersion", &target, raw)
    }

    async fn attached(&self, t: &Target, arn: &str) -> Result<bool, ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        let arns: Vec<String> = match (&t.role_name, &t.user_name) {
            (Some(r), _) => s
                .call(&s.operator, "iam:ListAttachedRolePolicies", r, 1, iam.list_attached_role_policies().role_name(r).max_items(1000).send())
                .await
                .map_err(aws)?
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
            (None, Some(u)) => s
                .call(&s.operator, "iam:ListAttachedUserPolicies", u, 1, iam.list_attached_user_policies().user_name(u).max_items(1000).send())
                .await
                .map_err(aws)?
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
            _ => return Err(ApplyError::Unsupported(format!("{}: no role or user to attach it to", describe(t)))),
        };
        Ok(arns.iter().any(|a| a == arn))
    }

    /// The role or user an inline policy belongs to still exists (else [`ApplyError::Gone`]).
    async fn owner_exists(&self, t: &Target) -> Result<(), ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        let (what, r) = match (&t.role_name, &t.user_name) {
            (Some(r), _) => (format!("role {r}"), s.call(&s.operator, "iam:GetRole", r, 1, iam.get_role().role_name(r).send()).await.map(|_| ())),
            (None, Some(u)) => (format!("user {u}"), s.call(&s.operator, "iam:GetUser", u, 1, iam.get_user().user_name(u).send()).await.map(|_| ())),
            _ => return Ok(()),
        };
        match r {
            Ok(()) => Ok(()),
            Err(f) if not_found(&f) => Err(ApplyError::Gone(format!("{what} no longer exists"))),
            Err(f) => Err(aws(f)),
        }
    }

    /// Read a target as it is now.
    pub async fn read(&self, t: &Target) -> Result<Current, ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        match t.kind {
            TargetKind::InlinePolicy => {
                let name = inline_name(t)?;
                let target = format!("{} policy {name}", who(t));
                let got = match (&t.role_name, &t.user_name) {
                    (Some(r), _) => s
                        .call(&s.operator, "iam:GetRolePolicy", &target, 1, iam.get_role_policy().role_name(r).policy_name(name).send())
                        .await
                        .map(|o| o.policy_document().to_string()),
                    (None, Some(u)) => s
                        .call(&s.operator, "iam:GetUserPolicy", &target, 1, iam.get_user_policy().user_name(u).policy_name(name).send())
                        .await
                        .map(|o| o.policy_document().to_string()),
                    _ => return Err(ApplyError::Unsupported(format!("{}: no role or user in the plan", describe(t)))),
                };
                match got {
                    Ok(raw) => {
                        let (doc, text) = document("iam:GetRolePolicy", &target, &raw)?;
                        Ok(Current { exists: true, token: Some(version_token(Some(&doc))), document: Some(doc), raw: Some(text), ..Default::default() })
                    }
                    Err(f) if not_found(&f) => {
                        self.owner_exists(t).await?;
                        Ok(Current { token: Some(version_token(None)), ..Default::default() })
                    }
                    Err(f) => Err(aws(f)),
                }
            }
            TargetKind::ManagedPolicy | TargetKind::Boundary => {
                let arn = managed_arn(t)?;
                let got = s.call(&s.operator, "iam:GetPolicy", arn, 1, iam.get_policy().policy_arn(arn).send()).await;
                let default = match got {
                    Ok(o) => o.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string(),
                    Err(f) if not_found(&f) => {
                        return Ok(Current { attached: t.create.then_some(false), ..Default::default() });
                    }
                    Err(f) => return Err(aws(f)),
                };
                let (doc, text) = self.version_document(arn, &default).await?;
                let versions = self.versions(arn).await?;
                let attached = if t.create { Some(self.attached(t, arn).await?) } else { None };
                Ok(Current {
                    exists: true,
                    document: Some(doc),
                    raw: Some(text),
                    token: Some(default.clone()),
                    default_version: Some(default),
                    versions,
                    attached,
                })
            }
            TargetKind::TrustPolicy => {
                let role = trust_role(t)?;
                let out = s.call(&s.operator, "iam:GetRole", &role, 1, iam.get_role().role_name(&role).send()).await.map_err(|f| {
                    if not_found(&f) {
                        ApplyError::Gone(format!("role {role} no longer exists"))
                    } else {
                        aws(f)
                    }
                })?;
                let raw = out.role().and_then(|r| r.assume_role_policy_document()).unwrap_or_default().to_string();
                let (doc, text) = document("iam:GetRole", &role, &raw)?;
                Ok(Current { exists: true, token: Some(version_token(Some(&doc))), document: Some(doc), raw: Some(text), ..Default::default() })
            }
            TargetKind::ResourcePolicy => {
                let p = self.plugin_for(t)?;
                let arn = t.resource_arn.clone().unwrap_or_default();
                let f = p.fetch_policy(&self.plugin_ctx(), &arn).await.map_err(plugin_err)?;
                // The text exactly as the service returns it (ABI 2), for a byte-for-byte rollback.
                let text = match &f.policy {
                    Some(_) => p.fetch_policy_text(&self.plugin_ctx(), &arn).await.map_err(plugin_err)?,
                    None => None,
                };
                let raw = text.or_else(|| f.policy.as_ref().map(|d| d.to_string()));
                Ok(Current { exists: f.policy.is_some(), raw, document: f.policy, token: Some(f.version_token), ..Default::default() })
            }
            other => Err(ApplyError::Unsupported(format!("{} policies are never written by denyctl (a hand-off)", other.as_str()))),
        }
    }

    /// The managed-policy version to delete before creating one (five-version quota): the
    /// plan's choice when it still is a non-default version, else the oldest non-default one.
    pub async fn to_delete(&self, c: &Change, cur: &Current) -> Result<Option<SavedVersion>, ApplyError> {
        if !matches!(c.target.kind, TargetKind::ManagedPolicy | TargetKind::Boundary) || !cur.exists || cur.versions.len() < 5 {
            return Ok(None);
        }
        let planned = c.versions.as_ref().and_then(|v| v.delete_version.clone());
        let id = match planned.filter(|id| cur.versions.iter().any(|v| &v.version_id == id && !v.is_default)) {
            Some(id) => id,
            None => match denyctl_remedy::limits::version_plan(Some(&cur.versions)).delete_version {
                Some(id) => id,
                None => return Err(ApplyError::Unsupported(format!("{}: five versions and none of them non-default", describe(&c.target)))),
            },
        };
        let (document, _) = self.version_document(managed_arn(&c.target)?, &id).await?;
        Ok(Some(SavedVersion { version_id: id, document }))
    }

    /// Write the change's `after`. `cur` is the state read (and checked) just before.
    pub async fn write(&self, c: &Change, cur: &Current, to_delete: Option<&SavedVersion>) -> Result<Applied, ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        let t = &c.target;
        let doc = c.after.to_string();
        let mut applied = Applied::default();
        match t.kind {
            TargetKind::InlinePolicy => {
                let name = inline_name(t)?;
                let target = format!("{} policy {name}", who(t));
                match (&t.role_name, &t.user_name) {
                    (Some(r), _) => s
                        .call(&s.operator, "iam:PutRolePolicy", &target, 1, iam.put_role_policy().role_name(r).policy_name(name).policy_document(&doc).send())
                        .await
                        .map(|_| ()),
                    (None, Some(u)) => s
                        .call(&s.operator, "iam:PutUserPolicy", &target, 1, iam.put_user_policy().user_name(u).policy_name(name).policy_document(&doc).send())
                        .await
                        .map(|_| ()),
                    _ => return Err(ApplyError::Unsupported(format!("{}: no role or user", describe(t)))),
                }
                .map_err(aws)?;
            wrote();
            }
            TargetKind::ManagedPolicy | TargetKind::Boundary if !cur.exists => {
                if t.kind == TargetKind::Boundary || !t.create {
                    return Err(ApplyError::Stale(format!("{} does not exist any more", describe(t))));
                }
                let arn = managed_arn(t)?;
                let out = s
                    .call(&s.operator, "iam:CreatePolicy", arn, 1, iam.create_policy().policy_name(&t.policy_name).policy_document(&doc).description("least-privilege grants made by denyctl").send())
                    .await
                    .map_err(aws)?;
                wrote();
                let made = out.policy().and_then(|p| p.arn()).unwrap_or_default().to_string();
                applied.created_policy = true;
                let attached = if made != arn { Err(ApplyError::Aws(format!("iam:CreatePolicy made {made}, not {arn} as planned"))) } else { self.attach(t, arn, true).await };
                if let Err(e) = attached {
                    // Undo the half: the policy made but not attached.
                    let undo = s.call(&s.operator, "iam:DeletePolicy", &made, 1, iam.delete_policy().policy_arn(&made).send()).await;
                    let tail = if undo.is_ok() { format!("the policy {made} was deleted again") } else { format!("the policy {made} was left behind: delete it by hand") };
                    return Err(ApplyError::Aws(format!("{e}; {tail}")));
                }
            }
            TargetKind::ManagedPolicy | TargetKind::Boundary => {
                let arn = managed_arn(t)?;
                if t.create && cur.attached == Some(false) {
                    self.attach(t, arn, true).await?;
                    if cur.document.as_ref() == Some(&c.after) {
                        // Resuming: the policy was created by an interrupted apply, only not attached.
                        applied.created_policy = true;
                        return Ok(applied);
                    }
                }
                if let Some(d) = to_delete {
                    let target = format!("{arn} version {}", d.version_id);
                    s.call(&s.operator, "iam:DeletePolicyVersion", &target, 1, iam.delete_policy_version().policy_arn(arn).version_id(&d.version_id).send())
                        .await
                        .map_err(aws)?;
                    wrote();
                    applied.deleted_version = Some(d.clone());
                }
                let out = match s
                    .call(&s.operator, "iam:CreatePolicyVersion", arn, 1, iam.create_policy_version().policy_arn(arn).policy_document(&doc).set_as_default(true).send())
                    .await
                {
                    Ok(o) => {
                        wrote();
                        o
                    }
                    Err(f) => {
                        let e = aws(f);
                        let Some(d) = applied.deleted_version else { return Err(e) };
                        // Undo the half: put the deleted version's document back (as a non-default version).
                        let undo = s
                            .call(&s.operator, "iam:CreatePolicyVersion", arn, 1, iam.create_policy_version().policy_arn(arn).policy_document(d.document.to_string()).set_as_default(false).send())
                            .await;
                        let tail = if undo.is_ok() {
                            format!("the document of the deleted version {} was re-created as a non-default version", d.version_id)
                        } else {
                            format!("version {} was deleted and could not be re-created: its document is in the backup", d.version_id)
                        };
                        return Err(ApplyError::Aws(format!("{e}; {tail}")));
                    }
                };
                applied.created_version = out.policy_version().and_then(|v| v.version_id()).map(str::to_string);
            }
            TargetKind::TrustPolicy => {
                let role = trust_role(t)?;
                s.call(&s.operator, "iam:UpdateAssumeRolePolicy", &role, 1, iam.update_assume_role_policy().role_name(&role).policy_document(&doc).send())
                    .await
                    .map_err(aws)?;
                wrote();
            }
            TargetKind::ResourcePolicy => {
                let p = self.plugin_for(t)?;
                let arn = t.resource_arn.clone().unwrap_or_default();
                let token = cur.token.clone().unwrap_or_else(|| version_token(None));
                applied.token = Some(p.put_policy(&self.plugin_ctx(), &arn, &c.after, &token).await.map_err(plugin_err)?);
                wrote();
            }
            other => return Err(ApplyError::Unsupported(format!("{} policies are never written by denyctl (a hand-off)", other.as_str()))),
        }
        Ok(applied)
    }

    async fn attach(&self, t: &Target, arn: &str, on: bool) -> Result<(), ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        match (&t.role_name, &t.user_name, on) {
            (Some(r), _, true) => s.call(&s.operator, "iam:AttachRolePolicy", r, 1, iam.attach_role_policy().role_name(r).policy_arn(arn).send()).await.map(|_| ()),
            (Some(r), _, false) => s.call(&s.operator, "iam:DetachRolePolicy", r, 1, iam.detach_role_policy().role_name(r).policy_arn(arn).send()).await.map(|_| ()),
            (None, Some(u), true) => s.call(&s.operator, "iam:AttachUserPolicy", u, 1, iam.attach_user_policy().user_name(u).policy_arn(arn).send()).await.map(|_| ()),
            (None, Some(u), false) => s.call(&s.operator, "iam:DetachUserPolicy", u, 1, iam.detach_user_policy().user_name(u).policy_arn(arn).send()).await.map(|_| ()),
            _ => return Err(ApplyError::Unsupported(format!("{}: no role or user to attach it to", describe(t)))),
        }
        .map(|_| wrote())
        .map_err(aws)
    }

    /// Put a target back as its backup entry says it was. Returns what was done, in words.
    pub async fn restore(&self, e: &BackupEntry) -> Result<String, ApplyError> {
        let s = self.session;
        let iam = &s.operator.iam;
        let t = &e.target;
        let b = &e.before;
        let text = |b: &Current| b.raw.clone().or_else(|| b.document.as_ref().map(|d| d.to_string())).unwrap_or_default();
        match t.kind {
            TargetKind::InlinePolicy => {
                let name = inline_name(t)?;
                let target = format!("{} policy {name}", who(t));
                let r = match (&t.role_name, &t.user_name, b.exists) {
                    (Some(r), _, true) => s.call(&s.operator, "iam:PutRolePolicy", &target, 1, iam.put_role_policy().role_name(r).policy_name(name).policy_document(text(b)).send()).await.map(|_| "put back"),
                    (Some(r), _, false) => s.call(&s.operator, "iam:DeleteRolePolicy", &target, 1, iam.delete_role_policy().role_name(r).policy_name(name).send()).await.map(|_| "deleted (it did not exist before)"),
                    (None, Some(u), true) => s.call(&s.operator, "iam:PutUserPolicy", &target, 1, iam.put_user_policy().user_name(u).policy_name(name).policy_document(text(b)).send()).await.map(|_| "put back"),
                    (None, Some(u), false) => s.call(&s.operator, "iam:DeleteUserPolicy", &target, 1, iam.delete_user_policy().user_name(u).policy_name(name).send()).await.map(|_| "deleted (it did not exist before)"),
                    _ => return Err(ApplyError::Unsupported(format!("{}: no role or user", describe(t)))),
                };
                let done = r.map(str::to_string).map_err(aws)?;
                wrote();
                Ok(done)
            }
            TargetKind::ManagedPolicy | TargetKind::Boundary if !b.exists => {
                let arn = managed_arn(t)?;
                self.attach(t, arn, false).await.or_else(|err| if err.to_string().contains("not found") { Ok(()) } else { Err(err) })?;
                for v in self.versions(arn).await?.iter().filter(|v| !v.is_default) {
                    let target = format!("{arn} version {}", v.version_id);
                    s.call(&s.operator, "iam:DeletePolicyVersion", &target, 1, iam.delete_policy_version().policy_arn(arn).version_id(&v.version_id).send()).await.map_err(aws)?;
                    wrote();
                }
                s.call(&s.operator, "iam:DeletePolicy", arn, 1, iam.delete_policy().policy_arn(arn).send()).await.map_err(aws)?;
                wrote();
                Ok("detached and deleted (denyctl created it)".into())
            }
            TargetKind::ManagedPolicy | TargetKind::Boundary => {
                let arn = managed_arn(t)?;
                let default = b.default_version.clone().ok_or_else(|| ApplyError::Unsupported(format!("{}: the backup has no default version", describe(t))))?;
                let now = self.versions(arn).await?;
                if !now.iter().any(|v| v.version_id == default) {
                    return Err(ApplyError::Stale(format!("{}: version {default} (the default before) no longer exists", describe(t))));
                }
                let mut done = Vec::new();
                if now.iter().any(|v| v.version_id == default && v.is_default) {
                    done.push(format!("{default} still the default"));
                } else {
                    s.call(&s.operator, "iam:SetDefaultPolicyVersion", arn, 1, iam.set_default_policy_version().policy_arn(arn).version_id(&default).send()).await.map_err(aws)?;
                    wrote();
                    done.push(format!("default set back to {default}"));
                }
                let created = e.applied.as_ref().and_then(|a| a.created_version.clone());
                if let Some(id) = created.filter(|id| *id != default && now.iter().any(|v| &v.version_id == id)) {
                    let target = format!("{arn} version {id}");
                    s.call(&s.operator, "iam:DeletePolicyVersion", &target, 1, iam.delete_policy_version().policy_arn(arn).version_id(&id).send()).await.map_err(aws)?;
                    wrote();
                    done.push(format!("{id} (made by apply) deleted"));
                }
                if let Some(d) = e.applied.as_ref().and_then(|a| a.deleted_version.clone()) {
                    let out = s
                        .call(&s.operator, "iam:CreatePolicyVersion", arn, 1, iam.create_policy_version().policy_arn(arn).policy_document(d.document.to_string()).set_as_default(false).send())
                        .await
                        .map_err(aws)?;
                    wrote();
                    let id = out.policy_version().and_then(|v| v.version_id()).unwrap_or("?");
                    done.push(format!("the document of {} (deleted by apply to make room) re-created as non-default version {id}", d.version_id));
                }
                Ok(done.join("; "))
            }
            TargetKind::TrustPolicy => {
                let role = trust_role(t)?;
                s.call(&s.operator, "iam:UpdateAssumeRolePolicy", &role, 1, iam.update_assume_role_policy().role_name(&role).policy_document(text(b)).send())
                    .await
                    .map_err(aws)?;
                wrote();
                Ok("put back".into())
            }
            TargetKind::ResourcePolicy => {
                let p = self.plugin_for(t)?;
                let arn = t.resource_arn.clone().unwrap_or_default();
                let now = p.fetch_policy(&self.plugin_ctx(), &arn).await.map_err(plugin_err)?;
                if !b.exists {
                    if now.policy.is_none() {
                        return Ok("already absent".into());
                    }
                    // The fix created this policy: delete it (compare-and-swap on the token just read).
                    p.delete_policy(&self.plugin_ctx(), &arn, &now.version_token).await.map_err(plugin_err)?;
                    wrote();
                    return Ok("deleted (it did not exist before)".into());
                }
                p.put_policy_text(&self.plugin_ctx(), &arn, &text(b), &now.version_token).await.map_err(plugin_err)?;
                wrote();
                Ok("put back".into())
            }
            other => Err(ApplyError::Unsupported(format!("{} policies are never written by denyctl", other.as_str()))),
        }
    }
}

/// What an interrupted write did, worked out from the target as it is now (the process stopped
/// after writing and before the backup recorded it): the version it made the default, the
/// version it deleted to make room, the policy it created.
pub fn reconcile(e: &BackupEntry, now: &Current) -> Applied {
    let mut a = e.applied.clone().unwrap_or_default();
    if matches!(e.target.kind, TargetKind::ManagedPolicy | TargetKind::Boundary) {
        if !e.before.exists && now.exists {
            a.created_policy = true;
        }
        if a.created_version.is_none() && e.before.exists && now.default_version != e.before.default_version {
            a.created_version = now.default_version.clone();
        }
        if a.deleted_version.is_none() {
            a.deleted_version = e.to_delete.clone().filter(|d| now.exists && !now.versions.iter().any(|v| v.version_id == d.version_id));
        }
    }
    if e.target.kind == TargetKind::ResourcePolicy && a.token.is_none() {
        a.token = now.token.clone();
    }
    a
}

/// Whether a target is back as its backup entry's before-image (a managed policy: the same
/// default version and as many versions as before, so a version deleted to make room is back).
pub fn is_restored(e: &BackupEntry, now: &Current) -> bool {
    let b = &e.before;
    let managed = matches!(e.target.kind, TargetKind::ManagedPolicy | TargetKind::Boundary);
    now.exists == b.exists
        && now.document == b.document
        && (!managed || (now.default_version == b.default_version && now.versions.len() >= b.versions.len()))
}

/// The statements of `now` that `before` does not have (`+`), and the reverse (`-`), one short
/// line each: what someone else changed.
pub fn statement_diff(before: Option<&Json>, now: Option<&Json>) -> String {
    fn statements(d: Option<&Json>) -> Vec<Json> {
        match d.and_then(|d| d.get("Statement")) {
            Some(Json::Array(a)) => a.clone(),
            Some(one) => vec![one.clone()],
            None => vec![],
        }
    }
    fn short(s: &Json) -> String {
        let mut t = s.to_string();
        if t.len() > 160 {
            let cut = (0..=160).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
            t.truncate(cut);
            t.push('…');
        }
        t
    }
    let (b, n) = (statements(before), statements(now));
    let mut out: Vec<String> = n.iter().filter(|s| !b.contains(s)).map(|s| format!("+{}", short(s))).collect();
    out.extend(b.iter().filter(|s| !n.contains(s)).map(|s| format!("-{}", short(s))));
    if out.is_empty() {
        "same statements, other text".into()
    } else {
        out.join(" ")
    }
}

/// Where AWS records who made a change to this target (IAM keeps no author on a policy).
pub fn who_changed_hint(t: &Target) -> String {
    let event = match t.kind {
        TargetKind::InlinePolicy if t.role_name.is_some() => "PutRolePolicy/DeleteRolePolicy",
        TargetKind::InlinePolicy => "PutUserPolicy/DeleteUserPolicy",
        TargetKind::ManagedPolicy | TargetKind::Boundary => "CreatePolicy/CreatePolicyVersion/SetDefaultPolicyVersion",
        TargetKind::TrustPolicy => "UpdateAssumeRolePolicy",
        TargetKind::ResourcePolicy => match t.service.as_deref() {
            Some("s3") => "PutBucketPolicy/DeleteBucketPolicy",
            Some("kms") => "PutKeyPolicy",
            Some("sqs") => "SetQueueAttributes",
            Some("secretsmanager") => "PutResourcePolicy/DeleteResourcePolicy",
            _ => "the service's policy writes",
        },
        _ => "the policy writes",
    };
    format!("who: the policy itself does not record it; CloudTrail does ({event})")
}

/// Compare a target as read now with the plan: already applied, ready, or changed.
pub fn check(c: &Change, cur: &Current) -> State {
    let t = &c.target;
    let is_managed = matches!(t.kind, TargetKind::ManagedPolicy | TargetKind::Boundary);
    if cur.document.as_ref() == Some(&c.after) && cur.attached != Some(false) {
        return State::AlreadyApplied;
    }
    if t.create && cur.exists {
        return State::Changed(format!(
            "{} now exists (the plan creates it): it was made since the plan was read: {}; {}",
            describe(t),
            statement_diff(None, cur.document.as_ref()),
            who_changed_hint(t)
        ));
    }
    if cur.document != c.before && (cur.exists || !t.create) {
        let what = match (&c.before, &cur.document) {
            (Some(_), None) => "it no longer exists".to_string(),
            (None, Some(_)) => "it now exists".to_string(),
            (Some(_), Some(_)) => format!("its statements differ from the plan's before-image: {}", statement_diff(c.before.as_ref(), cur.document.as_ref())),
            _ => "its document differs from the plan's before-image".to_string(),
        };
        return State::Changed(format!("{} changed since the plan was made: {what}; {}", describe(t), who_changed_hint(t)));
    }
    if let (Some(want), Some(have)) = (&c.version_token, &cur.token) {
        if want != have {
            let what = if is_managed { "default version" } else { "version token" };
            let when = cur.versions.iter().find(|v| &v.version_id == have).and_then(|v| v.create_date.as_deref()).map(|d| format!(" (created {d})")).unwrap_or_default();
            return State::Changed(format!("{} changed since the plan was made: {what} {want} was read, {have} now{when}; {}", describe(t), who_changed_hint(t)));
        }
    }
    State::Ready
}

/// The order to write changes in so that a half-done apply never leaves more access than
/// the finished one would, and as little as possible. Every change of a v1 plan only adds
/// access for the caller, so any prefix is a subset of the final state; among them:
/// 1. allows in permissions boundaries (they set a ceiling and grant nothing alone),
/// 2. allows in resource and trust policies (they name only the caller),
/// 3. allows in the caller's own identity policies (the grant itself),
/// 4. narrowed Denies last (they lift a guardrail: if anything fails before, the guardrail stays).
///
/// Rollback goes the other way: Denies are restored first.
pub fn order(changes: &[Change]) -> Vec<&Change> {
    let rank = |c: &Change| match (c.edit, c.target.kind) {
        (EditKind::NarrowDeny, _) => 3,
        (_, TargetKind::Boundary) => 0,
        (_, TargetKind::ResourcePolicy | TargetKind::TrustPolicy) => 1,
        _ => 2,
    };
    let mut v: Vec<&Change> = changes.iter().filter(|c| c.applicable).collect();
    v.sort_by_key(|c| rank(c));
    v
}

/// What the planner needs beyond the layers: version tokens by policy name, and the versions
/// of every customer managed policy (five-version rule). The caller's own inline policies are
/// renamed from `inline:NAME (role/x)` to `inline:NAME` first, so that the planner finds
/// denyctl's own policy and names inline targets by their IAM name.
pub async fn plan_inputs(
    session: &Session,
    snap: &mut Snapshot,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, Vec<PolicyVersion>>), ApplyError> {
    let own = Principal::parse(&snap.request.principal).ok().and_then(|p| match p.kind {
        PrincipalKind::User { name, .. } => Some(format!("user/{name}")),
        PrincipalKind::Role { name, .. } | PrincipalKind::AssumedRole { role: name, .. } => Some(format!("role/{name}")),
        _ => None,
    });
    let mut versions = BTreeMap::new();
    let mut managed = Vec::new();
    let policies = &mut snap.policies;
    for p in policies.identity.iter_mut() {
        match p.source.kind.as_str() {
            "inline" => {
                if own.is_some() && p.source.attached_to == own {
                    let suffix = format!(" ({})", own.as_deref().unwrap_or(""));
                    if let Some(n) = p.name.strip_suffix(&suffix) {
                        p.name = n.to_string();
                    }
                }
                versions.insert(p.name.clone(), version_token(Some(&p.document)));
            }
            "managed" => {
                if let Some(v) = &p.source.version_id {
                    versions.insert(p.name.clone(), v.clone());
                }
                managed.push(p.name.clone());
            }
            _ => {}
        }
    }
    if let Some(b) = &policies.permissions_boundary {
        if let Some(v) = &b.source.version_id {
            versions.insert(b.name.clone(), v.clone());
        }
        managed.push(b.name.clone());
    }
    if let Some(r) = &policies.resource {
        let token = r.source.version_id.clone().unwrap_or_else(|| version_token(Some(&r.document)));
        versions.insert(r.name.clone(), token);
    }
    let w = Writer { session, plugins: &Registry::new() };
    let customer: Vec<String> = managed.into_iter().filter(|a| a.starts_with("arn:") && !a.contains(":iam::aws:")).collect();
    let lists = futures::future::join_all(customer.iter().map(|a| w.versions(a))).await;
    let mut policy_versions = BTreeMap::new();
    for (arn, l) in customer.into_iter().zip(lists) {
        // A list that cannot be read stays unknown: the plan says so and apply reads it again.
        if let Ok(l) = l {
            policy_versions.insert(arn, l);
        }
    }
    Ok((versions, policy_versions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use denyctl_eval::LayerKind;
    use serde_json::json;

    fn change(kind: TargetKind, edit: EditKind, create: bool, before: Option<Json>, after: Json, token: Option<&str>) -> Change {
        Change {
            id: "c1".into(),
            layer: LayerKind::Identity,
            edit,
            target: Target {
                kind,
                policy_name: "p".into(),
                policy_arn: None,
                role_name: Some("r".into()),
                user_name: None,
                resource_arn: None,
                service: None,
                org_target: None,
                create,
            },
            summary: String::new(),
            statements: vec![],
            before,
            after,
            diff: String::new(),
            version_token: token.map(str::to_string),
            applicable: true,
            needs_human: false,
            needs_human_reason: None,
            blast_radius: None,
            size: None,
            versions: None,
            newly_allowed: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn compare_and_swap_states() {
        let a = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]});
        let b = json!({"Version": "2012-10-17", "Statement": []});
        let c = change(TargetKind::InlinePolicy, EditKind::AddAllow, false, Some(b.clone()), a.clone(), Some(&version_token(Some(&b))));
        let cur = |d: Option<&Json>| Current { exists: d.is_some(), document: d.cloned(), token: Some(version_token(d)), ..Default::default() };
        assert_eq!(check(&c, &cur(Some(&b))), State::Ready);
        assert_eq!(check(&c, &cur(Some(&a))), State::AlreadyApplied);
        assert!(matches!(check(&c, &cur(None)), State::Changed(m) if m.contains("no longer exists")));
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
        assert!(matches!(check(&c, &cur(Some(&other))), State::Changed(m) if m.contains("differ")));
        // A created policy that appeared meanwhile is a conflict.
        let created = change(TargetKind::InlinePolicy, EditKind::AddAllow, true, None, a.clone(), None);
        assert_eq!(check(&created, &cur(None)), State::Ready);
        assert!(matches!(check(&created, &cur(Some(&b))), State::Changed(m) if m.contains("now exists")));
        // Managed: same document, another default version id.
        let m = change(TargetKind::ManagedPolicy, EditKind::AddAllow, false, Some(b.clone()), a, Some("v2"));
        let now = Current { exists: true, document: Some(b), token: Some("v3".into()), default_version: Some("v3".into()), ..Default::default() };
        assert!(matches!(check(&m, &now), State::Changed(s) if s.contains("v2 was read, v3 now")));
    }

    #[test]
    fn narrowed_denies_go_last_and_handoffs_are_left_out() {
        let d = json!({});
        let mut deny = change(TargetKind::ManagedPolicy, EditKind::NarrowDeny, false, Some(d.clone()), d.clone(), None);
        deny.id = "c1".into();
        let mut allow = change(TargetKind::InlinePolicy, EditKind::AddAllow, true, None, d.clone(), None);
        allow.id = "c2".into();
        let mut boundary = change(TargetKind::Boundary, EditKind::AddAllow, false, Some(d.clone()), d.clone(), None);
        boundary.id = "c3".into();
        let mut scp = change(TargetKind::Scp, EditKind::AddAllow, false, Some(d.clone()), d, None);
        scp.id = "c4".into();
        scp.applicable = false;
        let all = [deny, allow, boundary, scp];
        let ids: Vec<&str> = order(&all).iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c3", "c2", "c1"]);
    }

    #[test]
    fn decoded_text_keeps_the_document_as_returned() {
        let enc = "%7B%22Version%22%3A%20%222012-10-17%22%7D";
        assert_eq!(decoded_text(enc), "{\"Version\": \"2012-10-17\"}");
        let plain = "{ \"a\" : 1 }";
        assert_eq!(decoded_text(plain), plain);
    }
}
