//! Fixes where the policy really lives. Pure: no I/O (the caller reads the files, the stacks and
//! the states, and writes the patched files).
//!
//! For each change of a [`denyctl_remedy::Plan`], [`patch_plan`] finds the IaC owner of its
//! target (a CloudFormation stack's logical ID and template, or a Terraform resource address and
//! its block in the `.tf` files), patches the policy in the form the code already uses (keeping
//! comments, order and layout), and renders the patched policy back to JSON with the live values,
//! so the caller can prove the patch decides every request exactly as the API plan does.
//!
//! Layout: [`model`] (the types every backend shares), [`delta`] (what a change does to a policy
//! document, as additive operations any representation can replay), [`cfn`] and [`tf`] (the two
//! backends), [`patch`] (the orchestration over a plan), [`filediff`] (git-style diffs).

#![forbid(unsafe_code)]

pub mod cfn;
pub mod delta;
pub mod filediff;
pub mod model;
pub mod patch;
pub mod tf;

pub use model::*;
pub use patch::patch_plan;
