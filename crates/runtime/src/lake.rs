//! CloudTrail Lake for `denyctl triage --cloudtrail-lake EVENT_DATA_STORE`: start denyctl's query
//! as the operator, wait for it (bounded), and page its results, one row (column name → value) at
//! a time. The SQL and the reading of rows are denyctl-triage's (pure).

use std::collections::HashMap;
use std::time::Duration;

use crate::athena::{failure, wait, Wait};
use crate::config::Session;
use crate::error::RuntimeError;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct LakeRun {
    /// The SQL (its FROM names the event data store).
    pub sql: String,
    /// `s3://…` where CloudTrail also delivers the results (optional).
    pub delivery: Option<String>,
    /// How long to wait for the query.
    pub timeout: Duration,
}

/// Run the query; each result row (a list of one-entry column → value maps, in SELECT order) is
/// handed to `each`; the number of rows.
pub async fn run(session: &Session, q: &LakeRun, mut each: impl FnMut(Vec<HashMap<String, String>>)) -> Result<u64, RuntimeError> {
    use aws_sdk_cloudtrail::types::QueryStatus;
    let client = aws_sdk_cloudtrail::Client::new(&session.operator.config);
    let mut start = client.start_query().query_statement(&q.sql);
    if let Some(d) = &q.delivery {
        start = start.delivery_s3_uri(d);
    }
    let started = session.call(&session.operator, "cloudtrail:StartQuery", "query", 1, start.send()).await.map_err(|f| failure(f, "the CloudTrail Lake query could not be started"))?;
    let id = started.query_id().unwrap_or_default().to_string();
    if id.is_empty() {
        return Err(RuntimeError::Unreadable("CloudTrail Lake started the query but gave no query ID".into()));
    }
    let finished = wait(q.timeout, || async {
        let st = session
            .call(&session.operator, "cloudtrail:DescribeQuery", &id, 2, client.describe_query().query_id(&id).send())
            .await
            .map_err(|f| failure(f, &format!("CloudTrail Lake query {id}")))?;
        Ok(match st.query_status() {
            Some(QueryStatus::Finished) => Wait::Done,
            Some(s @ (QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::TimedOut)) => {
                let why = st.error_message().unwrap_or("no reason given");
                Wait::Failed(format!("CloudTrail Lake query {id} {}: {why}", s.as_str().to_lowercase().replace('_', " ")))
            }
            _ => Wait::Running,
        })
    })
    .await?;
    if !finished {
        let _ = client.cancel_query().query_id(&id).send().await;
        return Err(RuntimeError::Unreadable(format!(
            "CloudTrail Lake query {id} did not finish within {} s (cancelled); raise --query-timeout or narrow --since/--until",
            q.timeout.as_secs()
        )));
    }
    let mut token: Option<String> = None;
    let mut rows = 0u64;
    loop {
        let mut req = client.get_query_results().query_id(&id).max_query_results(1000);
        if let Some(t) = &token {
            req = req.next_token(t);
        }
        let page = session.call(&session.operator, "cloudtrail:GetQueryResults", &id, 3, req.send()).await.map_err(|f| failure(f, &format!("CloudTrail Lake results of {id}")))?;
        if let Some(e) = page.error_message().filter(|e| !e.is_empty()) {
            return Err(RuntimeError::Unreadable(format!("CloudTrail Lake results of {id}: {e}")));
        }
        for row in page.query_result_rows() {
            rows += 1;
            each(row.clone());
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(rows)
}
