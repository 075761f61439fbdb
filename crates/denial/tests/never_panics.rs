//! Property: no input makes the parser panic, and what it returns is well-formed.

use proptest::prelude::*;

/// Fragments of real grammar, so generated inputs reach deep into the parser rather than failing early.
const PIECES: &[&str] = &[
    "User: ", "arn:aws:sts::1:assumed-role/r/s", " is not authorized to perform: ", "s3:GetObject", " on resource: ", "\"arn:aws:s3:::b/k\"",
    " because no ", "identity-based policy", " allows the ", " action", " with an explicit deny in ", "a ", "an ", "service control policy",
    " transitively through ", ": arn:aws:iam::1:policy/P", ". Go to https://x/#/authorization-details/", "ABC123", " authorization id: ",
    "An error occurred (AccessDenied) when calling the ", "PutObject", " operation: ", "Access Denied", "Access to the resource https://sqs.x.amazonaws.com/ is denied.",
    "You are not authorized to perform this operation.", " Encoded authorization failure message: ", "operation error S3: ", ", api error ",
    "(Service: S3, Status Code: 403, Request ID: X)", "{\"Records\":[", "{\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"GetObject\",\"errorCode\":\"AccessDenied\",\"userIdentity\":{}}",
    "]}", "{\"Events\":[{\"CloudTrailEvent\":\"", "\\\"", "\\n", "\n", "│", "é", "💥", "<", ">", "`", ":", " ", "\u{0}",
    "The security token included in the request is expired", "Key '", "' does not exist", "Aws::S3::Errors::AccessDenied", "de_PutObjectCommandError",
    "Not authorized to perform ", "sts:AssumeRoleWithWebIdentity", "Could not assume role with OIDC: ", "An error occurred (403) when calling the HeadObject operation: Forbidden",
    "\n    ", "\n│ ", "arn:aws:iam::<account-id>:role/x-", "REDACTED", "...", "…", "[", "]", "(", ")", "'", ",)", " (Aws::STS::Errors::AccessDenied)",
    "https://sqs.us-east-1.amazonaws.com/123456789012/q", "https://queue.amazonaws.com/1/", " because no VPC endpoint pol", " for role arn:aws:iam::1:role/r",
    "Your authorization token has expired. Reauthenticate and try again.", "This request is not authorized to perform this operation.",
    "aws.sdk.kotlin.services.s3.model.S3Exception: Service returned error code 403", ".throwHeadObjectError(", "aws-sdk/lib/services/s3.js", "log-group:x:log-stream:",
];

fn grammar_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

fn check(bytes: &[u8]) {
    if let Ok(parsed) = denyctl_denial::parse(bytes) {
        for f in &parsed.findings {
            assert!(f.kind.is_some());
            let _ = f.advice();
            serde_json::to_string(f).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_strings(s in ".{0,512}") {
        check(s.as_bytes());
    }

    #[test]
    fn grammar_fragments(s in grammar_soup()) {
        check(s.as_bytes());
    }
}

#[test]
fn large_adversarial_inputs_finish() {
    let many = "User: x is not authorized to perform: s3:A ".repeat(50_000);
    check(many.as_bytes());
    let nested = "[".repeat(100_000);
    check(nested.as_bytes());
    let quotes = "\\\"".repeat(500_000);
    check(quotes.as_bytes());
}
