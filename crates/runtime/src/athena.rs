//! Athena for `denyctl triage --athena TABLE`: start denyctl's query as the operator, wait for it
//! (bounded), and page its results, one row (column name → value) at a time. The SQL and the
//! reading of rows are denyctl-triage's (pure).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;

/// Where and how to run a query.
#[derive(Debug, Clone, Default)]
pub struct AthenaRun {
    /// The SQL.
    pub sql: String,
    /// The database the table is in (when the SQL names the table alone).
    pub database: Option<String>,
    /// The workgroup (default: the account's `primary`).
    pub workgroup: Option<String>,
    /// `s3://…` for the results (required unless the workgroup sets one).
    pub output_location: Option<String>,
    /// How long to wait for the query.
    pub timeout: Duration,
}

pub(crate) fn failure(f: Failure, what: &str) -> RuntimeError {
    match f {
        Failure::Read(r) => RuntimeError::Unreadable(format!("{what}: {r}")),
        Failure::Fatal(e) => e,
    }
}

/// Run the query; each result row is handed to `each`; the number of rows.
pub async fn run(session: &Session, q: &AthenaRun, mut each: impl FnMut(HashMap<String, String>)) -> Result<u64, RuntimeError> {
    use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
    let client = aws_sdk_athena::Client::new(&session.operator.config);
    let mut start = client.start_query_execution().query_string(&q.sql);
    if let Some(db) = &q.database {
        start = start.query_execution_context(QueryExecutionContext::builder().database(db).build());
    }
    if let Some(wg) = &q.workgroup {
        start = start.work_group(wg);
    }
    if let Some(out) = &q.output_location {
        start = start.result_configuration(ResultConfiguration::builder().output_location(out).build());
    }
    let started = session.call(&session.operator, "athena:StartQueryExecution", "query", 1, start.send()).await.map_err(|f| failure(f, "the Athena query could not be started"))?;
    let id = started.query_execution_id().unwrap_or_default().to_string();
    let finished = wait(q.timeout, || async {
        let st = session
            .call(&session.operator, "athena:GetQueryExecution", &id, 2, client.get_query_execution().query_execution_id(&id).send())
            .await
            .map_err(|f| failure(f, &format!("Athena query {id}")))?;
        let status = st.query_execution().and_then(|e| e.status());
        Ok(match status.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => Wait::Done,
            Some(s @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                let why = status.and_then(|s| s.state_change_reason()).unwrap_or("no reason given");
                Wait::Failed(format!("Athena query {id} {}: {why}", s.as_str().to_lowercase()))
            }
            _ => Wait::Running,
        })
    })
    .await?;
    if !finished {
        let _ = client.stop_query_execution().query_execution_id(&id).send().await;
        return Err(RuntimeError::Unreadable(format!("Athena query {id} did not finish within {} s (stopped); raise --query-timeout or narrow --since/--until", q.timeout.as_secs())));
    }
    let mut token: Option<String> = None;
    let mut names: Vec<String> = Vec::new();
    let mut rows = 0u64;
    let mut first_page = true;
    loop {
        let mut req = client.get_query_results().query_execution_id(&id).max_results(1000);
        if let Some(t) = &token {
            req = req.next_token(t);
        }
        let page = session.call(&session.operator, "athena:GetQueryResults", &id, 3, req.send()).await.map_err(|f| failure(f, &format!("Athena results of {id}")))?;
        let Some(set) = page.result_set() else { break };
        if names.is_empty() {
            names = set.result_set_metadata().map(|m| m.column_info().iter().map(|c| c.name().to_string()).collect()).unwrap_or_default();
        }
        for (i, row) in set.rows().iter().enumerate() {
            let values: Vec<String> = row.data().iter().map(|d| d.var_char_value().unwrap_or("").to_string()).collect();
            // Athena's first row is the header.
            if first_page && i == 0 && values == names {
                continue;
            }
            if names.is_empty() {
                return Err(RuntimeError::Unreadable(format!("Athena results of {id} have no column names")));
            }
            rows += 1;
            each(names.iter().cloned().zip(values).collect());
        }
        first_page = false;
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(rows)
}

/// A query's state, as its engine reports it.
pub(crate) enum Wait {
    /// Finished: the results can be read.
    Done,
    /// Queued or running.
    Running,
    /// Failed or cancelled, with the reason.
    Failed(String),
}

/// Ask `check` (backing off from 100 ms to 2 s) until the query is done (true) or `timeout` has
/// passed (false: the caller stops the query); a failed query is an unreadable source.
pub(crate) async fn wait<F, Fut>(timeout: Duration, mut check: F) -> Result<bool, RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Wait, RuntimeError>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    loop {
        match check().await? {
            Wait::Done => return Ok(true),
            Wait::Failed(why) => return Err(RuntimeError::Unreadable(why)),
            Wait::Running => {}
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
