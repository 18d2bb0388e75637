//! Printing of typed guards and their pieces, in the guard language's own
//! notation (dotted addresses, enum names), for tests and reports.

use crate::ir::{CmpOp, Guard, Literal, Operand, ParamType, SetExpr, ValueType};

use super::Scope;

/// `10.0.0.1` for the host-order `0x0a000001`.
pub fn ipv4(v: u32) -> String {
    let b = v.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

pub fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// A literal in the notation of its type: enum names, dotted IPv4,
/// quoted strings, plain integers.
pub fn literal(lit: &Literal, ty: Option<&ValueType>) -> String {
    match (lit, ty) {
        (Literal::Str(s), _) => format!("{s:?}"),
        (Literal::Int(v), Some(ValueType::Ipv4)) => u32::try_from(*v)
            .map(ipv4)
            .unwrap_or_else(|_| v.to_string()),
        (Literal::Int(v), Some(ValueType::Enum { variants })) => variants
            .iter()
            .find(|(_, x)| x == v)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| v.to_string()),
        (Literal::Int(v), Some(ValueType::Bool)) => (*v != 0).to_string(),
        (Literal::Int(v), Some(ty)) => ty.int_text(*v),
        (Literal::Int(v), None) => v.to_string(),
    }
}

fn operand_type(o: &Operand, scope: Scope<'_>) -> Option<ValueType> {
    match o {
        Operand::Field(f) => scope
            .catalog
            .readable
            .get(f)
            .map(|f| f.ty.clone())
            .or_else(|| scope.catalog.writable.get(f).map(|w| w.ty.clone())),
        Operand::Param(p) => scope
            .params
            .iter()
            .find(|x| &x.name == p)
            .and_then(|p| match &p.ty {
                ParamType::Scalar { ty, .. } => Some(ty.clone()),
                _ => None,
            }),
        Operand::Lit(_) => None,
    }
}

fn operand(o: &Operand, ty: Option<&ValueType>) -> String {
    match o {
        Operand::Field(f) => f.clone(),
        Operand::Param(p) => format!("${p}"),
        Operand::Lit(l) => literal(l, ty),
    }
}

/// The typed guard as an S-expression, e.g.
/// `(&& (== op BPF_SOCK_OPS_RWND_INIT) (in remote_ip4 10.0.0.0/8))`.
pub fn pretty(g: &Guard, scope: Scope<'_>) -> String {
    match g {
        Guard::True => "true".into(),
        Guard::False => "false".into(),
        Guard::Not(inner) => format!("(! {})", pretty(inner, scope)),
        Guard::And(items) => nary("&&", items, scope),
        Guard::Or(items) => nary("||", items, scope),
        Guard::Cmp { lhs, op, rhs } => {
            let ty = operand_type(lhs, scope).or_else(|| operand_type(rhs, scope));
            format!(
                "({} {} {})",
                cmp_op(*op),
                operand(lhs, ty.as_ref()),
                operand(rhs, ty.as_ref())
            )
        }
        Guard::SamePrefix { lhs, rhs, bits } => format!("(prefix{bits}== {lhs} {rhs})"),
        Guard::In {
            operand: o,
            set,
            negated,
        } => {
            let ty = operand_type(o, scope);
            let set = match set {
                SetExpr::Cidr4(c) => format!("{}/{}", ipv4(c.addr), c.len),
                SetExpr::Values(vs) => {
                    let items: Vec<String> = vs.iter().map(|v| literal(v, ty.as_ref())).collect();
                    format!("{{{}}}", items.join(", "))
                }
                SetExpr::Range { lo, hi } => format!("{lo}..{hi}"),
                SetExpr::Param(p) => format!("${p}"),
            };
            let kw = if *negated { "not-in" } else { "in" };
            format!("({kw} {} {set})", operand(o, ty.as_ref()))
        }
    }
}

fn nary(op: &str, items: &[Guard], scope: Scope<'_>) -> String {
    let parts: Vec<String> = items.iter().map(|i| pretty(i, scope)).collect();
    format!("({op} {})", parts.join(" "))
}
