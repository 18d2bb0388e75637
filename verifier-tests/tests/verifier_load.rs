//! Every embedded object and every program in it goes through the running
//! kernel's verifier; a rejection fails with the verifier log. Root only.

use runtime::objects::{FEATURES, TESTING};
use verifier_tests::{load_object, require_root_or_skip, PinDir};

/// Test objects that must be rejected, and a line the verifier log shows.
const MUST_FAIL: &[(&str, &str)] = &[("broken_ctx_access", "invalid bpf_context access")];

#[test]
fn every_feature_object_loads() {
    if !require_root_or_skip("every_feature_object_loads") {
        return;
    }
    assert!(
        FEATURES.len() >= 6,
        "expected at least six features, found {}",
        FEATURES.len()
    );
    let pins = PinDir::create("load-features").unwrap();
    for object in FEATURES {
        // Slot 3: any slot works; a non-zero one checks the global override.
        let ebpf = load_object(object.bytes, pins.path(), 3)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", object.name, object.source));
        let programs: Vec<_> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            programs,
            [object.name],
            "{}: one sock_ops program named after the feature",
            object.name
        );
        for map in ["accord_chain", "accord_stats", "accord_events"] {
            assert!(
                ebpf.map(map).is_some(),
                "{}: chain ABI map {map} missing",
                object.name
            );
        }
    }
}

#[test]
fn every_testing_object_loads_or_is_rejected_as_intended() {
    if !require_root_or_skip("every_testing_object_loads_or_is_rejected_as_intended") {
        return;
    }
    for object in TESTING {
        // A fresh pin directory each: a prog array belongs to the program
        // type that used it first, so XDP and sock_ops objects cannot share one.
        let pins = PinDir::create("load-testing").unwrap();
        let result = load_object(object.bytes, pins.path(), 0);
        match MUST_FAIL.iter().find(|(name, _)| *name == object.name) {
            Some((_, expected)) => {
                let err = result
                    .err()
                    .unwrap_or_else(|| panic!("{} must be rejected", object.name));
                assert!(
                    err.contains(expected),
                    "{}: verifier log lacks {expected:?}:\n{err}",
                    object.name
                );
            }
            None => {
                result.unwrap_or_else(|e| panic!("{} ({}): {e}", object.name, object.source));
            }
        }
    }
}
