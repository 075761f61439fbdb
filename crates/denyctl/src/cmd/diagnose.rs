//! `denyctl diagnose`: who is calling, every layer fetched, evaluated, the denying statement named.

use denyctl_eval::{evaluate, Decision, Verdict};
use denyctl_policy::{Principal, PrincipalKind};
use denyctl_runtime::snapshot::{CallSummary, SnapshotRequest};
use denyctl_runtime::{Identity, Session, Snapshot, SnapshotHop};
use serde::Serialize;
use serde_json::Value as Json;

use crate::cli::{DiagnoseArgs, GlobalArgs};
use crate::cmd::live;
use crate::error::{exit, CliError, CmdResult};
use crate::input::read_text;
use crate::output;

/// A snapshot file may not be larger than this.
const MAX_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// The JSON shape of a diagnosis: the verdict's fields (`decision`, `denied_by`, `layers`,
/// `unknown_layers`, ...) at the top, as `simulate` prints them, plus where it came from.
#[derive(Serialize)]
pub struct DiagnoseOutput<'a> {
    /// The verdict, flattened.
    #[serde(flatten)]
    pub verdict: &'a Verdict,
    /// The request evaluated (with the derived context keys).
    pub request: &'a SnapshotRequest,
    /// The live caller (or the caller recorded in the snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<&'a Identity>,
    /// `live` or `snapshot`.
    pub source: &'static str,
    /// Loud warnings (the denial names another principal than the caller, ...).
    pub warnings: Vec<String>,
    /// Things to know (session policies cannot be read back, ...).
    pub notes: &'a [String],
    /// AWS calls made and their sequential waves (0 offline).
    pub calls: CallSummary,
    /// AWS's own record of the denial beside denyctl's verdict, when the message carried an
    /// authorization ID and the record could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_record: Option<super::authz::AwsView<'a>>,
    /// The hidden hops the request needs (an SSE-KMS bucket's key), each evaluated for the same
    /// principal; empty when the request has none (or they are not known).
    pub hops: Vec<HopOutput<'a>>,
    /// sts:AssumeRole: the trust policy's conditions that failed, with both values (as for the
    /// federated actions, cmd/federation.rs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_conditions: Option<Vec<denyctl_eval::claims::FailingCondition>>,
    /// sts:AssumeRole with --session-tags / --source-identity: sts:TagSession and
    /// sts:SetSourceIdentity, each evaluated on the same layers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_needed: Vec<AlsoNeeded>,
}

/// An action the trust policy must allow as well (sts:TagSession when session tags are passed).
#[derive(Serialize)]
pub struct AlsoNeeded {
    /// The action.
    pub action: String,
    /// Its decision on the same layers.
    pub decision: Decision,
    /// Why it is needed.
    pub why: &'static str,
}

/// sts:AssumeRole: the failing conditions of the trust policy's near misses.
fn trust_failing_conditions(req: &denyctl_eval::Request, v: &Verdict) -> Option<Vec<denyctl_eval::claims::FailingCondition>> {
    if !req.action.eq_ignore_ascii_case(denyctl_eval::claims::ASSUME_ROLE) || !req.resource.contains(":role/") {
        return None;
    }
    let out = v
        .layers
        .iter()
        .filter(|l| l.layer == denyctl_eval::LayerKind::Resource)
        .flat_map(|l| l.near_misses.iter())
        .filter(|m| m.statement.effect == denyctl_policy::Effect::Allow)
        .filter_map(|m| match &m.miss {
            denyctl_eval::Miss::Condition { operator, key, expected, actual } => Some(denyctl_eval::claims::FailingCondition {
                sid: m.statement.sid.clone(),
                statement: m.statement.index,
                key: key.clone(),
                operator: operator.clone(),
                policy_values: expected.clone(),
                request_value: actual.clone(),
            }),
            _ => None,
        })
        .collect();
    Some(out)
}

/// sts:AssumeRole with session tags or a source identity: the extra actions, evaluated.
fn also_needed(req: &denyctl_eval::Request, layers: &denyctl_eval::Layers, f: &crate::cli::FederationArgs) -> Vec<AlsoNeeded> {
    use denyctl_eval::claims::{ASSUME_ROLE, SET_SOURCE_IDENTITY, TAG_SESSION};
    if !req.action.eq_ignore_ascii_case(ASSUME_ROLE) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (on, action, why) in [
        (f.session_tags, TAG_SESSION, "the caller passes session tags"),
        (f.source_identity, SET_SOURCE_IDENTITY, "the caller sets a source identity"),
    ] {
        if !on {
            continue;
        }
        if let Ok(r) = denyctl_eval::Request::new(&req.principal_raw, action, &req.resource, Some(&req.resource_account), req.context.clone()) {
            out.push(AlsoNeeded { action: action.to_string(), decision: evaluate(&r, layers).decision, why });
        }
    }
    out
}

/// One hidden hop in `diagnose -o json`: what it is, why, and its verdict (flattened, as at the top).
#[derive(Serialize)]
pub struct HopOutput<'a> {
    /// The hop's action (`kms:GenerateDataKey`).
    pub action: &'a str,
    /// The resource it is made on (the key ARN).
    pub resource: &'a str,
    /// Why it is needed.
    pub why: &'a str,
    /// The request that needs it (`s3:PutObject on arn:aws:s3:::b/k`).
    pub after: &'a str,
    /// 1: a hop of the original request; 2: a hop of a hop.
    pub depth: usize,
    /// The verdict of the hop request (`decision`, `denied_by`, `layers`, ...), when it could be
    /// collected.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'a Verdict>,
    /// Why the hop could not be collected or evaluated (then it is not known to be allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Things to know about the hop's layers.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub notes: &'a [String],
}

/// A hop evaluated: its verdict, or why there is none.
struct EvaluatedHop<'a> {
    hop: &'a SnapshotHop,
    result: Result<(denyctl_eval::Layers, Verdict), String>,
}

fn evaluate_hops(hops: &[SnapshotHop]) -> Vec<EvaluatedHop<'_>> {
    hops.iter()
        .map(|hop| {
            let result = match (&hop.snapshot, &hop.error) {
                (Some(s), _) => s
                    .evaluable()
                    .map(|(req, layers)| {
                        let v = evaluate(&req, &layers);
                        (layers, v)
                    })
                    .map_err(|e| format!("cannot evaluate: {e}")),
                (None, Some(e)) => Err(e.clone()),
                (None, None) => Err("not collected".into()),
            };
            EvaluatedHop { hop, result }
        })
        .collect()
}

/// When the denial names another principal than the one calling, say so.
pub fn principal_mismatch(named: &str, caller: &Identity) -> Option<String> {
    if named == caller.arn {
        return None;
    }
    let (Ok(n), Ok(c)) = (Principal::parse(named), Principal::parse(&caller.arn)) else {
        return Some(format!("the denial names {named}, but this runtime calls as {}", caller.arn));
    };
    match (&n.kind, &c.kind) {
        (PrincipalKind::AssumedRole { role: r1, session: s1 }, PrincipalKind::AssumedRole { role: r2, session: s2 })
            if r1 == r2 && n.account() == c.account() =>
        {
            Some(format!("the denial names session {s1:?} of role {r1}, this runtime is session {s2:?} of the same role"))
        }
        (PrincipalKind::Role { name, .. }, PrincipalKind::AssumedRole { role, .. }) if name == role && n.account() == c.account() => None,
        _ => Some(format!(
            "the denial names {named}, but this runtime calls as {}: the denied request was made by another identity \
             (a stale profile, an inherited role, the wrong runtime?). Diagnosing the principal the denial names.",
            caller.arn
        )),
    }
}

fn offline(a: &DiagnoseArgs, path: &str) -> Result<(Snapshot, Vec<String>), CliError> {
    let text = read_text(path, MAX_SNAPSHOT_BYTES)?;
    let mut snap = Snapshot::parse_str(&text).map_err(|e| CliError::input(path, e))?;
    let opts_given = a.request.text.is_some() || a.request.event.is_some() || a.request.principal.is_some() || a.request.action.is_some();
    let mut warnings = Vec::new();
    if opts_given || a.request.resource.is_some() {
        let d = live::denied(&a.request)?;
        if let Some(p) = d.principal.filter(|p| *p != snap.request.principal) {
            return Err(CliError::input(path, format!("the snapshot was collected for {}, not {p}: collect again", snap.request.principal)));
        }
        if let Some(r) = d.resource.filter(|r| *r != snap.request.resource) {
            return Err(CliError::input(path, format!("the snapshot was collected for resource {}, not {r}: collect again", snap.request.resource)));
        }
        if let Some(act) = d.action.filter(|x| *x != snap.request.action) {
            warnings.push(format!("evaluating {act} against layers collected for {}", snap.request.action));
            if !snap.hops.is_empty() {
                warnings.push(format!(
                    "the hidden hops in the snapshot were found for {}, not {act}: they are not evaluated (collect again)",
                    snap.request.action
                ));
                snap.hops.clear();
            }
            snap.request.action = act;
        }
    }
    let opts_ctx = live::collect_options(&crate::cli::RequestArgs {
        action: Some(snap.request.action.clone()),
        context: a.request.context.clone(),
        session_policy: a.request.session_policy.clone(),
        ..Default::default()
    })?;
    for (k, v) in opts_ctx.context {
        snap.request.context.retain(|have, _| !have.eq_ignore_ascii_case(&k));
        snap.request.context.insert(k, if v.len() == 1 { Json::String(v[0].clone()) } else { Json::from(v) });
    }
    if !opts_ctx.session_policies.is_empty() {
        snap.policies.session = Some(
            opts_ctx
                .session_policies
                .into_iter()
                .map(|(name, document)| denyctl_runtime::SourcedPolicy {
                    name,
                    document,
                    source: denyctl_runtime::PolicySource {
                        kind: "session".into(),
                        attached_to: None,
                        arn: None,
                        policy_id: None,
                        version_id: None,
                        read_by: "file".into(),
                        extra: None,
                    },
                })
                .collect(),
        );
    }
    snap.calls = CallSummary::default();
    Ok((snap, warnings))
}

/// Run the verb.
pub fn run(a: &DiagnoseArgs, g: &GlobalArgs) -> CmdResult {
    if a.snapshot.is_none() && super::federation::handles(&a.request) {
        return super::federation::diagnose(&a.request, &a.federation, g);
    }
    let denied = live::denied(&a.request)?;
    let auth_id = denied.authorization_id.clone();
    // An encoded authorization failure message (EC2 and others) is decoded as the operator; what it
    // says fills in what the flags did not. Not permitted: a note, and the request as given.
    let mut decode_note = None;
    let mut request_args = a.request.clone();
    if let (Some(blob), None) = (&denied.encoded_blob, &a.snapshot) {
        match live::decode_message(g, blob) {
            Ok(d) => {
                request_args.principal = request_args.principal.or(d.principal);
                request_args.action = request_args.action.or(denied.action.clone()).or(d.action);
                request_args.resource = request_args.resource.or(denied.resource.clone()).or(d.resource);
                for (k, vals) in d.context {
                    if !request_args.context.iter().any(|c| c.split_once('=').is_some_and(|(have, _)| have.eq_ignore_ascii_case(&k))) {
                        request_args.context.extend(vals.into_iter().map(|v| format!("{k}={v}")));
                    }
                }
                decode_note = Some("the encoded authorization message was decoded with sts:DecodeAuthorizationMessage".to_string());
            }
            Err(e) if denied.action.is_some() || a.request.action.is_some() => {
                decode_note = Some(format!("the encoded authorization message could not be decoded ({e}); diagnosing the request as the message names it"));
            }
            Err(e) => return Err(CliError::Aws(format!("{e}; the message names no action: give --action and --resource"))),
        }
    }
    let a = &DiagnoseArgs { request: request_args, snapshot: a.snapshot.clone(), federation: a.federation.clone() };
    let (mut snap, mut warnings, source) = match &a.snapshot {
        Some(path) => {
            let (s, w) = offline(a, path)?;
            (s, w, "snapshot")
        }
        None => {
            let opts = live::collect_options(&a.request)?;
            let profiles = live::profiles(g);
            let plugins = live::plugins(g);
            let progress = live::Progress::start(g, "reading who is calling and every policy layer (identity, boundary, organization, resource)");
            let (res, record, session) = live::block_on(async {
                let session = Session::new(&profiles).await;
                let (res, record) = super::authz::collect_with_record(&session, &plugins, &opts, auth_id.as_deref()).await;
                (res, record, session)
            })?;
            drop(progress);
            live::report_calls(g, &session.stats);
            let mut c = res.map_err(live::cli_error)?;
            c.snapshot.calls = CallSummary::of(&session.stats);
            c.snapshot.notes.extend(decode_note.take());
            match record {
                Some(Ok(rec)) => c.snapshot.authorization = Some(rec),
                Some(Err(e)) => c.snapshot.notes.push(format!("AWS's authorization record was not used: {e}; what follows is denyctl's own evaluation")),
                None => {}
            }
            (c.snapshot, Vec::new(), "live")
        }
    };
    if let Some(m) = snap.caller.as_ref().and_then(|c| principal_mismatch(&snap.request.principal, c)) {
        warnings.insert(0, m);
    }
    let context_added = match snap.authorization.clone() {
        Some(rec) => super::authz::fill_context(&mut snap.request, &rec),
        None => Vec::new(),
    };
    let (req, layers) = snap.evaluable().map_err(|e| CliError::Input(format!("cannot evaluate: {e}")))?;
    let v = evaluate(&req, &layers);
    let aws_record = snap.authorization.as_ref().map(|rec| super::authz::view(rec, &snap.request, &v, context_added));
    if let Some(view) = aws_record.as_ref().filter(|view| !view.comparison.agrees) {
        for d in &view.comparison.differences {
            warnings.push(format!("AWS's own record disagrees with denyctl: {d}"));
        }
    }
    let hops = evaluate_hops(&snap.hops);
    let failing_conditions = trust_failing_conditions(&req, &v);
    let also = also_needed(&req, &layers, &a.federation);
    for x in also.iter().filter(|x| x.decision != Decision::Allow) {
        warnings.push(format!("{} is not allowed ({}), and {}: the trust policy must allow it too", x.action, x.decision.as_str(), x.why));
    }
    for h in &hops {
        if let Err(e) = &h.result {
            warnings.push(format!("the hidden hop {} on {} was not evaluated: {e}", h.hop.action, h.hop.resource));
        }
    }
    for w in &warnings {
        eprintln!("denyctl: WARNING: {w}");
    }
    let out = DiagnoseOutput {
        verdict: &v,
        request: &snap.request,
        caller: snap.caller.as_ref(),
        source,
        warnings: warnings.clone(),
        notes: &snap.notes,
        calls: snap.calls.clone(),
        aws_record,
        hops: hops
            .iter()
            .map(|h| HopOutput {
                action: &h.hop.action,
                resource: &h.hop.resource,
                why: &h.hop.why,
                after: &h.hop.after,
                depth: h.hop.depth,
                verdict: h.result.as_ref().ok().map(|(_, v)| v),
                error: h.result.as_ref().err().cloned(),
                notes: h.hop.snapshot.as_ref().map(|s| s.notes.as_slice()).unwrap_or(&[]),
            })
            .collect(),
        failing_conditions,
        also_needed: also,
    };
    output::emit(g.output, &out, |w| {
        if let Some(c) = &snap.caller {
            writeln!(w, "caller (live) {}", c.arn)?;
        }
        crate::render::verdict(w, None, &req, &layers, &v)?;
        if let (Some(rec), Some(view)) = (&snap.authorization, &out.aws_record) {
            writeln!(w)?;
            super::authz::render_record(w, rec)?;
            super::authz::render_comparison(w, &view.comparison)?;
        }
        for n in &snap.notes {
            writeln!(w, "  note: {n}")?;
        }
        crate::render::failed_calls(w, &snap.calls)?;
        for c in out.failing_conditions.iter().flatten() {
            writeln!(w, "  failing {} {} (trust statement {})", c.key, c.operator, c.statement)?;
            writeln!(w, "      policy allows  {}", c.policy_values.join(" | "))?;
            writeln!(w, "      request has    {}", c.request_value.as_ref().map(|v| v.join(", ")).unwrap_or_else(|| "(no such key)".into()))?;
        }
        for x in &out.also_needed {
            writeln!(w, "  also needed   {} ({}): {}", x.action, x.why, x.decision.as_str())?;
        }
        for h in &hops {
            writeln!(w)?;
            match &h.result {
                Ok((hl, hv)) => crate::render::hop(w, &h.hop.action, &h.hop.resource, &h.hop.why, hl, hv)?,
                Err(e) => crate::render::hop_not_evaluated(w, &h.hop.action, &h.hop.resource, &h.hop.why, e)?,
            }
            for n in h.hop.snapshot.iter().flat_map(|s| s.notes.iter()) {
                writeln!(w, "      note: {n}")?;
            }
        }
        if v.decision == Decision::Allow {
            let denied: Vec<String> = hops
                .iter()
                .filter(|h| matches!(&h.result, Ok((_, hv)) if hv.decision != Decision::Allow))
                .map(|h| format!("{} on {}", h.hop.action, h.hop.resource))
                .collect();
            if !denied.is_empty() {
                let st = crate::render::Style::stdout();
                writeln!(w)?;
                writeln!(w, "{} as a whole: the request is allowed but its hidden hop {} is not", st.bad("DENIED"), denied.join(" and "))?;
            }
        }
        Ok(())
    })?;
    let hop_denied = hops.iter().any(|h| matches!(&h.result, Ok((_, hv)) if hv.decision != Decision::Allow))
        || out.also_needed.iter().any(|x| x.decision != Decision::Allow);
    Ok(match v.decision {
        Decision::Allow if !hop_denied => exit::OK,
        _ => exit::DENIED,
    })
}
