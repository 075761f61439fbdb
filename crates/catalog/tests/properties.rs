//! Properties over the whole catalog and arbitrary input.

use denyctl_catalog::catalog;
use proptest::prelude::*;

#[test]
fn every_action_round_trips_through_lookup() {
    let c = catalog().unwrap();
    let mut n = 0;
    for a in c.actions() {
        let name = a.qualified_name();
        for variant in [
            name.to_string(),
            name.to_ascii_lowercase(),
            name.to_ascii_uppercase(),
        ] {
            let found = c
                .action(&variant)
                .unwrap_or_else(|e| panic!("{variant}: {e}"));
            assert!(
                std::ptr::eq(found, a),
                "{variant} found {}",
                found.qualified_name()
            );
        }
        assert!(c
            .service_actions(a.service())
            .unwrap()
            .iter()
            .any(|b| std::ptr::eq(a, b)));
        for rt in a.resource_types() {
            assert!(!rt.arn_formats().is_empty(), "{name} {}", rt.name());
        }
        n += 1;
    }
    assert_eq!(n, c.actions().count());
}

fn mixed_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, ch)| {
            if mask >> (i % 64) & 1 == 1 {
                ch.to_ascii_uppercase()
            } else {
                ch.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_casing_finds_the_same_action(index in 0usize..100_000, mask in any::<u64>()) {
        let c = catalog().unwrap();
        let all: Vec<_> = c.actions().collect();
        let a = all[index % all.len()];
        let found = c.action(&mixed_case(a.qualified_name(), mask)).unwrap();
        prop_assert_eq!(found.qualified_name(), a.qualified_name());
    }

    #[test]
    fn arbitrary_input_never_panics(action in ".{0,40}", arn in ".{0,120}", op in ".{0,30}") {
        let c = catalog().unwrap();
        let _ = c.action(&action);
        let _ = c.matching_actions(&action);
        let _ = c.operation("s3", &op);
        let _ = c.resource_type_for("s3:GetObject", &arn);
        let _ = c.scope_for("s3:ListBucket", &arn);
        let _ = c.service("s3").unwrap().classify_arn(&arn);
    }

    #[test]
    fn object_arns_scope_to_their_bucket(bucket in "[a-z0-9][a-z0-9.-]{2,20}", key in "[ -~]{1,40}") {
        let c = catalog().unwrap();
        let object = format!("arn:aws:s3:::{bucket}/{key}");
        let s = c.scope_for("s3:ListBucket", &object).unwrap().unwrap();
        prop_assert_eq!(s.arn, format!("arn:aws:s3:::{bucket}"));
        let t = c.resource_type_for("s3:GetObject", &object).unwrap().unwrap();
        prop_assert_eq!(t.name(), "object");
    }
}
