//! CloudFormation: find a target's stack and logical ID, patch the template (YAML with short-form
//! intrinsics, or JSON) keeping its layout, render the patched policy with intrinsics resolved.

use crate::model::{Backend, IacError, Located, Patched, Sources, Tool, Wanted};

/// The CloudFormation backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct CloudFormation;

impl Backend for CloudFormation {
    fn tool(&self) -> Tool {
        Tool::Cloudformation
    }

    fn locate(&self, _wanted: &Wanted, _sources: &Sources) -> (Vec<Located>, Vec<IacError>) {
        (Vec::new(), Vec::new())
    }

    fn patch(&self, wanted: &Wanted, located: &Located, _sources: &Sources) -> Result<Patched, IacError> {
        Err(IacError::new(&located.file, &located.resource, format!("{}: not supported yet", wanted.slot.describe())))
    }
}
