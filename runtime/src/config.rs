//! Config images: a feature's deployed config turned into the bytes its
//! member's maps hold, following the config layout rule in ARCHITECTURE.md
//! (scalar params in declaration order, each a native-endian `u64` or a
//! NUL-padded `char[16]`; each set param its own map). Pure.

use composer::ir::{Cidr, Cidr4, ConfigValue, Feature, Literal, ParamType, ValueType};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The size of a string param in `accord_config`.
pub const STR_BYTES: usize = 16;
/// The scalar config map's ELF name.
pub const CONFIG_MAP: &str = "accord_config";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("param `{feature}.{param}`: string {value:?} is longer than {max} bytes")]
    StringTooLong {
        feature: String,
        param: String,
        value: String,
        max: usize,
    },
    #[error("param `{feature}.{param}`: value {value} does not fit its type")]
    WrongKind {
        feature: String,
        param: String,
        value: String,
    },
}

/// The contents of one set map (`accord_set_<param>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetImage {
    pub param: String,
    /// Keys in the map's own layout, sorted, without duplicates.
    pub keys: Vec<Vec<u8>>,
}

impl SetImage {
    pub fn map_name(&self) -> String {
        format!("accord_set_{}", self.param)
    }
}

/// Everything a member's config maps hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfigImage {
    /// The value of `accord_config` key 0; `None` when there are no scalar params.
    pub scalar: Option<Vec<u8>>,
    pub sets: Vec<SetImage>,
}

/// The LPM trie key of an IPv4 prefix: `{ u32 prefixlen; u8 addr[16]; }`
/// with the address IPv4-mapped (`::ffff:a.b.c.d`), prefixlen `96 + len`.
pub fn lpm_key(cidr: &Cidr4) -> Vec<u8> {
    let mut key = Vec::with_capacity(20);
    key.extend_from_slice(&(96 + u32::from(cidr.len)).to_ne_bytes());
    key.extend_from_slice(&[0u8; 10]);
    key.extend_from_slice(&[0xff, 0xff]);
    key.extend_from_slice(&cidr.addr.to_be_bytes());
    key
}

/// The LPM trie key of a prefix of either family (`cidr6_set`,
/// `cidr_set`): prefixlen `len`, the 16 address bytes in network order
/// (IPv4 is already IPv4-mapped in a [`Cidr`], so it keys like [`lpm_key`]).
pub fn lpm_key6(cidr: &Cidr) -> Vec<u8> {
    let mut key = Vec::with_capacity(20);
    key.extend_from_slice(&u32::from(cidr.len).to_ne_bytes());
    key.extend_from_slice(&cidr.addr.to_be_bytes());
    key
}

/// Builds the config image of one feature.
pub fn image(feature: &Feature) -> Result<ConfigImage, ConfigError> {
    let mut scalar = Vec::new();
    let mut has_scalar = false;
    let mut sets = Vec::new();
    for param in &feature.params {
        let value = feature.config.get(&param.name).or(param.default.as_ref());
        let wrong = |v: &dyn std::fmt::Debug| ConfigError::WrongKind {
            feature: feature.name.clone(),
            param: param.name.clone(),
            value: format!("{v:?}"),
        };
        match &param.ty {
            ParamType::Scalar { ty, .. } => {
                has_scalar = true;
                match (ty, value) {
                    (ValueType::Str { .. }, Some(ConfigValue::Scalar(Literal::Str(s)))) => {
                        if s.len() >= STR_BYTES {
                            return Err(ConfigError::StringTooLong {
                                feature: feature.name.clone(),
                                param: param.name.clone(),
                                value: s.clone(),
                                max: STR_BYTES - 1,
                            });
                        }
                        let mut bytes = [0u8; STR_BYTES];
                        bytes[..s.len()].copy_from_slice(s.as_bytes());
                        scalar.extend_from_slice(&bytes);
                    }
                    (ValueType::Str { .. }, None) => scalar.extend_from_slice(&[0u8; STR_BYTES]),
                    (_, Some(ConfigValue::Scalar(Literal::Int(n)))) => {
                        scalar.extend_from_slice(&n.to_ne_bytes())
                    }
                    (ValueType::Str { .. }, Some(other)) => return Err(wrong(other)),
                    (_, None) => scalar.extend_from_slice(&0u64.to_ne_bytes()),
                    (_, Some(other)) => return Err(wrong(other)),
                }
            }
            ParamType::Cidr4Set | ParamType::Cidr6Set | ParamType::CidrSet => {
                let mut keys: Vec<Vec<u8>> = match value {
                    Some(ConfigValue::Cidr4Set(cidrs)) => cidrs.iter().map(lpm_key).collect(),
                    Some(ConfigValue::CidrSet(cidrs)) => cidrs.iter().map(lpm_key6).collect(),
                    None => Vec::new(),
                    Some(other) => return Err(wrong(other)),
                };
                keys.sort();
                keys.dedup();
                sets.push(SetImage {
                    param: param.name.clone(),
                    keys,
                });
            }
            ParamType::PortSet => {
                let mut keys: Vec<Vec<u8>> = match value {
                    Some(ConfigValue::PortSet(ports)) => {
                        ports.iter().map(|p| p.to_ne_bytes().to_vec()).collect()
                    }
                    None => Vec::new(),
                    Some(other) => return Err(wrong(other)),
                };
                keys.sort();
                keys.dedup();
                sets.push(SetImage {
                    param: param.name.clone(),
                    keys,
                });
            }
        }
    }
    Ok(ConfigImage {
        scalar: has_scalar.then_some(scalar),
        sets,
    })
}

/// A stable 64-bit FNV-1a digest, hex: identifies content, not a security hash.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain((part.len() as u64).to_le_bytes().iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use composer::ir::Param;

    use super::*;

    fn feature(params: Vec<Param>, config: Vec<(&str, ConfigValue)>) -> Feature {
        Feature {
            name: "f".into(),
            description: String::new(),
            spec_path: PathBuf::from("f.yaml"),
            params,
            config: config
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
            programs: vec![],
            after: vec![],
            before: vec![],
        }
    }

    fn scalar(name: &str, ty: ValueType) -> Param {
        Param {
            name: name.into(),
            ty: ParamType::Scalar {
                ty,
                min: None,
                max: None,
            },
            default: None,
        }
    }

    #[test]
    fn scalars_follow_declaration_order() {
        let f = feature(
            vec![
                scalar("iw", ValueType::U32),
                scalar("cc", ValueType::Str { max_len: 15 }),
                Param {
                    name: "prefixes".into(),
                    ty: ParamType::Cidr4Set,
                    default: None,
                },
                scalar("on", ValueType::Bool),
            ],
            vec![
                ("iw", ConfigValue::Scalar(Literal::Int(40))),
                ("cc", ConfigValue::Scalar(Literal::Str("bpf_dctcp".into()))),
                ("on", ConfigValue::Scalar(Literal::Int(1))),
                (
                    "prefixes",
                    ConfigValue::Cidr4Set(vec![Cidr4 {
                        addr: 0x0a00_0000,
                        len: 8,
                    }]),
                ),
            ],
        );
        let img = image(&f).unwrap();
        let bytes = img.scalar.unwrap();
        assert_eq!(bytes.len(), 8 + 16 + 8);
        assert_eq!(&bytes[0..8], &40u64.to_ne_bytes());
        assert_eq!(&bytes[8..17], b"bpf_dctcp");
        assert_eq!(bytes[17..24], [0u8; 7]);
        assert_eq!(&bytes[24..32], &1u64.to_ne_bytes());
        assert_eq!(img.sets.len(), 1);
        assert_eq!(img.sets[0].map_name(), "accord_set_prefixes");
    }

    #[test]
    fn lpm_keys_are_v4_mapped() {
        let key = lpm_key(&Cidr4 {
            addr: 0x7f00_0001,
            len: 32,
        });
        assert_eq!(&key[0..4], &128u32.to_ne_bytes());
        assert_eq!(
            &key[4..20],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]
        );
    }

    #[test]
    fn mixed_sets_key_both_families_like_the_sdk() {
        let v4 = Cidr::from_v4(Cidr4 {
            addr: 0x0a00_0000,
            len: 8,
        });
        // The same IPv4 prefix keys the same from a cidr4_set and a cidr_set.
        assert_eq!(
            lpm_key6(&v4),
            lpm_key(&Cidr4 {
                addr: 0x0a00_0000,
                len: 8
            })
        );
        let v6 = Cidr {
            addr: 0x2001_0db8_u128 << 96,
            len: 32,
        };
        let f = feature(
            vec![Param {
                name: "prefixes".into(),
                ty: ParamType::CidrSet,
                default: None,
            }],
            vec![("prefixes", ConfigValue::CidrSet(vec![v6, v4, v6]))],
        );
        let img = image(&f).unwrap();
        assert_eq!(img.scalar, None);
        let keys = &img.sets[0].keys;
        assert_eq!(keys.len(), 2);
        let k6 = lpm_key6(&v6);
        assert_eq!(&k6[0..4], &32u32.to_ne_bytes());
        assert_eq!(&k6[4..8], &[0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(&k6[8..20], &[0u8; 12]);
        assert!(keys.contains(&k6));
    }

    #[test]
    fn no_scalars_no_config_map() {
        let f = feature(
            vec![Param {
                name: "ports".into(),
                ty: ParamType::PortSet,
                default: None,
            }],
            vec![("ports", ConfigValue::PortSet(vec![443, 80, 443]))],
        );
        let img = image(&f).unwrap();
        assert_eq!(img.scalar, None);
        assert_eq!(
            img.sets[0].keys,
            vec![80u16.to_ne_bytes().to_vec(), 443u16.to_ne_bytes().to_vec()]
        );
    }

    #[test]
    fn long_strings_are_refused() {
        let f = feature(
            vec![scalar("cc", ValueType::Str { max_len: 32 })],
            vec![(
                "cc",
                ConfigValue::Scalar(Literal::Str("a_very_long_cc_name".into())),
            )],
        );
        assert!(matches!(image(&f), Err(ConfigError::StringTooLong { .. })));
    }

    #[test]
    fn digest_is_stable_and_separates_parts() {
        assert_eq!(digest(&[b"ab", b"c"]), digest(&[b"ab", b"c"]));
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
    }
}
