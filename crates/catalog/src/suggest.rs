//! "Did you mean …?": the closest name by edit distance.

/// The candidate closest to `needle` (case-insensitive Levenshtein), if it is close enough.
///
/// Ties go to the earliest candidate, so sorted candidates give a stable answer.
pub(crate) fn closest<'a>(
    needle: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let needle = needle.to_ascii_lowercase();
    let len = needle.chars().count();
    // Short names allow one typo, longer ones about a third of their length, at most four.
    let limit = if len <= 3 { 1 } else { (len / 3).clamp(2, 4) };
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = strsim::levenshtein(&needle, &candidate.to_ascii_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn picks_the_nearest_within_the_limit() {
        let names = ["GetObject", "GetObjectAcl", "PutObject"];
        assert_eq!(closest("GetObjects", names), Some("GetObject"));
        assert_eq!(closest("getobjectacl", names), Some("GetObjectAcl"));
        assert_eq!(closest("DescribeInstances", names), None);
        assert_eq!(closest("s4", ["s3", "sns"]), Some("s3"));
        assert_eq!(closest("", ["s3"]), None);
    }
}
