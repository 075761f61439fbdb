//! AWS's own record of a denial (authorization IDs): fetched for `diagnose` and
//! `explain --authorization-id`, shown beside denyctl's verdict, disagreements said loudly.

use std::io::{self, Write};

use denyctl_authz::{compare, AuthzError, AuthzRecord, Comparison};
use denyctl_eval::Verdict;
use denyctl_runtime::snapshot::SnapshotRequest;
use serde::Serialize;
use serde_json::Value as Json;

/// Fetch AWS's record with the operator's credentials.
pub async fn fetch(session: &denyctl_runtime::Session, id: &str) -> Result<AuthzRecord, AuthzError> {
    let client = aws_sdk_iamtoolbox::Client::new(&session.operator.config);
    denyctl_authz::fetch(&client, id).await
}

/// Collect every layer and, when the denial carries an authorization ID, read AWS's record
/// beside them in the same wave (`diagnose` and `fix` both).
pub async fn collect_with_record(
    session: &denyctl_runtime::Session,
    plugins: &denyctl_runtime::Registry,
    opts: &denyctl_runtime::CollectOptions,
    auth_id: Option<&str>,
) -> (Result<denyctl_runtime::Collected, denyctl_runtime::RuntimeError>, Option<Result<AuthzRecord, AuthzError>>) {
    let record = async {
        match auth_id {
            Some(id) => Some(fetch(session, id).await),
            None => None,
        }
    };
    tokio::join!(denyctl_runtime::collect(session, plugins, opts), record)
}

/// Fill the request's context with what AWS recorded, for keys the request does not carry yet
/// (the user's `--context` and the collected keys win). Returns the keys added.
pub fn fill_context(req: &mut SnapshotRequest, rec: &AuthzRecord) -> Vec<String> {
    let eval = rec.evaluation_for(&req.action, &req.resource);
    let mut added = Vec::new();
    for (k, values) in rec.context_entries(eval) {
        if req.context.keys().any(|have| have.eq_ignore_ascii_case(&k)) {
            continue;
        }
        let v = if values.len() == 1 { Json::String(values[0].clone()) } else { Json::from(values) };
        req.context.insert(k.clone(), v);
        added.push(k);
    }
    added
}

/// The record and its comparison, as `diagnose -o json` prints them under `aws_record`.
#[derive(Serialize)]
pub struct AwsView<'a> {
    /// The authorization ID.
    pub authorization_id: &'a str,
    /// denyctl's verdict beside AWS's.
    pub comparison: Comparison,
    /// Context keys the record added to the request.
    pub context_added: Vec<String>,
    /// The record itself.
    pub record: &'a AuthzRecord,
}

/// Compare the verdict with the record.
pub fn view<'a>(rec: &'a AuthzRecord, req: &SnapshotRequest, v: &Verdict, context_added: Vec<String>) -> AwsView<'a> {
    AwsView { authorization_id: &rec.authorization_id, comparison: compare(rec, &req.action, &req.resource, v), context_added, record: rec }
}

/// The table view of AWS's record (for `diagnose` and `explain --authorization-id`).
pub fn render_record(w: &mut dyn Write, rec: &AuthzRecord) -> io::Result<()> {
    writeln!(w, "AWS's record (authorization ID {}):", rec.authorization_id)?;
    for e in &rec.evaluations {
        let d = e.decision.map(|d| d.as_str()).unwrap_or("unknown");
        writeln!(w, "  {} on {}: {}", e.action, e.resource, d)?;
        for p in &e.matched {
            let layer = p.layer.map(|l| l.as_str()).unwrap_or("policy");
            for s in &p.statements {
                let sid = s.sid.as_deref().map(|s| format!("Sid {s}")).unwrap_or_else(|| "a statement without Sid".into());
                writeln!(w, "      {layer} {} — {sid}: {}", p.uri, s.effect)?;
            }
            if !p.attached_to.is_empty() {
                writeln!(w, "        attached to {}", p.attached_to.join(", "))?;
            }
        }
    }
    if !rec.request_context.is_empty() {
        let keys: Vec<&str> = rec.request_context.keys().map(String::as_str).collect();
        writeln!(w, "  context recorded: {}", keys.join(", "))?;
    }
    Ok(())
}

/// The comparison in words, for the table view.
pub fn render_comparison(w: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    if c.agrees {
        writeln!(w, "AWS's record agrees with this verdict.")
    } else {
        writeln!(w, "AWS's record DISAGREES with denyctl (AWS's record is ground truth; plans follow it):")?;
        for d in &c.differences {
            writeln!(w, "  - {d}")?;
        }
        Ok(())
    }
}
