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
    #[command(after_help = "Examples:\n  denyctl explain 'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: s3:PutObject ...'\n  pbpaste | denyctl explain -\n  denyctl explain --file cloudtrail.json.gz -o json")]
    Explain(ExplainArgs),
    /// Service plugins: the four built in, and shared libraries on the plugin path.
    #[command(subcommand)]
    Plugin(PluginCommand),
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
}
