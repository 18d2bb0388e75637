//! Turning model values back into a readable [`Witness`]: which fields and
//! params a guard mentions (its footprint), and how each value is shown
//! (enum names, dotted IPv4, decimal ports, strings, sets as `[a, b]`).

use std::collections::{BTreeMap, BTreeSet};

use crate::eval::{render_cidr_set, render_ipv4, render_port_set};
use crate::ir::{
    Composition, ConfigValue, Feature, Guard, Literal, Operand, ParamType, SetExpr, ValueType,
    Write, WriteValue,
};
use crate::outcome::{Witness, WitnessValue};

use super::approx::{Approximator, GuardBox};
use super::encode::Interner;

/// Readable fields and params (by name, without `$`) a guard mentions.
#[derive(Debug, Default, Clone)]
pub struct Footprint {
    pub fields: BTreeSet<String>,
    pub params: BTreeSet<String>,
}

impl Footprint {
    pub fn add_guard(&mut self, g: &Guard) {
        match g {
            Guard::True | Guard::False => {}
            Guard::Not(inner) => self.add_guard(inner),
            Guard::And(gs) | Guard::Or(gs) => gs.iter().for_each(|g| self.add_guard(g)),
            Guard::Cmp { lhs, rhs, .. } => {
                self.add_operand(lhs);
                self.add_operand(rhs);
            }
            Guard::SamePrefix { lhs, rhs, .. } => {
                self.fields.insert(lhs.clone());
                self.fields.insert(rhs.clone());
            }
            Guard::In { operand, set, .. } => {
                self.add_operand(operand);
                if let SetExpr::Param(p) = set {
                    self.params.insert(p.clone());
                }
            }
        }
    }

    fn add_operand(&mut self, o: &Operand) {
        match o {
            Operand::Field(f) => {
                self.fields.insert(f.clone());
            }
            Operand::Param(p) => {
                self.params.insert(p.clone());
            }
            Operand::Lit(_) => {}
        }
    }

    /// Replaces a 128-bit field the catalog knows only by its words (a
    /// lowered `remote_ip in $p`) with those four words.
    pub fn expand_wide(&mut self, cat: &crate::ir::HookCatalog) {
        let wide: Vec<String> = self
            .fields
            .iter()
            .filter(|f| {
                !cat.readable.contains_key(*f)
                    && cat.readable.contains_key(&crate::ir::word_field(f, 0))
            })
            .cloned()
            .collect();
        for f in wide {
            self.fields.remove(&f);
            self.fields
                .extend((0..4).map(|i| crate::ir::word_field(&f, i)));
        }
    }

    pub fn add_value(&mut self, v: &WriteValue) {
        if let WriteValue::Param(p) = v {
            self.params.insert(p.clone());
        }
    }
}

/// A model value of type `ty` in its natural form. Strings arrive as
/// interned ids.
pub fn show(ty: &ValueType, raw: u64, strings: &Interner) -> WitnessValue {
    let int = |display: String| WitnessValue {
        raw: Literal::Int(raw),
        display,
    };
    match ty {
        ValueType::Str { .. } => {
            let s = strings.name(raw);
            WitnessValue {
                raw: Literal::Str(s.clone()),
                display: s,
            }
        }
        ValueType::Ipv4 => int(render_ipv4(raw as u32)),
        ValueType::Bool => int(if raw == 0 { "false" } else { "true" }.to_string()),
        ValueType::Enum { variants } => int(variants
            .iter()
            .find(|(_, v)| *v == raw)
            .map_or_else(|| raw.to_string(), |(n, _)| n.clone())),
        ValueType::U8 | ValueType::U16 | ValueType::U32 | ValueType::U64 | ValueType::I32 => {
            int(ty.int_text(raw))
        }
    }
}

/// A deployed config value in its natural form; sets are shown as
/// `[10.0.0.0/8, 192.168.0.0/16]` or `[443, 8443]`, with the same text as
/// the raw value (`eval` parses it back).
pub fn show_config(ty: &ParamType, v: &ConfigValue) -> WitnessValue {
    match v {
        ConfigValue::Scalar(Literal::Int(n)) => match ty {
            ParamType::Scalar { ty, .. } => show(ty, *n, &Interner::default()),
            _ => WitnessValue {
                raw: Literal::Int(*n),
                display: n.to_string(),
            },
        },
        ConfigValue::Scalar(Literal::Str(s)) => WitnessValue {
            raw: Literal::Str(s.clone()),
            display: s.clone(),
        },
        ConfigValue::Cidr4Set(cs) => set_value(render_cidr_set(cs)),
        ConfigValue::PortSet(ps) => set_value(render_port_set(ps)),
        ConfigValue::CidrSet(cs) => set_value(crate::eval::render_wide_set(cs)),
    }
}

pub fn set_value(text: String) -> WitnessValue {
    WitnessValue {
        raw: Literal::Str(text.clone()),
        display: text,
    }
}

/// A witness read off the intersection of two *exact* guard boxes (see
/// [`Approximator::approx`]): every field takes the least value its set
/// allows (an unconstrained enum its first variant, anything else 0); the
/// written values are the caller's. Params are shown with their deployed
/// value (the caller overrides free ones); `None` when a param has none.
pub fn from_box(
    comp: &Composition,
    approx: &Approximator,
    meet: &GuardBox,
    sides: [(&Feature, &Write, String, WitnessValue); 2],
) -> Option<Witness> {
    let mut w = Witness {
        connection: BTreeMap::new(),
        config: BTreeMap::new(),
        written: BTreeMap::new(),
        later: BTreeMap::new(),
        seen: BTreeMap::new(),
    };
    let none = Interner::default();
    for (feature, write, label, written) in sides {
        let mut fp = Footprint::default();
        fp.add_guard(&write.guard);
        fp.add_value(&write.value);
        fp.expand_wide(&comp.catalog);
        for f in fp.fields {
            let rf = comp.catalog.readable.get(&f)?;
            let raw = match (meet.least(approx.field_index(&f)?), &rf.ty) {
                (Some(v), _) => v,
                (None, ValueType::Enum { variants }) => variants.first()?.1,
                (None, _) => 0,
            };
            w.connection.insert(f, show(&rf.ty, raw, &none));
        }
        for p in fp.params {
            let decl = feature.params.iter().find(|q| q.name == p)?;
            let v = feature.config.get(&p)?;
            w.config
                .insert(format!("{}.{}", feature.name, p), show_config(&decl.ty, v));
        }
        w.written.insert(label, written);
    }
    Some(w)
}
