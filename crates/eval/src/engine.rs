//! The evaluation itself: a request against every layer, to a verdict with reasons.
//! Follows the IAM User Guide's "Policy evaluation logic" and "Cross-account policy evaluation
//! logic" pages; ../shared/scenarios/FORMAT.md summarises the rules.

use denyctl_policy::{Effect, Match, PrincipalKind, PrincipalSet, PrincipalType, Statement};

use crate::cond;
use crate::layers::{LayerKind, Layers, NamedPolicy};
use crate::request::Request;
use crate::verdict::{Assumption, Decision, LayerReport, Miss, NearMiss, Outcome, StatementRef, Verdict};

/// How a resource-policy statement's principal matched the caller, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    /// The caller's account (root principal or account ID): delegation to the account's IAM.
    Account,
    /// The caller's IAM entity as a whole: a role ARN (for a session), or `*`. Limited by the
    /// permissions boundary and session policies.
    Entity,
    /// The caller itself: the IAM user ARN, the role session ARN, the federated user, the root.
    /// Within one account, not limited by an implicit deny in a boundary or session policy.
    Direct,
}

/// What scanning one layer found.
#[derive(Default)]
struct Scan {
    denies: Vec<StatementRef>,
    allows: Vec<StatementRef>,
    grant: Option<Grant>,
    /// An Allow matched through `"Principal": "*"` (or `{"AWS": "*"}`).
    star: bool,
    misses: Vec<NearMiss>,
}

struct Evaluator<'a> {
    req: &'a Request,
    has_boundary: bool,
    missing: Vec<String>,
}

/// A policy variable's value: single-valued context keys only (AWS substitutes no lists).
fn variable(ctx: &crate::request::Context, key: &str) -> Option<String> {
    ctx.get(key).and_then(|v| (v.len() == 1).then(|| v[0].clone()))
}

fn sref(p: &NamedPolicy, s: &Statement) -> StatementRef {
    StatementRef { policy: p.name.clone(), index: s.index, sid: s.sid.clone(), effect: s.effect }
}

/// Whether a role ARN from a policy names the caller's role.
fn names_role(req: &Request, policy_arn: &str, account: &str, role: &str) -> bool {
    let Some(rest) = policy_arn
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":iam::"))
        .and_then(|(_, r)| r.strip_prefix(account))
        .and_then(|r| r.strip_prefix(":role/"))
    else {
        return false;
    };
    // With the role's path known (aws:PrincipalArn), compare exactly; STS session ARNs omit it.
    let known_path = req.entity_arn.contains(":role/") && req.entity_arn.rsplit_once(":role/").is_some_and(|(_, r)| r.contains('/'));
    if known_path {
        return req.entity_arn == policy_arn;
    }
    rest.rsplit('/').next() == Some(role)
}

fn is_account(entry: &str, account: &str) -> bool {
    entry == account
        || entry
            .strip_prefix("arn:")
            .and_then(|r| r.split_once(":iam::"))
            .and_then(|(_, r)| r.strip_prefix(account))
            .is_some_and(|r| r == ":root")
}

/// How an `AWS` principal entry matches the caller.
fn entry_grant(req: &Request, entry: &str) -> Option<Grant> {
    let p = &req.principal;
    let account = p.account();
    if is_account(entry, account) {
        return Some(if p.kind == PrincipalKind::Root { Grant::Direct } else { Grant::Account });
    }
    match &p.kind {
        PrincipalKind::AssumedRole { role, .. } => {
            if entry == req.principal_raw {
                Some(Grant::Direct)
            } else if names_role(req, entry, account, role) {
                Some(Grant::Entity)
            } else {
                None
            }
        }
        _ => (entry == req.principal_raw || entry == req.entity_arn).then_some(Grant::Direct),
    }
}

impl<'a> Evaluator<'a> {
    /// How the statement's principal matches the caller, and whether it matched only as `*`.
    fn principal(&self, set: &PrincipalSet, effect: Effect) -> Option<(Grant, bool)> {
        if !set.negated && set.any {
            return Some((Grant::Entity, true));
        }
        self.principal_entries(set, effect).map(|g| (g, false))
    }

    fn principal_entries(&self, set: &PrincipalSet, effect: Effect) -> Option<Grant> {
        let aws = || set.entries.iter().filter(|(t, _)| *t == PrincipalType::Aws).map(|(_, e)| e.as_str());
        let other = || set.entries.iter().filter(|(t, _)| *t != PrincipalType::Aws).map(|(_, e)| e.as_str());
        if !set.negated {
            if set.any {
                return Some(Grant::Entity);
            }
            let service = other().any(|e| e == self.req.principal_raw).then_some(Grant::Direct);
            return aws().filter_map(|e| entry_grant(self.req, e)).max().or(service);
        }
        // NotPrincipal: AWS checks the account, then the role, then the session (or the user);
        // the statement applies unless every one of them is listed. With Deny it always applies
        // to a principal that has a permissions boundary (IAM User Guide, NotPrincipal).
        if set.any {
            return None;
        }
        if effect == Effect::Deny && self.has_boundary {
            return Some(Grant::Entity);
        }
        let p = &self.req.principal;
        let account_listed = aws().any(|e| is_account(e, p.account()));
        let listed = match &p.kind {
            PrincipalKind::AssumedRole { role, .. } => {
                account_listed
                    && aws().any(|e| names_role(self.req, e, p.account(), role))
                    && aws().any(|e| e == self.req.principal_raw)
            }
            PrincipalKind::Root => account_listed,
            _ => account_listed && aws().any(|e| e == self.req.principal_raw),
        };
        (!listed).then_some(Grant::Entity)
    }

    /// Evaluate one statement. `Ok(None)`: the action does not match (not worth reporting).
    fn statement(&mut self, s: &Statement, with_principal: bool) -> Result<Option<(Grant, bool)>, Miss> {
        let req = self.req;
        if !s.may_match_service(req.service()) {
            return Ok(None);
        }
        let (svc, name) = (req.service(), req.action_name());
        let hit = s.action.patterns.iter().any(|p| p.matches_action_parts(&req.action_lc, svc, name));
        if hit == s.action.negated {
            return Ok(None);
        }
        if let Some(r) = &s.resource {
            let mut matched = false;
            let mut unresolved: Option<&str> = None;
            for p in &r.patterns {
                match p.matches_resource(&req.resource, &|k| variable(&req.context, k)) {
                    Match::Yes => {
                        matched = true;
                        break;
                    }
                    Match::No => {}
                    Match::MissingVar(key) => {
                        // A variable with no value makes that one entry match no resource (IAM User
                        // Guide, "Policy variables with no value"): in `Resource` it grants nothing,
                        // in `NotResource` it excludes nothing. The rest of the statement still counts.
                        if !self.missing.iter().any(|m| m.eq_ignore_ascii_case(key)) {
                            self.missing.push(key.to_string());
                        }
                        unresolved = unresolved.or(Some(key));
                    }
                }
            }
            if matched == r.negated {
                // Say why when an entry that might have matched had no value to match with.
                if let (false, Some(key)) = (r.negated, unresolved) {
                    return Err(Miss::MissingVariable { key: key.to_string() });
                }
                return Err(Miss::Resource { patterns: r.patterns.iter().map(|p| p.raw.clone()).collect(), negated: r.negated });
            }
        }
        let grant = if with_principal {
            match &s.principal {
                Some(set) => Some(self.principal(set, s.effect).ok_or(Miss::Principal)?),
                None => return Err(Miss::Principal),
            }
        } else {
            None
        };
        for c in &s.conditions {
            if let Some(miss) = cond::evaluate(c, &req.context, &mut self.missing) {
                return Err(miss);
            }
        }
        Ok(Some(grant.unwrap_or((Grant::Direct, false))))
    }

    fn scan<'p>(&mut self, policies: impl Iterator<Item = &'p NamedPolicy>, with_principal: bool) -> Scan {
        let mut scan = Scan::default();
        for p in policies {
            for s in &p.policy.statements {
                match self.statement(s, with_principal) {
                    Ok(None) => {}
                    Ok(Some((g, star))) => match s.effect {
                        Effect::Deny => scan.denies.push(sref(p, s)),
                        Effect::Allow => {
                            scan.allows.push(sref(p, s));
                            scan.grant = scan.grant.max(Some(g));
                            scan.star |= star;
                        }
                    },
                    Err(miss) => scan.misses.push(NearMiss { statement: sref(p, s), miss }),
                }
            }
        }
        scan
    }
}

/// One layer (or level) after scanning, before combining.
struct Part {
    report: LayerReport,
    deny: bool,
    allow: bool,
    grant: Option<Grant>,
    /// An Allow matched through `"Principal": "*"`.
    star: bool,
    unknown: bool,
}

fn part(layer: LayerKind, target: Option<String>, scan: Scan, allow_outcome: Outcome) -> Part {
    let deny = !scan.denies.is_empty();
    let allow = !scan.allows.is_empty();
    let outcome = if deny {
        Outcome::ExplicitDeny
    } else if allow {
        allow_outcome
    } else {
        Outcome::NoAllow
    };
    let deciding = if deny { scan.denies } else { scan.allows };
    Part {
        report: LayerReport { layer, target, outcome, deciding, near_misses: scan.misses, note: None },
        deny,
        allow,
        grant: scan.grant,
        star: scan.star,
        unknown: false,
    }
}

fn unknown_part(layer: LayerKind, reason: &str) -> Part {
    Part {
        report: LayerReport {
            layer,
            target: None,
            outcome: Outcome::Unknown,
            deciding: Vec::new(),
            near_misses: Vec::new(),
            note: Some(reason.to_string()),
        },
        deny: false,
        allow: false,
        grant: None,
        star: false,
        unknown: true,
    }
}

/// How unknown layers are read when combining.
#[derive(Clone, Copy, PartialEq)]
enum Assume {
    /// Unknown layers neither deny nor grant, and do not limit (the reported reading).
    Neutral,
    /// Unknown layers deny.
    Worst,
    /// Unknown layers allow everything.
    Best,
}

/// Which kind of resource policy this is, for the rules that differ.
#[derive(Clone, Copy, PartialEq)]
enum ResourceRule {
    /// S3, SQS, Secrets Manager, ...: same account, identity or resource policy suffices.
    Optional,
    /// KMS key policies must allow (directly or by delegating).
    KeyPolicy,
    /// Role trust policies must allow (directly or by delegating); the caller's permissions
    /// boundary must allow sts:AssumeRole even when the trust policy names the caller
    /// (IAM User Guide, "Update a role trust policy").
    Trust,
}

impl ResourceRule {
    fn required(self) -> bool {
        self != ResourceRule::Optional
    }
}

fn resource_rule(req: &Request) -> (ResourceRule, Option<&'static str>) {
    let svc = req.service();
    if svc == "kms" && req.resource.contains(":key/") {
        return (ResourceRule::KeyPolicy, Some("KMS key policy: it must allow the caller, directly or by delegating to the account"));
    }
    let sts_trust = matches!(
        req.action_lc.as_str(),
        "sts:assumerole" | "sts:assumerolewithsaml" | "sts:assumerolewithwebidentity" | "sts:tagsession" | "sts:setsourceidentity" | "sts:setcontext"
    );
    if sts_trust && req.resource.contains(":role/") {
        return (ResourceRule::Trust, Some("role trust policy: it must allow the caller, directly or by delegating to the account"));
    }
    (ResourceRule::Optional, None)
}

struct Parts {
    scp: Vec<Part>,
    rcp: Vec<Part>,
    boundary: Option<Part>,
    session: Option<Part>,
    identity: Part,
    resource: Option<Part>,
    vpce: Option<Part>,
}

impl Parts {
    fn all(&self) -> impl Iterator<Item = &Part> {
        self.scp
            .iter()
            .chain(self.rcp.iter())
            .chain(self.boundary.iter())
            .chain(self.session.iter())
            .chain(std::iter::once(&self.identity))
            .chain(self.resource.iter())
            .chain(self.vpce.iter())
    }
}

struct Combined {
    decision: Decision,
    denied_by: Vec<LayerKind>,
}

/// A guardrail part: `true` when it does not block. Unknown: per `assume`.
fn passes(p: &Part, assume: Assume) -> bool {
    if p.unknown {
        assume != Assume::Worst
    } else {
        p.allow
    }
}

/// How a resource-policy grant to `"Principal": "*"` is read against the caller's permissions
/// boundary and session policies. AWS documents the role-ARN and session-ARN cases, not `*`.
#[derive(Clone, Copy, PartialEq)]
enum StarReading {
    /// Like a grant to the role ARN: limited by an implicit deny in the boundary or session policy
    /// (the reported reading).
    Limited,
    /// Like a grant naming the caller itself: not limited.
    Direct,
}

fn combine(parts: &Parts, req: &Request, rule: ResourceRule, resource_present: bool, assume: Assume, star: StarReading) -> Combined {
    let mut denied: Vec<LayerKind> = Vec::new();
    let add = |k: LayerKind, denied: &mut Vec<LayerKind>| {
        if !denied.contains(&k) {
            denied.push(k);
        }
    };
    // 1. Any explicit Deny wins.
    for p in parts.all() {
        if p.deny || (p.unknown && assume == Assume::Worst) {
            add(p.report.layer, &mut denied);
        }
    }
    if !denied.is_empty() {
        denied.sort_by_key(|k| k.as_str());
        return Combined { decision: Decision::ExplicitDeny, denied_by: denied };
    }
    // 2. Guardrails: every SCP level must allow; the boundary, session policies and VPC endpoint
    //    policy must allow. RCPs only deny (RCPFullAWSAccess is implied).
    let scp_ok = parts.scp.iter().all(|p| p.report.outcome == Outcome::NotApplied || passes(p, assume));
    let boundary_ok = parts.boundary.as_ref().is_none_or(|p| passes(p, assume));
    let session_ok = parts.session.as_ref().is_none_or(|p| passes(p, assume));
    let vpce_ok = parts.vpce.as_ref().is_none_or(|p| passes(p, assume));
    // 3. The grant side.
    let id = &parts.identity;
    let id_allow = if id.unknown { assume == Assume::Best } else { id.allow };
    let grant = match &parts.resource {
        Some(p) if p.unknown => (assume == Assume::Best).then_some(Grant::Direct),
        Some(p) if p.star && star == StarReading::Direct => Some(Grant::Direct),
        Some(p) => p.grant,
        None => None,
    };
    let limits_ok = boundary_ok && session_ok;
    let via_identity = id_allow && limits_ok;
    let granted = if req.is_cross_account() {
        // Cross account: the caller's side and the resource's side must both allow.
        via_identity && grant.is_some()
    } else {
        match (rule, grant) {
            (ResourceRule::Trust, Some(Grant::Direct)) => limits_ok,
            (_, Some(Grant::Direct)) => true,
            (_, Some(Grant::Entity)) => limits_ok,
            (ResourceRule::Optional, _) => via_identity,
            (_, Some(Grant::Account)) => via_identity,
            (_, None) => false,
        }
    };
    if scp_ok && vpce_ok && granted {
        return Combined { decision: Decision::Allow, denied_by: Vec::new() };
    }
    // 4. Implicit deny: name every guardrail that did not allow, and the grant layers that gave nothing.
    if !scp_ok {
        add(LayerKind::Scp, &mut denied);
    }
    for (ok, k) in [(boundary_ok, LayerKind::PermissionsBoundary), (session_ok, LayerKind::Session), (vpce_ok, LayerKind::VpcEndpoint)] {
        if !ok {
            add(k, &mut denied);
        }
    }
    let resource_allows = matches!(grant, Some(Grant::Direct | Grant::Entity));
    let grant_failed = if req.is_cross_account() {
        !(id_allow && grant.is_some())
    } else if rule.required() {
        !(resource_allows || (grant == Some(Grant::Account) && id_allow))
    } else {
        !(id_allow || resource_allows)
    };
    if grant_failed {
        if !id_allow && !id.unknown {
            add(LayerKind::Identity, &mut denied);
        }
        let counted = resource_present || req.is_cross_account() || rule.required();
        let resource_unknown = parts.resource.as_ref().is_some_and(|p| p.unknown);
        if counted && grant.is_none() && !resource_unknown {
            add(LayerKind::Resource, &mut denied);
        }
    }
    denied.sort_by_key(|k| k.as_str());
    Combined { decision: Decision::ImplicitDeny, denied_by: denied }
}

/// The layers that limit a grant and did not allow: "permissions boundary", "session policy", or both.
fn limiting_layers(parts: &Parts) -> &'static str {
    let blocks = |p: &Option<Part>| p.as_ref().is_some_and(|p| !p.unknown && !p.allow);
    match (blocks(&parts.boundary), blocks(&parts.session)) {
        (true, true) => "permissions boundary and session policy",
        (false, true) => "session policy",
        _ => "permissions boundary",
    }
}

/// Evaluate a request against every layer, as AWS does, and explain the decision.
pub fn evaluate(req: &Request, layers: &Layers) -> Verdict {
    let mut ev = Evaluator { req, has_boundary: layers.permissions_boundary.is_some(), missing: Vec::new() };
    let unknown = |k: LayerKind| layers.unknown.iter().find(|u| u.layer == k).map(|u| u.reason.as_str());

    // Organization levels. SCPs do not limit the management account or service-linked roles.
    let slr = req.entity_arn.contains(":role/aws-service-role/");
    let mgmt_principal = layers.management_account.as_deref() == Some(req.principal.account());
    let mgmt_resource = layers.management_account.as_deref() == Some(req.resource_account.as_str());
    let org = |ev: &mut Evaluator, kind: LayerKind, levels: &Option<Vec<crate::layers::OrgLevel>>, exempt: Option<&str>| -> Vec<Part> {
        if let Some(reason) = unknown(kind) {
            return vec![unknown_part(kind, reason)];
        }
        let Some(levels) = levels else { return Vec::new() };
        levels
            .iter()
            .map(|lvl| {
                let with_principal = kind == LayerKind::Rcp;
                let mut p = part(kind, Some(lvl.target.clone()), ev.scan(lvl.policies.iter(), with_principal), Outcome::Allow);
                if kind == LayerKind::Rcp && !p.deny {
                    // RCPFullAWSAccess is attached at every level: RCPs never implicitly deny.
                    p.allow = true;
                    p.report.outcome = Outcome::Allow;
                    p.report.note = Some("RCPFullAWSAccess is implied: RCPs only deny".into());
                }
                if let Some(why) = exempt {
                    p.deny = false;
                    p.allow = true;
                    p.report.outcome = Outcome::NotApplied;
                    p.report.note = Some(why.to_string());
                }
                p
            })
            .collect()
    };
    let scp_exempt = if mgmt_principal {
        Some("not applied: SCPs do not limit principals of the management account")
    } else if slr {
        Some("not applied: SCPs do not limit service-linked roles")
    } else {
        None
    };
    let rcp_exempt = if mgmt_resource {
        Some("not applied: RCPs do not limit resources of the management account")
    } else if slr {
        Some("not applied: RCPs do not limit service-linked roles")
    } else {
        None
    };
    let scp = org(&mut ev, LayerKind::Scp, &layers.scp, scp_exempt);
    let rcp = org(&mut ev, LayerKind::Rcp, &layers.rcp, rcp_exempt);

    let single = |ev: &mut Evaluator, kind: LayerKind, p: Option<&NamedPolicy>, with_principal: bool| -> Option<Part> {
        if let Some(reason) = unknown(kind) {
            return Some(unknown_part(kind, reason));
        }
        p.map(|p| part(kind, None, ev.scan(std::iter::once(p), with_principal), Outcome::Allow))
    };
    let boundary = single(&mut ev, LayerKind::PermissionsBoundary, layers.permissions_boundary.as_ref(), false);
    let session = match unknown(LayerKind::Session) {
        Some(reason) => Some(unknown_part(LayerKind::Session, reason)),
        None => layers.session.as_ref().map(|s| part(LayerKind::Session, None, ev.scan(s.iter(), false), Outcome::Allow)),
    };
    let identity = match unknown(LayerKind::Identity) {
        Some(reason) => unknown_part(LayerKind::Identity, reason),
        None => part(LayerKind::Identity, None, ev.scan(layers.identity.iter(), false), Outcome::Allow),
    };
    let (rule, rule_note) = resource_rule(req);
    let mut resource = single(&mut ev, LayerKind::Resource, layers.resource.as_ref(), true);
    if let Some(p) = resource.as_mut().filter(|p| !p.unknown) {
        if !p.deny && p.grant == Some(Grant::Account) {
            p.report.outcome = Outcome::Delegates;
        }
        p.report.note = rule_note.map(str::to_string);
    }
    let vpce = single(&mut ev, LayerKind::VpcEndpoint, layers.vpc_endpoint.as_ref(), true);

    let parts = Parts { scp, rcp, boundary, session, identity, resource, vpce };
    let resource_present = layers.resource.is_some();
    let result = combine(&parts, req, rule, resource_present, Assume::Neutral, StarReading::Limited);
    let depends_on_unknown = !layers.unknown.is_empty() && {
        let worst = combine(&parts, req, rule, resource_present, Assume::Worst, StarReading::Limited);
        let best = combine(&parts, req, rule, resource_present, Assume::Best, StarReading::Limited);
        worst.decision != best.decision
    };
    let mut assumptions = Vec::new();
    if parts.resource.as_ref().is_some_and(|p| p.star && !p.unknown) {
        let other = combine(&parts, req, rule, resource_present, Assume::Neutral, StarReading::Direct);
        if other.decision != result.decision {
            assumptions.push(Assumption {
                id: "principal_star_boundary".into(),
                note: format!(
                    "The resource policy allows \"Principal\": \"*\", and the caller's {} does not allow the request. AWS documents that a grant to the role ARN is limited by an implicit deny there and a grant to the session or user ARN is not, but not which reading applies to \"*\". denyctl reads it like the role ARN (limited); read the other way, the decision would be {}.",
                    limiting_layers(&parts),
                    other.decision.as_str()
                ),
                otherwise: other.decision,
            });
        }
    }
    let mut reports: Vec<LayerReport> = Vec::new();
    let Parts { scp, rcp, boundary, session, identity, resource, vpce } = parts;
    reports.extend(scp.into_iter().map(|p| p.report));
    reports.extend(rcp.into_iter().map(|p| p.report));
    reports.extend(boundary.map(|p| p.report));
    reports.extend(session.map(|p| p.report));
    reports.push(identity.report);
    if let Some(p) = resource {
        reports.push(p.report);
    } else if rule.required() || req.is_cross_account() {
        reports.push(LayerReport {
            layer: LayerKind::Resource,
            target: None,
            outcome: Outcome::NoAllow,
            deciding: Vec::new(),
            near_misses: Vec::new(),
            note: Some(match rule_note {
                Some(n) => format!("no policy given; {n}"),
                None => "no resource policy: a cross-account request needs one that allows the caller".into(),
            }),
        });
    }
    reports.extend(vpce.map(|p| p.report));
    Verdict {
        decision: result.decision,
        denied_by: result.denied_by,
        layers: reports,
        missing_context: ev.missing,
        unknown_layers: layers.unknown.clone(),
        depends_on_unknown,
        cross_account: req.is_cross_account(),
        assumptions,
    }
}
