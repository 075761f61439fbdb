//! Property tests: the wildcard matchers against simple reference models built on `regex`.

use denyctl_policy::glob::{glob, glob_arn};
use proptest::prelude::*;

/// Reference for the plain rule: `*` → `.*`, `?` → `.`, everything else literal.
fn reference_plain(pattern: &str, text: &str) -> bool {
    let mut re = String::from("(?s)^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(text)
}

/// Reference for the ARN rule: a `*` that ends its segment is `.*`; any other `*` is `[^:]*`;
/// `?` is `[^:]`.
fn reference_arn(pattern: &str, text: &str) -> bool {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                let mut j = i;
                while j < chars.len() && chars[j] == '*' {
                    j += 1;
                }
                let ends = j == chars.len() || chars[j] == ':';
                re.push_str(if ends { ".*" } else { "[^:]*" });
                i = j;
                continue;
            }
            '?' => re.push_str("[^:]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(text)
}

fn alphabet() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ab:/*?]{0,12}").unwrap()
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ab:/é]{0,14}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn plain_glob_agrees_with_regex(p in alphabet(), t in text()) {
        prop_assert_eq!(glob(p.as_bytes(), t.as_bytes()), reference_plain(&p, &t), "pattern {:?} text {:?}", p, t);
    }

    #[test]
    fn arn_glob_agrees_with_regex(p in alphabet(), t in text()) {
        prop_assert_eq!(glob_arn(p.as_bytes(), t.as_bytes()), reference_arn(&p, &t), "pattern {:?} text {:?}", p, t);
    }

    #[test]
    fn literal_patterns_match_only_themselves(t in text(), u in text()) {
        prop_assert!(glob_arn(t.as_bytes(), t.as_bytes()));
        prop_assert_eq!(glob_arn(t.as_bytes(), u.as_bytes()), t == u);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Action patterns (with their fast paths) agree with the plain case-insensitive glob.
    #[test]
    fn action_patterns_agree_with_glob(p in "[sS3:gGeEtT*?]{0,10}", a in "[sS3:gGeEtT]{0,10}") {
        let pat = denyctl_policy::Pattern::action(&p);
        let want = glob(p.to_ascii_lowercase().as_bytes(), a.to_ascii_lowercase().as_bytes());
        prop_assert_eq!(pat.matches_action(&a.to_ascii_lowercase()), want, "pattern {:?} action {:?}", p, a);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Resource patterns (with their fast paths) agree with the ARN reference model.
    #[test]
    fn resource_patterns_agree_with_reference(p in alphabet(), t in text()) {
        let pat = denyctl_policy::Pattern::resource(&p, false);
        let got = pat.matches_resource(&t, &|_| None) == denyctl_policy::Match::Yes;
        prop_assert_eq!(got, reference_arn(&p, &t), "pattern {:?} text {:?}", p, t);
    }
}
