//! The types every IaC backend shares: what is looked for ([`Wanted`]), what the caller read
//! ([`Sources`]: files, stacks, states), where a target lives ([`Located`]), and what a patch
//! produces ([`Patched`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::delta::PolicyEdit;

/// The IaC tool that owns a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// AWS CloudFormation (YAML or JSON templates; CDK output included).
    Cloudformation,
    /// HashiCorp Terraform / OpenTofu (`.tf` files and a state).
    Terraform,
}

impl Tool {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Cloudformation => "cloudformation",
            Tool::Terraform => "terraform",
        }
    }
}

/// Which policy document of which live entity a change writes. Built from a plan change's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "slot", rename_all = "snake_case")]
pub enum Slot {
    /// An inline policy of a role (`role_name`) or user (`user_name`), by its policy name. With
    /// `create`, the policy does not exist yet: the IaC gains a new inline policy of that name.
    InlinePolicy {
        /// The role holding it.
        role_name: Option<String>,
        /// The user holding it.
        user_name: Option<String>,
        /// The inline policy's name (no `inline:` prefix).
        policy_name: String,
        /// The policy is new.
        create: bool,
    },
    /// A customer managed policy, by ARN (its document is the policy's default version).
    ManagedPolicy {
        /// The policy ARN.
        policy_arn: String,
        /// The policy's name.
        policy_name: String,
    },
    /// The managed policy used as a role's or user's permissions boundary, by ARN.
    Boundary {
        /// The boundary policy ARN.
        policy_arn: String,
        /// The policy's name.
        policy_name: String,
    },
    /// A role's trust policy (`AssumeRolePolicyDocument` / `assume_role_policy`).
    TrustPolicy {
        /// The role.
        role_name: String,
        /// The role ARN.
        role_arn: String,
    },
    /// A resource's own policy: bucket (`s3`), key (`kms`), queue (`sqs`), secret (`secretsmanager`).
    ResourcePolicy {
        /// `s3`, `kms`, `sqs` or `secretsmanager`.
        service: String,
        /// The bucket, key, queue or secret ARN.
        resource_arn: String,
        /// The policy does not exist yet.
        create: bool,
    },
}

impl Slot {
    /// A short description for messages (`inline policy deploy of role ci`, `bucket policy of arn:…`).
    pub fn describe(&self) -> String {
        match self {
            Slot::InlinePolicy { role_name, user_name, policy_name, .. } => {
                let who = role_name.as_ref().map(|r| format!("role {r}")).or(user_name.as_ref().map(|u| format!("user {u}"))).unwrap_or_default();
                format!("inline policy {policy_name} of {who}")
            }
            Slot::ManagedPolicy { policy_arn, .. } => format!("managed policy {policy_arn}"),
            Slot::Boundary { policy_arn, .. } => format!("permissions boundary {policy_arn}"),
            Slot::TrustPolicy { role_arn, .. } => format!("trust policy of {role_arn}"),
            Slot::ResourcePolicy { service, resource_arn, .. } => format!("{service} resource policy of {resource_arn}"),
        }
    }
}

/// The live facts a backend resolves names and intrinsics with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The account the targets are in.
    pub account: String,
    /// The region of the stacks (and of regional resources).
    pub region: String,
}

/// What the caller wants found and changed: one plan change.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The plan change id (`c1`).
    pub change: String,
    /// The plan layer, wire name (`identity`, `resource`, `permissions_boundary`, `trust`).
    pub layer: String,
    /// Where the change goes.
    pub slot: Slot,
    /// The document edit.
    pub edit: PolicyEdit,
}

/// A text file under the IaC folder (path relative to it, `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path relative to the `--iac` folder.
    pub path: String,
    /// The file's text (files that are not UTF-8 are not given).
    pub text: String,
}

/// One resource of a CloudFormation stack, as ListStackResources reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackResource {
    /// The logical ID in the template.
    pub logical_id: String,
    /// `AWS::IAM::Role`, ...
    pub resource_type: String,
    /// The physical ID (role name, bucket name, key id, queue URL, policy ARN, ...), when created.
    pub physical_id: Option<String>,
}

/// A CloudFormation stack read from the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The stack name.
    pub name: String,
    /// The stack ARN/ID.
    pub id: String,
    /// Its resources.
    pub resources: Vec<StackResource>,
    /// The parameter values the stack was created with.
    pub parameters: BTreeMap<String, String>,
    /// The template body from GetTemplate (used when no local file matches the stack), if read.
    pub template_body: Option<String>,
}

/// A Terraform state given to denyctl: a `terraform.tfstate` (format 4) or `terraform show -json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSource {
    /// Where it came from, for messages (`terraform.tfstate`, `s3://bucket/key`, `--tf-state FILE`).
    pub origin: String,
    /// The folder (relative to the IaC folder) whose `.tf` files this state belongs to; `""` for the root.
    pub dir: String,
    /// The state text.
    pub text: String,
}

/// Everything the backends search: the IaC folder's files, the account's stacks, the states.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Text files under `--iac` (templates, `.tf`, `.tfvars`, policy JSON files, ...).
    pub files: Vec<SourceFile>,
    /// CloudFormation stacks of the account (empty offline).
    pub stacks: Vec<Stack>,
    /// Terraform states.
    pub states: Vec<StateSource>,
    /// Live facts.
    pub live: Live,
}

impl Sources {
    /// The file at `path` (relative), if given.
    pub fn file(&self, path: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Where a target lives in the IaC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    /// The tool.
    pub tool: Tool,
    /// The file holding the resource (relative to the IaC folder), or `stack:NAME` for a template
    /// only known from GetTemplate (no local file: it can be rendered and shown, not patched in place).
    pub file: String,
    /// The logical ID (CloudFormation) or the resource address (Terraform, `module.x.aws_iam_role.r["k"]`).
    pub resource: String,
    /// The stack (CloudFormation).
    pub stack: Option<String>,
    /// Backend-private detail the patch step needs (the block's path, the policy form, ...).
    pub detail: Json,
}

/// An edit of one file: its whole text before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// Path relative to the IaC folder.
    pub path: String,
    /// The text before (`None`: the file is created).
    pub before: Option<String>,
    /// The text after.
    pub after: String,
}

/// Why a patched policy could not be rendered back to JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrenderable {
    /// The expression, as written (`Fn::ImportValue`, `lookup(var.m, "x")`, ...).
    pub expression: String,
    /// Why (`a value only known at apply time`, `unknown function`, ...).
    pub reason: String,
}

/// The result of patching one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// Where.
    pub located: Located,
    /// The file edits (usually one; two when a `file()` policy and its `.tf` both change).
    pub edits: Vec<FileEdit>,
    /// The patched policy rendered with the live values, or why it could not be.
    pub rendered_after: Result<Json, Unrenderable>,
    /// The policy as the IaC had it before the patch, rendered (to detect existing drift), when it existed.
    pub rendered_before: Option<Result<Json, Unrenderable>>,
    /// Notes for people (the form used, drift already present, ...).
    pub notes: Vec<String>,
}

/// An error of one target: one line naming the file, the resource and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{file}: {resource}: {message}")]
pub struct IacError {
    /// The file (or `--iac DIR` when it concerns no file).
    pub file: String,
    /// The resource (logical ID, address, or the target when none).
    pub resource: String,
    /// Why.
    pub message: String,
}

impl IacError {
    /// An error about a file and a resource.
    pub fn new(file: impl Into<String>, resource: impl Into<String>, message: impl Into<String>) -> Self {
        IacError { file: file.into(), resource: resource.into(), message: message.into() }
    }
}

/// One IaC backend: finds owners and patches them. Both steps are pure.
pub trait Backend {
    /// The tool.
    fn tool(&self) -> Tool;
    /// Every place in the sources that owns `wanted.slot` (zero, one, or several: several is an
    /// error the caller reports). Problems met on the way (a template that does not parse, a state
    /// of another account) are returned beside the results, one per file.
    fn locate(&self, wanted: &Wanted, sources: &Sources) -> (Vec<Located>, Vec<IacError>);
    /// Apply `wanted.edit` at `located`, in the form the code already uses, and render the result.
    fn patch(&self, wanted: &Wanted, located: &Located, sources: &Sources) -> Result<Patched, IacError>;
}
