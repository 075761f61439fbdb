//! Policy documents as IAM returns them: URL-encoded JSON (GetRolePolicy, GetPolicyVersion, the
//! trust policy in GetRole), or plain JSON (Organizations, some AWS-compatible servers).

use serde_json::Value as Json;

/// Why a policy document returned by AWS could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy document is neither JSON nor URL-encoded JSON: {0}")]
pub struct DecodeError(String);

/// Parse a policy document: plain JSON first, then URL-decoded JSON.
pub fn policy_document(raw: &str) -> Result<Json, DecodeError> {
    let trimmed = raw.trim();
    if let Ok(v) = serde_json::from_str::<Json>(trimmed) {
        if v.is_object() {
            return Ok(v);
        }
    }
    let decoded = percent_encoding::percent_decode_str(trimmed)
        .decode_utf8()
        .map_err(|e| DecodeError(format!("URL-decoded text is not UTF-8 ({e})")))?;
    match serde_json::from_str::<Json>(&decoded) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(DecodeError("the document is not a JSON object".into())),
        Err(e) => Err(DecodeError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_url_encoded() {
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert_eq!(policy_document(plain).unwrap()["Version"], "2012-10-17");
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(policy_document(enc).unwrap()["Version"], "2012-10-17");
        // A percent sign inside plain JSON must not be decoded.
        let pct = r#"{"Version":"2012-10-17","Statement":[{"Sid":"a%20b"}]}"#;
        assert_eq!(policy_document(pct).unwrap()["Statement"][0]["Sid"], "a%20b");
        assert!(policy_document("not json").is_err());
        assert!(policy_document("[1]").is_err());
    }
}
