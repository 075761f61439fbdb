//! `diagnose` and `fix` for federated role assumption (`sts:AssumeRoleWithWebIdentity`,
//! `sts:AssumeRoleWithSAML`): the caller is not yet an AWS principal, so the question is which
//! trust-policy condition the token or assertion failed. The claims come from `--claims JSON`,
//! `--web-identity-token FILE` (a JWT, decoded and never verified, never printed whole) or, inside
//! GitHub Actions, the `GITHUB_*` variables (with `--sub-template` for a customised subject). The
//! role's trust policy and the identity provider are read as the operator; the trust policy is
//! evaluated with the claims as the request context (eval::claims); the fix is the exact subject
//! added to the trust statement (remedy::trust), written as an ordinary plan file that
//! `denyctl apply` writes with compare-and-swap and a backup.

use std::collections::BTreeMap;

use denyctl_eval::claims::{self, FailingCondition, TrustRequest, TrustVerdict};
use denyctl_eval::{Decision, LayerKind};
use denyctl_policy::{Policy, PrincipalType};
use denyctl_remedy::trust::{fix_trust, TrustFixError};
use denyctl_remedy::{
    Caller, Change, DecisionSummary, EditKind, NoNewAccess, Plan, RequestSpec, Scope, Status, Target, TargetKind, Verification, PLAN_VERSION,
};
use denyctl_runtime::federation::{self as fed, OidcProvider, SamlProvider};
use denyctl_runtime::Session;
use serde::Serialize;
use serde_json::Value as Json;

use crate::cli::{FederationArgs, GlobalArgs, RequestArgs};
use crate::cmd::live;
use crate::error::{exit, CliError, CmdResult};
use crate::input::read_text;
use crate::output;

/// A token or claims file may not be larger than this.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

/// Whether this verb call is a federated one: the action (from the flags or the message) is
/// AssumeRoleWithWebIdentity or AssumeRoleWithSAML.
pub fn handles(req: &RequestArgs) -> bool {
    action(req).is_some()
}

/// The federated action the request names: `--action`, the action the denial parser read, or,
/// for STS's operation-only messages ("... when calling the AssumeRoleWithWebIdentity operation:
/// Not authorized to perform sts:AssumeRoleWithWebIdentity", which crates/denial does not read
/// yet), the operation named in the text.
fn action(req: &RequestArgs) -> Option<String> {
    let is_fed = |a: &str| a.eq_ignore_ascii_case(claims::WEB_IDENTITY) || a.eq_ignore_ascii_case(claims::SAML);
    if let Some(a) = &req.action {
        return is_fed(a).then(|| a.clone());
    }
    if let Some(a) = live::denied(req).ok().and_then(|d| d.action) {
        return is_fed(&a).then_some(a);
    }
    let text = req.text.as_deref().filter(|t| *t != "-")?;
    action_in_text(text)
}

/// The federated STS operation an operation-only message names (pure).
pub fn action_in_text(text: &str) -> Option<String> {
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'));
    for w in words {
        let op = w.strip_prefix("sts:").unwrap_or(w);
        if op.eq_ignore_ascii_case("AssumeRoleWithWebIdentity") {
            return Some(claims::WEB_IDENTITY.into());
        }
        if op.eq_ignore_ascii_case("AssumeRoleWithSAML") {
            return Some(claims::SAML.into());
        }
    }
    None
}

/// Where the claims came from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClaimsSource {
    /// `--claims`.
    Flag,
    /// `--web-identity-token` (decoded, not verified).
    Token,
    /// The GITHUB_* variables of this run.
    GithubActions,
}

/// Everything the federated verbs need, before any AWS call.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The assume action.
    pub action: String,
    /// The target role.
    pub role_arn: String,
    /// The `Federated` principal (provider ARN, or Cognito's/Google's name).
    pub principal: String,
    /// The claims (never the token).
    pub claims: Json,
    /// Where they came from.
    pub source: ClaimsSource,
    /// The request as the trust policy sees it.
    pub trust_request: TrustRequest,
    /// The context keys, in order.
    pub context: Vec<(String, Vec<String>)>,
}

fn read_claims(f: &FederationArgs) -> Result<(Json, ClaimsSource), CliError> {
    if let Some(c) = &f.claims {
        let text = match c.strip_prefix('@') {
            Some(path) => read_text(path, MAX_TOKEN_BYTES)?,
            None => c.clone(),
        };
        let v: Json = serde_json::from_str(&text).map_err(|e| CliError::Input(format!("--claims: not JSON: {e}")))?;
        if !v.is_object() {
            return Err(CliError::Input("--claims: expected a JSON object of claims ({\"sub\": ..., \"aud\": ...})".into()));
        }
        return Ok((v, ClaimsSource::Flag));
    }
    if let Some(path) = &f.web_identity_token {
        let text = read_text(path, MAX_TOKEN_BYTES)?;
        // Never echo the token: the error names the file only.
        let v = claims::decode_jwt(&text).map_err(|e| CliError::input(path, e))?;
        return Ok((v, ClaimsSource::Token));
    }
    let get = |k: &str| std::env::var(k).ok();
    if let Some(mut run) = claims::GithubRun::from_env(&get) {
        if f.github_environment.is_some() {
            run.environment = f.github_environment.clone();
        }
        let tmpl = (!f.sub_template.is_empty()).then_some(f.sub_template.as_slice());
        let v = run.claims(tmpl, f.audience.as_deref().unwrap_or("sts.amazonaws.com")).map_err(CliError::Input)?;
        return Ok((v, ClaimsSource::GithubActions));
    }
    Err(CliError::Input(
        "no claims: give --claims JSON, --web-identity-token FILE, or run inside GitHub Actions (GITHUB_REPOSITORY ...)".into(),
    ))
}

/// Complete and validate the inputs (pure apart from reading the files and the environment).
pub fn inputs(req: &RequestArgs, f: &FederationArgs) -> Result<Inputs, CliError> {
    // A message the denial parser cannot read (operation-only) still names the role when given --resource.
    let d = live::denied(req).unwrap_or_default();
    let action = action(req).ok_or_else(|| CliError::Input("no action: give --action sts:AssumeRoleWithWebIdentity or sts:AssumeRoleWithSAML".into()))?;
    let d = live::Denied { resource: req.resource.clone().or(d.resource), ..d };
    let action = if action.eq_ignore_ascii_case(claims::SAML) { claims::SAML.to_string() } else { claims::WEB_IDENTITY.to_string() };
    let role_arn = d
        .resource
        .filter(|r| r.contains(":role/"))
        .ok_or_else(|| CliError::Input(format!("{action}: give the target role with --resource ROLE_ARN (the message does not name it)")))?;
    let arn = denyctl_policy::Arn::parse(&role_arn).map_err(|e| CliError::Input(format!("--resource: {e}")))?;
    let (claims_v, source) = read_claims(f)?;
    let saml = action == claims::SAML;
    let principal = match (&f.provider, &req.principal) {
        (Some(p), _) if p.starts_with("arn:") => p.clone(),
        (_, Some(p)) if p.contains(":saml-provider/") || p.contains(":oidc-provider/") => p.clone(),
        (Some(p), _) if saml => format!("arn:{}:iam::{}:saml-provider/{p}", arn.partition, arn.account),
        (Some(p), _) => claims::federated_principal(&arn.partition, &arn.account, p),
        (None, _) if saml => {
            return Err(CliError::Input("sts:AssumeRoleWithSAML: give the SAML provider with --provider ARN (or NAME)".into()));
        }
        (None, _) => {
            let iss = claims_v.get("iss").and_then(Json::as_str).ok_or_else(|| {
                CliError::Input("the claims carry no iss (issuer): give the identity provider with --provider URL or ARN".into())
            })?;
            claims::federated_principal(&arn.partition, &arn.account, iss)
        }
    };
    let context = if saml { claims::saml_context(&claims_v) } else { claims::oidc_context(&claims::host_of_principal(&principal), &claims_v) };
    let trust_request = TrustRequest {
        action: action.clone(),
        principal: principal.clone(),
        principal_type: PrincipalType::Federated,
        context: claims::context_of(&context),
        session_tags: f.session_tags,
        source_identity: f.source_identity,
    };
    Ok(Inputs { action, role_arn, principal, claims: claims_v, source, trust_request, context })
}

/// The identity provider as read.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProviderView {
    /// An IAM OIDC provider.
    Oidc {
        /// Whether it exists in the role's account.
        exists: bool,
        /// What IAM says about it.
        #[serde(skip_serializing_if = "Option::is_none", flatten)]
        provider: Option<OidcProvider>,
    },
    /// An IAM SAML provider.
    Saml {
        /// Whether it exists.
        exists: bool,
        /// What IAM says about it.
        #[serde(skip_serializing_if = "Option::is_none", flatten)]
        provider: Option<SamlProvider>,
    },
    /// A provider AWS runs itself (Cognito, Google): nothing to read.
    Builtin {
        /// Its name.
        name: String,
    },
    /// It could not be read.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// What was read live.
pub struct LiveRead {
    /// The trust policy.
    pub trust: fed::RoleTrust,
    /// The provider.
    pub provider: ProviderView,
    /// Calls made.
    pub calls: denyctl_runtime::snapshot::CallSummary,
}

/// Read the trust policy and the provider, as the operator.
pub fn read_live(g: &GlobalArgs, i: &Inputs) -> Result<LiveRead, CliError> {
    let profiles = live::profiles(g);
    let progress = live::Progress::start(g, "reading the role's trust policy and the identity provider");
    let (trust, provider, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        let provider = async {
            if i.principal.contains(":oidc-provider/") {
                match fed::read_oidc_provider(&session, &i.principal).await {
                    Ok(p) => ProviderView::Oidc { exists: p.is_some(), provider: p },
                    Err(reason) => ProviderView::Unknown { reason },
                }
            } else if i.principal.contains(":saml-provider/") {
                match fed::read_saml_provider(&session, &i.principal).await {
                    Ok(p) => ProviderView::Saml { exists: p.is_some(), provider: p },
                    Err(reason) => ProviderView::Unknown { reason },
                }
            } else {
                ProviderView::Builtin { name: i.principal.clone() }
            }
        };
        let (trust, provider) = tokio::join!(fed::read_role_trust(&session, &i.role_arn), provider);
        (trust, provider, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let trust = trust.map_err(|e| CliError::Aws(format!("{e} (reading the trust policy needs iam:GetRole, as the operator: --profile)")))?;
    let calls = denyctl_runtime::snapshot::CallSummary::of(&session.stats);
    Ok(LiveRead { trust, provider, calls })
}

/// What is wrong with the provider for this token: missing, or the token's audience not among its client IDs.
pub fn provider_problems(i: &Inputs, p: &ProviderView) -> Vec<String> {
    let mut out = Vec::new();
    match p {
        ProviderView::Oidc { exists: false, .. } => out.push(format!(
            "the identity provider {} does not exist in the role's account: STS answers \"No OpenIDConnect provider found in your account for https://{}\"; create it (iam:CreateOpenIDConnectProvider) with the audience the token carries",
            i.principal,
            claims::host_of_principal(&i.principal)
        )),
        ProviderView::Saml { exists: false, .. } => out.push(format!("the SAML provider {} does not exist in the role's account", i.principal)),
        ProviderView::Oidc { provider: Some(prov), .. } => {
            let aud: Vec<String> = i.claims.get("aud").map(|a| match a {
                Json::String(s) => vec![s.clone()],
                Json::Array(v) => v.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            }).unwrap_or_default();
            if !aud.is_empty() && !aud.iter().any(|a| prov.client_ids.contains(a)) {
                out.push(format!(
                    "audience mismatch: the token's aud {aud:?} is not among the provider's client IDs (audiences) {:?}: STS rejects the token before the trust policy is read (\"Incorrect token audience\"); request the token for one of those audiences, or add the audience to the provider (iam:AddClientIDToOpenIDConnectProvider)",
                    prov.client_ids
                ));
            }
        }
        _ => {}
    }
    out
}

/// The JSON shape of a federated `diagnose`.
#[derive(Debug, Serialize)]
pub struct Output<'a> {
    /// `allow`, `implicit_deny`, `explicit_deny`: the trust policy's answer, and the provider's.
    pub decision: Decision,
    /// `resource` (the trust policy) when it is what denies; empty when the provider is the problem alone.
    pub denied_by: Vec<LayerKind>,
    /// The action.
    pub action: &'a str,
    /// The role.
    pub role: &'a str,
    /// The `Federated` principal the request comes as.
    pub principal: &'a str,
    /// The identity provider as read.
    pub provider: &'a ProviderView,
    /// Where the claims came from.
    pub claims_source: ClaimsSource,
    /// The claims (the token itself is never printed).
    pub claims: &'a Json,
    /// The request context the claims make (`HOST:sub`, `HOST:aud`, `SAML:sub` ...).
    pub context: BTreeMap<&'a str, &'a [String]>,
    /// The trust policy's failing conditions, with both values.
    pub failing_conditions: &'a [FailingCondition],
    /// The trust policy's verdict per needed action.
    pub trust: &'a TrustVerdict,
    /// Problems before the trust policy (a missing provider, an audience mismatch).
    pub problems: Vec<String>,
    /// Warnings (a trust statement with no sub condition).
    pub warnings: Vec<String>,
    /// `live`.
    pub source: &'static str,
    /// Calls made.
    pub calls: denyctl_runtime::snapshot::CallSummary,
}

fn sub_warnings(policy: &Policy, i: &Inputs) -> Vec<String> {
    claims::unrestricted_statements(policy, &i.trust_request)
        .into_iter()
        .map(|s| {
            format!(
                "trust statement {}{} allows {} for {} with no condition on the subject (sub): any identity the provider issues tokens for (any repository, on GitHub) can assume this role",
                s.index,
                s.sid.as_deref().map(|x| format!(" (Sid {x})")).unwrap_or_default(),
                i.principal,
                i.action
            )
        })
        .collect()
}

fn policy_of(trust: &fed::RoleTrust) -> Result<Policy, CliError> {
    Policy::from_json(trust.document.clone()).map_err(|e| CliError::Input(format!("the trust policy of {} cannot be read: {e}", trust.arn)))
}

/// `diagnose` for a federated request.
pub fn diagnose(req: &RequestArgs, f: &FederationArgs, g: &GlobalArgs) -> CmdResult {
    let i = inputs(req, f)?;
    let r = read_live(g, &i)?;
    let policy = policy_of(&r.trust)?;
    let v = claims::evaluate_trust(&policy, &i.trust_request);
    let problems = provider_problems(&i, &r.provider);
    let warnings = sub_warnings(&policy, &i);
    for w in &warnings {
        eprintln!("denyctl: WARNING: {w}");
    }
    let decision = if problems.is_empty() || v.decision != Decision::Allow { v.decision } else { Decision::ImplicitDeny };
    let out = Output {
        decision,
        denied_by: if v.decision == Decision::Allow { Vec::new() } else { vec![LayerKind::Resource] },
        action: &i.action,
        role: &r.trust.arn,
        principal: &i.principal,
        provider: &r.provider,
        claims_source: i.source,
        claims: &i.claims,
        context: i.context.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect(),
        failing_conditions: &v.failing_conditions,
        trust: &v,
        problems,
        warnings,
        source: "live",
        calls: r.calls,
    };
    output::emit(g.output, &out, |w| render(w, &out))?;
    Ok(if decision == Decision::Allow { exit::OK } else { exit::DENIED })
}

fn render(w: &mut dyn std::io::Write, o: &Output) -> std::io::Result<()> {
    let st = crate::render::Style::stdout();
    let head = match o.decision {
        Decision::Allow => st.good("ALLOWED"),
        Decision::ExplicitDeny => st.bad("DENIED (explicit deny)"),
        Decision::ImplicitDeny => st.bad("DENIED (implicit deny)"),
    };
    writeln!(w, "{head} {} on {}", o.action, o.role)?;
    writeln!(w, "  as          {{\"Federated\": \"{}\"}}", o.principal)?;
    match o.provider {
        ProviderView::Oidc { exists: true, provider: Some(p) } => writeln!(
            w,
            "  provider    {} (url {}; audiences {}; {} thumbprint(s))",
            p.arn,
            p.url,
            p.client_ids.join(", "),
            p.thumbprints.len()
        )?,
        ProviderView::Saml { exists: true, provider: Some(p) } => {
            writeln!(w, "  provider    {} (issuer {})", p.arn, p.issuer.as_deref().unwrap_or("unknown"))?
        }
        ProviderView::Builtin { name } => writeln!(w, "  provider    {name} (run by AWS)")?,
        ProviderView::Unknown { reason } => writeln!(w, "  provider    unknown: {reason}")?,
        _ => writeln!(w, "  provider    {}", st.bad("does not exist"))?,
    }
    let src = match o.claims_source {
        ClaimsSource::Flag => "--claims",
        ClaimsSource::Token => "the token (decoded, not verified)",
        ClaimsSource::GithubActions => "this GitHub Actions run's GITHUB_* variables",
    };
    writeln!(w, "  claims from {src}")?;
    for (k, v) in &o.context {
        writeln!(w, "      {k} = {}", v.join(", "))?;
    }
    for p in &o.problems {
        writeln!(w, "  {} {p}", st.bad("problem"))?;
    }
    for a in &o.trust.actions {
        let what = match (&a.decision, a.deciding.first()) {
            (Decision::Allow, Some(s)) => format!("allowed by trust statement {}{}", s.index, s.sid.as_deref().map(|x| format!(" (Sid {x})")).unwrap_or_default()),
            (Decision::ExplicitDeny, Some(s)) => format!("denied by trust statement {}{}", s.index, s.sid.as_deref().map(|x| format!(" (Sid {x})")).unwrap_or_default()),
            _ if a.action != o.action => format!("no trust statement allows it (needed because the caller passes {})", if a.action == claims::TAG_SESSION { "session tags" } else { "a source identity" }),
            _ if !o.trust.principal_trusted => format!("no trust statement allows {} for this provider", a.action),
            _ => "no trust statement's conditions hold".to_string(),
        };
        writeln!(w, "  {:<30} {what}", a.action)?;
    }
    for c in o.failing_conditions {
        writeln!(w, "  {} {} {} (trust statement {}{})", st.bad("failing"), c.key, c.operator, c.statement, c.sid.as_deref().map(|x| format!(", Sid {x}")).unwrap_or_default())?;
        writeln!(w, "      policy allows  {}", c.policy_values.join(" | "))?;
        writeln!(w, "      request has    {}", c.request_value.as_ref().map(|v| v.join(", ")).unwrap_or_else(|| "(no such claim)".into()))?;
    }
    if o.decision != Decision::Allow && o.problems.is_empty() {
        writeln!(w, "  next: denyctl fix --dry-run with the same flags: the exact subject added to the trust statement")?;
    }
    Ok(())
}

fn spec(i: &Inputs, account: &str) -> RequestSpec {
    RequestSpec {
        principal: i.principal.clone(),
        action: i.action.clone(),
        resource: i.role_arn.clone(),
        resource_account: account.to_string(),
        context: i.context.iter().cloned().collect(),
    }
}

fn summary(d: Decision) -> DecisionSummary {
    DecisionSummary { decision: d.as_str().into(), denied_by: if d == Decision::Allow { Vec::new() } else { vec![LayerKind::Resource] } }
}

/// The plan file for a federated denial: one trust-policy change (or a status saying why none).
pub fn plan(i: &Inputs, trust: &fed::RoleTrust, problems: &[String]) -> Result<Plan, CliError> {
    let account = denyctl_policy::Arn::parse(&i.role_arn).map(|a| a.account).unwrap_or_default();
    let policy = policy_of(trust)?;
    let before = claims::evaluate_trust(&policy, &i.trust_request);
    let mut notes: Vec<String> = problems.to_vec();
    // Said whether or not a change is needed: an open trust statement is the bigger risk.
    notes.extend(sub_warnings(&policy, i));
    let mut changes = Vec::new();
    let (status, reason, after_decision) = match fix_trust(&trust.document, &i.trust_request) {
        Ok(fix) => {
            let diff = denyctl_remedy::diff::unified(&format!("trust policy of {}", trust.arn), Some(&trust.document), Some(&fix.after));
            changes.push(Change {
                id: "c1".into(),
                layer: LayerKind::Resource,
                edit: EditKind::AddAllow,
                target: Target {
                    kind: TargetKind::TrustPolicy,
                    policy_name: format!("trust policy of {}", trust.arn),
                    policy_arn: None,
                    role_name: Some(trust.name.clone()),
                    user_name: None,
                    resource_arn: Some(trust.arn.clone()),
                    service: Some("iam".into()),
                    org_target: None,
                    create: false,
                },
                summary: fix.edits.join("; "),
                statements: Vec::new(),
                before: Some(trust.document.clone()),
                after: fix.after.clone(),
                diff,
                version_token: Some(denyctl_plugin_api::version_token(Some(&trust.document))),
                applicable: true,
                needs_human: false,
                needs_human_reason: None,
                blast_radius: None,
                size: None,
                versions: None,
                newly_allowed: Vec::new(),
                notes: vec![format!("newly allowed: {}; nothing else (checked by re-evaluating the trust policy)", fix.newly_allows)],
            });
            if problems.is_empty() {
                (Status::Ready, None, Decision::Allow)
            } else {
                (Status::Unresolved, Some(format!("the trust change alone does not let the request through: {}", problems.join("; "))), Decision::ImplicitDeny)
            }
        }
        Err(TrustFixError::AlreadyAllowed) if problems.is_empty() => (Status::AlreadyAllowed, None, Decision::Allow),
        Err(TrustFixError::AlreadyAllowed) => (Status::Unresolved, Some(problems.join("; ")), Decision::ImplicitDeny),
        Err(e) => (Status::Unresolved, Some(e.to_string()), before.decision),
    };
    Ok(Plan {
        plan_version: PLAN_VERSION,
        status,
        status_reason: reason,
        request: spec(i, &account),
        caller: Caller { kind: "federated".into(), entity_arn: i.principal.clone(), name: None, account: account.clone() },
        scope: Scope::Exact,
        versions_read: [(format!("trust policy of {}", trust.arn), Some(denyctl_plugin_api::version_token(Some(&trust.document))))].into_iter().collect(),
        changes,
        handoffs: Vec::new(),
        alternatives: Vec::new(),
        verification: Verification {
            before: summary(before.decision),
            after: summary(after_decision),
            with_handoffs: summary(after_decision),
            next_hop: None,
            depends_on_unknown: false,
        },
        no_new_access: NoNewAccess { checked: 1, newly_allowed: Vec::new(), widening_accepted: false },
        notes,
        replay: spec(i, &account),
    })
}

/// `fix` for a federated request: the plan (never applied here: `denyctl apply -f PLAN`).
pub fn fix(req: &RequestArgs, f: &FederationArgs, g: &GlobalArgs, dry_run: bool) -> CmdResult {
    let i = inputs(req, f)?;
    let r = read_live(g, &i)?;
    let problems = provider_problems(&i, &r.provider);
    let p = plan(&i, &r.trust, &problems)?;
    if !dry_run {
        eprintln!("denyctl: a federated fix is printed as a plan; write it with `denyctl apply -f PLAN` (save it with -o json)");
    }
    for n in &p.notes {
        eprintln!("denyctl: WARNING: {n}");
    }
    match g.output {
        crate::output::Format::Diff => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::render::plan::diffs(&mut out, &p, output::use_color()).or_else(output::ignore_broken_pipe)?;
        }
        fmt => output::emit(fmt, &p, |w| crate::render::plan::table(w, &p))?,
    }
    Ok(match p.status {
        Status::Ready | Status::AlreadyAllowed => exit::OK,
        _ => exit::DENIED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str, resource: &str) -> RequestArgs {
        RequestArgs { action: Some(action.into()), resource: Some(resource.into()), ..Default::default() }
    }

    #[test]
    fn inputs_from_claims() {
        let f = FederationArgs {
            claims: Some(r#"{"iss":"https://token.actions.githubusercontent.com","sub":"repo:o/r:ref:refs/heads/x","aud":"sts.amazonaws.com"}"#.into()),
            ..Default::default()
        };
        let i = inputs(&req("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::111122223333:role/deploy"), &f).unwrap();
        assert_eq!(i.principal, "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com");
        assert!(i.context.iter().any(|(k, v)| k == "token.actions.githubusercontent.com:sub" && v == &["repo:o/r:ref:refs/heads/x".to_string()]));
        assert!(handles(&req("sts:assumerolewithwebidentity", "x")));
        assert!(!handles(&req("sts:AssumeRole", "x")));
        // Operation-only STS messages (CLI, SDKs, configure-aws-credentials).
        assert_eq!(
            action_in_text("An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity").as_deref(),
            Some("sts:AssumeRoleWithWebIdentity")
        );
        assert_eq!(action_in_text("Error: Could not assume role with OIDC: Not authorized to perform sts:AssumeRoleWithWebIdentity").as_deref(), Some("sts:AssumeRoleWithWebIdentity"));
        assert_eq!(action_in_text("An error occurred (AccessDenied) when calling the AssumeRoleWithSAML operation: Not authorized to perform sts:AssumeRoleWithSAML").as_deref(), Some("sts:AssumeRoleWithSAML"));
        assert_eq!(action_in_text("User: x is not authorized to perform: s3:GetObject"), None);
        let from_text = RequestArgs { text: Some("Not authorized to perform sts:AssumeRoleWithWebIdentity".into()), resource: Some("arn:aws:iam::111122223333:role/deploy".into()), ..Default::default() };
        assert!(handles(&from_text));
        assert_eq!(inputs(&from_text, &f).unwrap().role_arn, "arn:aws:iam::111122223333:role/deploy");
        // The role must be named.
        let e = inputs(&RequestArgs { action: Some("sts:AssumeRoleWithWebIdentity".into()), ..Default::default() }, &f).unwrap_err();
        assert!(e.to_string().contains("--resource ROLE_ARN"), "{e}");
        // SAML needs the provider.
        let e = inputs(&req("sts:AssumeRoleWithSAML", "arn:aws:iam::111122223333:role/r"), &FederationArgs { claims: Some("{}".into()), ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("--provider"), "{e}");
        let i = inputs(
            &req("sts:AssumeRoleWithSAML", "arn:aws:iam::111122223333:role/r"),
            &FederationArgs { claims: Some(r#"{"sub":"alice","aud":"https://signin.aws.amazon.com/saml"}"#.into()), provider: Some("Okta".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(i.principal, "arn:aws:iam::111122223333:saml-provider/Okta");
        assert!(i.context.iter().any(|(k, _)| k == "SAML:sub"));
    }

    #[test]
    fn audience_mismatch_and_missing_provider() {
        let f = FederationArgs { claims: Some(r#"{"iss":"https://token.actions.githubusercontent.com","sub":"s","aud":"https://github.com/o"}"#.into()), ..Default::default() };
        let i = inputs(&req("sts:AssumeRoleWithWebIdentity", "arn:aws:iam::111122223333:role/deploy"), &f).unwrap();
        let p = ProviderView::Oidc {
            exists: true,
            provider: Some(OidcProvider { arn: i.principal.clone(), url: "token.actions.githubusercontent.com".into(), client_ids: vec!["sts.amazonaws.com".into()], thumbprints: vec![] }),
        };
        let probs = provider_problems(&i, &p);
        assert!(probs[0].contains("audience mismatch") && probs[0].contains("https://github.com/o") && probs[0].contains("sts.amazonaws.com"), "{probs:?}");
        let probs = provider_problems(&i, &ProviderView::Oidc { exists: false, provider: None });
        assert!(probs[0].contains("does not exist"), "{probs:?}");
    }
}
