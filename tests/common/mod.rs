//! Shared end-to-end test support.
pub mod lab;
pub mod moto;

/// IAM returns policy documents URL-encoded: decode one to the text that was put (a document
/// that is already JSON is returned as it is).
#[allow(dead_code)]
pub fn iam_document(s: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(s).is_ok() {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
