//! The solver's own small formula language: unsigned bit-vector terms,
//! boolean formulas over them, and unary membership predicates.
//!
//! It exists so that the checks never see a z3 type, so that trivial
//! questions are folded away before any solver call (constant comparisons,
//! `true`/`false` in conjunctions), and so that every query can be printed
//! as SMT-LIB text and replayed by hand (`z3 query.smt2`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A declared bit-vector constant (a connection field, a free param, a
/// range write's chosen value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarId(pub(crate) u32);

/// A declared unary predicate `(_ BitVec n) -> Bool` (a free set param).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FuncId(pub(crate) u32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarDecl {
    pub name: String,
    pub width: u32,
    /// What values the constant may take (enum variants, param bounds).
    pub domain: Formula,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncDecl {
    pub name: String,
    pub domain_width: u32,
}

/// Every symbol the encoder declared, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    pub(crate) vars: Vec<VarDecl>,
    pub(crate) funcs: Vec<FuncDecl>,
}

impl Symbols {
    pub fn var(&mut self, name: String, width: u32, domain: Formula) -> VarId {
        self.vars.push(VarDecl {
            name,
            width,
            domain,
        });
        VarId(self.vars.len() as u32 - 1)
    }

    pub fn func(&mut self, name: String, domain_width: u32) -> FuncId {
        self.funcs.push(FuncDecl { name, domain_width });
        FuncId(self.funcs.len() as u32 - 1)
    }

    pub fn var_decl(&self, v: VarId) -> &VarDecl {
        &self.vars[v.0 as usize]
    }

    pub fn func_decl(&self, f: FuncId) -> &FuncDecl {
        &self.funcs[f.0 as usize]
    }
}

/// An unsigned bit-vector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Var {
        id: VarId,
        width: u32,
    },
    Num {
        value: u64,
        width: u32,
    },
    ZeroExt {
        extra: u32,
        term: Box<Term>,
    },
    /// Bits `hi..=lo` of `term`.
    Extract {
        hi: u32,
        lo: u32,
        term: Box<Term>,
    },
    /// The parts side by side, the first one most significant (a 128-bit
    /// address from its four words).
    Concat(Vec<Term>),
    /// Bitwise OR of two terms of one width (a read-modify-write's value:
    /// the current flags | the written ones).
    BvOr(Box<Term>, Box<Term>),
}

impl Term {
    pub fn num(value: u64, width: u32) -> Term {
        let value = if width >= 64 {
            value
        } else {
            value & ((1u64 << width) - 1)
        };
        Term::Num { value, width }
    }

    pub fn width(&self) -> u32 {
        match self {
            Term::Var { width, .. } | Term::Num { width, .. } => *width,
            Term::ZeroExt { extra, term } => term.width() + extra,
            Term::Extract { hi, lo, .. } => hi - lo + 1,
            Term::Concat(parts) => parts.iter().map(Term::width).sum(),
            Term::BvOr(a, _) => a.width(),
        }
    }

    /// Zero-extends to `width` (no-op when already that wide or wider).
    pub fn widen(self, width: u32) -> Term {
        let w = self.width();
        if w >= width {
            return self;
        }
        match self {
            Term::Num { value, .. } => Term::num(value, width),
            t => Term::ZeroExt {
                extra: width - w,
                term: Box::new(t),
            },
        }
    }

    /// Bits `hi..=lo`, folded for numbers.
    pub fn extract(self, hi: u32, lo: u32) -> Term {
        match self {
            Term::Num { value, .. } => {
                let shifted = if lo >= 64 { 0 } else { value >> lo };
                Term::num(shifted, hi - lo + 1)
            }
            t => Term::Extract {
                hi,
                lo,
                term: Box::new(t),
            },
        }
    }

    /// `a | b`, both widened to the wider width; folded for numbers.
    pub fn bvor(a: Term, b: Term) -> Term {
        let (a, b) = unify(a, b);
        match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Term::num(x | y, a.width()),
            _ => Term::BvOr(Box::new(a), Box::new(b)),
        }
    }

    fn as_num(&self) -> Option<u64> {
        match self {
            Term::Num { value, .. } => Some(*value),
            _ => None,
        }
    }
}

/// A boolean formula. Build it with the smart constructors, which fold
/// constants so that decided questions never reach the solver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formula {
    True,
    False,
    Not(Box<Formula>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    Eq(Term, Term),
    Ult(Term, Term),
    Ule(Term, Term),
    /// `func(arg)`: membership in a free set.
    Member {
        func: FuncId,
        arg: Term,
    },
}

/// Both sides zero-extended to the wider width.
fn unify(a: Term, b: Term) -> (Term, Term) {
    let w = a.width().max(b.width());
    (a.widen(w), b.widen(w))
}

impl Formula {
    pub fn constant(b: bool) -> Formula {
        if b {
            Formula::True
        } else {
            Formula::False
        }
    }

    pub fn eq(a: Term, b: Term) -> Formula {
        let (a, b) = unify(a, b);
        match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Formula::constant(x == y),
            _ if a == b => Formula::True,
            _ => Formula::Eq(a, b),
        }
    }

    pub fn ult(a: Term, b: Term) -> Formula {
        let (a, b) = unify(a, b);
        match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Formula::constant(x < y),
            (_, Some(0)) => Formula::False,
            _ => Formula::Ult(a, b),
        }
    }

    pub fn ule(a: Term, b: Term) -> Formula {
        let (a, b) = unify(a, b);
        match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => Formula::constant(x <= y),
            (Some(0), _) => Formula::True,
            _ => Formula::Ule(a, b),
        }
    }

    #[expect(
        clippy::should_implement_trait,
        reason = "a constructor, not an operator"
    )]
    pub fn not(f: Formula) -> Formula {
        match f {
            Formula::True => Formula::False,
            Formula::False => Formula::True,
            Formula::Not(inner) => *inner,
            f => Formula::Not(Box::new(f)),
        }
    }

    pub fn and(parts: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::True => {}
                Formula::False => return Formula::False,
                Formula::And(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Formula::True,
            1 => out.pop().unwrap_or(Formula::True),
            _ => Formula::And(out),
        }
    }

    pub fn or(parts: impl IntoIterator<Item = Formula>) -> Formula {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Formula::False => {}
                Formula::True => return Formula::True,
                Formula::Or(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Formula::False,
            1 => out.pop().unwrap_or(Formula::False),
            _ => Formula::Or(out),
        }
    }

    /// `lo <= t <= hi`, unsigned.
    pub fn within(t: Term, lo: u64, hi: u64) -> Formula {
        let w = t.width();
        Formula::and([
            Formula::ule(Term::num(lo, w.max(bits_for(lo))), t.clone()),
            Formula::ule(t, Term::num(hi, w.max(bits_for(hi)))),
        ])
    }

    pub fn is_true(&self) -> bool {
        matches!(self, Formula::True)
    }

    pub fn is_false(&self) -> bool {
        matches!(self, Formula::False)
    }

    /// Every variable and function this formula mentions.
    pub fn symbols_into(&self, vars: &mut BTreeSet<VarId>, funcs: &mut BTreeSet<FuncId>) {
        match self {
            Formula::True | Formula::False => {}
            Formula::Not(f) => f.symbols_into(vars, funcs),
            Formula::And(fs) | Formula::Or(fs) => {
                fs.iter().for_each(|f| f.symbols_into(vars, funcs));
            }
            Formula::Eq(a, b) | Formula::Ult(a, b) | Formula::Ule(a, b) => {
                term_vars(a, vars);
                term_vars(b, vars);
            }
            Formula::Member { func, arg } => {
                funcs.insert(*func);
                term_vars(arg, vars);
            }
        }
    }
}

fn term_vars(t: &Term, vars: &mut BTreeSet<VarId>) {
    match t {
        Term::Var { id, .. } => {
            vars.insert(*id);
        }
        Term::Num { .. } => {}
        Term::ZeroExt { term, .. } | Term::Extract { term, .. } => term_vars(term, vars),
        Term::Concat(parts) => parts.iter().for_each(|p| term_vars(p, vars)),
        Term::BvOr(a, b) => {
            term_vars(a, vars);
            term_vars(b, vars);
        }
    }
}

/// Bits needed to hold `v` (at least 1).
pub fn bits_for(v: u64) -> u32 {
    (64 - v.leading_zeros()).max(1)
}

/// SMT-LIB 2 text for "is `query` satisfiable", with the declarations and
/// domain constraints of every symbol it mentions; runs as is with `z3 FILE`.
pub fn to_smt2(symbols: &Symbols, comment: &str, query: &Formula) -> String {
    let mut vars = BTreeSet::new();
    let mut funcs = BTreeSet::new();
    query.symbols_into(&mut vars, &mut funcs);
    // Domains may mention further symbols only in principle; include them.
    let mut out = String::new();
    for line in comment.lines() {
        let _ = writeln!(out, "; {line}");
    }
    out.push_str("(set-logic QF_UFBV)\n");
    for v in &vars {
        let d = symbols.var_decl(*v);
        let _ = writeln!(
            out,
            "(declare-const {} (_ BitVec {}))",
            quote(&d.name),
            d.width
        );
    }
    for f in &funcs {
        let d = symbols.func_decl(*f);
        let _ = writeln!(
            out,
            "(declare-fun {} ((_ BitVec {})) Bool)",
            quote(&d.name),
            d.domain_width
        );
    }
    for v in &vars {
        let d = symbols.var_decl(*v);
        if !d.domain.is_true() {
            let _ = writeln!(out, "(assert {})", formula_smt(symbols, &d.domain));
        }
    }
    match query {
        Formula::And(parts) => {
            for p in parts {
                let _ = writeln!(out, "(assert {})", formula_smt(symbols, p));
            }
        }
        q => {
            let _ = writeln!(out, "(assert {})", formula_smt(symbols, q));
        }
    }
    out.push_str("(check-sat)\n(get-model)\n");
    out
}

fn quote(name: &str) -> String {
    format!("|{}|", name.replace('|', "_"))
}

fn term_smt(s: &Symbols, t: &Term) -> String {
    match t {
        Term::Var { id, .. } => quote(&s.var_decl(*id).name),
        Term::Num { value, width } => format!("(_ bv{value} {width})"),
        Term::ZeroExt { extra, term } => {
            format!("((_ zero_extend {extra}) {})", term_smt(s, term))
        }
        Term::Extract { hi, lo, term } => format!("((_ extract {hi} {lo}) {})", term_smt(s, term)),
        Term::Concat(parts) => {
            let parts: Vec<String> = parts.iter().map(|p| term_smt(s, p)).collect();
            format!("(concat {})", parts.join(" "))
        }
        Term::BvOr(a, b) => format!("(bvor {} {})", term_smt(s, a), term_smt(s, b)),
    }
}

fn formula_smt(s: &Symbols, f: &Formula) -> String {
    let join = |op: &str, fs: &[Formula]| {
        let parts: Vec<String> = fs.iter().map(|f| formula_smt(s, f)).collect();
        format!("({op} {})", parts.join(" "))
    };
    match f {
        Formula::True => "true".into(),
        Formula::False => "false".into(),
        Formula::Not(f) => format!("(not {})", formula_smt(s, f)),
        Formula::And(fs) => join("and", fs),
        Formula::Or(fs) => join("or", fs),
        Formula::Eq(a, b) => format!("(= {} {})", term_smt(s, a), term_smt(s, b)),
        Formula::Ult(a, b) => format!("(bvult {} {})", term_smt(s, a), term_smt(s, b)),
        Formula::Ule(a, b) => format!("(bvule {} {})", term_smt(s, a), term_smt(s, b)),
        Formula::Member { func, arg } => {
            format!("({} {})", quote(&s.func_decl(*func).name), term_smt(s, arg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_fold() {
        assert_eq!(
            Formula::eq(Term::num(3, 8), Term::num(3, 16)),
            Formula::True
        );
        assert_eq!(
            Formula::ult(Term::num(3, 8), Term::num(2, 8)),
            Formula::False
        );
        assert_eq!(
            Formula::and([Formula::True, Formula::False, Formula::True]),
            Formula::False
        );
        assert_eq!(Formula::or([Formula::False, Formula::True]), Formula::True);
        assert_eq!(Formula::not(Formula::not(Formula::True)), Formula::True);
        assert_eq!(Term::num(0x0a01_0203, 32).extract(31, 24), Term::num(10, 8));
    }

    #[test]
    fn smt2_declares_what_it_uses() {
        let mut s = Symbols::default();
        let x = s.var("remote_port".into(), 16, Formula::True);
        let f = s.func("set.a.ports".into(), 16);
        let t = Term::Var { id: x, width: 16 };
        let q = Formula::and([
            Formula::eq(t.clone(), Term::num(443, 16)),
            Formula::Member { func: f, arg: t },
        ]);
        let text = to_smt2(&s, "demo", &q);
        assert!(
            text.contains("(declare-const |remote_port| (_ BitVec 16))"),
            "{text}"
        );
        assert!(
            text.contains("(declare-fun |set.a.ports| ((_ BitVec 16)) Bool)"),
            "{text}"
        );
        assert!(
            text.contains("(assert (= |remote_port| (_ bv443 16)))"),
            "{text}"
        );
        assert!(text.ends_with("(check-sat)\n(get-model)\n"));
    }
}
