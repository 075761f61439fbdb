//! What exactly to grant: the action's canonical name and the resource ARN it is scoped to
//! (with the catalog), and the wider scopes offered as alternatives.

use denyctl_catalog::{catalog, AccessLevel, CatalogError};
use denyctl_policy::Arn;
use serde_json::{json, Value as Json};

use crate::error::RemedyError;
use crate::model::Scope;

/// The exact grant for a request.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The action, spelt as the catalog spells it (or as given when the catalog lacks it).
    pub action: String,
    /// The ARN to put in `Resource` (`*` only for actions without resource-level permissions).
    pub resource: String,
    /// The action's access level, when known.
    pub access_level: Option<AccessLevel>,
    /// The catalog resource type of `resource`, when known.
    pub resource_type: Option<String>,
    /// Notes on how the resource was chosen.
    pub notes: Vec<String>,
}

/// Work out the exact grant for `action` on `resource`.
pub fn grant_for(action: &str, resource: &str) -> Result<Grant, RemedyError> {
    let cat = catalog()?;
    let a = match cat.action(action) {
        Ok(a) => a,
        Err(CatalogError::CorruptData { reason }) => return Err(CatalogError::CorruptData { reason }.into()),
        Err(e) => {
            if resource == "*" {
                return Err(RemedyError::NoResourceArn { action: action.to_string() });
            }
            return Ok(Grant {
                action: action.to_string(),
                resource: resource.to_string(),
                access_level: None,
                resource_type: None,
                notes: vec![format!("{e}: granted as given on the resource as given")],
            });
        }
    };
    let name = a.qualified_name().to_string();
    let level = Some(a.access_level());
    if !a.supports_resource_level_permissions() {
        return Ok(Grant {
            action: name.clone(),
            resource: "*".into(),
            access_level: level,
            resource_type: None,
            notes: vec![format!(
                "{name} has no resource-level permissions: \"*\" is the only Resource IAM accepts for it (this is not a widening)"
            )],
        });
    }
    if resource == "*" {
        return Err(RemedyError::NoResourceArn { action: name });
    }
    match cat.scope_for(&name, resource)? {
        Some(scope) => {
            let mut notes = Vec::new();
            if !scope.same_as_given {
                notes.push(format!(
                    "{name} is scoped to the {} {}, not to {resource}",
                    scope.resource_type.name(),
                    scope.arn
                ));
            }
            Ok(Grant {
                action: name,
                resource: scope.arn,
                access_level: level,
                resource_type: Some(scope.resource_type.name().to_string()),
                notes,
            })
        }
        None => Ok(Grant {
            action: name.clone(),
            resource: resource.to_string(),
            access_level: level,
            resource_type: None,
            notes: vec![format!(
                "the catalog does not recognise {resource} as a resource of {name}: granted on the ARN as given"
            )],
        }),
    }
}

/// The `/`-separated pieces of an ARN's resource part, with the ARN's prefix.
fn split(resource: &str) -> Option<(String, Vec<String>)> {
    let arn = Arn::parse(resource).ok()?;
    let prefix = format!("arn:{}:{}:{}:{}:", arn.partition, arn.service, arn.region, arn.account);
    Some((prefix, arn.resource.split('/').map(str::to_string).collect()))
}

/// The statement's `Action` and `Resource` for a scope, with a description; `None` when the
/// scope is the same as a narrower one or does not apply.
pub fn scoped(grant: &Grant, scope: Scope) -> Option<(Json, String, String)> {
    match scope {
        Scope::Exact => Some((
            Json::String(grant.action.clone()),
            grant.resource.clone(),
            format!("{} on {} only", grant.action, grant.resource),
        )),
        Scope::Prefix => {
            let (prefix, parts) = split(&grant.resource)?;
            if parts.len() < 3 || parts.iter().any(|p| p.contains('*')) {
                return None;
            }
            let arn = format!("{prefix}{}/*", parts[..parts.len() - 1].join("/"));
            Some((Json::String(grant.action.clone()), arn.clone(), format!("{} on everything under {arn}", grant.action)))
        }
        Scope::Bucket => {
            let (prefix, parts) = split(&grant.resource)?;
            if parts.len() < 2 || parts[0].contains('*') {
                return None;
            }
            let arn = format!("{prefix}{}/*", parts[0]);
            Some((Json::String(grant.action.clone()), arn.clone(), format!("{} on everything in {arn}", grant.action)))
        }
        Scope::AccessLevel => {
            let level = grant.access_level?;
            let cat = catalog().ok()?;
            let svc = grant.action.split(':').next()?;
            let actions: Vec<String> = cat
                .service_actions(svc)
                .ok()?
                .iter()
                .filter(|a| a.access_level() == level)
                .filter(|a| match &grant.resource_type {
                    Some(rt) => a.resource_type(rt).is_some(),
                    None => grant.resource == "*" && !a.supports_resource_level_permissions(),
                })
                .map(|a| a.qualified_name().to_string())
                .collect();
            if actions.len() < 2 {
                return None;
            }
            let n = actions.len();
            Some((
                json!(actions),
                grant.resource.clone(),
                format!("all {n} {svc} actions of access level {level} that apply to {}", grant.resource),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_with_the_catalog() {
        let g = grant_for("s3:putobject", "arn:aws:s3:::prod-artifacts/releases/app.zip").unwrap();
        assert_eq!(g.action, "s3:PutObject");
        assert_eq!(g.resource, "arn:aws:s3:::prod-artifacts/releases/app.zip");
        let g = grant_for("s3:ListBucket", "arn:aws:s3:::prod-artifacts/releases/app.zip").unwrap();
        assert_eq!(g.resource, "arn:aws:s3:::prod-artifacts");
        assert!(g.notes[0].contains("scoped to the bucket"));
        let g = grant_for("s3:ListAllMyBuckets", "*").unwrap();
        assert_eq!(g.resource, "*");
        assert!(g.notes[0].contains("no resource-level permissions"));
        assert!(matches!(grant_for("s3:GetObject", "*"), Err(RemedyError::NoResourceArn { .. })));
    }

    #[test]
    fn wider_scopes() {
        let g = grant_for("s3:GetObject", "arn:aws:s3:::b/releases/v1/app.zip").unwrap();
        assert_eq!(scoped(&g, Scope::Prefix).unwrap().1, "arn:aws:s3:::b/releases/v1/*");
        assert_eq!(scoped(&g, Scope::Bucket).unwrap().1, "arn:aws:s3:::b/*");
        let (actions, res, _) = scoped(&g, Scope::AccessLevel).unwrap();
        let list: Vec<&str> = actions.as_array().unwrap().iter().filter_map(Json::as_str).collect();
        assert!(list.contains(&"s3:GetObject") && list.contains(&"s3:GetObjectVersion"));
        assert!(!list.contains(&"s3:PutObject") && !list.contains(&"s3:GetBucketPolicy"));
        assert_eq!(res, g.resource);
        let top = grant_for("s3:GetObject", "arn:aws:s3:::b/app.zip").unwrap();
        assert!(scoped(&top, Scope::Prefix).is_none());
    }
}
