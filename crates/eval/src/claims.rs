//! Federation: a web-identity token's or SAML assertion's claims as the request context of
//! `sts:AssumeRoleWithWebIdentity` / `sts:AssumeRoleWithSAML`, and the evaluation of a role's
//! trust policy for such a caller (who is not yet an AWS principal: the `Principal` that matches is
//! `{"Federated": PROVIDER}`). Pure: no I/O, no signature checks (a token is decoded, never
//! verified).
//!
//! Key names follow AWS's documentation:
//! - IAM User Guide, "IAM and AWS STS condition context keys", *Available keys for AWS OIDC
//!   federation* (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif>):
//!   for an OIDC provider the keys are `<provider URL without https://>:aud`, `:sub` and `:amr`
//!   (`token.actions.githubusercontent.com:sub`, `oidc.eks.REGION.amazonaws.com/id/ID:sub`);
//!   Google's are `accounts.google.com:aud` (the token's `azp` when it has one, else `aud`),
//!   `accounts.google.com:oaud` (the token's `aud` when `azp` is present) and
//!   `accounts.google.com:sub`; Amazon Cognito's are `cognito-identity.amazonaws.com:aud` (the
//!   identity pool ID), `:sub` (the identity ID) and `:amr` (`authenticated`/`unauthenticated`
//!   and the login providers), with `"Federated": "cognito-identity.amazonaws.com"`.
//! - Same page, *Available keys for SAML-based AWS STS federation*
//!   (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-saml>):
//!   `SAML:aud`, `SAML:sub`, `SAML:sub_type`, `SAML:iss`, `SAML:namequalifier`, and the
//!   assertion's attributes (`SAML:edupersonaffiliation`, ...).
//! - GitHub, "OpenID Connect reference" / "About security hardening with OpenID Connect"
//!   (<https://docs.github.com/en/actions/reference/security/oidc>): the `sub` claim is
//!   `repo:OWNER/REPO:ref:refs/heads/BRANCH`, `repo:OWNER/REPO:environment:NAME`,
//!   `repo:OWNER/REPO:pull_request` or `repo:OWNER/REPO:ref:refs/tags/TAG`; a repository can
//!   customise it with `include_claim_keys` (`--sub-template repo,context,job_workflow_ref`).
//! - GitLab, "OpenID Connect (OIDC) authentication using ID tokens": `sub` is
//!   `project_path:GROUP/PROJECT:ref_type:branch:ref:BRANCH`.
//! - Amazon EKS, "IAM roles for service accounts": `sub` is `system:serviceaccount:NS:SA`.

use denyctl_policy::{Effect, Policy, PrincipalType, Statement};
use serde::Serialize;
use serde_json::Value as Json;

use crate::request::Context;
use crate::verdict::{Decision, Miss, StatementRef};

/// The web-identity action.
pub const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
/// The SAML action.
pub const SAML: &str = "sts:AssumeRoleWithSAML";
/// The classic action.
pub const ASSUME_ROLE: &str = "sts:AssumeRole";
/// Needed in the trust policy as well when the caller passes session tags.
pub const TAG_SESSION: &str = "sts:TagSession";
/// Needed in the trust policy as well when the caller sets a source identity.
pub const SET_SOURCE_IDENTITY: &str = "sts:SetSourceIdentity";
/// Cognito identity pools' federated principal (and key prefix).
pub const COGNITO: &str = "cognito-identity.amazonaws.com";
/// Google's federated principal (and key prefix).
pub const GOOGLE: &str = "accounts.google.com";
/// GitHub Actions' OIDC issuer host.
pub const GITHUB_HOST: &str = "token.actions.githubusercontent.com";

/// Whether an action is one of the three role-assumption actions denyctl diagnoses here.
pub fn is_assume_action(action: &str) -> bool {
    [WEB_IDENTITY, SAML, ASSUME_ROLE].iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// The provider host/path AWS uses as the key prefix: the issuer URL without `https://` and
/// without a trailing slash (`https://token.actions.githubusercontent.com` →
/// `token.actions.githubusercontent.com`).
pub fn provider_host(issuer: &str) -> String {
    let s = issuer.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    s.trim_end_matches('/').to_string()
}

/// The IAM OIDC provider ARN for a host in an account (`arn:aws:iam::ACCT:oidc-provider/HOST`).
pub fn oidc_provider_arn(partition: &str, account: &str, host: &str) -> String {
    format!("arn:{partition}:iam::{account}:oidc-provider/{}", provider_host(host))
}

/// The `Federated` principal a trust policy names for this provider host: the provider ARN, or
/// the bare name for the providers AWS names itself (Cognito, Google, Amazon, Facebook).
pub fn federated_principal(partition: &str, account: &str, host: &str) -> String {
    let h = provider_host(host);
    match h.as_str() {
        COGNITO | GOOGLE | "www.amazon.com" | "graph.facebook.com" => h,
        _ => oidc_provider_arn(partition, account, &h),
    }
}

/// The provider host an `oidc-provider/HOST` ARN or bare name names.
pub fn host_of_principal(principal: &str) -> String {
    match principal.split_once(":oidc-provider/") {
        Some((_, h)) => h.to_string(),
        None => principal.to_string(),
    }
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a.iter().flat_map(strings).collect(),
        Json::Bool(b) => vec![b.to_string()],
        Json::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// The request context AWS builds from an OIDC token's claims for a provider host, as documented
/// (see the module comment): `HOST:aud`, `HOST:sub`, `HOST:amr`; Google's `aud`/`oaud` from
/// `azp`/`aud`. Keys in order, each with its values.
pub fn oidc_context(host: &str, claims: &Json) -> Vec<(String, Vec<String>)> {
    let host = provider_host(host);
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let claim = |k: &str| claims.get(k).map(strings).filter(|v| !v.is_empty());
    let mut push = |k: &str, v: Option<Vec<String>>| {
        if let Some(v) = v {
            out.push((format!("{host}:{k}"), v));
        }
    };
    if host == GOOGLE {
        // "accounts.google.com:aud ... the azp field when present, else aud; oaud: the aud field"
        match claim("azp") {
            Some(azp) => {
                push("aud", Some(azp));
                push("oaud", claim("aud"));
            }
            None => push("aud", claim("aud")),
        }
    } else {
        push("aud", claim("aud"));
    }
    push("sub", claim("sub"));
    push("amr", claim("amr"));
    if host == "www.amazon.com" {
        push("app_id", claim("app_id"));
        push("user_id", claim("user_id"));
    }
    if host == "graph.facebook.com" {
        push("app_id", claim("app_id"));
        push("id", claim("id"));
    }
    out
}

/// The request context AWS builds from a SAML assertion: every attribute as `SAML:NAME`
/// (`SAML:aud`, `SAML:sub`, `SAML:sub_type`, `SAML:iss`, `SAML:namequalifier`, ...). The claims
/// are given as JSON (`{"sub": "...", "sub_type": "persistent", "aud": "https://signin.aws.amazon.com/saml"}`);
/// keys already prefixed with `SAML:` are kept.
pub fn saml_context(claims: &Json) -> Vec<(String, Vec<String>)> {
    let Some(obj) = claims.as_object() else { return Vec::new() };
    obj.iter()
        .filter_map(|(k, v)| {
            let vals = strings(v);
            let key = if k.len() > 5 && k[..5].eq_ignore_ascii_case("saml:") { format!("SAML:{}", &k[5..]) } else { format!("SAML:{k}") };
            (!vals.is_empty()).then_some((key, vals))
        })
        .collect()
}

/// Why a token could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three dot-separated parts.
    #[error("not a JWT (expected three base64url parts separated by dots)")]
    Shape,
    /// The payload is not base64url.
    #[error("the JWT payload is not base64url")]
    Base64,
    /// The payload is not a JSON object.
    #[error("the JWT payload is not a JSON object")]
    Json,
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = s.trim_end_matches('=').bytes().collect();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() - 1;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// The claims of a JWT (the payload), decoded and never verified. The signature is not looked at.
pub fn decode_jwt(token: &str) -> Result<Json, TokenError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 || parts[1].is_empty() {
        return Err(TokenError::Shape);
    }
    let bytes = b64url(parts[1]).ok_or(TokenError::Base64)?;
    let v: Json = serde_json::from_slice(&bytes).map_err(|_| TokenError::Json)?;
    if !v.is_object() {
        return Err(TokenError::Json);
    }
    Ok(v)
}

/// A GitHub Actions run, as its `GITHUB_*` variables describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubRun {
    /// `GITHUB_REPOSITORY` (`OWNER/REPO`).
    pub repository: String,
    /// `GITHUB_REF` (`refs/heads/main`).
    pub git_ref: Option<String>,
    /// `GITHUB_EVENT_NAME` (`push`, `pull_request`, ...).
    pub event_name: Option<String>,
    /// The job's deployment environment (not in GitHub's variables: `--github-environment`, or
    /// `GITHUB_ENVIRONMENT` when the workflow exports it).
    pub environment: Option<String>,
    /// `GITHUB_WORKFLOW_REF` (`OWNER/REPO/.github/workflows/x.yml@refs/heads/main`).
    pub workflow_ref: Option<String>,
    /// `GITHUB_REPOSITORY_OWNER`.
    pub repository_owner: Option<String>,
    /// `GITHUB_ACTOR`.
    pub actor: Option<String>,
    /// `GITHUB_REF_TYPE` (`branch`, `tag`).
    pub ref_type: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_REPOSITORY_ID`.
    pub repository_id: Option<String>,
    /// `GITHUB_REPOSITORY_OWNER_ID`.
    pub repository_owner_id: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
}

impl GithubRun {
    /// Read a run from environment variables (a lookup, so tests need not set the process's).
    /// `None` when `GITHUB_REPOSITORY` is unset (not inside GitHub Actions).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Option<GithubRun> {
        let g = |k: &str| get(k).filter(|v| !v.is_empty());
        Some(GithubRun {
            repository: g("GITHUB_REPOSITORY")?,
            git_ref: g("GITHUB_REF"),
            event_name: g("GITHUB_EVENT_NAME"),
            environment: g("GITHUB_ENVIRONMENT"),
            workflow_ref: g("GITHUB_WORKFLOW_REF"),
            repository_owner: g("GITHUB_REPOSITORY_OWNER"),
            actor: g("GITHUB_ACTOR"),
            ref_type: g("GITHUB_REF_TYPE"),
            sha: g("GITHUB_SHA"),
            repository_id: g("GITHUB_REPOSITORY_ID"),
            repository_owner_id: g("GITHUB_REPOSITORY_OWNER_ID"),
            run_id: g("GITHUB_RUN_ID"),
        })
    }

    /// The `context` part of the default subject: `environment:NAME` for a job with an
    /// environment, `pull_request` for a pull_request event, else `ref:REF`.
    pub fn context(&self) -> String {
        if let Some(e) = &self.environment {
            return format!("environment:{e}");
        }
        if self.event_name.as_deref() == Some("pull_request") {
            return "pull_request".into();
        }
        format!("ref:{}", self.git_ref.as_deref().unwrap_or("refs/heads/main"))
    }

    fn claim(&self, key: &str) -> Option<String> {
        match key {
            "repo" | "repository" => Some(self.repository.clone()),
            "context" => Some(self.context()),
            "ref" => self.git_ref.clone(),
            "environment" => self.environment.clone(),
            "event_name" => self.event_name.clone(),
            "workflow_ref" => self.workflow_ref.clone(),
            "job_workflow_ref" => self.workflow_ref.clone(),
            "repository_owner" => self.repository_owner.clone().or_else(|| self.repository.split_once('/').map(|(o, _)| o.to_string())),
            "actor" => self.actor.clone(),
            "ref_type" => self.ref_type.clone(),
            "sha" => self.sha.clone(),
            "repository_id" => self.repository_id.clone(),
            "repository_owner_id" => self.repository_owner_id.clone(),
            "run_id" => self.run_id.clone(),
            _ => None,
        }
    }

    /// The `sub` claim: GitHub's default form, or a customised one from `include_claim_keys`
    /// (`repo,context,job_workflow_ref` → `repo:O/R:ref:refs/heads/main:job_workflow_ref:...`).
    /// A key the run's variables cannot fill is an error naming it.
    pub fn subject(&self, template: Option<&[String]>) -> Result<String, String> {
        let default = vec!["repo".to_string(), "context".to_string()];
        let keys = template.filter(|t| !t.is_empty()).unwrap_or(&default);
        let mut parts = Vec::new();
        for k in keys {
            let k = k.trim();
            let v = self.claim(k).ok_or_else(|| format!("--sub-template: the claim {k:?} is not known from the GITHUB_* variables"))?;
            if k == "context" {
                parts.push(v);
            } else {
                parts.push(format!("{k}:{v}"));
            }
        }
        Ok(parts.join(":"))
    }

    /// The token's claims the run would carry, with `aud` = `audience` (configure-aws-credentials
    /// asks for `sts.amazonaws.com`).
    pub fn claims(&self, template: Option<&[String]>, audience: &str) -> Result<Json, String> {
        let mut m = serde_json::Map::new();
        m.insert("iss".into(), Json::String(format!("https://{GITHUB_HOST}")));
        m.insert("aud".into(), Json::String(audience.to_string()));
        m.insert("sub".into(), Json::String(self.subject(template)?));
        for k in ["repository", "ref", "environment", "event_name", "workflow_ref", "repository_owner", "actor", "ref_type", "sha", "repository_id", "repository_owner_id", "run_id"] {
            if let Some(v) = self.claim(k) {
                m.insert(k.into(), Json::String(v));
            }
        }
        Ok(Json::Object(m))
    }
}

/// A condition that did not hold, with both sides (`failing_conditions` of `diagnose -o json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingCondition {
    /// The statement it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The statement's index.
    pub statement: usize,
    /// The context key as written (`token.actions.githubusercontent.com:sub`).
    pub key: String,
    /// The operator as written (`StringLike`).
    pub operator: String,
    /// What the policy allows.
    pub policy_values: Vec<String>,
    /// What the request carried; `null` when the key was absent.
    pub request_value: Option<Vec<String>>,
}

/// A federated (or classic) AssumeRole request against one trust policy.
#[derive(Debug, Clone)]
pub struct TrustRequest {
    /// `sts:AssumeRoleWithWebIdentity`, `sts:AssumeRoleWithSAML` or `sts:AssumeRole`.
    pub action: String,
    /// The `Federated` principal (provider ARN or `cognito-identity.amazonaws.com`), or for
    /// sts:AssumeRole the `AWS` principal ARNs that would match (caller, its role, its account).
    pub principal: String,
    /// `Federated` or `AWS`.
    pub principal_type: PrincipalType,
    /// The claims as context keys.
    pub context: Context,
    /// The caller passes session tags: `sts:TagSession` must be allowed too.
    pub session_tags: bool,
    /// The caller sets a source identity: `sts:SetSourceIdentity` must be allowed too.
    pub source_identity: bool,
}

/// The answer for one action the request needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionVerdict {
    /// The action.
    pub action: String,
    /// Its decision.
    pub decision: Decision,
    /// The statements that decided (matching Deny, else matching Allow).
    pub deciding: Vec<StatementRef>,
}

/// The trust policy's answer for a federated request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustVerdict {
    /// Allowed only when every needed action is.
    pub decision: Decision,
    /// Per needed action (the assume action, then TagSession / SetSourceIdentity when needed).
    pub actions: Vec<ActionVerdict>,
    /// Conditions that failed in statements whose action and principal matched.
    pub failing_conditions: Vec<FailingCondition>,
    /// Whether any statement names this principal for the assume action at all.
    pub principal_trusted: bool,
    /// Context keys the conditions needed and the request did not carry.
    pub missing_context: Vec<String>,
}

fn action_matches(s: &Statement, action: &str) -> bool {
    let lc = action.to_ascii_lowercase();
    let Some((svc, name)) = lc.split_once(':') else { return false };
    if !s.may_match_service(svc) {
        return false;
    }
    let hit = s.action.patterns.iter().any(|p| p.matches_action_parts(&lc, svc, name));
    hit != s.action.negated
}

fn principal_matches(s: &Statement, req: &TrustRequest) -> bool {
    let Some(set) = &s.principal else { return false };
    let listed = set.any
        || set.entries.iter().any(|(t, e)| {
            *t == req.principal_type && (e == &req.principal || (req.principal_type == PrincipalType::Federated && e.eq_ignore_ascii_case(&req.principal)))
        });
    listed != set.negated
}

/// Evaluate a trust policy for a federated (or classic) assume request: every action it needs,
/// with the failing conditions of the statements that came close (action and principal matched).
pub fn evaluate_trust(policy: &Policy, req: &TrustRequest) -> TrustVerdict {
    let mut needed = vec![req.action.clone()];
    if req.session_tags {
        needed.push(TAG_SESSION.into());
    }
    if req.source_identity {
        needed.push(SET_SOURCE_IDENTITY.into());
    }
    let mut missing = Vec::new();
    let mut failing: Vec<FailingCondition> = Vec::new();
    let mut actions = Vec::new();
    let mut principal_trusted = false;
    for (i, action) in needed.iter().enumerate() {
        let mut allows = Vec::new();
        let mut denies = Vec::new();
        for s in &policy.statements {
            if !action_matches(s, action) || !principal_matches(s, req) {
                continue;
            }
            if i == 0 && s.effect == Effect::Allow {
                principal_trusted = true;
            }
            // Every condition, not only the first failing one: all of them must be fixed.
            let mut fails = Vec::new();
            for c in &s.conditions {
                if let Some(Miss::Condition { operator, key, expected, actual }) = crate::cond::evaluate(c, &req.context, &mut missing) {
                    fails.push(FailingCondition { sid: s.sid.clone(), statement: s.index, key, operator, policy_values: expected, request_value: actual });
                }
            }
            let sref = StatementRef { policy: "trust policy".into(), index: s.index, sid: s.sid.clone(), effect: s.effect };
            if fails.is_empty() {
                match s.effect {
                    Effect::Allow => allows.push(sref),
                    Effect::Deny => denies.push(sref),
                }
            } else if s.effect == Effect::Allow {
                for f in fails {
                    if !failing.contains(&f) {
                        failing.push(f);
                    }
                }
            }
        }
        let (decision, deciding) = if !denies.is_empty() {
            (Decision::ExplicitDeny, denies)
        } else if !allows.is_empty() {
            (Decision::Allow, allows)
        } else {
            (Decision::ImplicitDeny, Vec::new())
        };
        actions.push(ActionVerdict { action: action.clone(), decision, deciding });
    }
    let decision = if actions.iter().any(|a| a.decision == Decision::ExplicitDeny) {
        Decision::ExplicitDeny
    } else if actions.iter().all(|a| a.decision == Decision::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    };
    // Only the failing conditions of the statements that matter once something allows: none.
    if decision == Decision::Allow {
        failing.clear();
    }
    TrustVerdict { decision, actions, failing_conditions: failing, principal_trusted, missing_context: missing }
}

/// Build a context from (key, values) pairs.
pub fn context_of(pairs: &[(String, Vec<String>)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        c.insert(k, v.clone());
    }
    c
}

/// Whether a key is a subject key (`HOST:sub`, `SAML:sub`).
pub fn is_sub_key(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with(":sub")
}

/// The Allow statements that trust this principal for the action with no condition on a subject
/// key: any identity the provider issues tokens for (every repository on GitHub) may assume the role.
pub fn unrestricted_statements(policy: &Policy, req: &TrustRequest) -> Vec<StatementRef> {
    policy
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow && action_matches(s, &req.action) && principal_matches(s, req))
        .filter(|s| !s.conditions.iter().any(|c| is_sub_key(&c.key)))
        .map(|s| StatementRef { policy: "trust policy".into(), index: s.index, sid: s.sid.clone(), effect: s.effect })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: &Json) -> String {
        // A test-only base64url encoder (no padding).
        fn enc(b: &[u8]) -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut s = String::new();
            for ch in b.chunks(3) {
                let n = (u32::from(ch[0]) << 16) | (u32::from(*ch.get(1).unwrap_or(&0)) << 8) | u32::from(*ch.get(2).unwrap_or(&0));
                for i in 0..=ch.len() {
                    s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            s
        }
        format!("{}.{}.c2lnbmF0dXJl", enc(br#"{"alg":"RS256","typ":"JWT"}"#), enc(claims.to_string().as_bytes()))
    }

    #[test]
    fn decodes_a_jwt_without_verifying_it() {
        let claims = json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "aud": "sts.amazonaws.com"});
        assert_eq!(decode_jwt(&jwt(&claims)).unwrap(), claims);
        assert_eq!(decode_jwt("abc"), Err(TokenError::Shape));
        assert_eq!(decode_jwt("a.!!!.c"), Err(TokenError::Base64));
        assert_eq!(decode_jwt("a.bm90IGpzb24.c"), Err(TokenError::Json));
    }

    #[test]
    fn github_keys() {
        // IAM User Guide, "Create an OpenID Connect (OIDC) identity provider" / GitHub's OIDC reference.
        let c = oidc_context("https://token.actions.githubusercontent.com/", &json!({"sub": "repo:octo-org/octo-repo:ref:refs/heads/main", "aud": "sts.amazonaws.com", "repository": "octo-org/octo-repo"}));
        assert_eq!(
            c,
            vec![
                ("token.actions.githubusercontent.com:aud".into(), vec!["sts.amazonaws.com".into()]),
                ("token.actions.githubusercontent.com:sub".into(), vec!["repo:octo-org/octo-repo:ref:refs/heads/main".into()]),
            ]
        );
        assert_eq!(federated_principal("aws", "111122223333", "token.actions.githubusercontent.com"), "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com");
    }

    #[test]
    fn gitlab_keys() {
        // GitLab: sub = project_path:GROUP/PROJECT:ref_type:branch:ref:BRANCH.
        let c = oidc_context("https://gitlab.com", &json!({"sub": "project_path:mygroup/myproject:ref_type:branch:ref:main", "aud": "https://gitlab.com"}));
        assert_eq!(c[1], ("gitlab.com:sub".into(), vec!["project_path:mygroup/myproject:ref_type:branch:ref:main".into()]));
        assert_eq!(c[0].0, "gitlab.com:aud");
    }

    #[test]
    fn eks_irsa_keys() {
        // Amazon EKS User Guide, IAM roles for service accounts: sub = system:serviceaccount:NS:SA.
        let host = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
        let c = oidc_context(host, &json!({"sub": "system:serviceaccount:default:my-sa", "aud": ["sts.amazonaws.com"]}));
        assert_eq!(c[0], ("oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud".into(), vec!["sts.amazonaws.com".into()]));
        assert_eq!(c[1], ("oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub".into(), vec!["system:serviceaccount:default:my-sa".into()]));
        assert_eq!(
            federated_principal("aws", "111122223333", host),
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
        );
    }

    #[test]
    fn google_keys() {
        // "accounts.google.com:aud": azp when present, else aud; "accounts.google.com:oaud": aud.
        let c = oidc_context("accounts.google.com", &json!({"sub": "110169484474386276334", "aud": "other-aud", "azp": "123.apps.googleusercontent.com"}));
        assert_eq!(
            c,
            vec![
                ("accounts.google.com:aud".into(), vec!["123.apps.googleusercontent.com".into()]),
                ("accounts.google.com:oaud".into(), vec!["other-aud".into()]),
                ("accounts.google.com:sub".into(), vec!["110169484474386276334".into()]),
            ]
        );
        let c = oidc_context("accounts.google.com", &json!({"sub": "1", "aud": "a"}));
        assert_eq!(c[0], ("accounts.google.com:aud".into(), vec!["a".into()]));
        assert_eq!(federated_principal("aws", "111122223333", "accounts.google.com"), "accounts.google.com");
    }

    #[test]
    fn cognito_keys() {
        // cognito-identity.amazonaws.com:aud (identity pool), :amr (multi-valued), :sub.
        let c = oidc_context(
            COGNITO,
            &json!({"aud": "us-east-1:12345678-abcd-abcd-abcd-123456790ab", "sub": "us-east-1:98765432-dcba", "amr": ["authenticated", "graph.facebook.com"]}),
        );
        assert_eq!(c[0].0, "cognito-identity.amazonaws.com:aud");
        assert_eq!(c[2], ("cognito-identity.amazonaws.com:amr".into(), vec!["authenticated".into(), "graph.facebook.com".into()]));
        assert_eq!(federated_principal("aws", "111122223333", COGNITO), COGNITO);
        let policy = Policy::from_json(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": COGNITO},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:12345678-abcd-abcd-abcd-123456790ab"},
                          "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"}}}]}))
        .unwrap();
        let req = TrustRequest { action: WEB_IDENTITY.into(), principal: COGNITO.into(), principal_type: PrincipalType::Federated, context: context_of(&c), session_tags: false, source_identity: false };
        let v = evaluate_trust(&policy, &req);
        assert_eq!(v.decision, Decision::ImplicitDeny);
        assert_eq!(v.failing_conditions.len(), 1);
        assert_eq!(v.failing_conditions[0].key, "cognito-identity.amazonaws.com:amr");
    }

    #[test]
    fn saml_keys() {
        // IAM User Guide, "Available keys for SAML-based AWS STS federation".
        let c = saml_context(&json!({"aud": "https://signin.aws.amazon.com/saml", "sub": "alice@example.com", "sub_type": "persistent", "SAML:iss": "https://idp.example.com"}));
        let keys: Vec<&str> = c.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"SAML:aud") && keys.contains(&"SAML:sub") && keys.contains(&"SAML:sub_type") && keys.contains(&"SAML:iss"), "{keys:?}");
        let policy = Policy::from_json(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/Okta"}, "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml", "SAML:sub_type": "transient"}}}]}))
        .unwrap();
        let req = TrustRequest {
            action: SAML.into(),
            principal: "arn:aws:iam::111122223333:saml-provider/Okta".into(),
            principal_type: PrincipalType::Federated,
            context: context_of(&c),
            session_tags: true,
            source_identity: true,
        };
        let v = evaluate_trust(&policy, &req);
        assert_eq!(v.decision, Decision::ImplicitDeny);
        assert_eq!(v.failing_conditions[0].key, "SAML:sub_type");
        assert_eq!(v.failing_conditions[0].request_value, Some(vec!["persistent".to_string()]));
        assert_eq!(v.actions[2].action, SET_SOURCE_IDENTITY);
        assert_eq!(v.actions[2].decision, Decision::ImplicitDeny);
    }

    #[test]
    fn github_run_subjects() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let push = GithubRun::from_env(&env(&[("GITHUB_REPOSITORY", "octo-org/octo-repo"), ("GITHUB_REF", "refs/heads/feature"), ("GITHUB_EVENT_NAME", "push"), ("GITHUB_WORKFLOW_REF", "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/feature")])).unwrap();
        assert_eq!(push.subject(None).unwrap(), "repo:octo-org/octo-repo:ref:refs/heads/feature");
        let pr = GithubRun::from_env(&env(&[("GITHUB_REPOSITORY", "octo-org/octo-repo"), ("GITHUB_REF", "refs/pull/1/merge"), ("GITHUB_EVENT_NAME", "pull_request")])).unwrap();
        assert_eq!(pr.subject(None).unwrap(), "repo:octo-org/octo-repo:pull_request");
        let envd = GithubRun { environment: Some("prod".into()), ..push.clone() };
        assert_eq!(envd.subject(None).unwrap(), "repo:octo-org/octo-repo:environment:prod");
        let custom: Vec<String> = ["repo", "context", "job_workflow_ref"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            push.subject(Some(&custom)).unwrap(),
            "repo:octo-org/octo-repo:ref:refs/heads/feature:job_workflow_ref:octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/feature"
        );
        let owner: Vec<String> = ["repository_owner", "context"].iter().map(|s| s.to_string()).collect();
        assert_eq!(push.subject(Some(&owner)).unwrap(), "repository_owner:octo-org:ref:refs/heads/feature");
        assert!(push.subject(Some(&["nope".to_string()])).is_err());
        assert!(GithubRun::from_env(&env(&[])).is_none());
        let claims = push.claims(None, "sts.amazonaws.com").unwrap();
        assert_eq!(claims["aud"], "sts.amazonaws.com");
        assert_eq!(claims["sub"], "repo:octo-org/octo-repo:ref:refs/heads/feature");
    }

    fn github_trust(sub: Json) -> Policy {
        Policy::from_json(json!({"Version": "2012-10-17", "Statement": [{"Sid": "GitHub", "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                          "StringLike": {"token.actions.githubusercontent.com:sub": sub}}}]}))
        .unwrap()
    }

    fn github_req(sub: &str) -> TrustRequest {
        let c = oidc_context(GITHUB_HOST, &json!({"sub": sub, "aud": "sts.amazonaws.com"}));
        TrustRequest {
            action: WEB_IDENTITY.into(),
            principal: "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com".into(),
            principal_type: PrincipalType::Federated,
            context: context_of(&c),
            session_tags: false,
            source_identity: false,
        }
    }

    #[test]
    fn names_the_failing_sub_with_both_values() {
        let p = github_trust(json!("repo:octo-org/octo-repo:ref:refs/heads/main"));
        let v = evaluate_trust(&p, &github_req("repo:octo-org/octo-repo:ref:refs/heads/feature"));
        assert_eq!(v.decision, Decision::ImplicitDeny);
        assert!(v.principal_trusted);
        assert_eq!(
            v.failing_conditions,
            vec![FailingCondition {
                sid: Some("GitHub".into()),
                statement: 0,
                key: "token.actions.githubusercontent.com:sub".into(),
                operator: "StringLike".into(),
                policy_values: vec!["repo:octo-org/octo-repo:ref:refs/heads/main".into()],
                request_value: Some(vec!["repo:octo-org/octo-repo:ref:refs/heads/feature".into()]),
            }]
        );
        let v = evaluate_trust(&p, &github_req("repo:octo-org/octo-repo:ref:refs/heads/main"));
        assert_eq!(v.decision, Decision::Allow);
        assert!(v.failing_conditions.is_empty());
    }

    #[test]
    fn another_provider_is_not_trusted() {
        let p = github_trust(json!("repo:octo-org/octo-repo:*"));
        let mut r = github_req("repo:octo-org/octo-repo:ref:refs/heads/main");
        r.principal = "arn:aws:iam::111122223333:oidc-provider/gitlab.com".into();
        let v = evaluate_trust(&p, &r);
        assert_eq!(v.decision, Decision::ImplicitDeny);
        assert!(!v.principal_trusted);
    }

    #[test]
    fn finds_statements_without_a_sub_condition() {
        let p = Policy::from_json(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]}))
        .unwrap();
        assert_eq!(unrestricted_statements(&p, &github_req("repo:a/b:ref:refs/heads/main")).len(), 1);
        assert!(unrestricted_statements(&github_trust(json!("repo:a/b:*")), &github_req("x")).is_empty());
    }

    #[test]
    fn tag_session_is_needed_with_session_tags() {
        let p = github_trust(json!("repo:octo-org/octo-repo:ref:refs/heads/main"));
        let mut r = github_req("repo:octo-org/octo-repo:ref:refs/heads/main");
        r.session_tags = true;
        let v = evaluate_trust(&p, &r);
        assert_eq!(v.decision, Decision::ImplicitDeny);
        assert_eq!(v.actions[0].decision, Decision::Allow);
        assert_eq!(v.actions[1].action, TAG_SESSION);
        assert_eq!(v.actions[1].decision, Decision::ImplicitDeny);
    }
}
