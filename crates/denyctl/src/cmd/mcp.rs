//! `denyctl mcp`: the Model Context Protocol server (docs/mcp.md).
//!
//! Each tool runs one denyctl verb as a child process of this same binary with `-o json` and the
//! identities fixed when the server started, so a tool's structured result is exactly the verb's
//! JSON contract (docs/schema/), a verb's output can never corrupt the stdio transport, and a
//! cancelled read-only call is stopped by ending its process. Plans live in the server's session
//! folder under ids it made: an agent can apply or roll back a plan this server produced, never a
//! policy it wrote itself, and only when a person started the server with `--allow-apply`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{GlobalArgs, McpArgs};
use crate::error::{exit, CliError, CmdResult};

/// Run the verb: serve MCP on stdio, or on `--http ADDR` (loopback unless `--listen-any`).
pub fn run(a: &McpArgs, g: &GlobalArgs) -> CmdResult {
    let http = match &a.http {
        Some(addr) => Some(http_address(addr, a.listen_any)?),
        None => None,
    };
    let server = Server::start(a, g)?;
    eprintln!("denyctl mcp: session folder {} (plans and snapshots of this run {})", server.state.dir.display(), server.state.run);
    if !a.allow_apply {
        eprintln!("denyctl mcp: writes are off (apply_plan answers with the command to run; start with --allow-apply to let the agent apply)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Aws(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async move {
        match http {
            None => {
                let service = server
                    .serve(rmcp::transport::stdio())
                    .await
                    .map_err(|e| CliError::Input(format!("mcp: the client did not initialize: {e}")))?;
                service.waiting().await.map_err(|e| CliError::Input(format!("mcp: the server stopped: {e}")))?;
                Ok(exit::OK)
            }
            Some(addr) => serve_http(server, addr).await,
        }
    })
}

/// Parse `--http`: a socket address; only loopback addresses unless `--listen-any`.
fn http_address(addr: &str, listen_any: bool) -> Result<std::net::SocketAddr, CliError> {
    let parsed: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| CliError::Input(format!("--http {addr}: not an address and port (e.g. 127.0.0.1:8765)")))?;
    if !parsed.ip().is_loopback() && !listen_any {
        return Err(CliError::Input(format!(
            "--http {addr}: not a loopback address; the server has no authentication, so it listens on 127.0.0.1 or ::1 only (--listen-any to override)"
        )));
    }
    Ok(parsed)
}

async fn serve_http(server: Server, addr: std::net::SocketAddr) -> CmdResult {
    use rmcp::transport::streamable_http_server::{session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService};
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| CliError::Input(format!("--http {addr}: cannot listen: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError::Input(format!("--http {addr}: {e}")))?;
    let mut config = StreamableHttpServerConfig::default();
    if !bound.ip().is_loopback() {
        config.allowed_hosts.push(bound.ip().to_string());
        config.allowed_hosts.push(bound.to_string());
    }
    let service: StreamableHttpService<Server, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(server.clone()), Default::default(), config);
    let router = axum::Router::new().nest_service("/mcp", service);
    // Tests and wrappers read the real port (with --http 127.0.0.1:0) from this line.
    eprintln!("denyctl mcp: listening on http://{bound}/mcp");
    axum::serve(listener, router).await.map_err(|e| CliError::Input(format!("mcp: the HTTP server stopped: {e}")))?;
    Ok(exit::OK)
}

/// What every session of this server run shares (HTTP opens one session per client).
struct State {
    /// This binary, run for each tool.
    exe: PathBuf,
    /// The identity and region flags fixed at start.
    identity: Vec<String>,
    allow_apply: bool,
    allow_write_replay: bool,
    /// The session folder (owner-only): plans/ and snapshots/.
    dir: PathBuf,
    /// This run's id: the prefix of every plan and snapshot id it makes.
    run: String,
    items: Mutex<Items>,
}

#[derive(Default)]
struct Items {
    next: u64,
    plans: BTreeMap<String, String>,
    snapshots: BTreeMap<String, String>,
}

/// The MCP server: cheap to clone (one per HTTP session), state shared.
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

impl Server {
    fn start(a: &McpArgs, g: &GlobalArgs) -> Result<Server, CliError> {
        let exe = std::env::current_exe().map_err(|e| CliError::Input(format!("mcp: cannot find the denyctl binary: {e}")))?;
        let mut identity = Vec::new();
        for (flag, v) in [("--profile", &g.profile), ("--caller-profile", &g.caller_profile), ("--org-profile", &g.org_profile), ("--region", &g.region)] {
            if let Some(v) = v {
                identity.push(flag.to_string());
                identity.push(v.clone());
            }
        }
        let run = run_id();
        let dir = match &a.session_dir {
            Some(d) => PathBuf::from(d),
            None => {
                let base = crate::state::state_dir()?;
                private_dir(&base)?;
                base.join(format!("mcp-{run}"))
            }
        };
        private_dir(&dir)?;
        for sub in ["plans", "snapshots", "inputs"] {
            private_dir(&dir.join(sub))?;
        }
        Ok(Server {
            state: Arc::new(State {
                exe,
                identity,
                allow_apply: a.allow_apply,
                allow_write_replay: a.allow_write_replay,
                dir,
                run,
                items: Mutex::new(Items::default()),
            }),
        })
    }

    fn new_id(&self, kind: &str) -> String {
        let mut items = self.state.items.lock().unwrap_or_else(|p| p.into_inner());
        items.next += 1;
        format!("{}-{kind}{}", self.state.run, items.next)
    }

    /// The file of a plan (or snapshot) id of this run, or a one-sentence error.
    fn lookup(&self, kind: &str, id: &str) -> Result<String, String> {
        let items = self.state.items.lock().unwrap_or_else(|p| p.into_inner());
        let map = if kind == "plan" { &items.plans } else { &items.snapshots };
        if let Some(path) = map.get(id) {
            return Ok(path.clone());
        }
        let prefix = format!("{}-", self.state.run);
        if !id.starts_with(&prefix) && id.contains('-') {
            return Err(format!(
                "{kind} id {id} belongs to another denyctl mcp run (this run is {}); make the {kind} again with {}",
                self.state.run,
                if kind == "plan" { "plan_fix" } else { "collect" }
            ));
        }
        Err(format!("no {kind} {id} in this run; {kind} ids come from {}", if kind == "plan" { "plan_fix" } else { "collect" }))
    }
}

fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

fn private_dir(p: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(p).map_err(|e| CliError::input(p.display(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).map_err(|e| CliError::input(p.display(), e))?;
    }
    Ok(())
}

/// A session file, owner-only and flushed (state::write_private), with a one-sentence error.
fn write_private(p: &Path, text: &str) -> Result<(), String> {
    crate::state::write_private(p, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------------
// Tool inputs: each is the tool's input schema (schemars); unknown fields are refused.

/// A denied request, as `diagnose`, `collect` and `plan_fix` take it: a message, a CloudTrail
/// event, or the action and resource. `snapshot_id` is `diagnose`'s alone and `scope` is
/// `plan_fix`'s alone: each tool's schema lists only its own fields ([`request_schema`]).
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestIn {
    /// The AccessDenied message as the user saw it (any form `explain` reads: CLI, SDK, console, CloudTrail JSON).
    #[serde(default)]
    pub message: Option<String>,
    /// A CloudTrail event (the JSON object) of the denied call.
    #[serde(default)]
    pub event: Option<serde_json::Map<String, Value>>,
    /// The principal ARN (default: the one in the message, or the live caller).
    #[serde(default)]
    pub principal: Option<String>,
    /// The action, e.g. `s3:PutObject`.
    #[serde(default)]
    pub action: Option<String>,
    /// The resource ARN (`*` for actions without one).
    #[serde(default)]
    pub resource: Option<String>,
    /// The account that owns the resource, when its ARN does not say (S3).
    #[serde(default)]
    pub resource_account: Option<String>,
    /// Request context keys as `KEY=VALUE` (repeat a key for several values), e.g. `aws:SourceIp=10.0.0.1`.
    #[serde(default)]
    pub context: Vec<String>,
    /// For sts:AssumeRoleWithWebIdentity / sts:AssumeRoleWithSAML: the token's claims (`sub`, `aud`, `iss`, ...).
    #[serde(default)]
    pub claims: Option<serde_json::Map<String, Value>>,
    /// Diagnose offline from a snapshot id returned by `collect` (then give no request fields).
    #[serde(default)]
    pub snapshot_id: Option<String>,
    /// How widely to grant a missing identity allow: only `exact` (the default) is least privilege.
    #[serde(default)]
    pub scope: Option<Scope>,
}

/// The fields of [`RequestIn`] that only one tool takes.
const ONLY: &[(&str, &str)] = &[("snapshot_id", "diagnose"), ("scope", "plan_fix")];

/// `RequestIn`'s schema without the fields that belong to other tools.
fn request_schema(tool: &str) -> Arc<JsonObject> {
    let mut o = (*schema::<RequestIn>()).clone();
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for (field, owner) in ONLY {
            if *owner != tool {
                props.remove(*field);
            }
        }
    }
    Arc::new(o)
}

/// Parse a request for `tool`, refusing a field of another tool as the schema does.
fn parse_request(tool: &str, args: Option<JsonObject>) -> Result<RequestIn, ErrorData> {
    for (field, owner) in ONLY {
        if *owner != tool && args.as_ref().is_some_and(|a| a.contains_key(*field)) {
            return Err(ErrorData::invalid_params(format!("{tool}: invalid arguments: unknown field `{field}` (only {owner} takes it)"), None));
        }
    }
    parse(tool, args)
}

/// `fix --scope`.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Exact,
    Prefix,
    Bucket,
    AccessLevel,
}

/// `explain`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainIn {
    /// The AccessDenied message, SDK error text, or CloudTrail event (JSON), as text.
    pub text: String,
}

/// A tool without arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A plan this server made.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanIdIn {
    /// The plan id `plan_fix` returned in this server run.
    pub plan_id: String,
}

/// `replay`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    /// The plan id `plan_fix` returned in this server run.
    pub plan_id: String,
    /// Replay a mutating request (s3:PutObject, sqs:SendMessage, ...) for real. Honoured only when
    /// a person started the server with --allow-write-replay; otherwise writes are probed or not replayed.
    #[serde(default)]
    pub allow_write_replay: bool,
}

/// `simulate`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateIn {
    /// A scenario: `{"request": {"principal", "action", "resource", "context"}, "policies": {"identity": [{"name", "document"}], "scp": [...], ...}}`
    /// as in denyctl's tests/scenarios/FORMAT.md.
    pub scenario: serde_json::Map<String, Value>,
}

fn schema<T: JsonSchema>() -> Arc<JsonObject> {
    let v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({"type": "object"}));
    let mut o = match v {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    };
    o.remove("$schema");
    o.remove("title");
    Arc::new(o)
}

fn tools() -> Vec<Tool> {
    let ro = |title: &str| ToolAnnotations::with_title(title).read_only(true).destructive(false).open_world(true);
    vec![
        Tool::new("explain", "Explain an AWS AccessDenied message, SDK error or CloudTrail event offline: principal, action, resource, the kind of denial and the policy type that denied. No AWS calls.", schema::<ExplainIn>())
            .with_annotations(ToolAnnotations::with_title("Explain a denial").read_only(true).destructive(false).idempotent(true).open_world(false)),
        Tool::new("whoami", "Who is really calling in this runtime (STS GetCallerIdentity): the principal, its role or user, path, permissions boundary, organization.", schema::<NoArgs>())
            .with_annotations(ro("Who am I").idempotent(true)),
        Tool::new("diagnose", "Diagnose a denied request live: read every policy layer (SCPs, RCPs, boundary, identity, session, trust, resource) and name the layer and statement that decide. Give a message, an event, or action and resource; or a snapshot_id from collect to decide offline.", request_schema("diagnose"))
            .with_annotations(ro("Diagnose a denial").idempotent(true)),
        Tool::new("collect", "Read every policy layer for a denied request and keep it as a snapshot of this session (resource denyctl://snapshots/ID); diagnose can then decide offline with snapshot_id.", request_schema("collect"))
            .with_annotations(ro("Collect the policy layers").idempotent(true)),
        Tool::new("plan_fix", "Propose the least-privilege fix for a denied request as a plan (nothing is written): the smallest change, checked to make the request allowed and to allow nothing else. Returns a plan id for replay, apply_plan and rollback_plan; the diff is the resource denyctl://plans/ID/diff.", request_schema("plan_fix"))
            .with_annotations(ro("Plan a fix").idempotent(false)),
        Tool::new("replay", "Send a plan's original request again as the caller and say whether AWS allows it now (after apply_plan: the verification; a new denial is the next hop to fix). Mutating requests are only replayed for real when the server allows it.", schema::<ReplayIn>())
            .with_annotations(ToolAnnotations::with_title("Replay the denied request").read_only(false).destructive(false).open_world(true)),
        Tool::new("apply_plan", "Apply a plan this server made (by id only), with compare-and-swap and a backup first. Only when a person started the server with --allow-apply; otherwise the answer is the command a person can run.", schema::<PlanIdIn>())
            .with_annotations(ToolAnnotations::with_title("Apply a plan").read_only(false).destructive(true).idempotent(true).open_world(true)),
        Tool::new("rollback_plan", "Undo an applied plan (by id): restore every policy from the backup apply_plan wrote, exactly. Only with --allow-apply.", schema::<PlanIdIn>())
            .with_annotations(ToolAnnotations::with_title("Roll back a plan").read_only(false).destructive(true).idempotent(true).open_world(true)),
        Tool::new("simulate", "Evaluate a scenario (a request and every policy layer, as JSON) exactly as AWS would, offline, and say which statement decides.", schema::<SimulateIn>())
            .with_annotations(ToolAnnotations::with_title("Simulate a request").read_only(true).destructive(false).idempotent(true).open_world(false)),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a verb.

/// One verb invocation.
struct Verb {
    args: Vec<String>,
    stdin: Option<String>,
    /// A write: never stopped half-way by a cancellation (apply and rollback finish or undo themselves).
    writes: bool,
}

/// What the verb did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The verb's last `denyctl: ...` error line, as one sentence.
    fn error_line(&self) -> String {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("denyctl: ") && !l.starts_with("denyctl: WARNING"))
            .map(|l| l.trim_start_matches("denyctl: ").to_string())
            .unwrap_or_else(|| format!("denyctl exited with status {}", self.code))
    }

    fn warnings(&self) -> Vec<String> {
        self.stderr.lines().filter_map(|l| l.strip_prefix("denyctl: WARNING: ")).map(str::to_string).collect()
    }
}

impl Server {
    async fn exec(&self, verb: Verb, cx: &RequestContext<RoleServer>, label: &str) -> Result<Ran, ErrorData> {
        let mut cmd = tokio::process::Command::new(&self.state.exe);
        cmd.args(&self.state.identity).args(["-o", "json"]).args(&verb.args);
        cmd.stdin(if verb.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .kill_on_drop(!verb.writes);
        let mut child = cmd.spawn().map_err(|e| ErrorData::internal_error(format!("cannot run denyctl: {e}"), None))?;
        if let (Some(text), Some(mut stdin)) = (verb.stdin, child.stdin.take()) {
            tokio::spawn(async move {
                let _ = stdin.write_all(text.as_bytes()).await;
            });
        }
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let read_out = async move {
            let mut s = String::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_string(&mut s).await;
            }
            s
        };
        let read_err = async move {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s).await;
            }
            s
        };
        let progress = cx.meta.get_progress_token();
        let peer = cx.peer.clone();
        let label = label.to_string();
        let ticker = async move {
            let Some(token) = progress else { return std::future::pending::<()>().await };
            let started = std::time::Instant::now();
            let mut n = 0.0;
            loop {
                n += 1.0;
                let msg = format!("{label}: {} s", started.elapsed().as_secs());
                let _ = peer.notify_progress(ProgressNotificationParam::new(token.clone(), n).with_message(msg)).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        let work = async { tokio::join!(child.wait(), read_out, read_err) };
        let cancelled = cx.ct.clone();
        tokio::select! {
            (status, stdout, stderr) = work => {
                let code = status.map_err(|e| ErrorData::internal_error(format!("denyctl did not finish: {e}"), None))?.code().unwrap_or(exit::AWS);
                Ok(Ran { code, stdout, stderr })
            }
            _ = ticker => unreachable!("the progress ticker never ends"),
            _ = cancelled.cancelled(), if !verb.writes => {
                let _ = child.start_kill();
                Err(ErrorData::internal_error("cancelled by the client; the verb was stopped (it only reads)", None))
            }
        }
    }

    /// Run a verb and turn its JSON into a tool result; exit 2/3 become a tool error (one sentence).
    async fn json_tool(&self, verb: Verb, cx: &RequestContext<RoleServer>, label: &str, summary: fn(&Value) -> String) -> Result<CallToolResult, ErrorData> {
        let ran = self.exec(verb, cx, label).await?;
        self.result(ran, summary)
    }

    fn result(&self, ran: Ran, summary: fn(&Value) -> String) -> Result<CallToolResult, ErrorData> {
        if ran.code != exit::OK && ran.code != exit::DENIED {
            return Ok(CallToolResult::error(vec![ContentBlock::text(ran.error_line())]));
        }
        let v: Value = serde_json::from_str(&ran.stdout)
            .map_err(|e| ErrorData::internal_error(format!("denyctl printed no JSON ({e}): {}", ran.error_line()), None))?;
        Ok(structured(v, summary, &ran.warnings()))
    }
}

fn structured(v: Value, summary: fn(&Value) -> String, warnings: &[String]) -> CallToolResult {
    let mut text = summary(&v);
    for w in warnings {
        text.push_str(&format!("\nwarning: {w}"));
    }
    let mut r = CallToolResult::structured(v);
    r.content = vec![ContentBlock::text(text)];
    r
}

fn tool_error(msg: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(msg.into())])
}

fn parse<T: for<'de> Deserialize<'de>>(tool: &str, args: Option<JsonObject>) -> Result<T, ErrorData> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| ErrorData::invalid_params(format!("{tool}: invalid arguments: {e}"), None))
}

/// Flags and stdin for a request given as tool arguments.
fn request_flags(server: &Server, a: &RequestIn) -> Result<(Vec<String>, Option<String>), String> {
    let mut args = Vec::new();
    let mut stdin = None;
    if a.message.is_some() && a.event.is_some() {
        return Err("give message or event, not both".into());
    }
    if a.message.is_none() && a.event.is_none() && a.action.is_none() {
        return Err("give the denial message, a CloudTrail event, or the action (and resource)".into());
    }
    if let Some(m) = &a.message {
        stdin = Some(m.clone());
        args.push("-".to_string());
    }
    if let Some(e) = &a.event {
        let path = server.state.dir.join("inputs").join(format!("{}.json", server.new_id("event")));
        write_private(&path, &Value::Object(e.clone()).to_string())?;
        args.push("--event".into());
        args.push(path.display().to_string());
    }
    for (flag, v) in [("--principal", &a.principal), ("--action", &a.action), ("--resource", &a.resource), ("--resource-account", &a.resource_account)] {
        if let Some(v) = v {
            args.push(flag.into());
            args.push(v.clone());
        }
    }
    for c in &a.context {
        args.push(format!("--context={c}"));
    }
    if let Some(c) = &a.claims {
        args.push("--claims".into());
        args.push(Value::Object(c.clone()).to_string());
    }
    Ok((args, stdin))
}

impl Server {
    async fn call(&self, name: &str, args: Option<JsonObject>, cx: &RequestContext<RoleServer>) -> Result<CallToolResult, ErrorData> {
        match name {
            "explain" => {
                let a: ExplainIn = parse(name, args)?;
                let verb = Verb { args: vec!["explain".into(), "-".into()], stdin: Some(a.text), writes: false };
                let ran = self.exec(verb, cx, "explaining").await?;
                if ran.code != exit::OK {
                    return Ok(tool_error(ran.error_line()));
                }
                // Several events give a JSON array; the structured result is always an object.
                let v: Value = serde_json::from_str(&ran.stdout).map_err(|e| ErrorData::internal_error(format!("denyctl printed no JSON: {e}"), None))?;
                let v = match v {
                    Value::Array(items) => json!({"schema_version": crate::output::SCHEMA_VERSION, "explanations": items}),
                    one => one,
                };
                Ok(structured(v, summary_explain, &ran.warnings()))
            }
            "whoami" => {
                let _: NoArgs = parse(name, args)?;
                self.json_tool(Verb { args: vec!["whoami".into()], stdin: None, writes: false }, cx, "calling STS", summary_whoami).await
            }
            "diagnose" => {
                let a: RequestIn = parse_request(name, args)?;
                let mut verb_args = vec!["diagnose".to_string()];
                let mut stdin = None;
                if let Some(id) = a.snapshot_id.clone() {
                    if a.message.is_some() || a.event.is_some() || a.action.is_some() || a.resource.is_some() || a.principal.is_some() {
                        return Ok(tool_error("give snapshot_id or a request, not both: the snapshot holds its request"));
                    }
                    let path = match self.lookup("snapshot", &id) {
                        Ok(p) => p,
                        Err(e) => return Ok(tool_error(e)),
                    };
                    verb_args.extend(["--snapshot".into(), path]);
                } else {
                    match request_flags(self, &a) {
                        Ok((f, s)) => {
                            verb_args.extend(f);
                            stdin = s;
                        }
                        Err(e) => return Ok(tool_error(e)),
                    }
                }
                self.json_tool(Verb { args: verb_args, stdin, writes: false }, cx, "reading every policy layer", summary_diagnose).await
            }
            "collect" => {
                let a: RequestIn = parse_request(name, args)?;
                let (flags, stdin) = match request_flags(self, &a) {
                    Ok(x) => x,
                    Err(e) => return Ok(tool_error(e)),
                };
                let mut verb_args = vec!["collect".to_string()];
                verb_args.extend(flags);
                let ran = self.exec(Verb { args: verb_args, stdin, writes: false }, cx, "reading every policy layer").await?;
                if ran.code != exit::OK && ran.code != exit::DENIED {
                    return Ok(tool_error(ran.error_line()));
                }
                let snap: Value = serde_json::from_str(&ran.stdout).map_err(|e| ErrorData::internal_error(format!("denyctl printed no snapshot: {e}"), None))?;
                let id = self.new_id("snapshot");
                let path = self.state.dir.join("snapshots").join(format!("{id}.json"));
                write_private(&path, &ran.stdout).map_err(|e| ErrorData::internal_error(e, None))?;
                self.state.items.lock().unwrap_or_else(|p| p.into_inner()).snapshots.insert(id.clone(), path.display().to_string());
                let text = format!("snapshot {id} kept (resource denyctl://snapshots/{id}); diagnose it offline with snapshot_id");
                let v = json!({"schema_version": crate::output::SCHEMA_VERSION, "snapshot_id": id, "uri": format!("denyctl://snapshots/{id}"), "snapshot": snap});
                let mut r = CallToolResult::structured(v);
                r.content = vec![ContentBlock::text(text)];
                Ok(r)
            }
            "plan_fix" => {
                let a: RequestIn = parse_request(name, args)?;
                let (flags, stdin) = match request_flags(self, &a) {
                    Ok(x) => x,
                    Err(e) => return Ok(tool_error(e)),
                };
                let mut verb_args = vec!["fix".to_string(), "--dry-run".into()];
                verb_args.extend(flags);
                if let Some(s) = a.scope {
                    let s = match s {
                        Scope::Exact => "exact",
                        Scope::Prefix => "prefix",
                        Scope::Bucket => "bucket",
                        Scope::AccessLevel => "access-level",
                    };
                    verb_args.extend(["--scope".into(), s.into()]);
                }
                let ran = self.exec(Verb { args: verb_args, stdin, writes: false }, cx, "reading the layers and planning").await?;
                if ran.code != exit::OK {
                    return Ok(tool_error(ran.error_line()));
                }
                let plan: Value = serde_json::from_str(&ran.stdout).map_err(|e| ErrorData::internal_error(format!("denyctl printed no plan: {e}"), None))?;
                let id = self.new_id("plan");
                let path = self.state.dir.join("plans").join(format!("{id}.json"));
                write_private(&path, &ran.stdout).map_err(|e| ErrorData::internal_error(e, None))?;
                self.state.items.lock().unwrap_or_else(|p| p.into_inner()).plans.insert(id.clone(), path.display().to_string());
                let mut text = format!("plan {id}: {}", summary_plan(&plan));
                text.push_str(&format!("\nthe diff: resource denyctl://plans/{id}/diff; nothing was written"));
                let v = json!({"schema_version": crate::output::SCHEMA_VERSION, "plan_id": id, "uri": format!("denyctl://plans/{id}"), "plan": plan});
                let mut r = CallToolResult::structured(v);
                r.content = vec![ContentBlock::text(text)];
                for w in ran.warnings() {
                    if let Some(ContentBlock::Text(t)) = r.content.first_mut() {
                        t.text.push_str(&format!("\nwarning: {w}"));
                    }
                }
                Ok(r)
            }
            "replay" => {
                let a: ReplayIn = parse(name, args)?;
                let path = match self.lookup("plan", &a.plan_id) {
                    Ok(p) => p,
                    Err(e) => return Ok(tool_error(e)),
                };
                let mut verb_args = vec!["replay".to_string(), "-f".into(), path];
                let write = a.allow_write_replay && self.state.allow_write_replay;
                if write {
                    verb_args.push("--allow-write-replay".into());
                }
                let mut r = self.json_tool(Verb { args: verb_args, stdin: None, writes: write }, cx, "replaying as the caller", summary_replay).await?;
                if a.allow_write_replay && !self.state.allow_write_replay {
                    if let Some(ContentBlock::Text(t)) = r.content.first_mut() {
                        t.text.push_str("\nnote: a mutating replay was asked for, but the server was not started with --allow-write-replay: it was probed or not replayed");
                    }
                }
                Ok(r)
            }
            "apply_plan" | "rollback_plan" => {
                let a: PlanIdIn = parse(name, args)?;
                let path = match self.lookup("plan", &a.plan_id) {
                    Ok(p) => p,
                    Err(e) => return Ok(tool_error(e)),
                };
                let verb = if name == "apply_plan" { "apply" } else { "rollback" };
                let backup = format!("{}.backup.json", path.trim_end_matches(".json"));
                let mut person = vec!["denyctl".to_string()];
                person.extend(self.state.identity.iter().map(|s| shell_quote(s)));
                person.extend([verb.to_string(), "-f".into(), shell_quote(&path), "--backup".into(), shell_quote(&backup)]);
                let command = person.join(" ");
                if !self.state.allow_apply {
                    let v = json!({
                        "schema_version": crate::output::SCHEMA_VERSION,
                        "applied": false,
                        "reason": "writes are off: this MCP server was not started with --allow-apply",
                        "command": command,
                    });
                    let text = format!("not {}: writes are off in this server (started without --allow-apply). A person can run:\n  {command}", if verb == "apply" { "applied" } else { "rolled back" });
                    let mut r = CallToolResult::structured(v);
                    r.content = vec![ContentBlock::text(text)];
                    return Ok(r);
                }
                let args = vec![verb.to_string(), "-f".into(), path.clone(), "--backup".into(), backup, "--yes".into()];
                let mut r = self
                    .json_tool(Verb { args, stdin: None, writes: true }, cx, if verb == "apply" { "applying" } else { "rolling back" }, if verb == "apply" { summary_apply } else { summary_rollback })
                    .await?;
                if verb == "apply" && r.is_error != Some(true) {
                    if let Some(ContentBlock::Text(t)) = r.content.first_mut() {
                        t.text.push_str(&format!("\nto undo: rollback_plan with plan_id {} (or: {})", a.plan_id, command.replacen(" apply ", " rollback ", 1)));
                    }
                }
                Ok(r)
            }
            "simulate" => {
                let a: SimulateIn = parse(name, args)?;
                let verb = Verb { args: vec!["simulate".into(), "--scenario".into(), "-".into()], stdin: Some(Value::Object(a.scenario).to_string()), writes: false };
                self.json_tool(verb, cx, "evaluating", summary_diagnose).await
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool {other:?}: the tools are explain, whoami, diagnose, collect, plan_fix, replay, apply_plan, rollback_plan, simulate"),
                None,
            )),
        }
    }

    fn read(&self, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        let not_found = |m: String| ErrorData::resource_not_found(m, None);
        let rest = uri.strip_prefix("denyctl://").ok_or_else(|| not_found(format!("{uri}: not a denyctl:// resource")))?;
        let (kind, id, diff) = match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["plans", id] => ("plan", *id, false),
            ["plans", id, "diff"] => ("plan", *id, true),
            ["snapshots", id] => ("snapshot", *id, false),
            _ => return Err(not_found(format!("{uri}: no such resource (denyctl://plans/ID, denyctl://plans/ID/diff, denyctl://snapshots/ID)"))),
        };
        let path = self.lookup(kind, id).map_err(not_found)?;
        let text = std::fs::read_to_string(&path).map_err(|e| not_found(format!("{uri}: {e}")))?;
        if !diff {
            return Ok(ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
                uri: uri.to_string(),
                mime_type: Some("application/json".into()),
                text,
                meta: None,
            }]));
        }
        let plan: denyctl_remedy::Plan =
            serde_json::from_str(&text).map_err(|e| ErrorData::internal_error(format!("{uri}: the plan cannot be read: {e}"), None))?;
        let mut out = Vec::new();
        crate::render::plan::diffs(&mut out, &plan, false).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
            uri: uri.to_string(),
            mime_type: Some("text/x-diff".into()),
            text: String::from_utf8_lossy(&out).into_owned(),
            meta: None,
        }]))
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("denyctl", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "denyctl walks an AWS AccessDenied to a verified least-privilege fix. Typical loop: explain the message, \
                 diagnose it (names the denying layer and statement), plan_fix (a plan id; show the user the diff at \
                 denyctl://plans/ID/diff), apply_plan only when the user agrees (needs --allow-apply), then replay to verify; \
                 a new denial on replay is the next layer to fix. rollback_plan undoes an applied plan.",
            )
    }

    async fn list_tools(&self, _request: Option<PaginatedRequestParams>, _cx: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(&self, request: CallToolRequestParams, cx: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        self.call(&name, request.arguments, &cx).await.map(Into::into)
    }

    async fn list_resources(&self, _request: Option<PaginatedRequestParams>, _cx: RequestContext<RoleServer>) -> Result<ListResourcesResult, ErrorData> {
        let items = self.state.items.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for id in items.plans.keys() {
            out.push(Resource::new(format!("denyctl://plans/{id}"), format!("plan {id}")).with_mime_type("application/json"));
            out.push(Resource::new(format!("denyctl://plans/{id}/diff"), format!("plan {id} (diff)")).with_mime_type("text/x-diff"));
        }
        for id in items.snapshots.keys() {
            out.push(Resource::new(format!("denyctl://snapshots/{id}"), format!("snapshot {id}")).with_mime_type("application/json"));
        }
        Ok(ListResourcesResult::with_all_items(out))
    }

    async fn read_resource(&self, request: ReadResourceRequestParams, _cx: RequestContext<RoleServer>) -> Result<ReadResourceResponse, ErrorData> {
        self.read(&request.uri).map(Into::into)
    }
}

// ---------------------------------------------------------------------------------------------
// One-line summaries for the model (the structured result holds everything).

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn summary_explain(v: &Value) -> String {
    let one = |e: &Value| {
        let mut parts = Vec::new();
        for (label, key) in [("principal", "principal"), ("action", "action"), ("resource", "resource"), ("kind", "kind"), ("policy type", "policy_type")] {
            if let Some(x) = e.get(key).and_then(|x| x.as_str()) {
                parts.push(format!("{label} {x}"));
            }
        }
        if parts.is_empty() {
            "explained (see the structured result)".to_string()
        } else {
            parts.join("; ")
        }
    };
    match v.get("explanations").and_then(|x| x.as_array()) {
        Some(items) => items.iter().map(one).collect::<Vec<_>>().join("\n"),
        None => one(v),
    }
}

fn summary_whoami(v: &Value) -> String {
    let arn = s(v, &["arn"]).unwrap_or("?");
    match s(v, &["principal_arn"]).or(s(v, &["role_arn"])) {
        Some(p) if p != arn => format!("caller {arn} (principal {p})"),
        _ => format!("caller {arn}"),
    }
}

fn denied_by(v: &Value) -> String {
    let layers: Vec<&str> = v.get("denied_by").and_then(|d| d.as_array()).map(|d| d.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    let mut out = layers.join(", ");
    // The deciding statements of the denying layers.
    for l in v.get("layers").and_then(|l| l.as_array()).into_iter().flatten() {
        if !layers.contains(&l.get("layer").and_then(|x| x.as_str()).unwrap_or("")) {
            continue;
        }
        for d in l.get("deciding").and_then(|d| d.as_array()).into_iter().flatten() {
            let policy = d.get("policy").and_then(|x| x.as_str()).unwrap_or("");
            let sid = d.get("sid").or(d.get("statement")).and_then(|x| x.as_str()).unwrap_or("");
            if !policy.is_empty() || !sid.is_empty() {
                out.push_str(&format!(" ({policy} {sid})"));
            }
        }
    }
    out
}

fn summary_diagnose(v: &Value) -> String {
    let verdict = v.get("verdict").unwrap_or(v);
    let decision = s(verdict, &["decision"]).unwrap_or("?");
    let by = denied_by(verdict);
    if by.is_empty() {
        decision.to_string()
    } else {
        format!("{decision}, denied by {by}")
    }
}

fn summary_plan(v: &Value) -> String {
    let status = s(v, &["status"]).unwrap_or("?");
    let n = v.get("changes").and_then(|c| c.as_array()).map(|c| c.len()).unwrap_or(0);
    let mut t = format!("{status}, {n} change(s)");
    if let Some(r) = s(v, &["status_reason"]) {
        t.push_str(&format!(" ({r})"));
    }
    t
}

fn summary_replay(v: &Value) -> String {
    match (s(v, &["outcome"]).or(s(v, &["result"])), s(v, &["message"])) {
        (Some(o), Some(m)) => format!("{o}: {m}"),
        (Some(o), None) => o.to_string(),
        _ => "replayed (see the structured result)".to_string(),
    }
}

fn summary_apply(v: &Value) -> String {
    s(v, &["result"]).map(|x| format!("apply: {x}")).unwrap_or_else(|| "applied (see the structured result)".into())
}

fn summary_rollback(v: &Value) -> String {
    s(v, &["result"]).map(|x| format!("rollback: {x}")).unwrap_or_else(|| "rolled back (see the structured result)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_refuses_non_loopback_without_listen_any() {
        assert!(http_address("127.0.0.1:0", false).is_ok());
        assert!(http_address("[::1]:8080", false).is_ok());
        let e = http_address("0.0.0.0:8080", false).unwrap_err().to_string();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(http_address("0.0.0.0:8080", true).is_ok());
        assert!(http_address("localhost", false).unwrap_err().to_string().contains("not an address"));
    }

    #[test]
    fn every_tool_has_an_object_schema_and_refuses_unknown_fields() {
        for t in tools() {
            assert_eq!(t.input_schema.get("type").and_then(|v| v.as_str()), Some("object"), "{}", t.name);
            assert_eq!(t.input_schema.get("additionalProperties"), Some(&Value::Bool(false)), "{}", t.name);
            assert!(t.annotations.is_some(), "{}", t.name);
        }
        let e = parse::<PlanIdIn>("apply_plan", Some(json!({"plan_id": "x", "policy": {}}).as_object().unwrap().clone()));
        assert!(e.is_err());
    }

    #[test]
    fn quoting_for_the_command_a_person_runs() {
        assert_eq!(shell_quote("/tmp/a.json"), "/tmp/a.json");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
