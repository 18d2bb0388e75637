//! A cheap, conservative pre-filter in front of z3.
//!
//! Each guard is over-approximated by a *box*: for every readable field it
//! constrains, a set of intervals that contains every value the field can
//! take while the guard holds (fields not listed are unconstrained). The
//! approximation is exact for a conjunction of single-field atoms with
//! constant operands (`op == X && remote_ip4 in 10.0.0.0/8 && remote_port in
//! {443}`) and loses precision only at `||` (pointwise union) and at atoms it
//! cannot read (field-to-field comparisons, free params, strings), which it
//! treats as "anything". So if two boxes do not intersect, the guards are
//! disjoint and no solver call is needed; if they do, z3 decides.
//!
//! Write values get the same treatment ([`ValueApprox`]): a literal or a
//! deployed param is one point, a range or a free param an interval.

use std::collections::HashMap;

use crate::ir::{
    CmpOp, Composition, ConfigValue, Feature, Guard, Literal, Operand, ParamType, SetExpr,
    ValueType, WriteValue,
};

/// Sorted, disjoint, inclusive intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSet(Vec<(u64, u64)>);

impl IntervalSet {
    pub fn empty() -> Self {
        IntervalSet(Vec::new())
    }

    pub fn range(lo: u64, hi: u64) -> Self {
        if lo > hi {
            Self::empty()
        } else {
            IntervalSet(vec![(lo, hi)])
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn normalize(mut v: Vec<(u64, u64)>) -> Self {
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        IntervalSet(out)
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut v = self.0.clone();
        v.extend_from_slice(&other.0);
        Self::normalize(v)
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        IntervalSet(out)
    }

    pub fn intersects(&self, other: &Self) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            if a.0.max(b.0) <= a.1.min(b.1) {
                return true;
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    /// Everything in `0..=max` not in the set.
    pub fn complement(&self, max: u64) -> Self {
        let mut out = Vec::new();
        let mut next = 0u64;
        let mut done = false;
        for &(lo, hi) in &self.0 {
            if lo > max {
                break;
            }
            if lo > next {
                out.push((next, lo - 1));
            }
            if hi >= max {
                done = true;
                break;
            }
            next = hi + 1;
        }
        if !done {
            out.push((next, max));
        }
        IntervalSet(out)
    }
}

/// The over-approximation of one guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardBox {
    /// The guard can never hold.
    Bottom,
    /// Per constrained field (by catalog index, sorted), the allowed values.
    Fields(Vec<(usize, IntervalSet)>),
}

impl GuardBox {
    pub fn top() -> Self {
        GuardBox::Fields(Vec::new())
    }

    pub fn is_bottom(&self) -> bool {
        matches!(self, GuardBox::Bottom)
    }

    /// The smallest value the box allows for field `idx` (`None` when the
    /// field is unconstrained or the box is empty).
    pub fn least(&self, idx: usize) -> Option<u64> {
        match self {
            GuardBox::Bottom => None,
            GuardBox::Fields(fs) => fs
                .iter()
                .find(|(i, _)| *i == idx)
                .and_then(|(_, s)| s.0.first().map(|(lo, _)| *lo)),
        }
    }

    fn single(field: usize, set: IntervalSet) -> Self {
        if set.is_empty() {
            GuardBox::Bottom
        } else {
            GuardBox::Fields(vec![(field, set)])
        }
    }

    /// The box with only the fields `keep` accepts constrained.
    pub fn restricted(&self, keep: impl Fn(usize) -> bool) -> Self {
        match self {
            GuardBox::Bottom => GuardBox::Bottom,
            GuardBox::Fields(fs) => {
                GuardBox::Fields(fs.iter().filter(|(i, _)| keep(*i)).cloned().collect())
            }
        }
    }

    pub fn meet(&self, other: &Self) -> Self {
        let (GuardBox::Fields(a), GuardBox::Fields(b)) = (self, other) else {
            return GuardBox::Bottom;
        };
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let take_a = j >= b.len() || (i < a.len() && a[i].0 < b[j].0);
            let take_b = i >= a.len() || (j < b.len() && b[j].0 < a[i].0);
            if take_a {
                out.push(a[i].clone());
                i += 1;
            } else if take_b {
                out.push(b[j].clone());
                j += 1;
            } else {
                let s = a[i].1.intersect(&b[j].1);
                if s.is_empty() {
                    return GuardBox::Bottom;
                }
                out.push((a[i].0, s));
                i += 1;
                j += 1;
            }
        }
        GuardBox::Fields(out)
    }

    pub fn join(&self, other: &Self) -> Self {
        match (self, other) {
            (GuardBox::Bottom, x) | (x, GuardBox::Bottom) => x.clone(),
            (GuardBox::Fields(a), GuardBox::Fields(b)) => {
                let mut out = Vec::new();
                let (mut i, mut j) = (0, 0);
                while i < a.len() && j < b.len() {
                    match a[i].0.cmp(&b[j].0) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            out.push((a[i].0, a[i].1.union(&b[j].1)));
                            i += 1;
                            j += 1;
                        }
                    }
                }
                GuardBox::Fields(out)
            }
        }
    }

    /// May both guards hold at once? `false` is a proof that they cannot.
    pub fn may_overlap(&self, other: &Self) -> bool {
        let (GuardBox::Fields(a), GuardBox::Fields(b)) = (self, other) else {
            return false;
        };
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if !a[i].1.intersects(&b[j].1) {
                        return false;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        true
    }
}

/// The possible values of a write (or of an invariant side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueApprox {
    Int { lo: u64, hi: u64 },
    Str(String),
    Unknown,
}

impl ValueApprox {
    /// Both sides are the same single value: they can never differ.
    pub fn surely_equal(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueApprox::Int { lo, hi }, ValueApprox::Int { lo: l2, hi: h2 }) => {
                lo == hi && l2 == h2 && lo == l2
            }
            (ValueApprox::Str(a), ValueApprox::Str(b)) => a == b,
            _ => false,
        }
    }

    /// `self op other` holds for every pair of possible values.
    pub fn surely_holds(&self, op: CmpOp, other: &Self) -> bool {
        let (ValueApprox::Int { lo: a0, hi: a1 }, ValueApprox::Int { lo: b0, hi: b1 }) =
            (self, other)
        else {
            return match op {
                CmpOp::Eq => self.surely_equal(other),
                _ => false,
            };
        };
        match op {
            CmpOp::Eq => self.surely_equal(other),
            CmpOp::Ne => a1 < b0 || b1 < a0,
            CmpOp::Lt => a1 < b0,
            CmpOp::Le => a1 <= b0,
            CmpOp::Gt => a0 > b1,
            CmpOp::Ge => a0 >= b1,
        }
    }
}

/// Two values, one from each side, that differ.
pub fn pick_differ(a: &ValueApprox, b: &ValueApprox) -> Option<(Literal, Literal)> {
    match (a, b) {
        (ValueApprox::Int { lo: a0, hi: a1 }, ValueApprox::Int { lo: b0, hi: b1 }) => {
            let (x, y) = if a0 != b0 {
                (*a0, *b0)
            } else if b0 < b1 {
                (*a0, b0 + 1)
            } else if a0 < a1 {
                (a0 + 1, *b0)
            } else {
                return None;
            };
            Some((Literal::Int(x), Literal::Int(y)))
        }
        (ValueApprox::Str(s), ValueApprox::Str(t)) if s != t => {
            Some((Literal::Str(s.clone()), Literal::Str(t.clone())))
        }
        _ => None,
    }
}

/// Two integer values, one from each side, for which `lhs op rhs` fails.
pub fn pick_violation(op: CmpOp, l: &ValueApprox, r: &ValueApprox) -> Option<(Literal, Literal)> {
    let (ValueApprox::Int { lo: l0, hi: l1 }, ValueApprox::Int { lo: r0, hi: r1 }) = (l, r) else {
        return None;
    };
    let (x, y) = match op {
        CmpOp::Eq => return pick_differ(l, r),
        CmpOp::Ne => {
            let m = *l0.max(r0);
            (m <= *l1.min(r1)).then_some((m, m))?
        }
        CmpOp::Le => (l1 > r0).then_some((*l1, *r0))?,
        CmpOp::Lt => (l1 >= r0).then_some((*l1, *r0))?,
        CmpOp::Ge => (l0 < r1).then_some((*l0, *r1))?,
        CmpOp::Gt => (l0 <= r1).then_some((*l0, *r1))?,
    };
    Some((Literal::Int(x), Literal::Int(y)))
}

fn type_max(ty: &ValueType) -> u64 {
    match ty.bits() {
        Some(b) if b < 64 => (1u64 << b) - 1,
        _ => u64::MAX,
    }
}

#[derive(Debug, Clone)]
struct FieldInfo {
    idx: usize,
    max: u64,
    /// For enum fields, the variant values: a box never holds other values.
    variants: Option<IntervalSet>,
}

/// Computes boxes and value approximations for one composition and mode.
#[derive(Debug)]
pub struct Approximator<'c> {
    any_config: bool,
    /// Readable fields by name; string fields are left out (never exact).
    fields: HashMap<&'c str, FieldInfo>,
}

impl<'c> Approximator<'c> {
    pub fn new(comp: &'c Composition, any_config: bool) -> Self {
        let fields = comp
            .catalog
            .readable
            .iter()
            .enumerate()
            .filter(|(_, (_, f))| !matches!(f.ty, ValueType::Str { .. }))
            .map(|(idx, (name, f))| {
                let variants = match &f.ty {
                    ValueType::Enum { variants } => Some(IntervalSet::normalize(
                        variants.iter().map(|(_, v)| (*v, *v)).collect(),
                    )),
                    _ => None,
                };
                let info = FieldInfo {
                    idx,
                    max: type_max(&f.ty),
                    variants,
                };
                (name.as_str(), info)
            })
            .collect();
        Approximator { any_config, fields }
    }

    /// The box index of a readable field (its position in the catalog).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.get(name).map(|f| f.idx)
    }

    fn deployed<'f>(&self, feature: &'f Feature, param: &str) -> Option<&'f ConfigValue> {
        if self.any_config {
            None
        } else {
            feature.config.get(param)
        }
    }

    fn constant(&self, feature: &Feature, o: &Operand) -> Option<u64> {
        match o {
            Operand::Lit(Literal::Int(v)) => Some(*v),
            Operand::Param(p) => match self.deployed(feature, p) {
                Some(ConfigValue::Scalar(Literal::Int(v))) => Some(*v),
                _ => None,
            },
            _ => None,
        }
    }

    fn field(&self, o: &Operand) -> Option<&FieldInfo> {
        match o {
            Operand::Field(f) => self.fields.get(f.as_str()),
            _ => None,
        }
    }

    fn single(info: &FieldInfo, set: IntervalSet) -> GuardBox {
        match &info.variants {
            Some(v) => GuardBox::single(info.idx, set.intersect(v)),
            None => GuardBox::single(info.idx, set),
        }
    }

    /// The box of `g` (of `!g` when `positive` is false).
    pub fn guard_box(&self, feature: &Feature, g: &Guard, positive: bool) -> GuardBox {
        self.approx(feature, g, positive).0
    }

    /// The box of `g`, and whether it is exact: every point of the box
    /// (each field independently taking any value of its set; fields not
    /// listed any value of their type) satisfies `g`. Exact boxes come from
    /// conjunctions of single-field atoms with constant operands, and from
    /// disjunctions over one field.
    pub fn approx(&self, feature: &Feature, g: &Guard, positive: bool) -> (GuardBox, bool) {
        match g {
            // Field against field: any values (not exact).
            Guard::SamePrefix { .. } => (GuardBox::top(), false),
            Guard::True if positive => (GuardBox::top(), true),
            Guard::False if !positive => (GuardBox::top(), true),
            Guard::True | Guard::False => (GuardBox::Bottom, true),
            Guard::Not(inner) => self.approx(feature, inner, !positive),
            Guard::And(gs) | Guard::Or(gs) => {
                let conj = matches!(g, Guard::And(_)) == positive;
                if conj {
                    let (mut acc, mut exact) = (GuardBox::top(), true);
                    for g in gs {
                        let (b, e) = self.approx(feature, g, positive);
                        acc = acc.meet(&b);
                        exact &= e;
                        if acc.is_bottom() {
                            // An empty over-approximation is a proof.
                            return (GuardBox::Bottom, true);
                        }
                    }
                    (acc, exact)
                } else {
                    let (mut acc, mut exact) = (GuardBox::Bottom, true);
                    // Fields constrained by each non-empty arm.
                    let mut arms: Vec<Vec<usize>> = Vec::new();
                    for g in gs {
                        let (b, e) = self.approx(feature, g, positive);
                        if let GuardBox::Fields(fs) = &b {
                            exact &= e;
                            arms.push(fs.iter().map(|(i, _)| *i).collect());
                        }
                        acc = acc.join(&b);
                    }
                    // A union of boxes is exact when at most one arm is
                    // non-empty, or every arm constrains the same one field.
                    let same_field = arms.windows(2).all(|w| w[0] == w[1])
                        && arms.first().is_some_and(|a| a.len() == 1);
                    (acc, exact && (arms.len() <= 1 || same_field))
                }
            }
            Guard::Cmp { lhs, op, rhs } => {
                let (field, op, v) = match (self.field(lhs), self.constant(feature, rhs)) {
                    (Some(f), Some(v)) => (f, *op, v),
                    _ => match (self.constant(feature, lhs), self.field(rhs)) {
                        (Some(v), Some(f)) => (f, flip(*op), v),
                        _ => return (GuardBox::top(), false),
                    },
                };
                let op = if positive { op } else { negate(op) };
                (Self::single(field, cmp_set(op, v, field.max)), true)
            }
            Guard::In {
                operand,
                set,
                negated,
            } => {
                let Some(field) = self.field(operand) else {
                    // A lowered `remote_ip in $p` (128-bit): the deployed
                    // value's IPv6 entries as word constraints.
                    if let (Operand::Field(f), SetExpr::Param(p)) = (operand, set) {
                        if let Some(ConfigValue::CidrSet(cs)) = self.deployed(feature, p) {
                            let g = crate::guard::v6_entries(f, cs);
                            return self.approx(feature, &g, positive != *negated);
                        }
                    }
                    return (GuardBox::top(), false);
                };
                let Some(s) = self.set(feature, set, field.max) else {
                    return (GuardBox::top(), false);
                };
                let s = if positive != *negated {
                    s
                } else {
                    s.complement(field.max)
                };
                (Self::single(field, s), true)
            }
        }
    }

    fn set(&self, feature: &Feature, set: &SetExpr, max: u64) -> Option<IntervalSet> {
        let cidr = |addr: u32, len: u8| {
            let host = if len >= 32 {
                0
            } else {
                u32::MAX >> u32::from(len)
            };
            (u64::from(addr & !host), u64::from(addr | host))
        };
        let s = match set {
            SetExpr::Cidr4(c) => {
                let (lo, hi) = cidr(c.addr, c.len);
                IntervalSet::range(lo, hi)
            }
            SetExpr::Values(vs) => {
                let mut v = Vec::new();
                for l in vs {
                    match l {
                        Literal::Int(n) => v.push((*n, *n)),
                        Literal::Str(_) => return None,
                    }
                }
                IntervalSet::normalize(v)
            }
            SetExpr::Range { lo, hi } => IntervalSet::range(*lo, *hi),
            SetExpr::Param(p) => match self.deployed(feature, p)? {
                ConfigValue::Cidr4Set(cs) => {
                    IntervalSet::normalize(cs.iter().map(|c| cidr(c.addr, c.len)).collect())
                }
                ConfigValue::PortSet(ps) => IntervalSet::normalize(
                    ps.iter().map(|p| (u64::from(*p), u64::from(*p))).collect(),
                ),
                // A 128-bit set on a 32-bit operand: its IPv4 entries.
                ConfigValue::CidrSet(cs) => IntervalSet::normalize(
                    cs.iter()
                        .filter_map(crate::ir::Cidr::as_v4)
                        .map(|c| cidr(c.addr, c.len))
                        .collect(),
                ),
                ConfigValue::Scalar(_) => return None,
            },
        };
        Some(s.intersect(&IntervalSet::range(0, max)))
    }

    /// The possible values of a write.
    pub fn value(&self, feature: &Feature, v: &WriteValue) -> ValueApprox {
        match v {
            WriteValue::Lit(Literal::Int(n)) => ValueApprox::Int { lo: *n, hi: *n },
            WriteValue::Lit(Literal::Str(s)) => ValueApprox::Str(s.clone()),
            // An empty range (the front end rejects it) is left to z3, where
            // its value has no model and the write never happens.
            WriteValue::Range { min, max } if min > max => ValueApprox::Unknown,
            WriteValue::Range { min, max } => ValueApprox::Int { lo: *min, hi: *max },
            WriteValue::Param(p) => match self.deployed(feature, p) {
                Some(ConfigValue::Scalar(Literal::Int(n))) => ValueApprox::Int { lo: *n, hi: *n },
                Some(ConfigValue::Scalar(Literal::Str(s))) => ValueApprox::Str(s.clone()),
                Some(_) => ValueApprox::Unknown,
                None => match feature.params.iter().find(|q| &q.name == p).map(|q| &q.ty) {
                    // Enum params take only their variants: not an interval.
                    Some(ParamType::Scalar { ty, min, max })
                        if ty.bits().is_some() && !matches!(ty, ValueType::Enum { .. }) =>
                    {
                        ValueApprox::Int {
                            lo: min.unwrap_or(0),
                            hi: max.unwrap_or_else(|| type_max(ty)),
                        }
                    }
                    _ => ValueApprox::Unknown,
                },
            },
        }
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

fn cmp_set(op: CmpOp, v: u64, max: u64) -> IntervalSet {
    match op {
        CmpOp::Eq if v <= max => IntervalSet::range(v, v),
        CmpOp::Eq => IntervalSet::empty(),
        CmpOp::Ne => IntervalSet::range(v, v).complement(max),
        CmpOp::Lt if v == 0 => IntervalSet::empty(),
        CmpOp::Lt => IntervalSet::range(0, (v - 1).min(max)),
        CmpOp::Le => IntervalSet::range(0, v.min(max)),
        CmpOp::Gt if v >= max => IntervalSet::empty(),
        CmpOp::Gt => IntervalSet::range(v + 1, max),
        CmpOp::Ge => IntervalSet::range(v, max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_algebra() {
        let a = IntervalSet::range(10, 20).union(&IntervalSet::range(30, 40));
        assert!(a.intersects(&IntervalSet::range(20, 25)));
        assert!(!a.intersects(&IntervalSet::range(21, 29)));
        assert_eq!(
            a.complement(50),
            IntervalSet(vec![(0, 9), (21, 29), (41, 50)])
        );
        assert_eq!(
            IntervalSet::range(0, 50).complement(50),
            IntervalSet::empty()
        );
        assert_eq!(
            a.intersect(&IntervalSet::range(15, 35)),
            IntervalSet(vec![(15, 20), (30, 35)])
        );
        assert_eq!(cmp_set(CmpOp::Ne, 0, 3), IntervalSet::range(1, 3));
        assert_eq!(cmp_set(CmpOp::Gt, 3, 3), IntervalSet::empty());
    }

    #[test]
    fn boxes_meet_and_join() {
        let a = GuardBox::single(0, IntervalSet::range(4, 4));
        let b = GuardBox::single(0, IntervalSet::range(5, 5));
        let c = GuardBox::single(1, IntervalSet::range(0, 9));
        assert!(a.meet(&b).is_bottom());
        assert!(!a.may_overlap(&b));
        assert!(a.may_overlap(&c));
        // (a || c) loses field 1 and field 0: top.
        assert_eq!(a.join(&c), GuardBox::top());
        assert_eq!(
            a.join(&b),
            GuardBox::Fields(vec![(0, IntervalSet::range(4, 5))])
        );
    }

    #[test]
    fn exactness() {
        use crate::testing::*;
        let c = CompositionBuilder::new("x").build();
        let f = FeatureBuilder::new("f").build();
        let a = Approximator::new(&c, false);
        let exact = |g: &Guard| a.approx(&f, g, true).1;
        assert!(exact(&and([
            op("ACTIVE_ESTABLISHED_CB"),
            ip_in("remote_ip4", "10.0.0.0/8")
        ])));
        assert!(exact(&or([
            field_cmp("remote_port", CmpOp::Eq, 1),
            in_values("remote_port", &[7])
        ])));
        assert!(!exact(&or([
            and([
                op("ACTIVE_ESTABLISHED_CB"),
                field_cmp("remote_port", CmpOp::Eq, 1)
            ]),
            and([
                op("PASSIVE_ESTABLISHED_CB"),
                field_cmp("remote_port", CmpOp::Eq, 2)
            ]),
        ])));
        let ports = crate::ir::Guard::Cmp {
            lhs: Operand::Field("remote_port".into()),
            op: CmpOp::Eq,
            rhs: Operand::Field("local_port".into()),
        };
        assert!(!exact(&ports));
        // `op != X` holds only the other variants, never a non-variant value.
        let (b, e) = a.approx(&f, &not(op("VOID")), true);
        assert!(e);
        let idx = a.field_index("op").unwrap_or(usize::MAX);
        assert_eq!(b.least(idx), Some(1));
        // A contradiction is exactly empty.
        let (b, e) = a.approx(&f, &and([op("VOID"), op("RTT_CB")]), true);
        assert!(b.is_bottom() && e);
    }

    fn int(lo: u64, hi: u64) -> ValueApprox {
        ValueApprox::Int { lo, hi }
    }

    fn pair(p: Option<(Literal, Literal)>) -> Option<(u64, u64)> {
        match p? {
            (Literal::Int(x), Literal::Int(y)) => Some((x, y)),
            _ => None,
        }
    }

    #[test]
    fn picks_values_that_differ() {
        assert_eq!(pair(pick_differ(&int(5, 5), &int(5, 5))), None);
        assert_eq!(pair(pick_differ(&int(5, 5), &int(5, 9))), Some((5, 6)));
        assert_eq!(pair(pick_differ(&int(5, 9), &int(5, 5))), Some((6, 5)));
        assert_eq!(pair(pick_differ(&int(1, 9), &int(4, 4))), Some((1, 4)));
        let s = |x: &str| ValueApprox::Str(x.into());
        assert!(pick_differ(&s("bbr"), &s("bbr")).is_none());
        assert!(pick_differ(&s("bbr"), &s("reno")).is_some());
    }

    #[test]
    fn picks_values_that_break_an_invariant() {
        assert_eq!(
            pair(pick_violation(CmpOp::Le, &int(40, 80), &int(60, 60))),
            Some((80, 60))
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Le, &int(40, 60), &int(60, 60))),
            None
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Lt, &int(40, 60), &int(60, 60))),
            Some((60, 60))
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Ge, &int(1, 5), &int(3, 3))),
            Some((1, 3))
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Gt, &int(3, 5), &int(3, 3))),
            Some((3, 3))
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Ne, &int(1, 5), &int(5, 9))),
            Some((5, 5))
        );
        assert_eq!(
            pair(pick_violation(CmpOp::Ne, &int(1, 4), &int(5, 9))),
            None
        );
    }
}
