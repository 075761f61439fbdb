//! The organization layers: SCPs and RCPs from the account up to the root, read with the
//! organization reader's credentials.

use std::future::Future;
use std::pin::Pin;

use denyctl_eval::{LayerKind, UnknownLayer};
use futures::future::join_all;

use crate::calls::Failure;
use crate::config::Session;
use crate::error::{ReadError, RuntimeError};
use crate::reads::{OrgType, R};
use crate::snapshot::SnapshotLevel;
use crate::sourced::{PolicySource, SourcedPolicy};
use crate::whoami::OrgSummary;

/// One level of the organization with the SCPs and RCPs asked for.
#[derive(Debug, Clone, Default)]
struct Level {
    target: String,
    target_type: String,
    scp: Vec<SourcedPolicy>,
    rcp: Vec<SourcedPolicy>,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Session {
    async fn level_policies(&self, target: &str, ty: OrgType, wave: usize) -> R<Vec<SourcedPolicy>> {
        let ids = self.target_policy_ids(target, ty, wave).await?;
        let pols = join_all(ids.iter().map(|id| self.org_policy(id, wave + 1))).await;
        pols.into_iter()
            .map(|p| {
                let p = p?;
                Ok(SourcedPolicy {
                    name: format!("{} ({})", p.name, p.id),
                    document: p.document,
                    source: PolicySource {
                        kind: ty.kind().into(),
                        attached_to: Some(target.to_string()),
                        arn: p.arn,
                        policy_id: Some(p.id),
                        version_id: None,
                        read_by: "organizations:DescribePolicy".into(),
                        extra: None,
                    },
                })
            })
            .collect()
    }

    /// Levels below the root down to `target`: its parent chain is walked while this level's
    /// policies are read.
    fn org_chain<'a>(&'a self, target: String, target_type: String, types: &'a [OrgType], wave: usize) -> BoxFut<'a, R<Vec<Level>>> {
        Box::pin(async move {
            let up = async {
                let (pid, ptype) = self.parent(&target, wave).await?;
                if ptype == "ROOT" {
                    // The root's policies are read from ListRoots in the first wave.
                    return Ok(Vec::new());
                }
                self.org_chain(pid, ptype, types, wave + 1).await
            };
            let here = async {
                let want = |t| types.contains(&t);
                let (scp, rcp) = futures::join!(
                    async { if want(OrgType::Scp) { self.level_policies(&target, OrgType::Scp, wave).await } else { Ok(vec![]) } },
                    async { if want(OrgType::Rcp) { self.level_policies(&target, OrgType::Rcp, wave).await } else { Ok(vec![]) } }
                );
                Ok::<_, Failure>(Level { target: target.clone(), target_type: target_type.clone(), scp: scp?, rcp: rcp? })
            };
            let (up, here) = futures::join!(up, here);
            let mut chain = up?;
            chain.push(here?);
            Ok(chain)
        })
    }
}


fn levels_of(chain: &[Level], ty: OrgType) -> Vec<SnapshotLevel> {
    chain
        .iter()
        .map(|l| SnapshotLevel {
            target: l.target.clone(),
            target_type: l.target_type.clone(),
            policies: match ty {
                OrgType::Scp => l.scp.clone(),
                OrgType::Rcp => l.rcp.clone(),
            },
        })
        .collect()
}

/// `aws:PrincipalOrgPaths` of an account: the organization ID, then the root and OUs above it.
pub(crate) fn org_paths(org_id: &str, root_and_ous: &[&str]) -> String {
    format!("{org_id}/{}/", root_and_ous.join("/"))
}

fn org_unknown_reason(e: &ReadError) -> String {
    format!(
        "{e}. SCPs and RCPs are read with organizations:DescribeOrganization, ListParents, ListPoliciesForTarget and \
         DescribePolicy, from the management account or a delegated administrator (--org-profile)"
    )
}

/// What the organization layers came to.
pub(super) struct OrgLayers {
    pub(super) summary: Option<OrgSummary>,
    pub(super) scp: Option<Vec<SnapshotLevel>>,
    pub(super) rcp: Option<Vec<SnapshotLevel>>,
    pub(super) unknown: Vec<UnknownLayer>,
    pub(super) org_paths: Option<String>,
}

fn out_root(chain: &R<Vec<Level>>) -> Option<Level> {
    chain.as_ref().ok().and_then(|c| c.first().cloned())
}

impl Session {
    async fn org_chain_level(&self, target: &str, types: &[OrgType], wave: usize) -> R<Level> {
        let want = |t| types.contains(&t);
        let (scp, rcp) = futures::join!(
            async { if want(OrgType::Scp) { self.level_policies(target, OrgType::Scp, wave).await } else { Ok(vec![]) } },
            async { if want(OrgType::Rcp) { self.level_policies(target, OrgType::Rcp, wave).await } else { Ok(vec![]) } }
        );
        Ok(Level { target: target.to_string(), target_type: "ROOT".into(), scp: scp?, rcp: rcp? })
    }

    pub(super) async fn org_layers(&self, principal_account: &str, resource_account: &str, wave: usize) -> Result<OrgLayers, RuntimeError> {
        let same = principal_account == resource_account;
        let types_p: &[OrgType] = if same { &[OrgType::Scp, OrgType::Rcp] } else { &[OrgType::Scp] };
        let all: &[OrgType] = &[OrgType::Scp, OrgType::Rcp];
        let root = async {
            let id = self.root_id(wave).await?;
            let types = if same { types_p } else { all };
            let here = self.org_chain_level(&id, types, wave + 1).await?;
            Ok::<_, Failure>(here)
        };
        let (summary, root, chain_p, chain_r) = futures::join!(
            self.organization(wave),
            root,
            self.org_chain(principal_account.to_string(), "ACCOUNT".into(), types_p, wave),
            async {
                if same {
                    None
                } else {
                    Some(self.org_chain(resource_account.to_string(), "ACCOUNT".into(), &[OrgType::Rcp], wave).await)
                }
            }
        );
        let mut out = OrgLayers { summary: None, scp: None, rcp: None, unknown: Vec::new(), org_paths: None };
        let both_unknown = |e: &ReadError, out: &mut OrgLayers| {
            let reason = org_unknown_reason(e);
            out.unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: reason.clone() });
            out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason });
        };
        match summary {
            Ok(None) => return Ok(out), // no organization: no SCP or RCP limits
            Ok(Some(s)) => out.summary = Some(s),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Read(e)) => {
                both_unknown(&e, &mut out);
                return Ok(out);
            }
        }
        let chain_p = match (root, chain_p) {
            (Ok(r), Ok(mut c)) => {
                c.insert(0, r.clone());
                Ok(c)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let root_level = out_root(&chain_p);
        match chain_p {
            Ok(chain) => {
                out.scp = Some(levels_of(&chain, OrgType::Scp));
                if same {
                    out.rcp = Some(levels_of(&chain, OrgType::Rcp));
                }
                if let Some(s) = &out.summary {
                    let path: Vec<&str> = chain.iter().filter(|l| l.target_type != "ACCOUNT").map(|l| l.target.as_str()).collect();
                    out.org_paths = Some(org_paths(&s.id, &path));
                }
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Read(e)) => {
                let reason = org_unknown_reason(&e);
                out.unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: reason.clone() });
                if same {
                    out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason });
                }
            }
        }
        match chain_r {
            None => {}
            Some(Ok(mut chain)) => {
                if let Some(r) = root_level {
                    chain.insert(0, r);
                }
                out.rcp = Some(levels_of(&chain, OrgType::Rcp))
            }
            Some(Err(Failure::Fatal(e))) => return Err(e),
            // The resource's account may be outside the organization: then no RCP of ours applies,
            // but we cannot tell that from a failed read.
            Some(Err(Failure::Read(e))) => out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason: org_unknown_reason(&e) }),
        }
        Ok(out)
    }
}
