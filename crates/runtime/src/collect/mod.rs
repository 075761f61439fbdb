//! Collect every policy layer for one request: identity policies, permissions boundary, trust
//! policy, SCPs and RCPs from the account up to the root, session policies, and the resource
//! policy through the plugins. Independent calls run concurrently; each thing is read once.
//!
//! One type, [`Session`], does the reading; the layers are split by who owns them:
//! [`principal`] (identity policies, boundary, groups), [`org`] (SCPs, RCPs), [`trust`] (a role's
//! trust policy as the resource layer of `sts:AssumeRole*`) and [`resource`] (resource policies
//! through the plugins). The single memoized reads they share are in `crate::reads`. [`account`]
//! reads a whole organization with the same readers (`collect --org`).

mod account;
mod org;
mod principal;
mod resource;
mod trust;

pub(crate) use org::org_paths;

use std::collections::HashSet;

use denyctl_eval::{LayerKind, UnknownLayer};
use denyctl_plugin_api::Hop;
use denyctl_policy::{Principal, PrincipalKind};
use futures::future::join_all;
use serde_json::Value as Json;

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;
use crate::resource::{Registry, ResourceRead};
use crate::snapshot::{CallSummary, Snapshot, SnapshotHop, SnapshotPolicies, SnapshotRequest, FORMAT, MAX_HOP_DEPTH};
use crate::whoami::{self, Identity};

pub use account::{collect_org, OrgCollected, OrgOptions, Want};
pub use crate::reads::{CallerId, ManagedPolicy, RoleInfo, UserInfo};
pub use crate::sourced::{PolicySource, SourcedPolicy};

/// What to collect for.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// The principal as the denial names it; `None`: the live caller.
    pub principal: Option<String>,
    /// The action.
    pub action: String,
    /// The resource ARN or `*`.
    pub resource: String,
    /// The account that owns the resource, when the ARN does not say (S3).
    pub resource_account: Option<String>,
    /// Context keys given by the user (they win over derived ones).
    pub context: Vec<(String, Vec<String>)>,
    /// Session policies given with `--session-policy` (name, document).
    pub session_policies: Vec<(String, Json)>,
}

/// The result of a collection: the snapshot and the live caller.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Everything read.
    pub snapshot: Snapshot,
    /// The live caller (whoami), when it could be established.
    pub live_caller: Option<Identity>,
}

impl Session {
    /// The snapshot of a hidden hop: the same principal and principal-side layers as `base`
    /// (identity, boundary, session, SCPs, context), with the hop's action, resource, resource
    /// layer and the RCPs of its resource's account. Reads already made are not repeated.
    async fn hop_snapshot(&self, plugins: &Registry, base: &Snapshot, hop: &Hop, wave: usize) -> Result<(Snapshot, Vec<Hop>), RuntimeError> {
        let resource = self.normalize_resource(plugins, &hop.action, &hop.resource, wave).await?;
        let wave = if resource == hop.resource { wave } else { wave + 1 };
        let principal_account = denyctl_policy::Arn::parse(&base.request.principal).map(|a| a.account).unwrap_or_default();
        let resource_account = denyctl_policy::Arn::parse(&resource)
            .ok()
            .map(|a| a.account)
            .filter(|a| a.len() == 12)
            .unwrap_or_else(|| principal_account.clone());
        let org = async {
            if base.organization.is_none() {
                // No organization (or it could not be read: then SCP/RCP stay unknown, as in `base`).
                Ok(None)
            } else {
                self.org_layers(&principal_account, &resource_account, wave).await.map(Some)
            }
        };
        let (org, res) = futures::join!(org, self.resource_layer(plugins, &hop.action, &resource, wave));
        let (org, res) = (org?, res?);
        let mut s = base.clone();
        s.request.action = hop.action.clone();
        s.request.resource = resource;
        s.request.resource_account = Some(resource_account);
        s.policies.resource = res.policy;
        s.policies.unknown.retain(|u| !matches!(u.layer, LayerKind::Resource));
        if let Some(org) = org {
            s.policies.scp = org.scp;
            s.policies.rcp = org.rcp;
            s.policies.unknown.retain(|u| !matches!(u.layer, LayerKind::Scp | LayerKind::Rcp));
            s.policies.unknown.extend(org.unknown);
        }
        s.policies.unknown.extend(res.unknown);
        s.notes = res.notes;
        s.hops = Vec::new();
        s.authorization = None;
        Ok((s, res.hops))
    }

    /// Follows the hidden hops of `main` breadth first, to [`MAX_HOP_DEPTH`], never visiting the
    /// same (action, resource) twice; hops of one depth are collected concurrently.
    async fn follow_hops(&self, plugins: &Registry, main: &Snapshot, first: Vec<Hop>, wave: usize) -> Result<(Vec<SnapshotHop>, Vec<String>), RuntimeError> {
        let key = |a: &str, r: &str| (a.to_ascii_lowercase(), r.to_string());
        let mut seen: HashSet<(String, String)> = HashSet::from([key(&main.request.action, &main.request.resource)]);
        let after = format!("{} on {}", main.request.action, main.request.resource);
        let mut frontier: Vec<(Hop, String)> = first.into_iter().map(|h| (h, after.clone())).collect();
        let mut out = Vec::new();
        let mut wave = wave;
        for depth in 1..=MAX_HOP_DEPTH {
            frontier.retain(|(h, _)| seen.insert(key(&h.action, &h.resource)));
            if frontier.is_empty() {
                break;
            }
            let got = join_all(frontier.iter().map(|(h, _)| self.hop_snapshot(plugins, main, h, wave))).await;
            let mut next = Vec::new();
            for ((h, after), r) in frontier.into_iter().zip(got) {
                let mut entry = SnapshotHop { action: h.action.clone(), resource: h.resource.clone(), why: h.why.clone(), after, depth, snapshot: None, error: None };
                match r {
                    Ok((snap, hops)) => {
                        seen.insert(key(&h.action, &snap.request.resource));
                        let here = format!("{} on {}", snap.request.action, snap.request.resource);
                        entry.resource = snap.request.resource.clone();
                        next.extend(hops.into_iter().map(|n| (n, here.clone())));
                        entry.snapshot = Some(Box::new(snap));
                    }
                    Err(e @ RuntimeError::UnresolvedResource(_)) => entry.error = Some(e.to_string()),
                    Err(e) => return Err(e),
                }
                out.push(entry);
            }
            frontier = next;
            wave += 2;
        }
        let mut notes = Vec::new();
        let left: Vec<String> =
            frontier.iter().filter(|(h, _)| !seen.contains(&key(&h.action, &h.resource))).map(|(h, _)| format!("{} on {}", h.action, h.resource)).collect();
        if !left.is_empty() {
            notes.push(format!("hops deeper than {MAX_HOP_DEPTH} were not followed: {}", left.join(", ")));
        }
        Ok((out, notes))
    }
}

/// The request context AWS sets from the principal (its ARN, tags, organization ID and path,
/// `aws:userid` when known), added to `context` where it does not name the key already. One
/// definition for a live collection and a request built from an organization snapshot.
pub(crate) fn derived_context(
    mut context: serde_json::Map<String, Json>,
    entity_arn: Option<&str>,
    tags: &std::collections::BTreeMap<String, String>,
    org_id: Option<&str>,
    org_paths: Option<&str>,
    user_id: Option<&str>,
) -> serde_json::Map<String, Json> {
    let mut derive = |k: String, v: Json| {
        if !context.keys().any(|have| have.eq_ignore_ascii_case(&k)) {
            context.insert(k, v);
        }
    };
    if let Some(arn) = entity_arn {
        derive("aws:PrincipalArn".into(), Json::String(arn.to_string()));
    }
    for (k, v) in tags {
        derive(format!("aws:PrincipalTag/{k}"), Json::String(v.clone()));
    }
    if !tags.is_empty() {
        derive("aws:PrincipalTagKeys".into(), Json::String(String::new()));
    }
    if let Some(id) = org_id {
        derive("aws:PrincipalOrgID".into(), Json::String(id.to_string()));
    }
    if let Some(p) = org_paths {
        derive("aws:PrincipalOrgPaths".into(), Json::from(vec![p.to_string()]));
    }
    if let Some(u) = user_id {
        derive("aws:userid".into(), Json::String(u.to_string()));
    }
    derive("aws:PrincipalIsAWSService".into(), Json::String("false".into()));
    context.retain(|k, v| !(k == "aws:PrincipalTagKeys" && v.as_str() == Some("")));
    context
}

pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default()
}

/// Collect every layer for a request, and the live caller, in as few sequential waves as the
/// dependencies allow.
pub async fn collect(session: &Session, plugins: &Registry, opts: &CollectOptions) -> Result<Collected, RuntimeError> {
    let given = match &opts.principal {
        Some(p) => Some(Principal::parse(p).map_err(|e| RuntimeError::UnknownPrincipal(format!("principal {p:?}: {e}")))?),
        None => None,
    };
    let live = whoami::whoami_at(session, 1);
    let operator_id = async {
        if session.caller_is_operator {
            None
        } else {
            Some(session.identity_of(&session.operator, 1).await)
        }
    };
    let rest = async {
        // A name, URL or alias given as the resource is turned into its ARN first (one wave,
        // beside the caller's identity); ARNs need no call.
        let resource = session.normalize_resource(plugins, &opts.action, &opts.resource, 1);
        let principal = async {
            match given.clone() {
                Some(p) => Ok((p, 1)),
                None => {
                    let id = session.identity_of(&session.caller, 1).await.map_err(|f| whoami::caller_failure(session, f))?;
                    let p = Principal::parse(&id.arn).map_err(|e| RuntimeError::UnknownPrincipal(format!("STS reported {}: {e}", id.arn)))?;
                    Ok::<_, RuntimeError>((p, 2))
                }
            }
        };
        let (resource, principal) = futures::join!(resource, principal);
        let resource = resource?;
        let (principal, wave) = principal?;
        let res_wave = if resource == opts.resource { wave } else { wave.max(2) };
        let resource_account = match &opts.resource_account {
            Some(a) => a.clone(),
            None => denyctl_policy::Arn::parse(&resource)
                .ok()
                .map(|a| a.account)
                .filter(|a| a.len() == 12)
                .unwrap_or_else(|| principal.account().to_string()),
        };
        let (pl, org, res) = futures::join!(
            session.principal_layers(&principal, wave),
            session.org_layers(principal.account(), &resource_account, res_wave),
            session.resource_layer(plugins, &opts.action, &resource, res_wave)
        );
        Ok::<_, RuntimeError>((principal, resource, resource_account, pl?, org?, res?))
    };
    let (live, operator_id, rest) = futures::join!(live, operator_id, rest);
    // With the principal given, the live caller is only needed to warn about a mismatch: an
    // operator may diagnose someone else's denial from a runtime with no caller credentials.
    let mut caller_note = None;
    let live = match live {
        Ok(id) => Some(id),
        Err(e) if given.is_some() => {
            caller_note = Some(format!("the live caller could not be established ({e}); diagnosing the principal given"));
            None
        }
        Err(e) => return Err(e),
    };
    let (principal, resource_arn, resource_account, mut pl, org, res) = rest?;
    let ResourceRead { policy: resource, unknown: res_unknown, notes: res_notes, hops } = res;
    let operator_account = match operator_id {
        None => live.as_ref().map(|l| l.account.clone()),
        Some(Ok(id)) => Some(id.account),
        Some(Err(Failure::Fatal(e))) => return Err(e),
        Some(Err(Failure::Read(_))) => None,
    };
    let mut notes = std::mem::take(&mut pl.notes);
    notes.extend(caller_note);
    notes.extend(res_notes);
    let cross_account_operator = operator_account.as_deref().is_some_and(|a| a != principal.account());
    if let Some(missing) = pl.missing.take() {
        if cross_account_operator {
            let reason = format!(
                "{missing}: the operator is in account {} and the principal in account {}; read its policies with a profile of account {} (--profile)",
                operator_account.as_deref().unwrap_or("?"),
                principal.account(),
                principal.account()
            );
            pl.unknown.push(UnknownLayer { layer: LayerKind::Identity, reason: reason.clone() });
            pl.unknown.push(UnknownLayer { layer: LayerKind::PermissionsBoundary, reason });
        } else {
            return Err(RuntimeError::UnknownPrincipal(format!(
                "{} does not exist in account {} ({missing})",
                principal.entity_arn(),
                principal.account()
            )));
        }
    } else if cross_account_operator {
        notes.push(format!(
            "the operator is in account {} but the principal is in account {}: its IAM policies may not be readable",
            operator_account.as_deref().unwrap_or("?"),
            principal.account()
        ));
    }

    // Context: the user's keys win; then what AWS would set from the principal.
    let mut context = serde_json::Map::new();
    for (k, v) in &opts.context {
        context.insert(k.clone(), if v.len() == 1 { Json::String(v[0].clone()) } else { Json::from(v.clone()) });
    }
    let org_id = match (&org.summary, &org.scp) {
        (Some(s), Some(_)) => Some(s.id.as_str()),
        _ => None,
    };
    let user_id = live.as_ref().filter(|l| l.arn == principal.arn.to_string()).map(|l| l.user_id.as_str());
    let context = derived_context(context, pl.entity_arn.as_deref(), &pl.tags, org_id, org.org_paths.as_deref(), user_id);

    let session_layer = if opts.session_policies.is_empty() {
        if matches!(principal.kind, PrincipalKind::AssumedRole { .. } | PrincipalKind::FederatedUser { .. }) {
            notes.push(
                "session policies passed when the session was created cannot be read back (AWS has no API for them); \
                 give them with --session-policy FILE"
                    .into(),
            );
        }
        None
    } else {
        Some(
            opts.session_policies
                .iter()
                .map(|(n, d)| SourcedPolicy {
                    name: n.clone(),
                    document: d.clone(),
                    source: PolicySource { kind: "session".into(), attached_to: None, arn: None, policy_id: None, version_id: None, read_by: "file".into(), extra: None },
                })
                .collect(),
        )
    };
    let mut unknown = pl.unknown;
    unknown.extend(org.unknown);
    unknown.extend(res_unknown);
    let snapshot = Snapshot {
        format: FORMAT.into(),
        collected_at: now_rfc3339(),
        request: SnapshotRequest {
            principal: principal.arn.to_string(),
            action: opts.action.clone(),
            resource: resource_arn,
            resource_account: Some(resource_account),
            context,
        },
        caller: live.clone(),
        organization: org.summary.clone(),
        policies: SnapshotPolicies {
            identity: pl.identity,
            permissions_boundary: pl.boundary,
            session: session_layer,
            scp: org.scp,
            rcp: org.rcp,
            resource,
            management_account: org.summary.as_ref().and_then(|s| s.management_account_id.clone()),
            unknown,
        },
        notes,
        calls: CallSummary::of(&session.stats),
        authorization: None,
        hops: Vec::new(),
    };
    let mut snapshot = snapshot;
    if !hops.is_empty() {
        let (followed, notes) = session.follow_hops(plugins, &snapshot, hops, session.stats.waves() + 1).await?;
        snapshot.hops = followed;
        snapshot.notes.extend(notes);
        snapshot.calls = CallSummary::of(&session.stats);
    }
    // Not one call answered (the endpoint is down or unreachable): that is a fault, not a
    // verdict made of unknown layers.
    let recs = session.stats.records();
    if !recs.is_empty() && recs.iter().all(|r| r.result == crate::calls::UNAVAILABLE) {
        let detail = snapshot.policies.unknown.first().map(|u| u.reason.clone()).unwrap_or_default();
        return Err(RuntimeError::Network { call: recs[0].call.clone(), detail: format!("not one of {} calls answered, each retried within --timeout; {detail}", recs.len()) });
    }
    Ok(Collected { snapshot, live_caller: live })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profiles;
    use denyctl_plugin_api::{async_trait, FetchedPolicy, PluginCtx, PluginInfo, ReplayOutcome, ReplayRequest, ServicePlugin};
    use std::sync::Arc;

    /// A plugin whose resources form an endless chain (thing/N needs thing/N+1 and thing/0), and
    /// that makes no AWS call: it exercises the hop walk only.
    struct Chain;

    fn thing(n: usize) -> String {
        format!("arn:aws:chain:us-east-1:111122223333:thing/{n}")
    }

    #[async_trait]
    impl ServicePlugin for Chain {
        fn info(&self) -> PluginInfo {
            PluginInfo { name: "chain".into(), version: "0".into(), abi_version: 1, services: vec!["chain".into()], description: String::new(), source: Default::default() }
        }
        fn handles(&self, action: &str, _resource: &str) -> bool {
            action.starts_with("chain:")
        }
        async fn normalize_resource(&self, _ctx: &PluginCtx, input: &str) -> denyctl_plugin_api::Result<String> {
            Ok(input.to_string())
        }
        async fn fetch_policy(&self, _ctx: &PluginCtx, arn: &str) -> denyctl_plugin_api::Result<FetchedPolicy> {
            let n: usize = arn.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let hop = |to: usize| Hop { action: "chain:Go".into(), resource: thing(to), why: format!("{arn} needs {}", thing(to)), triggered_by: vec![] };
            Ok(FetchedPolicy { resource_arn: arn.into(), policy: None, version_token: "none".into(), extra: Json::Null, hops: vec![hop(n + 1), hop(0)] })
        }
        async fn put_policy(&self, _: &PluginCtx, _: &str, _: &Json, _: &str) -> denyctl_plugin_api::Result<String> {
            Err(denyctl_plugin_api::PluginError::Unsupported("no".into()))
        }
        async fn replay(&self, _: &PluginCtx, r: &ReplayRequest, _: bool) -> denyctl_plugin_api::Result<ReplayOutcome> {
            Ok(ReplayOutcome::needs_consent(&r.action))
        }
    }

    #[tokio::test]
    async fn hops_stop_at_the_depth_bound_and_never_revisit() {
        let session = Session::new(&Profiles { region: Some("us-east-1".into()), ..Default::default() }).await;
        let mut reg = Registry::new();
        reg.add(Arc::new(Chain)).unwrap();
        let main = Snapshot {
            format: FORMAT.into(),
            collected_at: String::new(),
            request: SnapshotRequest {
                principal: "arn:aws:iam::111122223333:user/u".into(),
                action: "chain:Go".into(),
                resource: thing(0),
                resource_account: Some("111122223333".into()),
                context: Default::default(),
            },
            caller: None,
            organization: None,
            policies: SnapshotPolicies {
                identity: vec![],
                permissions_boundary: None,
                session: None,
                scp: None,
                rcp: None,
                resource: None,
                management_account: None,
                unknown: vec![],
            },
            notes: vec![],
            calls: CallSummary::default(),
            authorization: None,
            hops: vec![],
        };
        let first = session.plugin_resource(reg.find("chain:Go", &thing(0)).unwrap(), "chain:Go", &thing(0), 1).await.hops;
        assert_eq!(first.len(), 2, "thing/1 and back to thing/0");
        let (hops, notes) = session.follow_hops(&reg, &main, first, 2).await.unwrap();
        let got: Vec<(usize, &str)> = hops.iter().map(|h| (h.depth, h.resource.as_str())).collect();
        assert_eq!(got, vec![(1, thing(1).as_str()), (2, thing(2).as_str())], "thing/0 is never revisited; depth stops at {MAX_HOP_DEPTH}");
        assert_eq!(hops[1].after, format!("chain:Go on {}", thing(1)));
        assert!(hops.iter().all(|h| h.snapshot.as_ref().is_some_and(|s| s.hops.is_empty() && s.request.action == "chain:Go")));
        assert_eq!(notes, vec![format!("hops deeper than {MAX_HOP_DEPTH} were not followed: chain:Go on {}", thing(3))]);
        assert_eq!(session.stats.count(), 3, "one fetch per resource, no AWS call");
    }
}
