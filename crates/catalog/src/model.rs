//! The catalog's types: services, actions, resource types, condition keys.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::arn::{ArnFormat, Fit};

/// The access level AWS gives an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AccessLevel {
    /// Reads data or configuration.
    Read,
    /// Creates, changes or deletes resources.
    Write,
    /// Lists resources.
    List,
    /// Changes tags only.
    Tagging,
    /// Changes who may do what (policies, grants, ACLs).
    #[serde(rename = "Permissions management")]
    PermissionsManagement,
}

impl AccessLevel {
    /// The name AWS uses, e.g. `Permissions management`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::List => "List",
            AccessLevel::Tagging => "Tagging",
            AccessLevel::PermissionsManagement => "Permissions management",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One IAM action, e.g. `s3:GetObject`.
#[derive(Debug)]
pub struct Action {
    pub(crate) qualified: String,
    pub(crate) prefix_len: usize,
    pub(crate) description: String,
    pub(crate) access_level: AccessLevel,
    pub(crate) resource_types: Vec<ActionResourceType>,
    pub(crate) condition_keys: Vec<String>,
    pub(crate) dependent_actions: Vec<String>,
}

impl Action {
    /// The canonical `service:Action` name, e.g. `s3:GetObject`.
    pub fn qualified_name(&self) -> &str {
        &self.qualified
    }

    /// The service prefix, e.g. `s3`.
    pub fn service(&self) -> &str {
        self.qualified.get(..self.prefix_len).unwrap_or("")
    }

    /// The action name without its prefix, e.g. `GetObject`.
    pub fn name(&self) -> &str {
        self.qualified.get(self.prefix_len + 1..).unwrap_or("")
    }

    /// AWS's one-sentence description of the action.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The access level (Read, Write, List, Tagging, Permissions management).
    pub fn access_level(&self) -> AccessLevel {
        self.access_level
    }

    /// The resource types the action can be scoped to; empty means it needs `"Resource": "*"`.
    pub fn resource_types(&self) -> &[ActionResourceType] {
        &self.resource_types
    }

    /// The resource type of this action with the given name (case-insensitive).
    pub fn resource_type(&self, name: &str) -> Option<&ActionResourceType> {
        self.resource_types
            .iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(name))
    }

    /// Whether a policy can name specific resources for it (false: only `*` works).
    pub fn supports_resource_level_permissions(&self) -> bool {
        !self.resource_types.is_empty()
    }

    /// Condition keys the action supports whatever the resource.
    pub fn condition_keys(&self) -> &[String] {
        &self.condition_keys
    }

    /// Other actions the caller also needs for this one to succeed.
    pub fn dependent_actions(&self) -> &[String] {
        &self.dependent_actions
    }
}

/// A resource type as one action uses it.
#[derive(Debug)]
pub struct ActionResourceType {
    pub(crate) name: String,
    pub(crate) required: bool,
    pub(crate) arn_formats: Vec<String>,
    pub(crate) condition_keys: Vec<String>,
    pub(crate) dependent_actions: Vec<String>,
}

impl ActionResourceType {
    /// The resource type's name, e.g. `object`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether every request of the action involves this resource type.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The ARN formats of the type, e.g. `arn:${Partition}:s3:::${BucketName}/${ObjectName}`.
    pub fn arn_formats(&self) -> &[String] {
        &self.arn_formats
    }

    /// Condition keys that apply when the action acts on this resource type.
    pub fn condition_keys(&self) -> &[String] {
        &self.condition_keys
    }

    /// Other actions needed when the action acts on this resource type.
    pub fn dependent_actions(&self) -> &[String] {
        &self.dependent_actions
    }
}

/// A resource type of a service, with its ARN formats.
#[derive(Debug)]
pub struct ResourceType {
    pub(crate) name: String,
    pub(crate) arn_formats: Vec<ArnFormat>,
    pub(crate) condition_keys: Vec<String>,
}

impl ResourceType {
    /// The resource type's name, e.g. `bucket`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its ARN formats (usually one).
    pub fn arn_formats(&self) -> &[ArnFormat] {
        &self.arn_formats
    }

    /// Condition keys that describe resources of this type (e.g. `aws:ResourceTag/${TagKey}`).
    pub fn condition_keys(&self) -> &[String] {
        &self.condition_keys
    }

    /// Whether a concrete ARN is of this resource type.
    pub fn matches(&self, arn: &str) -> bool {
        self.arn_formats.iter().any(|f| f.matches(arn))
    }
}

/// A condition key a service defines, with its type.
#[derive(Debug)]
pub struct ConditionKey {
    pub(crate) name: String,
    pub(crate) kind: String,
}

impl ConditionKey {
    /// The key, e.g. `s3:prefix` or `aws:ResourceTag/${TagKey}`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its value type as AWS names it: `String`, `ARN`, `Bool`, `Numeric`, `Date`, `ArrayOfString`, ….
    pub fn value_type(&self) -> &str {
        &self.kind
    }
}

/// A concrete ARN recognised as one of a service's resource types.
#[derive(Debug, Clone)]
pub struct ArnMatch<'a> {
    /// The resource type the ARN is of.
    pub resource_type: &'a ResourceType,
    /// The ARN format it matched.
    pub format: &'a ArnFormat,
    /// The value of each placeholder, e.g. `("BucketName", "my-bucket")`.
    pub bindings: Vec<(String, String)>,
}

/// One AWS service: its prefix, actions, resource types and condition keys.
#[derive(Debug)]
pub struct Service {
    pub(crate) prefix: String,
    pub(crate) name: String,
    pub(crate) actions: Vec<Action>,
    pub(crate) action_index: HashMap<String, usize>,
    pub(crate) resource_types: Vec<ResourceType>,
    pub(crate) condition_keys: Vec<ConditionKey>,
}

impl Service {
    /// The IAM prefix, e.g. `s3`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The service's full name, e.g. `Amazon S3`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every action of the service, sorted by name.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The action with this name (without prefix), case-insensitively.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.action_index
            .get(&name.to_ascii_lowercase())
            .and_then(|&i| self.actions.get(i))
    }

    /// Every resource type of the service, sorted by name.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The resource type with this name, case-insensitively.
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(name))
    }

    /// The condition keys the service defines, sorted by name.
    pub fn condition_keys(&self) -> &[ConditionKey] {
        &self.condition_keys
    }

    /// Which of the service's resource types a concrete ARN is (the most specific fit wins).
    pub fn classify_arn(&self, arn: &str) -> Option<ArnMatch<'_>> {
        let mut best: Option<(Fit, ArnMatch<'_>)> = None;
        for rt in &self.resource_types {
            for format in &rt.arn_formats {
                if let Some((bindings, fit)) = format.bind_with_fit(arn) {
                    if best.as_ref().is_none_or(|(b, _)| fit < *b) {
                        best = Some((
                            fit,
                            ArnMatch {
                                resource_type: rt,
                                format,
                                bindings,
                            },
                        ));
                    }
                }
            }
        }
        best.map(|(_, m)| m)
    }
}
