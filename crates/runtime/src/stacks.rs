//! The IaC side of the account, read as the operator: which CloudFormation stacks manage the
//! targets of a plan (with their resources, parameters and templates), and a Terraform state kept
//! in an S3 backend. The matching itself is pure (denyctl-iac); this module only reads.

use std::collections::BTreeSet;

use aws_sdk_cloudformation::types::StackStatus;
use denyctl_iac::{Stack, StackResource};

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;

/// Most stacks listed before the search gives up (a safety bound for huge accounts).
pub const MAX_STACKS: usize = 2_000;

/// What reading the stacks found, and what could not be read.
#[derive(Debug, Default)]
pub struct StackRead {
    /// The stacks that hold at least one of the physical IDs asked for.
    pub stacks: Vec<Stack>,
    /// Reads that failed (the stack lookup is then incomplete: said, not hidden).
    pub problems: Vec<String>,
}

fn cfn(session: &Session) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&session.operator.config)
}

fn fatal(f: Failure) -> Result<String, RuntimeError> {
    match f {
        Failure::Read(r) => Ok(r.to_string()),
        Failure::Fatal(e) => Err(e),
    }
}

/// Whether a stack resource's physical ID is one of the `needles` (exact, or the last segment of
/// an ARN or URL, as key IDs and queue names are).
pub fn physical_matches(physical: &str, needles: &BTreeSet<String>) -> bool {
    if needles.contains(physical) {
        return true;
    }
    let tail = physical.rsplit(['/', ':']).next().unwrap_or(physical);
    needles.iter().any(|n| n == tail || n.rsplit(['/', ':']).next() == Some(physical))
}

async fn stack_names_by_physical_id(session: &Session, needle: &str) -> Result<Option<Vec<String>>, Failure> {
    let client = cfn(session);
    let r = session
        .call(&session.operator, "cloudformation:DescribeStackResources", needle, 1, client.describe_stack_resources().physical_resource_id(needle).send())
        .await;
    match r {
        Ok(out) => Ok(Some(out.stack_resources().iter().filter_map(|r| r.stack_name().map(str::to_string)).collect())),
        // Not every server supports the lookup (and AWS answers an error for an ID no stack
        // holds): fall back to listing the stacks.
        Err(Failure::Read(_)) => Ok(None),
        Err(f) => Err(f),
    }
}

async fn list_stack_names(session: &Session) -> Result<Vec<String>, Failure> {
    let client = cfn(session);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = session
            .call(&session.operator, "cloudformation:ListStacks", "*", 1, client.list_stacks().set_next_token(token.clone()).send())
            .await?;
        for s in out.stack_summaries() {
            let gone = matches!(s.stack_status(), Some(StackStatus::DeleteComplete));
            if !gone {
                if let Some(n) = s.stack_name() {
                    names.push(n.to_string());
                }
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() || names.len() >= MAX_STACKS {
            return Ok(names);
        }
    }
}

async fn stack_resources(session: &Session, name: &str) -> Result<Vec<StackResource>, Failure> {
    let client = cfn(session);
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = session
            .call(&session.operator, "cloudformation:ListStackResources", name, 2, client.list_stack_resources().stack_name(name).set_next_token(token.clone()).send())
            .await?;
        for r in page.stack_resource_summaries() {
            out.push(StackResource {
                logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: r.resource_type().unwrap_or_default().to_string(),
                physical_id: r.physical_resource_id().map(str::to_string),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn read_stack(session: &Session, name: &str, resources: Vec<StackResource>) -> Result<Stack, Failure> {
    let client = cfn(session);
    let described = session.call(&session.operator, "cloudformation:DescribeStacks", name, 3, client.describe_stacks().stack_name(name).send()).await?;
    let mut stack = Stack { name: name.to_string(), id: name.to_string(), resources, parameters: Default::default(), template_body: None };
    if let Some(s) = described.stacks().first() {
        stack.id = s.stack_id().unwrap_or(name).to_string();
        for p in s.parameters() {
            if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                stack.parameters.insert(k.to_string(), v.to_string());
            }
        }
    }
    let tpl = session.call(&session.operator, "cloudformation:GetTemplate", name, 3, client.get_template().stack_name(name).send()).await?;
    stack.template_body = tpl.template_body().map(str::to_string);
    Ok(stack)
}

/// The stacks that manage any of `needles` (physical IDs: role and user names, policy ARNs,
/// bucket names, key IDs, queue URLs or names, secret ARNs), read as the operator: first with
/// DescribeStackResources by physical ID, else by listing every stack and its resources.
pub async fn stacks_owning(session: &Session, needles: &BTreeSet<String>) -> Result<StackRead, RuntimeError> {
    let mut read = StackRead::default();
    if needles.is_empty() {
        return Ok(read);
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut direct = true;
    for n in needles {
        match stack_names_by_physical_id(session, n).await {
            Ok(Some(found)) => names.extend(found),
            Ok(None) => {
                direct = false;
                break;
            }
            Err(f) => {
                read.problems.push(fatal(f)?);
                return Ok(read);
            }
        }
    }
    let mut candidates: Vec<(String, Option<Vec<StackResource>>)> = names.into_iter().map(|n| (n, None)).collect();
    if !direct {
        candidates.clear();
        let all = match list_stack_names(session).await {
            Ok(a) => a,
            Err(f) => {
                read.problems.push(format!("{}; stack owners cannot be found", fatal(f)?));
                return Ok(read);
            }
        };
        for name in all {
            match stack_resources(session, &name).await {
                Ok(res) => {
                    if res.iter().any(|r| r.physical_id.as_deref().is_some_and(|p| physical_matches(p, needles))) {
                        candidates.push((name, Some(res)));
                    }
                }
                Err(f) => read.problems.push(fatal(f)?),
            }
        }
    }
    for (name, res) in candidates {
        let res = match res {
            Some(r) => r,
            None => match stack_resources(session, &name).await {
                Ok(r) => r,
                Err(f) => {
                    read.problems.push(fatal(f)?);
                    continue;
                }
            },
        };
        match read_stack(session, &name, res).await {
            Ok(s) => read.stacks.push(s),
            Err(f) => read.problems.push(fatal(f)?),
        }
    }
    Ok(read)
}

/// A Terraform state kept in S3 (`s3://bucket/key`), read as the operator.
pub async fn read_s3_state(session: &Session, bucket: &str, key: &str) -> Result<String, RuntimeError> {
    let mut b = aws_sdk_s3::config::Builder::from(&session.operator.config);
    if session.operator.config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(b.build());
    let target = format!("s3://{bucket}/{key}");
    let out = session
        .call(&session.operator, "s3:GetObject", &target, 1, client.get_object().bucket(bucket).key(key).send())
        .await
        .map_err(|f| match f {
            Failure::Read(r) => RuntimeError::Unreadable(format!("the Terraform state {target} cannot be read: {r}")),
            Failure::Fatal(e) => e,
        })?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| RuntimeError::Network { call: "s3:GetObject".into(), detail: format!("{target}: {e}") })?
        .into_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| RuntimeError::Unreadable(format!("{target} is not a text state file")))
}
