//! Every feature spec in specs/features names an embedded object that
//! follows the chain ABI (ARCHITECTURE.md) for that spec: the program names,
//! `accord_config`'s size by the layout rule, one `accord_set_<param>` map
//! of the right kind per set param, and the shared maps. Pure ELF checks
//! (aya-obj), no kernel: runs without root.

use std::path::Path;

use aya_obj::generated::bpf_map_type as map_type;
use aya_obj::maps::PinningType;
use composer::ir::{ParamType, ValueType};
use runtime::objects::{feature_object, FEATURES};

fn specs_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs"))
}

#[test]
fn every_spec_matches_its_object() {
    let catalog = composer::load::load_catalog(&specs_dir().join("hooks/sock_ops.yaml"))
        .unwrap_or_else(|e| panic!("catalog: {e:?}"));
    let mut specs: Vec<_> = std::fs::read_dir(specs_dir().join("features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    specs.sort();
    assert_eq!(specs.len(), FEATURES.len(), "one spec per feature object");
    for path in specs {
        let feature = composer::load::load_feature_spec(&path, &catalog)
            .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let name = &feature.name;
        for program in &feature.programs {
            let object = program
                .object
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: spec names no object"));
            let composer::ir::ObjectLocation::Builtin(file) = &object.location else {
                panic!("{name}: a shipped spec names its object as builtin:<name>, not {object}")
            };
            let bytes =
                feature_object(file).unwrap_or_else(|| panic!("{name}: no built-in object {file}"));
            let obj = aya_obj::Object::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                obj.programs.contains_key(&program.name),
                "{name}: object lacks program {}",
                program.name
            );
            // Every program reads at least the SDK parser's fields.
            for field in [
                "op",
                "family",
                "remote_ip4",
                "local_ip4",
                "remote_port",
                "local_port",
            ] {
                assert!(
                    program.reads.iter().any(|r| r == field),
                    "{name}: reads lacks {field}"
                );
            }

            let chain = &obj.maps["accord_chain"];
            assert_eq!(
                chain.map_type(),
                map_type::BPF_MAP_TYPE_PROG_ARRAY as u32,
                "{name}: accord_chain type"
            );
            assert_eq!(chain.max_entries(), 32, "{name}: accord_chain entries");
            assert_eq!(
                chain.pinning(),
                PinningType::ByName,
                "{name}: accord_chain pinned by name"
            );
            let stats = &obj.maps["accord_stats"];
            assert_eq!(stats.map_type(), map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32);
            assert_eq!(stats.value_size(), 32, "{name}: accord_stats is four u64");
            assert_eq!(
                obj.maps["accord_events"].map_type(),
                map_type::BPF_MAP_TYPE_RINGBUF as u32
            );

            let mut scalar_bytes = 0;
            for param in &feature.params {
                match &param.ty {
                    ParamType::Scalar {
                        ty: ValueType::Str { .. },
                        ..
                    } => scalar_bytes += 16,
                    ParamType::Scalar { .. } => scalar_bytes += 8,
                    ParamType::Cidr4Set | ParamType::Cidr6Set | ParamType::CidrSet => {
                        let map = obj.maps.get(&format!("accord_set_{}", param.name));
                        let map =
                            map.unwrap_or_else(|| panic!("{name}: no accord_set_{}", param.name));
                        assert_eq!(map.map_type(), map_type::BPF_MAP_TYPE_LPM_TRIE as u32);
                        assert_eq!(
                            map.key_size(),
                            20,
                            "{name}: LPM key is prefixlen + 16 bytes"
                        );
                        assert_eq!(map.value_size(), 1);
                        assert_eq!(map.max_entries(), 1024);
                        assert_eq!(map.map_flags(), aya_obj::generated::BPF_F_NO_PREALLOC);
                    }
                    ParamType::PortSet => {
                        let map = &obj.maps[&format!("accord_set_{}", param.name)];
                        assert_eq!(map.map_type(), map_type::BPF_MAP_TYPE_HASH as u32);
                        assert_eq!(map.key_size(), 2);
                    }
                }
            }
            match obj.maps.get("accord_config") {
                Some(cfg) => {
                    assert_eq!(cfg.map_type(), map_type::BPF_MAP_TYPE_ARRAY as u32);
                    assert_eq!(cfg.max_entries(), 1);
                    assert_eq!(
                        cfg.value_size(),
                        scalar_bytes,
                        "{name}: accord_config breaks the layout rule"
                    );
                }
                None => assert_eq!(
                    scalar_bytes, 0,
                    "{name}: scalar params but no accord_config"
                ),
            }
        }
    }
}

#[test]
fn the_bad_config_layout_test_object_breaks_the_rule() {
    let obj =
        aya_obj::Object::parse(runtime::objects::testing_object("bad_config_layout").unwrap())
            .unwrap();
    assert_eq!(
        obj.maps["accord_config"].value_size(),
        4,
        "one __u32 instead of a __u64"
    );
}
