//! From `ir` guards and write values to [`Formula`]s and [`Term`]s.
//!
//! One [`Encoder`] per check run: it owns the symbol table (one bit-vector
//! constant per readable field, shared by every member, since all members
//! see the same connection), the string interner, and, under `any_config`,
//! one constant per scalar param and one predicate per set param.

mod seen;

use std::collections::{BTreeMap, HashMap, HashSet};

pub use seen::SeenWriter;

use crate::ir::{
    word_field, CmpOp, Composition, ConfigValue, Feature, Guard, Literal, Operand, Param,
    ParamType, SetExpr, ValueType, WritableField, WriteValue,
};

use super::ast::{bits_for, Formula, FuncId, Symbols, Term, VarId};

/// Width of an interned string id.
pub const STR_BITS: u32 = 32;

/// Why a guard or value could not be encoded. The front end validates the
/// IR, so these only appear for IR built by hand; the checks turn them into
/// `UnknownCheck`s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("unknown readable field `{field}`")]
    UnknownField { field: String },
    #[error("feature `{feature}` has no param `{param}`")]
    UnknownParam { feature: String, param: String },
    #[error("type mismatch in {what} (feature `{feature}`)")]
    TypeMismatch { feature: String, what: String },
}

/// A free set param's membership atom, kept so the witness can show which
/// values the solver put in the set.
#[derive(Debug, Clone)]
pub struct SetProbe {
    /// `feature.param`
    pub key: String,
    pub is_ports: bool,
    pub arg: Term,
    pub member: Formula,
    /// For a 128-bit set (a `cidr6_set`/`cidr_set` param's IPv6 entries):
    /// the four 32-bit words `arg` is made of, most significant first, read
    /// back one by one. Empty for a 32- or 16-bit set.
    pub words: Vec<Term>,
}

/// Interned strings: distinct strings get distinct ids `0..n`; any other id
/// stands for a string different from all of them.
#[derive(Debug, Default)]
pub struct Interner {
    strings: Vec<String>,
    ids: HashMap<String, u64>,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u64 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u64;
        self.strings.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    /// The string an id stands for; ids past the interned ones decode to a
    /// made-up name that differs from every interned string.
    pub fn name(&self, id: u64) -> String {
        if let Some(s) = usize::try_from(id).ok().and_then(|i| self.strings.get(i)) {
            return s.clone();
        }
        let mut name = format!("other{id}");
        while self.ids.contains_key(&name) {
            name.push('_');
        }
        name
    }
}

/// An encoded operand before widths are unified.
#[derive(Debug, Clone)]
enum Val {
    Bits(Term),
    StrId(Term),
    Int(u64),
    Str(String),
}

/// Which callback of one connection end a guard is read at: a question
/// about two writes at two callbacks (a persistent field written at
/// `TCP_CONNECT_CB` and again at `ACTIVE_ESTABLISHED_CB`) gives each its
/// own copy of the per-callback fields (`op`, `state`, ...), while the
/// fields the catalog says are the same for the whole end (addresses,
/// ports, family) stay shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Event {
    /// The one callback of a same-callback question, or the first of two.
    #[default]
    First,
    /// The later of two callbacks of one end.
    Later,
}

pub struct Encoder<'c> {
    comp: &'c Composition,
    any_config: bool,
    pub symbols: Symbols,
    pub strings: Interner,
    fields: BTreeMap<(String, Event), VarId>,
    /// The callback guards are encoded at (see [`Event`]).
    event: Event,
    /// Guards reading written fields (`SO_MARK == 5`): per (reader member,
    /// field), the writes before the reader in chain order, first to last;
    /// set by the check once it knows the order.
    writers: HashMap<(usize, String), Vec<SeenWriter<'c>>>,
    /// The member whose guard is being encoded: its written-field reads are
    /// the values it sees; `None`: any value (free variables).
    reader: Option<usize>,
    /// The variable of each seen value, and its definition.
    seen_vars: HashMap<(usize, String, Event), (VarId, Formula)>,
    /// Definitions the guard being encoded needs (conjoined to it).
    defs: Vec<Formula>,
    /// Seen values being defined (a cycle falls back to a free value).
    defining: HashSet<(usize, String, Event)>,
    /// Free written-field variables (no reader, or no known order).
    free_written: HashMap<(String, Event), VarId>,
    params: HashMap<(String, String), VarId>,
    sets: HashMap<(String, String), FuncId>,
    values: HashMap<String, VarId>,
}

impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("any_config", &self.any_config)
            .field("vars", &self.symbols.vars.len())
            .finish()
    }
}

pub fn enum_domain(t: &Term, variants: &[(String, u64)]) -> Formula {
    Formula::or(
        variants
            .iter()
            .map(|(_, v)| Formula::eq(t.clone(), Term::num(*v, t.width().max(bits_for(*v))))),
    )
}

fn ty_width(ty: &ValueType) -> u32 {
    ty.bits().unwrap_or(STR_BITS)
}

impl<'c> Encoder<'c> {
    pub fn new(comp: &'c Composition, any_config: bool) -> Encoder<'c> {
        Encoder {
            comp,
            any_config,
            symbols: Symbols::default(),
            strings: Interner::default(),
            fields: BTreeMap::new(),
            event: Event::First,
            writers: HashMap::new(),
            reader: None,
            seen_vars: HashMap::new(),
            defs: Vec::new(),
            defining: HashSet::new(),
            free_written: HashMap::new(),
            params: HashMap::new(),
            sets: HashMap::new(),
            values: HashMap::new(),
        }
    }

    pub fn composition(&self) -> &'c Composition {
        self.comp
    }

    /// The constant of a free scalar param (`None` when deployed or unknown).
    pub fn free_scalar(&mut self, feature: &Feature, name: &str) -> Option<Term> {
        if !self.param_is_free(feature, name) {
            return None;
        }
        match self.scalar_param(feature, name) {
            Ok(Val::Bits(t) | Val::StrId(t)) => Some(t),
            _ => None,
        }
    }

    pub fn any_config(&self) -> bool {
        self.any_config
    }

    /// The constant for readable field `name` at `event`: the same as at
    /// the first callback for a field the catalog keeps per end.
    pub fn field_at(&mut self, name: &str, event: Event) -> Result<Term, EncodeError> {
        let old = std::mem::replace(&mut self.event, event);
        let t = self.field(name);
        self.event = old;
        t
    }

    /// `g` as a formula read at `event` (see [`Event`]).
    pub fn guard_at(
        &mut self,
        feature: &Feature,
        g: &Guard,
        event: Event,
    ) -> Result<(Formula, Vec<SetProbe>), EncodeError> {
        let old = std::mem::replace(&mut self.event, event);
        let r = self.guard(feature, g);
        self.event = old;
        r
    }

    /// Whether readable field `name` has its own value at each callback of
    /// one end (not one of the catalog's `per_end` fields).
    pub fn per_callback(&self, name: &str) -> bool {
        self.comp
            .catalog
            .connection
            .as_ref()
            .is_none_or(|m| !m.per_end.contains(name))
    }

    /// The constant for readable field `name` (at the current event).
    pub fn field(&mut self, name: &str) -> Result<Term, EncodeError> {
        let f = self
            .comp
            .catalog
            .readable
            .get(name)
            .ok_or_else(|| EncodeError::UnknownField {
                field: name.to_string(),
            })?;
        let width = ty_width(&f.ty);
        let event = if self.per_callback(name) {
            self.event
        } else {
            Event::First
        };
        let key = (name.to_string(), event);
        if let Some(id) = self.fields.get(&key) {
            return Ok(Term::Var { id: *id, width });
        }
        let var_name = match event {
            Event::First => name.to_string(),
            Event::Later => format!("{name}@later"),
        };
        let placeholder = self.symbols.var(var_name, width, Formula::True);
        let t = Term::Var {
            id: placeholder,
            width,
        };
        if let ValueType::Enum { variants } = &f.ty {
            self.symbols.vars[placeholder.0 as usize].domain = enum_domain(&t, variants);
        }
        self.fields.insert(key, placeholder);
        Ok(t)
    }

    fn param_decl<'f>(feature: &'f Feature, name: &str) -> Result<&'f Param, EncodeError> {
        feature
            .params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| EncodeError::UnknownParam {
                feature: feature.name.clone(),
                param: name.to_string(),
            })
    }

    /// Is this param free (a solver variable) rather than its deployed value?
    pub fn param_is_free(&self, feature: &Feature, name: &str) -> bool {
        self.any_config || !feature.config.contains_key(name)
    }

    fn scalar_param(&mut self, feature: &Feature, name: &str) -> Result<Val, EncodeError> {
        let p = Self::param_decl(feature, name)?;
        let ParamType::Scalar { ty, min, max } = &p.ty else {
            return Err(EncodeError::TypeMismatch {
                feature: feature.name.clone(),
                what: format!("set param `${name}` used as a scalar"),
            });
        };
        if !self.param_is_free(feature, name) {
            return match feature.config.get(name) {
                Some(ConfigValue::Scalar(Literal::Int(v))) => Ok(Val::Int(*v)),
                Some(ConfigValue::Scalar(Literal::Str(s))) => Ok(Val::Str(s.clone())),
                _ => Err(EncodeError::TypeMismatch {
                    feature: feature.name.clone(),
                    what: format!("deployed value of `${name}`"),
                }),
            };
        }
        let width = ty_width(ty);
        let key = (feature.name.clone(), name.to_string());
        let id = match self.params.get(&key) {
            Some(id) => *id,
            None => {
                let id =
                    self.symbols
                        .var(format!("{}.{}", feature.name, name), width, Formula::True);
                let t = Term::Var { id, width };
                let mut dom = Vec::new();
                if let ValueType::Enum { variants } = ty {
                    dom.push(enum_domain(&t, variants));
                }
                if !matches!(ty, ValueType::Str { .. }) {
                    if let Some(lo) = min {
                        dom.push(Formula::ule(
                            Term::num(*lo, width.max(bits_for(*lo))),
                            t.clone(),
                        ));
                    }
                    if let Some(hi) = max {
                        dom.push(Formula::ule(
                            t.clone(),
                            Term::num(*hi, width.max(bits_for(*hi))),
                        ));
                    }
                }
                self.symbols.vars[id.0 as usize].domain = Formula::and(dom);
                self.params.insert(key, id);
                id
            }
        };
        let t = Term::Var { id, width };
        Ok(if matches!(ty, ValueType::Str { .. }) {
            Val::StrId(t)
        } else {
            Val::Bits(t)
        })
    }

    fn operand(&mut self, feature: &Feature, o: &Operand) -> Result<Val, EncodeError> {
        match o {
            Operand::Field(name) if !self.comp.catalog.readable.contains_key(name) => {
                let Some(wf) = self.comp.catalog.writable.get(name) else {
                    return Err(EncodeError::UnknownField {
                        field: name.to_string(),
                    });
                };
                let t = self.written(name)?;
                Ok(if matches!(wf.ty, ValueType::Str { .. }) {
                    Val::StrId(t)
                } else {
                    Val::Bits(t)
                })
            }
            Operand::Field(name) => {
                let t = self.field(name)?;
                let is_str = matches!(
                    self.comp.catalog.readable.get(name).map(|f| &f.ty),
                    Some(ValueType::Str { .. })
                );
                Ok(if is_str { Val::StrId(t) } else { Val::Bits(t) })
            }
            Operand::Param(name) => self.scalar_param(feature, name),
            Operand::Lit(Literal::Int(v)) => Ok(Val::Int(*v)),
            Operand::Lit(Literal::Str(s)) => Ok(Val::Str(s.clone())),
        }
    }

    /// Two operands as terms of one width; `Err` on an int/string mix.
    fn pair(
        &mut self,
        feature: &Feature,
        a: Val,
        b: Val,
    ) -> Result<(Term, Term, bool), EncodeError> {
        let mismatch = || EncodeError::TypeMismatch {
            feature: feature.name.clone(),
            what: "a comparison of a string with a number".to_string(),
        };
        let num_for = |v: u64, other: &Term| Term::num(v, other.width().max(bits_for(v)));
        Ok(match (a, b) {
            (Val::Bits(x), Val::Bits(y)) => (x, y, false),
            (Val::Bits(x), Val::Int(v)) => {
                let n = num_for(v, &x);
                (x, n, false)
            }
            (Val::Int(v), Val::Bits(y)) => (num_for(v, &y), y, false),
            (Val::Int(x), Val::Int(y)) => (Term::num(x, 64), Term::num(y, 64), false),
            (Val::StrId(x), Val::StrId(y)) => (x, y, true),
            (Val::StrId(x), Val::Str(s)) => (x, Term::num(self.strings.id(&s), STR_BITS), true),
            (Val::Str(s), Val::StrId(y)) => (Term::num(self.strings.id(&s), STR_BITS), y, true),
            (Val::Str(x), Val::Str(y)) => (
                Term::num(self.strings.id(&x), STR_BITS),
                Term::num(self.strings.id(&y), STR_BITS),
                true,
            ),
            _ => return Err(mismatch()),
        })
    }

    fn compare(
        &mut self,
        feature: &Feature,
        a: Val,
        op: CmpOp,
        b: Val,
    ) -> Result<Formula, EncodeError> {
        let (x, y, strings) = self.pair(feature, a, b)?;
        if strings && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return Err(EncodeError::TypeMismatch {
                feature: feature.name.clone(),
                what: "an ordering comparison of strings".to_string(),
            });
        }
        Ok(match op {
            CmpOp::Eq => Formula::eq(x, y),
            CmpOp::Ne => Formula::not(Formula::eq(x, y)),
            CmpOp::Lt => Formula::ult(x, y),
            CmpOp::Le => Formula::ule(x, y),
            CmpOp::Gt => Formula::ult(y, x),
            CmpOp::Ge => Formula::ule(y, x),
        })
    }

    /// `t` as exactly `w` bits, plus the condition that nothing was cut off.
    fn fit(t: Term, w: u32) -> (Formula, Term) {
        let tw = t.width();
        if tw <= w {
            return (Formula::True, t.widen(w));
        }
        let high = t.clone().extract(tw - 1, w);
        (Formula::eq(high, Term::num(0, tw - w)), t.extract(w - 1, 0))
    }

    fn bits_of(&self, feature: &Feature, v: Val, w: u32) -> Result<Term, EncodeError> {
        match v {
            Val::Bits(t) => Ok(t),
            Val::Int(n) => Ok(Term::num(n, w.max(bits_for(n)))),
            Val::StrId(_) | Val::Str(_) => Err(EncodeError::TypeMismatch {
                feature: feature.name.clone(),
                what: "a string used with an address or port set".to_string(),
            }),
        }
    }

    fn prefix(t: &Term, addr: u32, len: u8) -> Formula {
        let (ok, t32) = Self::fit(t.clone(), 32);
        if len == 0 {
            return ok;
        }
        let len = u32::from(len.min(32));
        Formula::and([
            ok,
            Formula::eq(
                t32.extract(31, 32 - len),
                Term::num(u64::from(addr >> (32 - len)), len),
            ),
        ])
    }

    fn port(t: &Term, p: u16) -> Formula {
        let (ok, t16) = Self::fit(t.clone(), 16);
        Formula::and([ok, Formula::eq(t16, Term::num(u64::from(p), 16))])
    }

    fn membership(
        &mut self,
        feature: &Feature,
        operand: &Operand,
        set: &SetExpr,
        probes: &mut Vec<SetProbe>,
    ) -> Result<Formula, EncodeError> {
        if let (Operand::Field(f), SetExpr::Param(p)) = (operand, set) {
            let cat = &self.comp.catalog;
            if !cat.readable.contains_key(f) && cat.readable.contains_key(&word_field(f, 0)) {
                return self.wide_membership(feature, f, p, probes);
            }
        }
        let v = self.operand(feature, operand)?;
        match set {
            SetExpr::Values(lits) => {
                let mut alts = Vec::new();
                for l in lits {
                    let lv = match l {
                        Literal::Int(n) => Val::Int(*n),
                        Literal::Str(s) => Val::Str(s.clone()),
                    };
                    alts.push(self.compare(feature, v.clone(), CmpOp::Eq, lv)?);
                }
                Ok(Formula::or(alts))
            }
            SetExpr::Cidr4(c) => {
                let t = self.bits_of(feature, v, 32)?;
                Ok(Self::prefix(&t, c.addr, c.len))
            }
            SetExpr::Range { lo, hi } => {
                let t = self.bits_of(feature, v, 64)?;
                Ok(Formula::within(t, *lo, *hi))
            }
            SetExpr::Param(name) => {
                let p = Self::param_decl(feature, name)?;
                let is_ports = match p.ty {
                    // A 128-bit set seen from a 32-bit operand (an IPv4
                    // field, or the low word of an IPv4-mapped address; the
                    // front end lowers the rest, guard::wide): its IPv4
                    // entries, or any IPv4 set when free.
                    ParamType::Cidr4Set | ParamType::Cidr6Set | ParamType::CidrSet => false,
                    ParamType::PortSet => true,
                    ParamType::Scalar { .. } => {
                        return Err(EncodeError::TypeMismatch {
                            feature: feature.name.clone(),
                            what: format!("scalar param `${name}` used as a set"),
                        })
                    }
                };
                let w = if is_ports { 16 } else { 32 };
                let t = self.bits_of(feature, v, w)?;
                if !self.param_is_free(feature, name) {
                    return match feature.config.get(name.as_str()) {
                        Some(ConfigValue::Cidr4Set(cs)) if !is_ports => Ok(Formula::or(
                            cs.iter().map(|c| Self::prefix(&t, c.addr, c.len)),
                        )),
                        Some(ConfigValue::CidrSet(cs)) if !is_ports => Ok(Formula::or(
                            cs.iter()
                                .filter_map(crate::ir::Cidr::as_v4)
                                .map(|c| Self::prefix(&t, c.addr, c.len)),
                        )),
                        Some(ConfigValue::PortSet(ps)) if is_ports => {
                            Ok(Formula::or(ps.iter().map(|p| Self::port(&t, *p))))
                        }
                        _ => Err(EncodeError::TypeMismatch {
                            feature: feature.name.clone(),
                            what: format!("deployed value of `${name}`"),
                        }),
                    };
                }
                let key = (feature.name.clone(), name.clone());
                let func = match self.sets.get(&key) {
                    Some(f) => *f,
                    None => {
                        let f = self
                            .symbols
                            .func(format!("set.{}.{}", feature.name, name), w);
                        self.sets.insert(key, f);
                        f
                    }
                };
                let (ok, arg) = Self::fit(t, w);
                let member = Formula::Member {
                    func,
                    arg: arg.clone(),
                };
                probes.push(SetProbe {
                    key: format!("{}.{}", feature.name, name),
                    is_ports,
                    arg,
                    member: member.clone(),
                    words: Vec::new(),
                });
                Ok(Formula::and([ok, member]))
            }
        }
    }

    /// A lowered `x in $p` over the 128-bit field `field`
    /// (`guard::lower_prefix_sets`): `x` in one of the param's IPv6
    /// entries. Deployed, the entries' word constraints; free, a 128-bit
    /// set over the four words that holds no IPv4-mapped address (those
    /// are the 32-bit set's, so together the two are any `cidr_set`).
    fn wide_membership(
        &mut self,
        feature: &Feature,
        field: &str,
        name: &str,
        probes: &mut Vec<SetProbe>,
    ) -> Result<Formula, EncodeError> {
        let p = Self::param_decl(feature, name)?;
        if !matches!(p.ty, ParamType::Cidr6Set | ParamType::CidrSet) {
            return Err(EncodeError::TypeMismatch {
                feature: feature.name.clone(),
                what: format!("`{field}` in `${name}`, which is not a 128-bit set"),
            });
        }
        if !self.param_is_free(feature, name) {
            return match feature.config.get(name) {
                Some(ConfigValue::CidrSet(cs)) => {
                    let g = crate::guard::v6_entries(field, cs);
                    self.guard_inner(feature, &g, probes)
                }
                _ => Err(EncodeError::TypeMismatch {
                    feature: feature.name.clone(),
                    what: format!("deployed value of `${name}`"),
                }),
            };
        }
        let mut words = Vec::with_capacity(4);
        for i in 0..4 {
            let t = self.field(&word_field(field, i))?;
            words.push(Self::fit(t, 32).1);
        }
        let key = (feature.name.clone(), format!("{name}#v6"));
        let func = match self.sets.get(&key) {
            Some(f) => *f,
            None => {
                let f = self
                    .symbols
                    .func(format!("set6.{}.{}", feature.name, name), 128);
                self.sets.insert(key, f);
                f
            }
        };
        let arg = Term::Concat(words.clone());
        let member = Formula::Member {
            func,
            arg: arg.clone(),
        };
        let mapped = Formula::and([
            Formula::eq(words[0].clone(), Term::num(0, 32)),
            Formula::eq(words[1].clone(), Term::num(0, 32)),
            Formula::eq(words[2].clone(), Term::num(0xffff, 32)),
        ]);
        probes.push(SetProbe {
            key: format!("{}.{}", feature.name, name),
            is_ports: false,
            arg,
            member: member.clone(),
            words,
        });
        Ok(Formula::and([Formula::not(mapped), member]))
    }

    /// The guard as a formula, and the free-set atoms it uses.
    pub fn guard(
        &mut self,
        feature: &Feature,
        g: &Guard,
    ) -> Result<(Formula, Vec<SetProbe>), EncodeError> {
        let mut probes = Vec::new();
        let outer = std::mem::take(&mut self.defs);
        let f = self.guard_inner(feature, g, &mut probes);
        let defs = std::mem::replace(&mut self.defs, outer);
        let mut all = vec![f?];
        all.extend(defs);
        Ok((Formula::and(all), probes))
    }

    fn guard_inner(
        &mut self,
        feature: &Feature,
        g: &Guard,
        probes: &mut Vec<SetProbe>,
    ) -> Result<Formula, EncodeError> {
        Ok(match g {
            Guard::True => Formula::True,
            Guard::False => Formula::False,
            Guard::Not(inner) => Formula::not(self.guard_inner(feature, inner, probes)?),
            Guard::And(gs) => {
                let mut parts = Vec::with_capacity(gs.len());
                for g in gs {
                    parts.push(self.guard_inner(feature, g, probes)?);
                }
                Formula::and(parts)
            }
            Guard::Or(gs) => {
                let mut parts = Vec::with_capacity(gs.len());
                for g in gs {
                    parts.push(self.guard_inner(feature, g, probes)?);
                }
                Formula::or(parts)
            }
            Guard::Cmp { lhs, op, rhs } => {
                let a = self.operand(feature, lhs)?;
                let b = self.operand(feature, rhs)?;
                self.compare(feature, a, *op, b)?
            }
            Guard::SamePrefix { lhs, rhs, bits } => {
                let bits = u32::from((*bits).clamp(1, 32));
                let (a, b) = (self.field(lhs)?, self.field(rhs)?);
                let (ok_a, a) = Self::fit(a, 32);
                let (ok_b, b) = Self::fit(b, 32);
                Formula::and([
                    ok_a,
                    ok_b,
                    Formula::eq(a.extract(31, 32 - bits), b.extract(31, 32 - bits)),
                ])
            }
            Guard::In {
                operand,
                set,
                negated,
            } => {
                let m = self.membership(feature, operand, set, probes)?;
                if *negated {
                    Formula::not(m)
                } else {
                    m
                }
            }
        })
    }

    /// The value a write stores, as a term of at least the field's width.
    /// `key` names the write (for a range's chosen-value constant).
    pub fn value(
        &mut self,
        feature: &Feature,
        field: &WritableField,
        v: &WriteValue,
        key: &str,
    ) -> Result<Term, EncodeError> {
        let is_str = matches!(field.ty, ValueType::Str { .. });
        let width = ty_width(&field.ty);
        let mismatch = |what: &str| EncodeError::TypeMismatch {
            feature: feature.name.clone(),
            what: format!("{what} written to `{}`", field.name),
        };
        let val = match v {
            WriteValue::Lit(Literal::Int(n)) => Val::Int(*n),
            WriteValue::Lit(Literal::Str(s)) => Val::Str(s.clone()),
            WriteValue::Param(p) => self.scalar_param(feature, p)?,
            WriteValue::Range { min, max } => {
                if is_str {
                    return Err(mismatch("a range"));
                }
                let w = width.max(bits_for(*max));
                let id = match self.values.get(key) {
                    Some(id) => *id,
                    None => {
                        let id = self.symbols.var(format!("value.{key}"), w, Formula::True);
                        let t = Term::Var { id, width: w };
                        self.symbols.vars[id.0 as usize].domain = Formula::within(t, *min, *max);
                        self.values.insert(key.to_string(), id);
                        id
                    }
                };
                Val::Bits(Term::Var { id, width: w })
            }
        };
        match (val, is_str) {
            (Val::Bits(t), false) => Ok(t),
            (Val::Int(n), false) => Ok(Term::num(n, width.max(bits_for(n)))),
            (Val::StrId(t), true) => Ok(t),
            (Val::Str(s), true) => Ok(Term::num(self.strings.id(&s), STR_BITS)),
            (_, true) => Err(mismatch("a number")),
            (_, false) => Err(mismatch("a string")),
        }
    }
}
