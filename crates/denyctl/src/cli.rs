//! Every flag and verb, defined once (clap derive). Help, completions and the man page come from here.

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// denyctl: walk an AWS AccessDenied to a verified least-privilege fix.
#[derive(Parser, Debug)]
#[command(name = "denyctl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Flags every verb takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The verb.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every verb.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// AWS profile of the operator who reads and changes policies (as the AWS CLI's --profile).
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (as the AWS CLI's --region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile of the caller whose request was denied (whoami and replay run as it); default: this
    /// runtime's own credentials (the standard chain), whatever --profile says.
    #[arg(long, global = true, value_name = "NAME")]
    pub caller_profile: Option<String>,
    /// AWS profile that reads the organization's SCPs and RCPs (the management account or a
    /// delegated administrator); default: --profile.
    #[arg(long, global = true, value_name = "NAME")]
    pub org_profile: Option<String>,
    /// Most time one AWS operation may take, the SDK's standard retries (with backoff) included;
    /// each attempt gets a third of it. A layer that still cannot be read is `unknown`.
    #[arg(long, global = true, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub timeout: f64,
    /// Print less: only the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: every AWS call made (never credentials or secret values).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Evaluate a scenario (request + every policy layer) exactly as AWS would, and say why.
    #[command(after_help = "Examples:\n  denyctl simulate --scenario tests/scenarios/shared/01-s3-put-no-identity-allow.json\n  denyctl simulate --scenario case.json -o json\n  denyctl simulate --batch cases.jsonl > verdicts.jsonl")]
    Simulate(SimulateArgs),
    /// Explain an AccessDenied message, SDK error or CloudTrail event (offline, no AWS calls).
    #[command(after_help = "Examples:\n  denyctl explain 'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: s3:PutObject ...'\n  pbpaste | denyctl explain -\n  denyctl explain --file cloudtrail.json.gz -o json\n  denyctl explain --authorization-id a1b2c3d4e5 --profile admin")]
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  denyctl completion bash > /etc/bash_completion.d/denyctl\n  denyctl completion zsh > \"${fpath[1]}/_denyctl\"\n  denyctl completion fish > ~/.config/fish/completions/denyctl.fish")]
    Completion(CompletionArgs),
    /// Print the man page (roff), generated from the same definitions as --help.
    #[command(after_help = "Example:\n  denyctl man > /usr/local/share/man/man1/denyctl.1")]
    Man,
    /// Who is really calling in this runtime: the principal, its role or user, boundary, tags, organization.
    #[command(after_help = "Examples:\n  denyctl whoami\n  denyctl whoami --caller-profile ci -o json")]
    Whoami,
    /// Fetch every policy layer for a request and write a snapshot (for offline diagnosis).
    #[command(after_help = "Examples:\n  denyctl collect --action s3:PutObject --resource arn:aws:s3:::bucket/key -o json > snapshot.json\n  denyctl collect 'User: arn:aws:sts::111122223333:assumed-role/ci/run is not authorized to perform: ec2:RunInstances' -o json\n  denyctl triage trail/ -o json > groups.json && denyctl collect --org org-snapshot/ --resources-from groups.json")]
    Collect(CollectArgs),
    /// Diagnose a denial live: who is calling, every layer fetched, the denying statement named.
    #[command(after_help = "Examples:\n  denyctl diagnose 'User: arn:aws:sts::111122223333:assumed-role/ci/run is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::b/k'\n  denyctl diagnose --action iam:ListUsers --resource '*'\n  denyctl diagnose --snapshot snapshot.json -o json\n  denyctl diagnose --action sts:AssumeRoleWithWebIdentity --resource arn:aws:iam::111122223333:role/deploy --claims '{\"iss\":\"https://token.actions.githubusercontent.com\",\"sub\":\"repo:o/r:ref:refs/heads/main\",\"aud\":\"sts.amazonaws.com\"}'\n  denyctl diagnose --action sts:AssumeRoleWithWebIdentity --resource ROLE_ARN --web-identity-token \"$AWS_WEB_IDENTITY_TOKEN_FILE\"\n\nExit codes: 0 allowed now, 1 denied (diagnosed), 2 usage or input error, 3 AWS or network error.")]
    Diagnose(DiagnoseArgs),
    /// Propose the least-privilege fix for a denied request, checked for new access: live (a denial, --event or --action/--resource) or offline (--scenario FILE).
    #[command(after_help = "Examples:\n  denyctl fix --dry-run 'User: arn:aws:iam::111122223333:user/bob is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\"'\n  denyctl fix --dry-run --action iam:GetUser --resource arn:aws:iam::111122223333:user/bob -o json > plan.json\n  denyctl fix --dry-run --scenario tests/scenarios/shared/01-s3-put-no-identity-allow.json\n  denyctl fix --dry-run --scenario case.json -o diff\n  denyctl fix --dry-run --scenario case.json --scope bucket --accept-widening\n  denyctl fix --dry-run --iac infra/ 'User: ... is not authorized ...' -o diff > fix.patch   # then: git -C infra apply ../fix.patch\n  denyctl fix --iac infra/ --action s3:PutObject --resource arn:aws:s3:::b/k   # shows the patch, asks, writes the files\n  denyctl fix --dry-run --action sts:AssumeRoleWithWebIdentity --resource ROLE_ARN --claims @claims.json -o json > plan.json   # the exact sub in the trust policy")]
    Fix(FixArgs),
    /// The whole loop against a local AWS-compatible server (moto), seeded with four incidents; no AWS account needed.
    #[command(after_help = "Examples:\n  ./scripts/demo.sh              (installs moto into ./.venv, then runs this)\n  denyctl demo --incident 1")]
    Demo(DemoArgs),
    /// Write a plan's changes (consent, compare-and-swap, backup first, undone on failure).
    #[command(after_help = "Examples:\n  denyctl fix --dry-run --action s3:GetObject --resource arn:aws:s3:::b/k -o json > plan.json\n  denyctl apply -f plan.json            # asks on a terminal\n  denyctl apply -f plan.json --yes      # scripted\n  denyctl apply -f plan.json --iac infra/ --yes   # refuses targets a stack or infra/'s Terraform state owns\n\nThe before-images are saved to PLAN.backup.json (or --backup FILE) before anything is written.\nExit codes: 0 applied (or already applied), 2 refused (no consent, plan not ready, changed since planned), 3 AWS error (what was written is undone).")]
    Apply(ApplyArgs),
    /// Undo an applied plan: restore every before-image from its backup, exactly.
    #[command(after_help = "Examples:\n  denyctl rollback -f plan.json --yes\n  denyctl rollback -f plan.json --backup saved.json\n\nExit codes: 0 restored (or nothing to restore), 2 refused (no consent, no backup, changed since applied), 3 AWS error.")]
    Rollback(RollbackArgs),
    /// Replay a plan's original request as the caller and say whether AWS allows it now.
    #[command(after_help = "Examples:\n  denyctl replay -f plan.json\n  denyctl replay -f plan.json --caller-profile ci -o json\n  denyctl replay -f plan.json --allow-write-replay   # s3:PutObject etc. for real\n\nExit codes: 0 allowed, 1 denied (the new denial is printed: the next hop), 2 input error or not replayable, 3 AWS error.")]
    Replay(ReplayArgs),
    /// Service plugins: the four built in, and shared libraries on the plugin path.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Serve denyctl to AI assistants and agents over the Model Context Protocol (stdio, or HTTP on loopback).
    #[command(after_help = "Examples:\n  denyctl mcp                                  # stdio, as an assistant starts it (read-only tools)\n  denyctl --profile admin mcp --allow-apply    # apply_plan and rollback_plan may write\n  denyctl mcp --http 127.0.0.1:8765            # streamable HTTP on http://127.0.0.1:8765/mcp\n\nThe identities (--profile, --caller-profile, --org-profile, --region) are fixed when the server starts;\na tool call cannot change them. Tools, safety rules and examples: docs/mcp.md.")]
    Mcp(McpArgs),
    /// Every AccessDenied in CloudTrail, grouped into distinct problems, ranked (and decided with --snapshot or --live).
    #[command(after_help = "Examples:\n  denyctl triage ./AWSLogs/                      # log files and folders (.json, .json.gz), lookup-events output, JSON lines\n  denyctl triage --fold logs/ -o csv > queue.csv\n  denyctl triage logs/ --html report.html\n  denyctl triage s3://org-trail/AWSLogs/o-abc123/ --since 2025-01-01 --until 2025-01-07\n\nExit codes: 0 triaged (some sources may be skipped: see stderr), 2 nothing could be read, 3 AWS error.")]
    Triage(TriageArgs),
}

/// `denyctl mcp`.
#[derive(Args, Debug)]
pub struct McpArgs {
    /// Serve the streamable HTTP transport on ADDR (e.g. 127.0.0.1:8765; port 0 picks a free one) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Allow --http on a non-loopback address (the server has no authentication of its own).
    #[arg(long, requires = "http")]
    pub listen_any: bool,
    /// Let apply_plan and rollback_plan write (a plan this server made, with its checks, compare-and-swap
    /// and backup). Without it they answer with the command a person can run.
    #[arg(long)]
    pub allow_apply: bool,
    /// Let replay send a mutating request (s3:PutObject, sqs:SendMessage, ...) for real when the agent asks.
    #[arg(long)]
    pub allow_write_replay: bool,
    /// Where this run keeps its plans, backups and snapshots (default: $XDG_STATE_HOME/denyctl/mcp-RUN, owner-only).
    #[arg(long, value_name = "DIR")]
    pub session_dir: Option<String>,
}

/// `denyctl triage` (docs/triage.md).
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("engine").args(["athena", "cloudtrail_lake"])))]
pub struct TriageArgs {
    /// CloudTrail sources: log files and folders (plain or .gz), `aws cloudtrail lookup-events`
    /// output, JSON lines, `s3://BUCKET/PREFIX` of a trail (read as the operator).
    #[arg(value_name = "SOURCE", required_unless_present_any = ["athena", "cloudtrail_lake"])]
    pub sources: Vec<String>,
    /// Fold S3 object keys to their prefix, so denials on many objects under one prefix are one group.
    #[arg(long)]
    pub fold: bool,
    /// Also write a self-contained HTML report (queue, denials per day, verdicts and plans).
    #[arg(long, value_name = "FILE")]
    pub html: Option<String>,
    /// Earliest day to read from `s3://` sources (YYYY-MM-DD; picks the date prefixes listed).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Last day to read from `s3://` sources (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Decide every group offline from DIR: an organization snapshot (`denyctl collect --org DIR`)
    /// or a folder of `denyctl collect … -o json` files; the denying layer and statement, and the
    /// plan `fix` would make.
    #[arg(long, value_name = "DIR", conflicts_with = "live")]
    pub snapshot: Option<String>,
    /// Diagnose the top groups live (as `denyctl diagnose` does), as the operator.
    #[arg(long)]
    pub live: bool,
    /// With --live: how many groups, from the top of the queue.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Group server-side with Athena over this CloudTrail table (`db.table`): only the groups come back.
    #[arg(long, value_name = "TABLE")]
    pub athena: Option<String>,
    /// Group server-side with CloudTrail Lake over this event data store (its ARN or ID): only the
    /// groups come back.
    #[arg(long, value_name = "EVENT_DATA_STORE", conflicts_with = "athena")]
    pub cloudtrail_lake: Option<String>,
    /// With --athena: the database of the table.
    #[arg(long, value_name = "NAME", requires = "athena")]
    pub database: Option<String>,
    /// With --athena: the workgroup to run in.
    #[arg(long, value_name = "NAME", requires = "athena")]
    pub workgroup: Option<String>,
    /// Where the engine writes the results (`s3://…`): required by Athena unless the workgroup
    /// sets it; optional for CloudTrail Lake (a copy of the results).
    #[arg(long, value_name = "S3_URL", requires = "engine")]
    pub output_location: Option<String>,
    /// With --athena or --cloudtrail-lake: print the SQL and stop (run it yourself in the console).
    #[arg(long, requires = "engine")]
    pub show_query: bool,
    /// With --athena or --cloudtrail-lake: how long to wait for the query, in seconds.
    #[arg(long, visible_alias = "athena-timeout", value_name = "SECONDS", default_value_t = 600, requires = "engine")]
    pub query_timeout: u64,
}

/// `denyctl demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run only this incident (1-4).
    #[arg(long, value_parser = clap::value_parser!(usize))]
    pub incident: Option<usize>,
}

/// `denyctl completion`.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// What a denied request was: a denial message, a CloudTrail event, or flags.
#[derive(Args, Debug, Clone, Default)]
pub struct RequestArgs {
    /// The denial message text, or `-` to read it from stdin.
    #[arg(value_name = "TEXT")]
    pub text: Option<String>,
    /// A CloudTrail event (JSON) of the denied call.
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub event: Option<String>,
    /// The principal (default: the live caller).
    #[arg(long, value_name = "ARN")]
    pub principal: Option<String>,
    /// The action (`s3:PutObject`).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// The resource ARN (`*` for actions without one).
    #[arg(long, value_name = "ARN")]
    pub resource: Option<String>,
    /// The account that owns the resource, when its ARN does not say (S3).
    #[arg(long, value_name = "ACCOUNT")]
    pub resource_account: Option<String>,
    /// A request context key (repeat a key for several values).
    #[arg(long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,
    /// A session policy passed when the session was created (AWS cannot read these back).
    #[arg(long = "session-policy", value_name = "FILE")]
    pub session_policy: Vec<String>,
}

/// `denyctl collect`.
#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The request.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Write an organization snapshot to this new folder instead: the tree with its SCPs and RCPs,
    /// and every account's roles, users, groups and policies (docs/snapshot.md).
    #[arg(long, value_name = "DIR")]
    pub org: Option<String>,
    /// With --org: the role assumed in each member account (default OrganizationAccountAccessRole).
    #[arg(long, value_name = "NAME", requires = "org")]
    pub member_role: Option<String>,
    /// With --org: a `denyctl triage -o json` output; the resource policies of its groups' resources are read.
    #[arg(long, value_name = "FILE", requires = "org")]
    pub resources_from: Vec<String>,
}

/// `denyctl diagnose`.
#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// The request.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Diagnose offline from a snapshot written by `denyctl collect -o json`.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<String>,
    /// Federated role assumption (sts:AssumeRoleWithWebIdentity, sts:AssumeRoleWithSAML).
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// The claims of a federated role assumption (sts:AssumeRoleWithWebIdentity, sts:AssumeRoleWithSAML):
/// the trust policy is evaluated with them as the request context (docs/federation.md).
#[derive(Args, Debug, Clone, Default)]
pub struct FederationArgs {
    /// The token's or SAML assertion's claims as a JSON object (`{"sub": ..., "aud": ..., "iss": ...}`), or @FILE.
    #[arg(long, value_name = "JSON", conflicts_with = "web_identity_token")]
    pub claims: Option<String>,
    /// A web identity token file (a JWT): its claims are decoded, never verified; the token is never printed.
    #[arg(long, value_name = "FILE")]
    pub web_identity_token: Option<String>,
    /// Inside GitHub Actions: the repository's customised subject (`include_claim_keys`, comma-separated, e.g. repo,context,job_workflow_ref).
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub sub_template: Vec<String>,
    /// Inside GitHub Actions: the job's deployment environment (its variables do not carry it; default $GITHUB_ENVIRONMENT).
    #[arg(long, value_name = "NAME")]
    pub github_environment: Option<String>,
    /// Inside GitHub Actions: the audience the token is requested for (default sts.amazonaws.com).
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// The identity provider: an oidc-provider or saml-provider ARN, an OIDC issuer URL, or a SAML provider name (default: the token's iss).
    #[arg(long, value_name = "ARN|URL|NAME")]
    pub provider: Option<String>,
    /// The caller passes session tags: the trust policy must allow sts:TagSession too.
    #[arg(long)]
    pub session_tags: bool,
    /// The caller sets a source identity: the trust policy must allow sts:SetSourceIdentity too.
    #[arg(long)]
    pub source_identity: bool,
}

/// `denyctl fix`.
#[derive(Args, Debug)]
pub struct FixArgs {
    /// The denied request (live planning); not with --scenario.
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print the plan and change nothing (the only mode built so far; also the default when stdin or stdout is not a terminal).
    #[arg(long)]
    pub dry_run: bool,
    /// A scenario file (request + every policy layer, tests/scenarios/FORMAT.md) to plan from; `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<String>,
    /// How widely to grant a missing identity allow: only `exact` is least privilege.
    #[arg(long, value_enum, default_value_t = FixScope::Exact)]
    pub scope: FixScope,
    /// Accept a plan that would allow more than the denied request (listed in the plan).
    #[arg(long)]
    pub accept_widening: bool,
    /// Apply without asking (scripts, CI). Without a terminal and without --yes, `fix` only prints the plan.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Let the verification replay a mutating request for real (s3:PutObject, sqs:SendMessage, ...).
    #[arg(long)]
    pub allow_write_replay: bool,
    /// With --yes: also apply changes flagged for a human (narrowing a Deny that looks deliberate).
    #[arg(long)]
    pub accept_needs_human: bool,
    /// Verify by re-evaluating the live layers instead of replaying, for what the server does not
    /// enforce (a local test server): a service prefix (`kms`), or `conditions` (fixes that narrow
    /// a Deny with a condition).
    #[arg(long, value_name = "SERVICE", hide = true)]
    pub verify_by_evaluation: Vec<String>,
    /// Where the session writes its plan, backup and hand-off files, owner-only (default: a new
    /// folder under $XDG_STATE_HOME/denyctl/, else ~/.local/state/denyctl/; never the current directory).
    #[arg(long, value_name = "DIR")]
    pub session_dir: Option<String>,
    /// The folder of the Infrastructure-as-Code that owns the policies (CloudFormation templates,
    /// Terraform .tf files and states): the fix is written there as a patch (`-o diff`: a git-style
    /// diff relative to DIR), and targets it does not own stay API changes (`unmanaged`).
    #[arg(long, value_name = "DIR")]
    pub iac: Option<String>,
    /// A Terraform state (`terraform.tfstate`, `terraform show -json` output, or `s3://BUCKET/KEY`
    /// of an S3 backend, read as the operator) mapping ARNs to resource addresses; with --iac.
    /// States named terraform.tfstate under --iac are found without it.
    #[arg(long, value_name = "FILE")]
    pub tf_state: Vec<String>,
    /// In the session's apply step: write through the API even to targets a stack or the given
    /// Terraform state owns (you accept the drift).
    #[arg(long)]
    pub allow_drift: bool,
    /// Federated role assumption (sts:AssumeRoleWithWebIdentity, sts:AssumeRoleWithSAML).
    #[command(flatten)]
    pub federation: FederationArgs,
}

/// `denyctl apply`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The plan file (`fix --dry-run -o json`).
    #[arg(short = 'f', long = "filename", value_name = "PLAN")]
    pub file: String,
    /// Write without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where to save the before-images (default: PLAN.backup.json next to the plan).
    #[arg(long, value_name = "FILE")]
    pub backup: Option<String>,
    /// Apply a plan refused by the no-new-access check: you accept everything it lists as newly allowed.
    #[arg(long)]
    pub accept_widening: bool,
    /// Apply the changes of an `unresolved` plan although they do not make the request allowed.
    #[arg(long)]
    pub partial: bool,
    /// Apply changes flagged for human review (needs_human) without a terminal; you have read their reasons.
    #[arg(long)]
    pub accept_needs_human: bool,
    /// Write through the API even to targets a CloudFormation stack or the given Terraform state
    /// owns (the next stack update or `terraform apply` may revert it): you accept the drift.
    #[arg(long)]
    pub allow_drift: bool,
    /// The IaC folder: Terraform states under it (and --tf-state) are checked for owners too.
    #[arg(long, value_name = "DIR")]
    pub iac: Option<String>,
    /// A Terraform state whose resources must not be changed behind its back (file or s3://BUCKET/KEY).
    #[arg(long, value_name = "FILE")]
    pub tf_state: Vec<String>,
}

/// `denyctl rollback`.
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The plan file that was applied.
    #[arg(short = 'f', long = "filename", value_name = "PLAN")]
    pub file: String,
    /// Restore without asking (required without a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// The backup written by apply (default: PLAN.backup.json next to the plan).
    #[arg(long, value_name = "FILE")]
    pub backup: Option<String>,
    /// Restore even a target that was changed again after apply (that later change is lost).
    #[arg(long)]
    pub force: bool,
}

/// `denyctl replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The plan file whose `replay` request is sent again.
    #[arg(short = 'f', long = "filename", value_name = "PLAN")]
    pub file: String,
    /// Replay a write action for real (e.g. a 0-byte s3:PutObject only where no object exists); without it writes are probed or not replayed.
    #[arg(long)]
    pub allow_write_replay: bool,
}

/// `fix --scope` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FixScope {
    /// The exact action on the exact resource ARN.
    Exact,
    /// The exact action on everything under the resource's prefix (`bucket/dir/*`).
    Prefix,
    /// The exact action on everything in the bucket (`bucket/*`).
    Bucket,
    /// Every action of the service with the same access level, on the exact resource.
    AccessLevel,
}

/// `denyctl plugin ...`.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// List every plugin (built-in and loaded from $DENYCTL_PLUGIN_PATH, then ~/.denyctl/plugins), and the libraries skipped.
    #[command(after_help = "Examples:\n  denyctl plugin list\n  DENYCTL_PLUGIN_PATH=./target/debug denyctl plugin list -o json")]
    List,
}

/// `denyctl simulate`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct SimulateArgs {
    /// One scenario file (JSON; `-` for stdin).
    #[arg(long, value_name = "FILE", group = "input")]
    pub scenario: Option<String>,
    /// A JSON-lines file of scenarios: one JSON verdict line per scenario, in input order.
    #[arg(long, value_name = "FILE", group = "input")]
    pub batch: Option<String>,
}

/// `denyctl explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The message text, or `-` to read stdin.
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Read the message or CloudTrail file (plain or .gz) from FILE.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<String>,
    /// Print AWS's own record of a denial (live: IAM Toolbox GetRequestAuthorizationDetails, with
    /// the operator's credentials; needs iam:GetRequestAuthorizationDetails).
    #[arg(long, value_name = "ID", conflicts_with_all = ["text", "file"])]
    pub authorization_id: Option<String>,
}

/// `--timeout`: seconds as a number (`0` and negative values are refused later, in one line).
fn parse_timeout(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("{s:?} is not a number of seconds"))
}
