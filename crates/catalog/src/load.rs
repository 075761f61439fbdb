//! Decoding the embedded, gzipped catalog (see `scripts/gen-catalog.mjs` for its shape).

use std::collections::HashMap;
use std::io::Read;

use flate2::read::GzDecoder;
use serde::Deserialize;

use crate::arn::ArnFormat;
use crate::model::{AccessLevel, Action, ActionResourceType, ConditionKey, ResourceType, Service};
use crate::{Catalog, CatalogError};

/// The format number this code reads.
const FORMAT: u32 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    format: u32,
    package: String,
    version: String,
    updated_at: String,
    #[serde(default)]
    dependent_actions_from: String,
    license: String,
    services: Vec<RawService>,
}

/// `[prefix, name, actions, resourceTypes, conditionKeys]`
type RawService = (
    String,
    String,
    Vec<RawAction>,
    Vec<RawResourceType>,
    Vec<(String, String)>,
);
/// `[name, accessLevel, description, resourceTypes, conditionKeys, dependentActions]`
type RawAction = (
    String,
    AccessLevel,
    String,
    Vec<RawActionResourceType>,
    Vec<String>,
    Vec<String>,
);
/// `[name, required (0|1), conditionKeys, dependentActions]`
type RawActionResourceType = (String, u8, Vec<String>, Vec<String>);
/// `[name, arnFormats, conditionKeys]`
type RawResourceType = (String, Vec<String>, Vec<String>);

fn corrupt(reason: impl ToString) -> CatalogError {
    CatalogError::CorruptData {
        reason: reason.to_string(),
    }
}

/// Decodes gzipped catalog JSON into a [`Catalog`].
pub(crate) fn decode(gz: &[u8]) -> Result<Catalog, CatalogError> {
    let mut json = Vec::with_capacity(gz.len() * 9);
    GzDecoder::new(gz)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(format!("gzip: {e}")))?;
    let raw: RawCatalog =
        serde_json::from_slice(&json).map_err(|e| corrupt(format!("json: {e}")))?;
    if raw.format != FORMAT {
        return Err(corrupt(format!(
            "format {} where {FORMAT} was expected",
            raw.format
        )));
    }
    let mut services = Vec::with_capacity(raw.services.len());
    let mut service_index = HashMap::with_capacity(raw.services.len());
    for (prefix, name, actions, resource_types, condition_keys) in raw.services {
        let key = prefix.to_ascii_lowercase();
        if service_index.insert(key, services.len()).is_some() {
            return Err(corrupt(format!("service {prefix} listed twice")));
        }
        services.push(build_service(
            prefix,
            name,
            actions,
            resource_types,
            condition_keys,
        )?);
    }
    Ok(Catalog {
        package: raw.package,
        version: raw.version,
        updated_at: raw.updated_at,
        dependent_actions_from: raw.dependent_actions_from,
        license: raw.license,
        services,
        service_index,
    })
}

fn build_service(
    prefix: String,
    name: String,
    raw_actions: Vec<RawAction>,
    raw_resource_types: Vec<RawResourceType>,
    raw_condition_keys: Vec<(String, String)>,
) -> Result<Service, CatalogError> {
    let resource_types: Vec<ResourceType> = raw_resource_types
        .into_iter()
        .map(|(name, formats, condition_keys)| ResourceType {
            name,
            arn_formats: formats.into_iter().map(ArnFormat::new).collect(),
            condition_keys,
        })
        .collect();
    let rt_index: HashMap<String, usize> = resource_types
        .iter()
        .enumerate()
        .map(|(i, rt)| (rt.name.to_ascii_lowercase(), i))
        .collect();

    let mut actions = Vec::with_capacity(raw_actions.len());
    let mut action_index = HashMap::with_capacity(raw_actions.len());
    for (action_name, access_level, description, rts, condition_keys, dependent_actions) in
        raw_actions
    {
        let mut resource_types_of_action = Vec::with_capacity(rts.len());
        for (rt_name, required, rt_condition_keys, rt_dependent_actions) in rts {
            let rt = rt_index
                .get(&rt_name.to_ascii_lowercase())
                .and_then(|&i| resource_types.get(i))
                .ok_or_else(|| {
                    corrupt(format!(
                        "{prefix}:{action_name} names unknown resource type {rt_name}"
                    ))
                })?;
            resource_types_of_action.push(ActionResourceType {
                name: rt.name.clone(),
                required: required != 0,
                arn_formats: rt
                    .arn_formats
                    .iter()
                    .map(|f| f.as_str().to_string())
                    .collect(),
                condition_keys: rt_condition_keys,
                dependent_actions: rt_dependent_actions,
            });
        }
        if action_index
            .insert(action_name.to_ascii_lowercase(), actions.len())
            .is_some()
        {
            return Err(corrupt(format!(
                "action {prefix}:{action_name} listed twice"
            )));
        }
        actions.push(Action {
            qualified: format!("{prefix}:{action_name}"),
            prefix_len: prefix.len(),
            description,
            access_level,
            resource_types: resource_types_of_action,
            condition_keys,
            dependent_actions,
        });
    }

    let condition_keys = raw_condition_keys
        .into_iter()
        .map(|(name, kind)| ConditionKey { name, kind })
        .collect();
    Ok(Service {
        prefix,
        name,
        actions,
        action_index,
        resource_types,
        condition_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [&b""[..], b"not gzip", &gzip(b"{}"), &gzip(b"[1,2")] {
            assert!(matches!(
                decode(input),
                Err(CatalogError::CorruptData { .. })
            ));
        }
    }

    #[test]
    fn wrong_format_and_dangling_resource_type_are_rejected() {
        let wrong = br#"{"format":2,"package":"p","version":"v","updatedAt":"","license":"","services":[]}"#;
        assert!(decode(&gzip(wrong))
            .unwrap_err()
            .to_string()
            .contains("format 2"));
        let dangling =
            br#"{"format":1,"package":"p","version":"v","updatedAt":"","license":"","services":[
            ["x","X",[["Do","Read","",[["thing",1,[],[]]],[],[]]],[],[]]]}"#;
        assert!(decode(&gzip(dangling))
            .unwrap_err()
            .to_string()
            .contains("unknown resource type thing"));
    }

    #[test]
    fn minimal_catalog_decodes() {
        let ok =
            br#"{"format":1,"package":"p","version":"v","updatedAt":"","license":"L","services":[
            ["x","X",[["Do","Permissions management","d",[["thing",1,[],[]]],["x:k"],[]]],
             [["thing",["arn:${Partition}:x:::${Name}"],[]]],[["x:k","String"]]]]}"#;
        let c = decode(&gzip(ok)).unwrap();
        let a = c.action("X:do").unwrap();
        assert_eq!(a.qualified_name(), "x:Do");
        assert_eq!(a.access_level(), AccessLevel::PermissionsManagement);
        assert_eq!(
            a.resource_types()[0].arn_formats(),
            ["arn:${Partition}:x:::${Name}"]
        );
    }
}
