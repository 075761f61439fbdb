//! The organization snapshot (docs/snapshot.md): a folder written by `collect --org` with the
//! organization tree (SCPs and RCPs by target) and every account's roles, users, groups and
//! policies, and the resource layers of the resources the denials named. From it, the request
//! snapshot of any (principal, action, resource) in the organization is built offline
//! ([`OrgSnapshot::request`]), the same snapshot a live `collect` would have read.
//!
//! ```text
//! DIR/manifest.json            denyctl-org-snapshot/1: time, organization, accounts read and skipped
//! DIR/org.json                 targets (root, OUs, accounts) with their parent and SCP/RCP ids; the policies once
//! DIR/accounts/ACCOUNT.json    denyctl-org-account/1: roles, users, groups, managed policies once, resources
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use denyctl_eval::{LayerKind, UnknownLayer};
use denyctl_policy::{Principal, PrincipalKind};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::snapshot::{CallSummary, Snapshot, SnapshotError, SnapshotLevel, SnapshotPolicies, SnapshotRequest, FORMAT};
use crate::sourced::{PolicySource, SourcedPolicy};
use crate::whoami::OrgSummary;

/// The manifest's format tag.
pub const ORG_FORMAT: &str = "denyctl-org-snapshot/1";
/// An account file's format tag.
pub const ACCOUNT_FORMAT: &str = "denyctl-org-account/1";
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// `manifest.json`: what was read, when, and which accounts were skipped (written last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `denyctl-org-snapshot/1`.
    pub format: String,
    /// When it was collected (RFC 3339, UTC).
    pub collected_at: String,
    /// The organization.
    pub organization: OrgSummary,
    /// Who read it (STS ARN of the operator).
    pub read_by: String,
    /// The role assumed in each member account.
    pub member_role: String,
    /// Every account of the organization, read or skipped.
    pub accounts: Vec<AccountEntry>,
    /// Resource layers read (resources the denials named).
    pub resources: usize,
    /// The organization reads (the accounts' own calls are in their files).
    #[serde(default)]
    pub calls: CallSummary,
}

/// One account in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// Account ID.
    pub id: String,
    /// Account name.
    #[serde(default)]
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, ...
    #[serde(default)]
    pub status: String,
    /// Its file (`accounts/ID.json`), when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The identity it was read as (the assumed role, or the operator's own credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<String>,
    /// Why it was not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// `org.json`: the organization tree and its SCPs and RCPs by target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrgTree {
    /// The root ID.
    pub root: String,
    /// Root, OUs and accounts, each with its parent and the policy IDs attached.
    pub targets: Vec<OrgTarget>,
    /// Every SCP and RCP attached somewhere, by ID.
    pub policies: BTreeMap<String, OrgPolicyDoc>,
    /// Accounts whose place in the tree could not be read, with the reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// A root, OU or account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgTarget {
    /// `r-…`, `ou-…` or the account ID.
    pub id: String,
    /// `ROOT`, `ORGANIZATIONAL_UNIT` or `ACCOUNT`.
    #[serde(rename = "type")]
    pub target_type: String,
    /// The parent (none for the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// SCP IDs attached here.
    pub scp: Vec<String>,
    /// RCP IDs attached here.
    pub rcp: Vec<String>,
}

/// An SCP or RCP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgPolicyDoc {
    /// Its name.
    pub name: String,
    /// Its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `scp` or `rcp`.
    #[serde(rename = "type")]
    pub policy_type: String,
    /// The document.
    pub document: Json,
}

/// `accounts/ID.json`: one account's IAM entities and the resources read in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountFile {
    /// `denyctl-org-account/1`.
    pub format: String,
    /// Account ID.
    pub account: String,
    /// Who it was read as.
    pub read_as: String,
    /// Managed policies at their default version, once each (entities refer to them by ARN).
    pub managed: BTreeMap<String, ManagedDoc>,
    /// Roles.
    pub roles: Vec<EntityRecord>,
    /// Users.
    pub users: Vec<EntityRecord>,
    /// Groups with members, and the policies they give (by name).
    pub groups: BTreeMap<String, Vec<String>>,
    /// Resource layers of the resources the denials named.
    pub resources: Vec<ResourceRecord>,
    /// The calls made in this account.
    #[serde(default)]
    pub calls: CallSummary,
}

/// A managed policy's default version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedDoc {
    /// `v3`.
    pub version_id: String,
    /// The document.
    pub document: Json,
}

/// A role or user with what hangs off it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRecord {
    /// ARN (with path).
    pub arn: String,
    /// Name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A role's trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Json>,
    /// A user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Identity policies (its own inline and managed, then its groups'), as a request's identity
    /// layer lists them; a managed policy's `document` is `null` here and found in `managed`.
    pub policies: Vec<SourcedPolicy>,
    /// The permissions boundary (its document in `managed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<SourcedPolicy>,
    /// Layers of it that could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownLayer>,
}

/// The resource layer of one (action, resource), as a live collection reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// The action it was read for (it chooses the plugin).
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// The policy (none: the resource has none, or the service has no resource policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<SourcedPolicy>,
    /// Why it could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownLayer>,
    /// Notes (settings, no policy, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Whether a managed policy reference (identity or boundary) keeps its document in `managed`.
pub fn is_managed_ref(p: &SourcedPolicy) -> bool {
    matches!(p.source.kind.as_str(), "managed" | "permissions_boundary") && p.source.arn.is_some()
}

/// An organization snapshot, loaded.
#[derive(Debug)]
pub struct OrgSnapshot {
    /// Its folder.
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// The tree.
    pub tree: OrgTree,
    /// Each account's file, or why it is not usable (skipped when collected, or unreadable now).
    pub accounts: BTreeMap<String, Result<AccountFile, String>>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl OrgSnapshot {
    /// Whether DIR holds an organization snapshot (it has a manifest).
    pub fn is_one(dir: &Path) -> bool {
        dir.join(MANIFEST).is_file()
    }

    /// Load the manifest, the tree and the account files (only those in `only`, when given: the
    /// accounts a batch of requests names); an account file that cannot be read makes that
    /// account unusable (its reason kept), not the snapshot.
    pub fn load(dir: &Path, only: Option<&std::collections::BTreeSet<String>>) -> Result<OrgSnapshot, SnapshotError> {
        let raw: Json = read_json(&dir.join(MANIFEST)).map_err(|e| SnapshotError::Shape(format!("not an organization snapshot: {e}")))?;
        match raw.get("format").and_then(Json::as_str) {
            Some(ORG_FORMAT) => {}
            Some(other) => return Err(SnapshotError::Shape(format!("organization snapshot format {other:?} is not supported (this denyctl reads {ORG_FORMAT:?})"))),
            None => return Err(SnapshotError::Shape(format!("{}: no \"format\" field", dir.join(MANIFEST).display()))),
        }
        let manifest: Manifest = serde_json::from_value(raw).map_err(|e| SnapshotError::Shape(format!("{}: {e}", dir.join(MANIFEST).display())))?;
        let tree: OrgTree = read_json(&dir.join("org.json")).map_err(SnapshotError::Shape)?;
        let mut accounts = BTreeMap::new();
        for a in &manifest.accounts {
            if only.is_some_and(|o| !o.contains(&a.id)) {
                accounts.insert(a.id.clone(), Err("was not loaded (no request named it)".to_string()));
                continue;
            }
            let got = match (&a.file, &a.skipped) {
                (Some(f), _) => read_json::<AccountFile>(&dir.join(f))
                    .and_then(|af| if af.account == a.id { Ok(af) } else { Err(format!("{f} is the file of account {}", af.account)) })
                    .map_err(|e| format!("its file cannot be used: {e}")),
                (None, Some(why)) => Err(format!("skipped because {why}")),
                (None, None) => Err("not read".to_string()),
            };
            accounts.insert(a.id.clone(), got);
        }
        Ok(OrgSnapshot { dir: dir.to_path_buf(), manifest, tree, accounts })
    }

    fn account(&self, id: &str) -> Result<&AccountFile, String> {
        match self.accounts.get(id) {
            Some(Ok(a)) => Ok(a),
            Some(Err(why)) => Err(format!("not in snapshot: account {id} {why}")),
            None => Err(format!("not in snapshot: account {id} is not in organization {}", self.manifest.organization.id)),
        }
    }

    /// The levels from the root down to `account` (root first).
    fn chain(&self, account: &str) -> Result<Vec<&OrgTarget>, String> {
        if let Some(why) = self.tree.unknown.get(account) {
            return Err(why.clone());
        }
        let by_id: BTreeMap<&str, &OrgTarget> = self.tree.targets.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut out = Vec::new();
        let mut at = by_id.get(account).copied().ok_or_else(|| format!("account {account} is not in organization {} (as collected)", self.manifest.organization.id))?;
        loop {
            out.push(at);
            match &at.parent {
                None => break,
                Some(p) if out.len() <= by_id.len() => at = by_id.get(p.as_str()).copied().ok_or_else(|| format!("org.json: parent {p} of {} is missing", at.id))?,
                Some(_) => return Err("org.json: the parent chain loops".into()),
            }
        }
        out.reverse();
        Ok(out)
    }

    fn levels(&self, chain: &[&OrgTarget], rcp: bool) -> Vec<SnapshotLevel> {
        chain
            .iter()
            .map(|t| SnapshotLevel {
                target: t.id.clone(),
                target_type: t.target_type.clone(),
                policies: (if rcp { &t.rcp } else { &t.scp })
                    .iter()
                    .filter_map(|id| self.tree.policies.get(id).map(|p| (id, p)))
                    .map(|(id, p)| SourcedPolicy {
                        name: format!("{} ({id})", p.name),
                        document: p.document.clone(),
                        source: PolicySource {
                            kind: if rcp { "rcp" } else { "scp" }.into(),
                            attached_to: Some(t.id.clone()),
                            arn: p.arn.clone(),
                            policy_id: Some(id.clone()),
                            version_id: None,
                            read_by: "organizations:DescribePolicy".into(),
                            extra: None,
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    /// The request snapshot of `principal` doing `action` on `resource`, built from the
    /// collected layers as a live `collect` reads them; `Err` says why it cannot be built
    /// (`not in snapshot: account … skipped because …`, a principal that is not a role or user).
    pub fn request(&self, principal: &str, action: &str, resource: &str) -> Result<Snapshot, String> {
        let p = Principal::parse(principal).map_err(|e| format!("not in snapshot: {e}"))?;
        let account = p.account();
        let acct = self.account(account)?;
        let entity = match &p.kind {
            PrincipalKind::Role { name, .. } | PrincipalKind::AssumedRole { role: name, .. } => acct.roles.iter().find(|r| &r.name == name),
            PrincipalKind::User { name, .. } => acct.users.iter().find(|u| &u.name == name),
            _ => return Err(format!("not in snapshot: {principal} is not a role or user (an organization snapshot holds those)")),
        }
        .ok_or_else(|| format!("{} does not exist in account {account} (organization snapshot of {})", p.entity_arn(), self.manifest.collected_at))?;
        let filled = |x: &SourcedPolicy| -> Result<SourcedPolicy, String> {
            let mut x = x.clone();
            if is_managed_ref(&x) {
                let arn = x.source.arn.clone().unwrap_or_default();
                let m = acct.managed.get(&arn).ok_or_else(|| format!("accounts/{account}.json: managed policy {arn} is missing"))?;
                x.document = m.document.clone();
            }
            Ok(x)
        };
        let identity = entity.policies.iter().map(filled).collect::<Result<Vec<_>, _>>()?;
        let boundary = entity.boundary.as_ref().map(filled).transpose()?;
        let mut unknown = entity.unknown.clone();
        let resource_account = denyctl_policy::Arn::parse(resource).ok().map(|a| a.account).filter(|a| a.len() == 12).unwrap_or_else(|| account.to_string());

        let org = &self.manifest.organization;
        let (mut scp, mut rcp, mut org_paths) = (None, None, None);
        match self.chain(account) {
            Ok(chain) => {
                scp = Some(self.levels(&chain, false));
                let path: Vec<&str> = chain.iter().filter(|t| t.target_type != "ACCOUNT").map(|t| t.id.as_str()).collect();
                org_paths = Some(crate::collect::org_paths(&org.id, &path));
                if resource_account == account {
                    rcp = Some(self.levels(&chain, true));
                }
            }
            Err(why) => {
                unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: why.clone() });
                if resource_account == account {
                    unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason: why });
                }
            }
        }
        if resource_account != account {
            match self.chain(&resource_account) {
                Ok(chain) => rcp = Some(self.levels(&chain, true)),
                Err(why) => unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason: why }),
            }
        }
        let (res_policy, notes) = self.resource_layer(action, resource, &resource_account, &mut unknown);
        let org_id = scp.as_ref().map(|_| org.id.as_str());
        let context = crate::collect::derived_context(serde_json::Map::new(), Some(&entity.arn), &entity.tags, org_id, org_paths.as_deref(), None);
        Ok(Snapshot {
            format: FORMAT.into(),
            collected_at: self.manifest.collected_at.clone(),
            request: SnapshotRequest { principal: p.arn.to_string(), action: action.to_string(), resource: resource.to_string(), resource_account: Some(resource_account), context },
            caller: None,
            organization: Some(org.clone()),
            policies: SnapshotPolicies {
                identity,
                permissions_boundary: boundary,
                session: None,
                scp,
                rcp,
                resource: res_policy,
                management_account: org.management_account_id.clone(),
                unknown,
            },
            notes,
            calls: CallSummary::default(),
            authorization: None,
            hops: Vec::new(),
        })
    }

    /// The resource layer: as collected for this (action, resource), else a role's trust policy
    /// for `sts:AssumeRole*`, else unknown (the resource was not given to `collect --org`).
    fn resource_layer(&self, action: &str, resource: &str, account: &str, unknown: &mut Vec<UnknownLayer>) -> (Option<SourcedPolicy>, Vec<String>) {
        if resource == "*" {
            return (None, Vec::new());
        }
        let acct = match self.account(account) {
            Ok(a) => a,
            Err(why) => {
                unknown.push(UnknownLayer { layer: LayerKind::Resource, reason: why });
                return (None, Vec::new());
            }
        };
        let rec = acct.resources.iter().find(|r| r.resource == resource && r.action.eq_ignore_ascii_case(action)).or_else(|| acct.resources.iter().find(|r| r.resource == resource));
        if let Some(r) = rec {
            unknown.extend(r.unknown.iter().cloned());
            return (r.policy.clone(), r.notes.clone());
        }
        if action.to_ascii_lowercase().starts_with("sts:assumerole") {
            let name = resource.rsplit('/').next().unwrap_or(resource);
            return match acct.roles.iter().find(|r| r.name == name).and_then(|r| r.trust.as_ref().map(|t| (r, t))) {
                Some((r, t)) => (
                    Some(SourcedPolicy {
                        name: format!("trust policy of {}", r.arn),
                        document: t.clone(),
                        source: PolicySource { kind: "trust".into(), attached_to: Some(r.arn.clone()), arn: None, policy_id: None, version_id: None, read_by: "iam:GetRole".into(), extra: None },
                    }),
                    Vec::new(),
                ),
                None => {
                    unknown.push(UnknownLayer { layer: LayerKind::Resource, reason: format!("the trust policy of role {name} is not in the snapshot of account {account}") });
                    (None, Vec::new())
                }
            };
        }
        let service = action.split(':').next().unwrap_or("").to_ascii_lowercase();
        if let Some(reader) = crate::resource::resource_policy_reader(&service) {
            unknown.push(UnknownLayer {
                layer: LayerKind::Resource,
                reason: format!("the policy of {resource} is not in the organization snapshot (it is read with {reader}); give the denials to `collect --org --resources-from`"),
            });
        }
        (None, Vec::new())
    }
}

/// Write an organization snapshot to DIR all at once: every file into a temporary folder beside
/// it, then the folder renamed to DIR. DIR must not exist, or be an empty folder.
pub fn write_dir(dir: &Path, manifest: &Manifest, tree: &OrgTree, accounts: &[AccountFile]) -> Result<(), String> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(format!("{} exists and is not an empty folder; give a new folder", dir.display()));
        }
    }
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} is not a folder name", dir.display()))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("accounts"))?;
        let put = |rel: &str, v: &dyn erased::Json| std::fs::write(tmp.join(rel), v.pretty());
        put("org.json", tree)?;
        for a in accounts {
            put(&format!("accounts/{}.json", a.account), a)?;
        }
        put(MANIFEST, manifest)?;
        if dir.exists() {
            std::fs::remove_dir(dir)?;
        }
        std::fs::rename(&tmp, dir)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        format!("cannot write {}: {e}", dir.display())
    })
}

mod erased {
    /// Pretty JSON of any serializable value (object-safe).
    pub trait Json {
        fn pretty(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn pretty(&self) -> Vec<u8> {
            let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
            v.push(b'\n');
            v
        }
    }
}

#[cfg(test)]
#[path = "org_snapshot_tests.rs"]
mod tests;
