//! Typing of YAML values: type names, literals against a `ValueType`, and
//! config values against a `ParamType`, with range checks.

use marked_yaml::Node;

use super::error::LoadErrorKind;
use super::yaml::{parse_uint, Cx};
use crate::guard::{ipv4, parse_cidr4, parse_ipv4};
use crate::ir::{Cidr, Cidr4, ConfigValue, Literal, ParamType, ValueType};
use crate::suggest::did_you_mean;

pub(crate) const SCALAR_TYPES: &[&str] =
    &["bool", "u8", "u16", "u32", "u64", "i32", "ipv4", "string"];
pub(crate) const PARAM_TYPES: &[&str] = &[
    "bool",
    "u8",
    "u16",
    "u32",
    "u64",
    "ipv4",
    "string",
    "cidr4_set",
    "cidr6_set",
    "cidr_set",
    "port_set",
];

/// Default and largest `max_len` of a string: a congestion control name
/// (`TCP_CA_NAME_MAX` is 16 with the NUL), and the config layout's `char[16]`.
pub(crate) const STRING_MAX_LEN: u32 = 15;

pub(crate) fn scalar_type(name: &str, max_len: u32) -> Option<ValueType> {
    Some(match name {
        "bool" => ValueType::Bool,
        "u8" => ValueType::U8,
        "u16" => ValueType::U16,
        "u32" => ValueType::U32,
        "u64" => ValueType::U64,
        "i32" => ValueType::I32,
        "ipv4" => ValueType::Ipv4,
        "string" => ValueType::Str { max_len },
        _ => return None,
    })
}

pub(crate) fn unknown_type(cx: &mut Cx<'_>, node: &Node, name: &str, valid: &[&str]) {
    cx.err(
        node.span(),
        LoadErrorKind::UnknownName {
            what: "type".into(),
            name: name.into(),
            suggestion: did_you_mean(name, valid.iter().copied()),
            choices: valid.iter().map(|s| s.to_string()).collect(),
        },
    );
}

pub(crate) fn type_label(ty: &ValueType) -> String {
    crate::guard::type_name(ty)
}

fn article(ty: &ValueType) -> String {
    match ty {
        ValueType::Ipv4 => "a dotted IPv4 address".into(),
        ValueType::Bool => "`true` or `false`".into(),
        ValueType::Str { max_len } => format!("a string of at most {max_len} bytes"),
        ValueType::Enum { .. } => format!("one of the names of {}", type_label(ty)),
        _ => format!("a {}", type_label(ty)),
    }
}

/// A scalar literal of type `ty`, within `[min, max]` where given.
pub(crate) fn literal(
    cx: &mut Cx<'_>,
    node: &Node,
    ty: &ValueType,
    what: &str,
    min: Option<u64>,
    max: Option<u64>,
) -> Option<Literal> {
    let Node::Scalar(s) = node else {
        cx.wrong(node, what, &article(ty));
        return None;
    };
    let text = s.as_str();
    let plain = s.may_coerce();
    let lit = match ty {
        ValueType::Bool => match (plain, text) {
            (true, "true") => Literal::Int(1),
            (true, "false") => Literal::Int(0),
            _ => {
                cx.wrong(node, what, &article(ty));
                return None;
            }
        },
        ValueType::Str { max_len } => {
            if text.len() > *max_len as usize {
                cx.err(
                    s.span(),
                    LoadErrorKind::Invalid {
                        what: "string".into(),
                        text: text.into(),
                        reason: format!("longer than {max_len} bytes (for {what})"),
                    },
                );
                return None;
            }
            Literal::Str(text.into())
        }
        ValueType::Ipv4 => {
            if !plain || !text.contains('.') {
                cx.wrong(node, what, &article(ty));
                return None;
            }
            match parse_ipv4(text) {
                Ok(v) => Literal::Int(u64::from(v)),
                Err(reason) => {
                    cx.err(
                        s.span(),
                        LoadErrorKind::Invalid {
                            what: "IPv4 address".into(),
                            text: text.into(),
                            reason,
                        },
                    );
                    return None;
                }
            }
        }
        ValueType::Enum { variants } => {
            let prefix = crate::guard::enum_prefix(variants);
            let found = variants.iter().find(|(n, v)| {
                n == text || *n == format!("{prefix}{text}") || parse_uint(text) == Some(*v)
            });
            match found {
                Some((_, v)) if plain => Literal::Int(*v),
                _ => {
                    let names: Vec<String> = variants.iter().map(|(n, _)| n.clone()).collect();
                    cx.err(
                        s.span(),
                        LoadErrorKind::UnknownName {
                            what: format!("{what} value"),
                            name: text.into(),
                            suggestion: did_you_mean(text, names.iter().map(String::as_str)),
                            choices: names,
                        },
                    );
                    return None;
                }
            }
        }
        ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64 => {
            let Some(v) = plain.then(|| parse_uint(text)).flatten() else {
                cx.wrong(node, what, &article(ty));
                return None;
            };
            Literal::Int(v)
        }
        ValueType::I32 => {
            let Some(v) = plain.then(|| parse_int(text)).flatten() else {
                cx.wrong(
                    node,
                    what,
                    "a signed 32-bit integer (-2147483648..=2147483647)",
                );
                return None;
            };
            let Ok(v) = i32::try_from(v) else {
                cx.err(
                    s.span(),
                    LoadErrorKind::OutOfRange {
                        what: format!("{what} (i32)"),
                        value: text.into(),
                        min: i32::MIN.to_string(),
                        max: i32::MAX.to_string(),
                    },
                );
                return None;
            };
            return Some(Literal::Int(u64::from(v as u32)));
        }
    };
    if let Literal::Int(v) = lit {
        if !matches!(ty, ValueType::Enum { .. } | ValueType::Bool) {
            let tmax = crate::guard::type_max(ty);
            let lo = min.unwrap_or(0);
            let hi = max.unwrap_or(tmax).min(tmax);
            if v < lo || v > hi {
                let show = |x: u64| match ty {
                    ValueType::Ipv4 => u32::try_from(x).map(ipv4).unwrap_or_else(|_| x.to_string()),
                    _ => x.to_string(),
                };
                cx.err(
                    s.span(),
                    LoadErrorKind::OutOfRange {
                        what: format!("{what} ({})", type_label(ty)),
                        value: text.into(),
                        min: show(lo),
                        max: show(hi),
                    },
                );
                return None;
            }
        }
    }
    Some(lit)
}

fn cidr(cx: &mut Cx<'_>, node: &Node, what: &str) -> Option<Cidr4> {
    let Node::Scalar(s) = node else {
        cx.wrong(node, what, "a CIDR prefix like 10.0.0.0/8");
        return None;
    };
    let text = s.as_str();
    let parsed = if text.contains('/') {
        parse_cidr4(text)
    } else {
        // A bare address is a /32.
        parse_ipv4(text).map(|addr| Cidr4 { addr, len: 32 })
    };
    match parsed {
        Ok(c) => Some(c),
        Err(reason) => {
            cx.err(
                s.span(),
                LoadErrorKind::Invalid {
                    what: "CIDR prefix".into(),
                    text: text.into(),
                    reason,
                },
            );
            None
        }
    }
}

/// A prefix of a `cidr6_set` (IPv6 text only) or a `cidr_set` (either
/// family; IPv4 is held IPv4-mapped). A bare address is a full-length prefix.
fn wide_cidr(cx: &mut Cx<'_>, node: &Node, what: &str, mixed: bool) -> Option<Cidr> {
    let Node::Scalar(s) = node else {
        cx.wrong(node, what, "a CIDR prefix like 2001:db8::/32");
        return None;
    };
    let text = s.as_str();
    let parsed = if text.contains(':') {
        if text.contains('/') {
            crate::guard::parse_cidr6(text)
        } else {
            crate::guard::parse_ipv6(text).map(|addr| Cidr { addr, len: 128 })
        }
    } else if !mixed {
        Err(
            "a cidr6_set holds IPv6 prefixes; write an IPv4 one IPv4-mapped \
             (::ffff:10.0.0.0/104) or make the param a cidr_set"
                .to_string(),
        )
    } else if text.contains('/') {
        parse_cidr4(text).map(Cidr::from_v4)
    } else {
        parse_ipv4(text).map(|addr| Cidr::from_v4(Cidr4 { addr, len: 32 }))
    };
    match parsed {
        Ok(c) => Some(c),
        Err(reason) => {
            cx.err(
                s.span(),
                LoadErrorKind::Invalid {
                    what: "CIDR prefix".into(),
                    text: text.into(),
                    reason,
                },
            );
            None
        }
    }
}

/// A config value (a default in a spec, or a value in a composition).
pub(crate) fn config_value(
    cx: &mut Cx<'_>,
    node: &Node,
    ty: &ParamType,
    what: &str,
) -> Option<ConfigValue> {
    match ty {
        ParamType::Scalar { ty, min, max } => {
            literal(cx, node, ty, what, *min, *max).map(ConfigValue::Scalar)
        }
        ParamType::Cidr4Set => {
            let items = cx.list(node, what)?;
            let before = cx.errors.len();
            let mut out: Vec<Cidr4> = items.iter().filter_map(|i| cidr(cx, i, what)).collect();
            out.sort();
            out.dedup();
            (cx.errors.len() == before).then_some(ConfigValue::Cidr4Set(out))
        }
        ParamType::Cidr6Set | ParamType::CidrSet => {
            let items = cx.list(node, what)?;
            let before = cx.errors.len();
            let mixed = matches!(ty, ParamType::CidrSet);
            let mut out: Vec<Cidr> = items
                .iter()
                .filter_map(|i| wide_cidr(cx, i, what, mixed))
                .collect();
            out.sort();
            out.dedup();
            (cx.errors.len() == before).then_some(ConfigValue::CidrSet(out))
        }
        ParamType::PortSet => {
            let items = cx.list(node, what)?;
            let before = cx.errors.len();
            let mut out: Vec<u16> = items
                .iter()
                .filter_map(|i| literal(cx, i, &ValueType::U16, what, None, None))
                .filter_map(|l| match l {
                    Literal::Int(v) => u16::try_from(v).ok(),
                    Literal::Str(_) => None,
                })
                .collect();
            out.sort_unstable();
            out.dedup();
            (cx.errors.len() == before).then_some(ConfigValue::PortSet(out))
        }
    }
}

/// A decimal or `0x` integer with an optional `-`.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(rest) => parse_uint(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        None => parse_uint(text).and_then(|v| i64::try_from(v).ok()),
    }
}
