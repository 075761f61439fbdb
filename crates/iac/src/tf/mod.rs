//! Terraform: map a target to its resource address through the state, find the block in the .tf
//! files, patch it with a format-preserving HCL editor, render the patched policy with the state's values.

use crate::model::{Backend, IacError, Located, Patched, Sources, Tool, Wanted};

/// The Terraform backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Terraform;

impl Backend for Terraform {
    fn tool(&self) -> Tool {
        Tool::Terraform
    }

    fn locate(&self, _wanted: &Wanted, _sources: &Sources) -> (Vec<Located>, Vec<IacError>) {
        (Vec::new(), Vec::new())
    }

    fn patch(&self, wanted: &Wanted, located: &Located, _sources: &Sources) -> Result<Patched, IacError> {
        Err(IacError::new(&located.file, &located.resource, format!("{}: not supported yet", wanted.slot.describe())))
    }
}
