//! Errors that are not authorization denials but are read as ones: stale or wrong credentials,
//! clocks, missing keys. And the error codes that do mean "denied".

/// A family of look-alike errors: the name reported as `other_error`, the texts and codes that show it.
pub(crate) struct LookAlike {
    /// Canonical name (an AWS error code where AWS has one).
    pub name: &'static str,
    /// Lowercase phrases that identify it in a message.
    pub phrases: &'static [&'static str],
    /// Error codes that identify it.
    pub codes: &'static [&'static str],
}

/// Every look-alike family denyctl knows.
pub(crate) const LOOK_ALIKES: &[LookAlike] = &[
    LookAlike {
        name: "ExpiredToken",
        phrases: &[
            "the security token included in the request is expired",
            "the provided token has expired",
            "token has expired and refresh failed",
            "the sso session associated with this profile has expired",
            "token expired: current date/time",
        ],
        codes: &["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "RequestExpiredException"],
    },
    LookAlike {
        name: "InvalidClientTokenId",
        phrases: &["the security token included in the request is invalid"],
        codes: &["InvalidClientTokenId", "UnrecognizedClientException", "InvalidToken"],
    },
    LookAlike {
        name: "InvalidAccessKeyId",
        phrases: &["the aws access key id you provided does not exist in our records", "the access key id you provided does not exist in our records"],
        codes: &["InvalidAccessKeyId"],
    },
    LookAlike {
        name: "SignatureDoesNotMatch",
        phrases: &["the request signature we calculated does not match the signature you provided", "signature expired:"],
        codes: &["SignatureDoesNotMatch", "InvalidSignatureException"],
    },
    LookAlike {
        name: "RequestExpired",
        phrases: &["request has expired"],
        codes: &["RequestExpired"],
    },
    LookAlike {
        name: "RequestTimeTooSkewed",
        phrases: &["the difference between the request time and the current time is too large"],
        codes: &["RequestTimeTooSkewed"],
    },
    LookAlike {
        name: "RequestNotYetValid",
        phrases: &["request is not yet valid"],
        codes: &[],
    },
    LookAlike {
        name: "AuthFailure",
        phrases: &["aws was not able to validate the provided access credentials"],
        codes: &["AuthFailure", "Client.AuthFailure"],
    },
    LookAlike {
        name: "MultiFactorAuthentication",
        phrases: &["multifactorauthentication failed"],
        codes: &[],
    },
    LookAlike {
        name: "NoCredentials",
        phrases: &[
            "unable to locate credentials",
            "could not load credentials from any providers",
            "nocredentialproviders: no valid providers in chain",
            "unable to load aws credentials from any provider in the chain",
            "failed to retrieve credentials",
        ],
        codes: &["NoCredentialProviders", "CredentialsProviderError", "NoCredentialsError"],
    },
    LookAlike {
        name: "MissingAuthenticationToken",
        phrases: &["missing authentication token"],
        codes: &["MissingAuthenticationToken", "MissingAuthenticationTokenException", "IncompleteSignature", "IncompleteSignatureException"],
    },
    LookAlike {
        name: "NotFoundException",
        phrases: &["invalid keyid", "is not a valid key id", "' does not exist", "is not found."],
        codes: &["NotFoundException", "KMS.NotFoundException"],
    },
    LookAlike {
        name: "EcrAuthorizationTokenExpired",
        phrases: &["your authorization token has expired. reauthenticate and try again", "your authorization token has expired. please run 'aws ecr get-login"],
        codes: &[],
    },
    LookAlike {
        name: "AuthorizationFailure",
        phrases: &["this request is not authorized to perform this operation", "server failed to authenticate the request. make sure the value of authorization header is formed correctly"],
        codes: &["AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthenticationFailed", "AuthorizationPermissionDenied"],
    },
    LookAlike {
        name: "OptInRequired",
        phrases: &["needs a subscription for the service", "you are not subscribed to this service"],
        codes: &["OptInRequired", "SubscriptionRequiredException"],
    },
];

/// Error codes that mean an authorization denial.
pub(crate) const DENIAL_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "Client.AccessDenied",
    "AuthorizationError",
    "AuthorizationErrorException",
    "UnauthorizedAccess",
    "UnauthorizedAccessException",
    "UnauthorizedException",
    "Forbidden",
    "ForbiddenException",
    "403 Forbidden",
    "403",
    "AccessDeniedFault",
];

/// Whether `code` means an authorization denial.
pub(crate) fn is_denial_code(code: &str) -> bool {
    DENIAL_CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
}

/// The look-alike family an error code belongs to.
pub(crate) fn by_code(code: &str) -> Option<&'static LookAlike> {
    LOOK_ALIKES.iter().find(|l| l.codes.iter().any(|c| c.eq_ignore_ascii_case(code)))
}

/// Every occurrence of a look-alike phrase in lowercase `hay`: (offset, phrase length, family), in order.
pub(crate) fn phrases_in(hay: &str, limit: usize) -> Vec<(usize, usize, &'static LookAlike)> {
    // The searchers are built once (this runs for every message of a CloudTrail batch).
    static FINDERS: std::sync::OnceLock<Vec<(memchr::memmem::Finder<'static>, &'static LookAlike)>> = std::sync::OnceLock::new();
    let finders = FINDERS.get_or_init(|| LOOK_ALIKES.iter().flat_map(|l| l.phrases.iter().map(move |p| (memchr::memmem::Finder::new(p.as_bytes()), l))).collect());
    let mut out = Vec::new();
    for (f, l) in finders {
        let len = f.needle().len();
        // Non-overlapping occurrences, as str::match_indices gives them.
        let mut from = 0;
        let mut found = 0;
        while found < limit {
            let Some(i) = hay.as_bytes().get(from..).and_then(|h| f.find(h)) else { break };
            let at = from + i;
            from = at + len.max(1);
            found += 1;
            if l.name == "NotFoundException" && !kms_key_context(hay, at) {
                continue;
            }
            out.push((at, len, *l));
        }
    }
    out.sort_by_key(|(at, _, _)| *at);
    out
}

/// KMS's "not found" phrases are generic: only count them when they speak of a key or alias.
fn kms_key_context(hay: &str, at: usize) -> bool {
    let lo = at.saturating_sub(200);
    let window = hay.get(lo..(at + 30).min(hay.len())).unwrap_or("");
    window.contains("key '") || window.contains("keyid") || window.contains("key id") || window.contains("alias/") || window.contains(":key/")
}
