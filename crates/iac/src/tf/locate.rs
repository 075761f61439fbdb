//! Map a slot to a resource instance through the state's attribute values, then find its block
//! in the `.tf` files of its module folder (local module sources followed).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::hcl::{self, TfFile};
use super::render::Level;
use super::state::{self, Instance, State};
use crate::model::{IacError, Slot, Sources};

/// What the patch does at the block found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Edit the policy attribute `attr` of the block.
    Attr,
    /// Edit the `inline_policy` block named `inline` of a role.
    InlineBlock,
    /// A new inline policy on the role (a block, or a new `aws_iam_role_policy`).
    CreateInline,
    /// A new resource policy resource after the resource's block.
    CreatePolicy,
}

/// The backend-private detail of a [`crate::model::Located`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// The state's origin.
    pub state: String,
    /// The module folders from the root.
    pub dirs: Vec<String>,
    /// The module path.
    pub module: Vec<String>,
    /// `managed`.
    pub rtype: String,
    /// The resource name.
    pub name: String,
    /// The instance key.
    pub key: Option<Json>,
    /// What to do.
    pub form: Form,
    /// The attribute holding the policy (`policy`, `assume_role_policy`).
    pub attr: String,
    /// The inline policy name (inline blocks, creations).
    pub policy_name: String,
}

/// Every state given or found among the files, parsed; states of another account are refused.
pub fn states(sources: &Sources) -> (Vec<State>, Vec<IacError>) {
    let mut raw: Vec<(String, String, String)> = sources.states.iter().map(|s| (s.origin.clone(), s.dir.clone(), s.text.clone())).collect();
    for f in sources.files.iter().filter(|f| f.path == "terraform.tfstate" || f.path.ends_with("/terraform.tfstate")) {
        if !raw.iter().any(|r| r.0 == f.path) {
            raw.push((f.path.clone(), hcl::dir_of(&f.path).to_string(), f.text.clone()));
        }
    }
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for (origin, dir, text) in raw {
        match state::parse(&text, &origin, &dir) {
            Ok(s) => {
                let other: Vec<String> = state::accounts(&s).into_iter().filter(|a| !sources.live.account.is_empty() && *a != sources.live.account).collect();
                if other.is_empty() {
                    out.push(s);
                } else {
                    errs.push(IacError::new(&origin, "-", format!("the state belongs to account {}, not the target account {}: not used", other.join(", "), sources.live.account)));
                }
            }
            Err(e) => errs.push(IacError::new(&origin, "-", e)),
        }
    }
    (out, errs)
}

fn arn_name(arn: &str) -> &str {
    arn.rsplit([':', '/']).next().unwrap_or(arn)
}

/// The instances of `st` owning `slot`, with the form and the policy attribute.
pub fn matches<'s>(st: &'s State, slot: &Slot) -> Vec<(&'s Instance, Form, String, String)> {
    let mut out = Vec::new();
    let is = |i: &Instance, t: &str| i.mode == "managed" && i.rtype == t;
    for i in &st.instances {
        match slot {
            Slot::InlinePolicy { role_name, user_name, policy_name, create } => {
                let (ptype, owner_attr, owner) = match (role_name, user_name) {
                    (Some(r), _) => ("aws_iam_role_policy", "role", r),
                    (None, Some(u)) => ("aws_iam_user_policy", "user", u),
                    _ => continue,
                };
                if *create {
                    let holder = if role_name.is_some() { "aws_iam_role" } else { "aws_iam_user" };
                    if is(i, holder) && i.attr("name") == Some(owner) {
                        out.push((i, Form::CreateInline, "policy".into(), policy_name.clone()));
                    }
                    continue;
                }
                let owner_ok = i.attr(owner_attr).map(|r| r == owner || arn_name(r) == owner).unwrap_or(false);
                if is(i, ptype) && owner_ok && i.attr("name") == Some(policy_name.as_str()) {
                    out.push((i, Form::Attr, "policy".into(), policy_name.clone()));
                }
                if role_name.is_some() && is(i, "aws_iam_role") && i.attr("name") == Some(owner) {
                    let inl = i.attrs.get("inline_policy").and_then(Json::as_array).map(|l| l.iter().any(|p| p.get("name").and_then(Json::as_str) == Some(policy_name))).unwrap_or(false);
                    // The provider also lists policies of separate aws_iam_role_policy resources here.
                    let separate = st.instances.iter().any(|o| is(o, "aws_iam_role_policy") && o.attr("role").map(|r| r == owner || arn_name(r) == owner).unwrap_or(false) && o.attr("name") == Some(policy_name.as_str()));
                    if inl && !separate {
                        out.push((i, Form::InlineBlock, "policy".into(), policy_name.clone()));
                    }
                }
            }
            Slot::ManagedPolicy { policy_arn, .. } | Slot::Boundary { policy_arn, .. } => {
                if is(i, "aws_iam_policy") && i.attr("arn") == Some(policy_arn.as_str()) {
                    out.push((i, Form::Attr, "policy".into(), String::new()));
                }
            }
            Slot::TrustPolicy { role_name, role_arn } => {
                if is(i, "aws_iam_role") && (i.attr("arn") == Some(role_arn.as_str()) || i.attr("name") == Some(role_name.as_str())) {
                    out.push((i, Form::Attr, "assume_role_policy".into(), String::new()));
                }
            }
            Slot::ResourcePolicy { service, resource_arn, create } => {
                let name = arn_name(resource_arn);
                let hit = match service.as_str() {
                    "s3" => {
                        let bucket = resource_arn.trim_start_matches("arn:").splitn(5, ':').nth(4).unwrap_or(name);
                        if is(i, "aws_s3_bucket_policy") && i.attr("bucket") == Some(bucket) {
                            Some((Form::Attr, "policy"))
                        } else if is(i, "aws_s3_bucket") && i.attr("bucket") == Some(bucket) {
                            let has = i.attr("policy").map(|p| !p.is_empty()).unwrap_or(false);
                            let separate = st.instances.iter().any(|o| is(o, "aws_s3_bucket_policy") && o.attr("bucket") == Some(bucket));
                            match (has, separate, create) {
                                (true, false, _) => Some((Form::Attr, "policy")),
                                (false, false, true) => Some((Form::CreatePolicy, "policy")),
                                _ => None,
                            }
                        } else {
                            None
                        }
                    }
                    "kms" => (is(i, "aws_kms_key") && (i.attr("arn") == Some(resource_arn.as_str()) || i.attr("key_id") == Some(name))).then_some((Form::Attr, "policy")),
                    "sqs" => {
                        let parts: Vec<&str> = resource_arn.split(':').collect();
                        let suffix = format!("/{}/{}", parts.get(4).unwrap_or(&""), name);
                        if is(i, "aws_sqs_queue_policy") && i.attr("queue_url").map(|u| u.ends_with(&suffix)).unwrap_or(false) {
                            Some((Form::Attr, "policy"))
                        } else if is(i, "aws_sqs_queue") && i.attr("arn") == Some(resource_arn.as_str()) && *create {
                            let separate = st.instances.iter().any(|o| is(o, "aws_sqs_queue_policy") && o.attr("queue_url").map(|u| u.ends_with(&suffix)).unwrap_or(false));
                            (!separate).then_some((Form::CreatePolicy, "policy"))
                        } else {
                            None
                        }
                    }
                    "secretsmanager" => {
                        if is(i, "aws_secretsmanager_secret_policy") && i.attr("secret_arn") == Some(resource_arn.as_str()) {
                            Some((Form::Attr, "policy"))
                        } else if is(i, "aws_secretsmanager_secret") && i.attr("arn") == Some(resource_arn.as_str()) && *create {
                            let separate = st.instances.iter().any(|o| is(o, "aws_secretsmanager_secret_policy") && o.attr("secret_arn") == Some(resource_arn.as_str()));
                            (!separate).then_some((Form::CreatePolicy, "policy"))
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if let Some((f, a)) = hit {
                    out.push((i, f, a.into(), String::new()));
                }
            }
        }
    }
    out
}

/// The module levels from the root folder down to `module` (local sources only).
pub fn levels(sources: &Sources, root: &str, module: &[String]) -> Result<Vec<Level>, IacError> {
    let (files, errs) = hcl::module_files(sources, root);
    if let Some(e) = errs.into_iter().next() {
        return Err(e);
    }
    let mut out = vec![Level { dir: root.to_string(), module: vec![], files, call: None }];
    for (n, m) in module.iter().enumerate() {
        let cur = out.last().map(|l| (l.dir.clone(), l.files.clone())).unwrap_or_default();
        let (fi, block) = hcl::find_block(&cur.1, "module", &[m.as_str()]).ok_or_else(|| IacError::new(if cur.0.is_empty() { "." } else { &cur.0 }, format!("module.{m}"), "the state has this module but no `module` block calls it here"))?;
        let file = &cur.1[fi].path;
        let src = block.body.get_attribute("source").and_then(|a| a.value.as_str().map(String::from)).unwrap_or_default();
        if !(src.starts_with("./") || src.starts_with("../")) {
            return Err(IacError::new(file, format!("module.{m}"), format!("cannot patch a module that is not in the repository (source = \"{src}\")")));
        }
        let dir = hcl::join(&cur.0, &src).ok_or_else(|| IacError::new(file, format!("module.{m}"), "the module source leaves the IaC folder"))?;
        let (files, errs) = hcl::module_files(sources, &dir);
        if let Some(e) = errs.into_iter().next() {
            return Err(e);
        }
        if files.is_empty() {
            return Err(IacError::new(file, format!("module.{m}"), format!("no .tf files in the module folder {dir}")));
        }
        out.push(Level { dir, module: module[..=n].to_vec(), files, call: Some(block.clone()) });
    }
    Ok(out)
}

/// The file index and block of a managed resource in a level.
pub fn resource_block<'a>(files: &'a [TfFile], rtype: &str, name: &str) -> Option<(usize, &'a hcl_edit::structure::Block)> {
    hcl::find_block(files, "resource", &[rtype, name])
}
