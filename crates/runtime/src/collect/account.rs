//! `collect --org`: the organization tree with its SCPs and RCPs, and every account read with
//! the member role (docs/snapshot.md). Each account is read by one [`Session`] acting in it, with
//! the same readers a live collection uses (principal layers, resource layers through the
//! plugins, memoized, retried, bounded); accounts are read a few at a time.

use std::collections::BTreeMap;

use denyctl_policy::Principal;
use futures::future::join_all;
use futures::StreamExt;

use crate::calls::Failure;
use crate::config::{Clients, Session};
use crate::error::RuntimeError;
use crate::org_snapshot::{is_managed_ref, AccountEntry, AccountFile, EntityRecord, ManagedDoc, Manifest, OrgPolicyDoc, OrgTarget, OrgTree, ResourceRecord, ACCOUNT_FORMAT, ORG_FORMAT};
use crate::resource::Registry;
use crate::snapshot::CallSummary;
use crate::sourced::SourcedPolicy;

/// Accounts read at once.
pub const ACCOUNTS_IN_PARALLEL: usize = 4;

/// What `collect --org` is asked for.
#[derive(Debug, Clone, Default)]
pub struct OrgOptions {
    /// The role assumed in each member account (`OrganizationAccountAccessRole`).
    pub member_role: String,
    /// The resources whose layers to read: (action, resource, account that owns it).
    pub wants: Vec<Want>,
}

/// A resource layer to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Want {
    /// The action (it chooses the plugin).
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// The account it is read in.
    pub account: String,
}

/// What `collect --org` read: the manifest, the tree, and the accounts read.
#[derive(Debug)]
pub struct OrgCollected {
    /// The manifest (accounts read and skipped).
    pub manifest: Manifest,
    /// The tree.
    pub tree: OrgTree,
    /// The accounts read.
    pub accounts: Vec<AccountFile>,
}

fn fail_text(f: Failure) -> String {
    match f {
        Failure::Read(e) => e.to_string(),
        Failure::Fatal(e) => e.to_string(),
    }
}

impl Session {
    /// A session acting in another account: `role_arn` assumed with the operator's credentials.
    pub async fn assume(&self, role_arn: &str) -> Result<Session, String> {
        let sts = &self.operator.sts;
        let out = self
            .call(&self.operator, "sts:AssumeRole", role_arn, 1, sts.assume_role().role_arn(role_arn).role_session_name("denyctl-collect-org").send())
            .await
            .map_err(fail_text)?;
        let c = out.credentials().ok_or_else(|| format!("sts:AssumeRole {role_arn}: no credentials in the answer"))?;
        let creds = aws_credential_types::Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "denyctl-collect-org");
        let config = self.operator.config.clone().into_builder().credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds)).build();
        Ok(Session::with_clients(Clients::from_config(config, "operator", format!("role {role_arn}"), None)))
    }

    /// Every (name, ARN, path) IAM ListRoles or ListUsers gives, all pages.
    async fn list_entities(&self, users: bool) -> Result<Vec<(String, String, String)>, Failure> {
        let iam = &self.operator.iam;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        let mut w = 1;
        loop {
            let (items, next) = if users {
                let o = self.call(&self.operator, "iam:ListUsers", "account", w, iam.list_users().set_marker(marker.clone()).send()).await?;
                let items: Vec<_> = o.users().iter().map(|u| (u.user_name().to_string(), u.arn().to_string(), u.path().to_string())).collect();
                (items, o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())
            } else {
                let o = self.call(&self.operator, "iam:ListRoles", "account", w, iam.list_roles().set_marker(marker.clone()).send()).await?;
                let items: Vec<_> = o.roles().iter().map(|r| (r.role_name().to_string(), r.arn().to_string(), r.path().to_string())).collect();
                (items, o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())
            };
            out.extend(items);
            match next {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
            w += 1;
        }
    }

    /// One entity with everything that hangs off it, as a request's principal layers read it.
    async fn entity(&self, name: &str, arn: &str, path: &str, user: bool) -> Result<Option<EntityRecord>, RuntimeError> {
        let p = Principal::parse(arn).map_err(|e| RuntimeError::UnknownPrincipal(format!("{arn}: {e}")))?;
        let pl = self.principal_layers(&p, 1).await?;
        if pl.missing.is_some() {
            return Ok(None); // deleted between the listing and the read
        }
        let (trust, groups) = if user {
            (None, self.groups_of(name, 1).await.unwrap_or_default())
        } else {
            (self.role(name, 1).await.ok().and_then(|r| r.trust.ok()), Vec::new())
        };
        Ok(Some(EntityRecord {
            arn: pl.entity_arn.clone().unwrap_or_else(|| arn.to_string()),
            name: name.to_string(),
            path: path.to_string(),
            tags: pl.tags,
            trust,
            groups,
            policies: pl.identity,
            boundary: pl.boundary,
            unknown: pl.unknown,
        }))
    }

    /// Read one account: its roles, users and groups with their policies (managed documents kept
    /// once), and the resource layers of `wants`. `Err`: the account could not be listed.
    pub async fn read_account(&self, plugins: &Registry, account: &str, read_as: &str, wants: &[Want]) -> Result<AccountFile, String> {
        let (roles, users) = futures::join!(self.list_entities(false), self.list_entities(true));
        let (roles, users) = (roles.map_err(fail_text)?, users.map_err(fail_text)?);
        let read = |list: Vec<(String, String, String)>, user: bool| async move {
            join_all(list.iter().map(|(n, a, p)| self.entity(n, a, p, user))).await.into_iter().collect::<Result<Vec<_>, _>>().map(|v| v.into_iter().flatten().collect::<Vec<_>>())
        };
        let res = join_all(wants.iter().map(|w| async move {
            let r = self.resource_layer(plugins, &w.action, &w.resource, 1).await?;
            Ok::<_, RuntimeError>(ResourceRecord { action: w.action.clone(), resource: w.resource.clone(), policy: r.policy, unknown: r.unknown, notes: r.notes })
        }));
        let (roles, users, resources) = futures::join!(read(roles, false), read(users, true), res);
        let (mut roles, mut users) = (roles.map_err(|e| e.to_string())?, users.map_err(|e| e.to_string())?);
        let resources = resources.into_iter().collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let mut managed = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut keep_once = |p: &mut SourcedPolicy| {
            if is_managed_ref(p) {
                let arn = p.source.arn.clone().unwrap_or_default();
                let doc = std::mem::take(&mut p.document);
                managed.entry(arn).or_insert(ManagedDoc { version_id: p.source.version_id.clone().unwrap_or_default(), document: doc });
            }
        };
        for e in roles.iter_mut().chain(users.iter_mut()) {
            for p in e.policies.iter_mut() {
                if let Some(g) = p.source.attached_to.as_deref().and_then(|a| a.strip_prefix("group/")) {
                    let names = groups.entry(g.to_string()).or_default();
                    if !names.contains(&p.name) {
                        names.push(p.name.clone());
                    }
                }
                keep_once(p);
            }
            if let Some(b) = e.boundary.as_mut() {
                keep_once(b);
            }
        }
        Ok(AccountFile {
            format: ACCOUNT_FORMAT.into(),
            account: account.to_string(),
            read_as: read_as.to_string(),
            managed,
            roles,
            users,
            groups,
            resources,
            calls: CallSummary::of(&self.stats),
        })
    }

    /// Organizations ListAccounts, all pages: (id, name, status).
    async fn list_accounts(&self) -> Result<Vec<(String, String, String)>, Failure> {
        let who = &self.org_reader;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut w = 1;
        loop {
            let o = self.call(who, "organizations:ListAccounts", "organization", w, who.org.list_accounts().set_next_token(token.clone()).send()).await?;
            out.extend(o.accounts().iter().map(|a| {
                (a.id().unwrap_or_default().to_string(), a.name().unwrap_or_default().to_string(), a.status().map(|s| s.as_str().to_string()).unwrap_or_default())
            }));
            match o.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
            w += 1;
        }
    }

    /// The tree: each account's SCP and RCP chain read as a live collection reads it (each
    /// target's policies once, through the memos), merged into targets by ID.
    async fn org_tree(&self, accounts: &[String]) -> Result<OrgTree, RuntimeError> {
        let chains = join_all(accounts.iter().map(|a| self.org_layers(a, a, 1))).await;
        let mut tree = OrgTree::default();
        let mut targets: BTreeMap<String, OrgTarget> = BTreeMap::new();
        for (a, got) in accounts.iter().zip(chains) {
            let got = got?;
            let (Some(scp), Some(rcp)) = (got.scp, got.rcp) else {
                let why = got.unknown.first().map(|u| u.reason.clone()).unwrap_or_else(|| "its place in the organization could not be read".into());
                tree.unknown.insert(a.clone(), why);
                continue;
            };
            let mut parent: Option<String> = None;
            for (s, r) in scp.iter().zip(rcp.iter()) {
                let t = targets.entry(s.target.clone()).or_insert_with(|| OrgTarget { id: s.target.clone(), target_type: s.target_type.clone(), parent: parent.clone(), scp: vec![], rcp: vec![] });
                for (ids, pols, ty) in [(&mut t.scp, &s.policies, "scp"), (&mut t.rcp, &r.policies, "rcp")] {
                    ids.clear();
                    for p in pols {
                        let id = p.source.policy_id.clone().unwrap_or_else(|| p.name.clone());
                        let name = p.name.strip_suffix(&format!(" ({id})")).unwrap_or(&p.name).to_string();
                        tree.policies.entry(id.clone()).or_insert(OrgPolicyDoc { name, arn: p.source.arn.clone(), policy_type: ty.into(), document: p.document.clone() });
                        ids.push(id);
                    }
                }
                if s.target_type == "ROOT" {
                    tree.root = s.target.clone();
                }
                parent = Some(s.target.clone());
            }
        }
        tree.targets = targets.into_values().collect();
        Ok(tree)
    }
}

/// Collect an organization snapshot: the tree as the organization reader, the operator's own
/// account with its credentials, every other active account through `member_role`. An account
/// that cannot be entered or listed is skipped with the reason.
pub async fn collect_org(session: &Session, plugins: &Registry, opts: &OrgOptions) -> Result<OrgCollected, RuntimeError> {
    let org = match session.organization(1).await {
        Ok(Some(o)) => o,
        Ok(None) => return Err(RuntimeError::Unreadable("the operator's account is in no organization (organizations:DescribeOrganization)".into())),
        Err(Failure::Fatal(e)) => return Err(e),
        Err(Failure::Read(e)) => return Err(RuntimeError::Unreadable(format!("the organization cannot be read: {e}; run collect --org as the management account or a delegated administrator"))),
    };
    let me = session.identity_of(&session.operator, 1).await.map_err(|f| RuntimeError::Unreadable(fail_text(f)))?;
    let accounts = session.list_accounts().await.map_err(|f| RuntimeError::Unreadable(format!("the organization's accounts cannot be listed: {}", fail_text(f))))?;
    let ids: Vec<String> = accounts.iter().map(|a| a.0.clone()).collect();
    let tree = session.org_tree(&ids).await?;
    let me_ref = &me;
    let reads = futures::stream::iter(accounts.iter().map(|(id, _, status)| async move {
        let me = me_ref;
        if !status.is_empty() && status != "ACTIVE" {
            return (None, Err(format!("the account is {status}")));
        }
        let wants: Vec<Want> = opts.wants.iter().filter(|w| &w.account == id).cloned().collect();
        let (s, read_as) = if *id == me.account {
            (Session::with_clients((*session.operator).clone()), format!("{} (the operator's own credentials)", me.arn))
        } else {
            let role = format!("arn:aws:iam::{id}:role/{}", opts.member_role);
            match session.assume(&role).await {
                Ok(s) => (s, role),
                Err(e) => return (None, Err(format!("the member role cannot be entered: {e}"))),
            }
        };
        let got = s.read_account(plugins, id, &read_as, &wants).await.map_err(|e| format!("cannot be read as {read_as}: {e}"));
        (Some(read_as), got)
    }))
    .buffered(ACCOUNTS_IN_PARALLEL)
    .collect::<Vec<_>>()
    .await;
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for ((id, name, status), (read_as, got)) in accounts.iter().zip(reads) {
        let mut e = AccountEntry { id: id.clone(), name: name.clone(), status: status.clone(), file: None, read_as, skipped: None };
        match got {
            Ok(f) => {
                e.file = Some(format!("accounts/{id}.json"));
                files.push(f);
            }
            Err(why) => e.skipped = Some(why),
        }
        entries.push(e);
    }
    let manifest = Manifest {
        format: ORG_FORMAT.into(),
        collected_at: super::now_rfc3339(),
        organization: org,
        read_by: me.arn,
        member_role: opts.member_role.clone(),
        accounts: entries,
        resources: opts.wants.len(),
        calls: CallSummary::of(&session.stats),
    };
    Ok(OrgCollected { manifest, tree, accounts: files })
}
