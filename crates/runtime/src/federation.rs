//! Federation reads, as the operator: the target role's trust policy (`iam:GetRole`), and the
//! identity provider the caller's token or assertion comes from (`iam:GetOpenIDConnectProvider`:
//! URL, client IDs (audiences), thumbprints; `iam:GetSAMLProvider`: the metadata's issuer and
//! validity). A provider that does not exist is `None` (STS answers "No OpenIDConnect provider
//! found in your account for ..."), not an error.

use serde::Serialize;
use serde_json::Value as Json;

use crate::calls::Failure;
use crate::error::ReadError;
use crate::Session;

/// A role's trust policy as IAM returns it (URL-decoded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleTrust {
    /// The role's ARN (with its path).
    pub arn: String,
    /// The role's name.
    pub name: String,
    /// The trust policy.
    pub document: Json,
}

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcProvider {
    /// Its ARN.
    pub arn: String,
    /// Its URL as IAM stores it (`token.actions.githubusercontent.com`).
    pub url: String,
    /// The audiences (client IDs) STS accepts in the token's `aud`.
    pub client_ids: Vec<String>,
    /// The thumbprints of the provider's certificates.
    pub thumbprints: Vec<String>,
}

/// An IAM SAML identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SamlProvider {
    /// Its ARN.
    pub arn: String,
    /// The metadata's `entityID` (the assertion's issuer, `SAML:iss`), when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// When the metadata stops being valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// The role name an ARN names (the last path segment).
pub fn role_name(role_arn: &str) -> Option<&str> {
    role_arn.split_once(":role/").map(|(_, r)| r.rsplit('/').next().unwrap_or(r)).filter(|n| !n.is_empty())
}

fn fail_text(f: Failure) -> String {
    match f {
        Failure::Read(e) => e.to_string(),
        Failure::Fatal(e) => e.to_string(),
    }
}

/// Read a role's trust policy (`iam:GetRole`).
pub async fn read_role_trust(s: &Session, role_arn: &str) -> Result<RoleTrust, String> {
    let name = role_name(role_arn).ok_or_else(|| format!("{role_arn} is not a role ARN"))?.to_string();
    let out = s.call(&s.operator, "iam:GetRole", role_arn, 1, s.operator.iam.get_role().role_name(&name).send()).await.map_err(fail_text)?;
    let role = out.role().ok_or_else(|| format!("iam:GetRole on {role_arn}: no role in the answer"))?;
    let raw = role.assume_role_policy_document().ok_or_else(|| format!("iam:GetRole on {role_arn}: no trust policy in the answer"))?;
    let document = crate::decode::policy_document(raw).map_err(|e| format!("iam:GetRole on {role_arn}: trust policy: {e}"))?;
    Ok(RoleTrust { arn: role.arn().to_string(), name, document })
}

/// Read an OIDC provider (`iam:GetOpenIDConnectProvider`); `None` when it does not exist.
pub async fn read_oidc_provider(s: &Session, arn: &str) -> Result<Option<OidcProvider>, String> {
    let got = s
        .call(&s.operator, "iam:GetOpenIDConnectProvider", arn, 1, s.operator.iam.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send())
        .await;
    match got {
        Ok(o) => Ok(Some(OidcProvider {
            arn: arn.to_string(),
            url: o.url().unwrap_or_default().to_string(),
            client_ids: o.client_id_list().to_vec(),
            thumbprints: o.thumbprint_list().to_vec(),
        })),
        Err(Failure::Read(ReadError::NotFound { .. })) => Ok(None),
        Err(f) => Err(fail_text(f)),
    }
}

/// The `entityID` of a SAML metadata document (a plain scan: the attribute of the root element).
pub fn metadata_issuer(xml: &str) -> Option<String> {
    let i = xml.find("entityID=")?;
    let rest = &xml[i + "entityID=".len()..];
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(rest[..rest.find(q)?].to_string())
}

/// Read a SAML provider (`iam:GetSAMLProvider`); `None` when it does not exist.
pub async fn read_saml_provider(s: &Session, arn: &str) -> Result<Option<SamlProvider>, String> {
    let got = s.call(&s.operator, "iam:GetSAMLProvider", arn, 1, s.operator.iam.get_saml_provider().saml_provider_arn(arn).send()).await;
    match got {
        Ok(o) => Ok(Some(SamlProvider {
            arn: arn.to_string(),
            issuer: o.saml_metadata_document().and_then(metadata_issuer),
            valid_until: o.valid_until().map(|d| d.to_string()),
        })),
        Err(Failure::Read(ReadError::NotFound { .. })) => Ok(None),
        Err(f) => Err(fail_text(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_issuers() {
        assert_eq!(role_name("arn:aws:iam::111122223333:role/ci/deploy"), Some("deploy"));
        assert_eq!(role_name("arn:aws:iam::111122223333:user/x"), None);
        assert_eq!(metadata_issuer(r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml">"#).as_deref(), Some("https://idp.example.com/saml"));
        assert_eq!(metadata_issuer("<x/>"), None);
    }
}
