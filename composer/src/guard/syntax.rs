//! The guard language's lexer and parser: text to an untyped syntax tree.
//!
//! Every node keeps the character offset where it starts in the guard text,
//! so errors (syntax here, types in `typeck`) can point inside the string.
//! Nothing here knows the hook catalog or the feature's params.

use super::{GuardError, GuardErrorKind};
use crate::ir::{Cidr, Cidr4, CmpOp};

/// A token with its character offset and length in the guard text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Param(String),
    Int(u64),
    /// `-N`: a negative integer, by its magnitude.
    NegInt(u64),
    /// `FIELD/LEN`: the first `LEN` bits of an address field.
    Masked(String, u32),
    Ipv4(u32),
    Cidr(Cidr4),
    /// An IPv6 address (`2001:db8::1`, `::ffff:10.0.0.1`) as its 128-bit value.
    Ipv6(u128),
    /// An IPv6 prefix (`2001:db8::/32`).
    Cidr6(Cidr),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    DotDot,
    Not,
    AndAnd,
    OrOr,
    Cmp(CmpOp),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Param(s) => format!("`${s}`"),
            Tok::Int(v) => format!("`{v}`"),
            Tok::NegInt(v) => format!("`-{v}`"),
            Tok::Masked(f, len) => format!("`{f}/{len}`"),
            Tok::Ipv4(v) => format!("`{}`", super::print::ipv4(*v)),
            Tok::Cidr(c) => format!("`{}/{}`", super::print::ipv4(c.addr), c.len),
            Tok::Ipv6(v) => format!("`{}`", std::net::Ipv6Addr::from(*v)),
            Tok::Cidr6(c) => format!("`{c}`"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBrace => "`{`".into(),
            Tok::RBrace => "`}`".into(),
            Tok::Comma => "`,`".into(),
            Tok::DotDot => "`..`".into(),
            Tok::Not => "`!`".into(),
            Tok::AndAnd => "`&&`".into(),
            Tok::OrOr => "`||`".into(),
            Tok::Cmp(op) => format!("`{}`", super::print::cmp_op(*op)),
        }
    }
}

/// A literal or name as written, before typing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Atom {
    /// A field name, or a bare enum variant name (`ACTIVE_ESTABLISHED_CB`).
    Ident(String),
    Param(String),
    Int(u64),
    /// A negative integer `-N`, by its magnitude (only signed fields take it).
    NegInt(u64),
    /// `FIELD/LEN`: the first `LEN` bits of an address field (only a masked
    /// comparison of two address fields takes it).
    Masked(String, u32),
    Ipv4(u32),
    Ipv6(u128),
    Str(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operand {
    pub atom: Atom,
    pub offset: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SetSyntax {
    Cidr(Cidr4),
    Cidr6(Cidr),
    Values(Vec<Operand>),
    Range { lo: u64, hi: u64 },
    Param(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Bool(bool),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp {
        lhs: Operand,
        op: CmpOp,
        rhs: Operand,
    },
    In {
        operand: Operand,
        set: SetSyntax,
        set_offset: usize,
        set_len: usize,
        negated: bool,
    },
}

fn err(offset: usize, len: usize, kind: GuardErrorKind) -> GuardError {
    GuardError {
        offset,
        len: len.max(1),
        kind,
    }
}

/// Splits the guard text into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, GuardError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let two = |a: char, b: char| c == a && chars.get(i + 1) == Some(&b);
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if two('&', '&') {
            i += 2;
            Tok::AndAnd
        } else if two('|', '|') {
            i += 2;
            Tok::OrOr
        } else if two('=', '=') {
            i += 2;
            Tok::Cmp(CmpOp::Eq)
        } else if two('!', '=') {
            i += 2;
            Tok::Cmp(CmpOp::Ne)
        } else if two('<', '=') {
            i += 2;
            Tok::Cmp(CmpOp::Le)
        } else if two('>', '=') {
            i += 2;
            Tok::Cmp(CmpOp::Ge)
        } else if two('.', '.') {
            i += 2;
            Tok::DotDot
        } else if "()!{},<>".contains(c) {
            i += 1;
            match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '{' => Tok::LBrace,
                '}' => Tok::RBrace,
                ',' => Tok::Comma,
                '!' => Tok::Not,
                '<' => Tok::Cmp(CmpOp::Lt),
                _ => Tok::Cmp(CmpOp::Gt),
            }
        } else if c == '=' {
            return Err(err(i, 1, GuardErrorKind::SingleEquals));
        } else if c == '&' || c == '|' {
            return Err(err(i, 1, GuardErrorKind::SingleAmpOrBar { ch: c }));
        } else if c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(start, i - start, GuardErrorKind::UnterminatedString)),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c == '$' {
            i += 1;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            if i == start + 1 {
                return Err(err(start, 1, GuardErrorKind::EmptyParam));
            }
            Tok::Param(chars[start + 1..i].iter().collect())
        } else if let Some(end) = ipv6_run(&chars, i) {
            lex_ipv6(&chars, &mut i, end)?
        } else if c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            i += 1;
            match lex_number(&chars, &mut i)? {
                Tok::Int(v) => Tok::NegInt(v),
                _ => {
                    let text = chars[start..i].iter().collect();
                    return Err(err(start, i - start, GuardErrorKind::BadNumber { text }));
                }
            }
        } else if c.is_ascii_digit() {
            lex_number(&chars, &mut i)?
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'/') {
                // `remote_ip6/44`: a field's first 44 bits.
                let slash = i;
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let len_text: String = chars[slash + 1..i].iter().collect();
                match len_text.parse::<u32>() {
                    Ok(len) if len <= 128 => Tok::Masked(name, len),
                    _ => {
                        return Err(err(
                            start,
                            i - start,
                            GuardErrorKind::BadMask {
                                text: chars[start..i].iter().collect(),
                            },
                        ))
                    }
                }
            } else {
                Tok::Ident(name)
            }
        } else {
            return Err(err(i, 1, GuardErrorKind::UnexpectedChar { ch: c }));
        };
        out.push(Token {
            kind,
            offset: start,
            len: i - start,
        });
    }
    Ok(out)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// An integer, a dotted IPv4 address, or a CIDR prefix. `10..20` lexes as
/// `10`, `..`, `20`.
fn lex_number(chars: &[char], i: &mut usize) -> Result<Tok, GuardError> {
    let start = *i;
    let is_hex = chars[start] == '0' && matches!(chars.get(start + 1), Some('x') | Some('X'));
    if is_hex {
        *i += 2;
        while *i < chars.len() && chars[*i].is_ascii_hexdigit() {
            *i += 1;
        }
        let text: String = chars[start + 2..*i].iter().collect();
        return u64::from_str_radix(&text, 16).map(Tok::Int).map_err(|_| {
            err(
                start,
                *i - start,
                GuardErrorKind::BadNumber {
                    text: chars[start..*i].iter().collect(),
                },
            )
        });
    }
    // Take digits and single dots (not `..`), then an optional `/len`.
    while *i < chars.len() {
        let c = chars[*i];
        if c.is_ascii_digit()
            || (c == '.'
                && chars.get(*i + 1) != Some(&'.')
                && chars.get(*i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            *i += 1;
        } else {
            break;
        }
    }
    let mut text: String = chars[start..*i].iter().collect();
    let has_slash = chars.get(*i) == Some(&'/');
    if has_slash {
        *i += 1;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        text = chars[start..*i].iter().collect();
    }
    // A letter glued to a number (`10abc`) is a typo, not two tokens.
    if chars.get(*i).is_some_and(|c| is_ident_char(*c)) {
        while *i < chars.len() && is_ident_char(chars[*i]) {
            *i += 1;
        }
        let text = chars[start..*i].iter().collect();
        return Err(err(start, *i - start, GuardErrorKind::BadNumber { text }));
    }
    let len = *i - start;
    if has_slash {
        return parse_cidr4(&text)
            .map(Tok::Cidr)
            .map_err(|reason| err(start, len, GuardErrorKind::BadCidr { text, reason }));
    }
    if text.contains('.') {
        return parse_ipv4(&text)
            .map(Tok::Ipv4)
            .map_err(|reason| err(start, len, GuardErrorKind::BadIpv4 { text, reason }));
    }
    text.parse::<u64>()
        .map(Tok::Int)
        .map_err(|_| err(start, len, GuardErrorKind::BadNumber { text }))
}

/// Where an IPv6 literal starting at `i` ends: the run of hex digits, `:`
/// and `.` there, if it holds a `:` (nothing else in the language does).
fn ipv6_run(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    while j < chars.len() && (chars[j].is_ascii_hexdigit() || chars[j] == ':' || chars[j] == '.') {
        if chars[j] == '.' && chars.get(j + 1) == Some(&'.') {
            break;
        }
        j += 1;
    }
    chars[i..j].contains(&':').then_some(j)
}

/// An IPv6 address or prefix; `end` is where [`ipv6_run`] stopped.
fn lex_ipv6(chars: &[char], i: &mut usize, end: usize) -> Result<Tok, GuardError> {
    let start = *i;
    *i = end;
    let has_slash = chars.get(*i) == Some(&'/');
    if has_slash {
        *i += 1;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    }
    // Anything glued on (`fe80::1x`, `::1/64abc`) makes the literal invalid.
    while *i < chars.len() && (is_ident_char(chars[*i]) || chars[*i] == ':' || chars[*i] == '.') {
        *i += 1;
    }
    let text: String = chars[start..*i].iter().collect();
    let len = *i - start;
    if has_slash {
        return parse_cidr6(&text)
            .map(Tok::Cidr6)
            .map_err(|reason| err(start, len, GuardErrorKind::BadCidr { text, reason }));
    }
    parse_ipv6(&text)
        .map(Tok::Ipv6)
        .map_err(|reason| err(start, len, GuardErrorKind::BadIpv6 { text, reason }))
}

/// Parses an IPv6 address in any RFC 4291 text form (`::1`,
/// `2001:db8::10`, `::ffff:10.0.0.1`) to its 128-bit value.
pub fn parse_ipv6(text: &str) -> Result<u128, String> {
    text.parse::<std::net::Ipv6Addr>()
        .map(u128::from)
        .map_err(|_| "not an IPv6 address (eight 16-bit hex groups, `::` for zeros)".to_string())
}

/// Parses `addr/len` for IPv6 (`2001:db8::/32`); host bits must be zero.
pub fn parse_cidr6(text: &str) -> Result<Cidr, String> {
    let Some((addr, len)) = text.split_once('/') else {
        return Err("expected addr/len".into());
    };
    let addr = parse_ipv6(addr)?;
    let len: u8 = match len.parse::<u8>() {
        Ok(l) if l <= 128 => l,
        _ => return Err(format!("prefix length `{len}` is out of range 0..=128")),
    };
    let c = Cidr { addr, len };
    if addr & !Cidr::mask(len) != 0 {
        let fixed = Cidr {
            addr: addr & Cidr::mask(len),
            len,
        };
        return Err(format!("host bits are set; did you mean {fixed}?"));
    }
    Ok(c)
}

/// Parses a dotted IPv4 address to its host-order `u32`.
pub fn parse_ipv4(text: &str) -> Result<u32, String> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return Err(format!("expected 4 dotted octets, found {}", parts.len()));
    }
    let mut v: u32 = 0;
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{p}` is not an octet (0..=255)"));
        }
        let n: u32 = p
            .parse()
            .map_err(|_| format!("`{p}` is not an octet (0..=255)"))?;
        if n > 255 {
            return Err(format!("octet {n} is out of range 0..=255"));
        }
        v = (v << 8) | n;
    }
    Ok(v)
}

/// Parses `a.b.c.d/len`; host bits must be zero (`10.0.0.1/8` is refused,
/// it usually hides a typo).
pub fn parse_cidr4(text: &str) -> Result<Cidr4, String> {
    let Some((addr, len)) = text.split_once('/') else {
        return Err("expected a.b.c.d/len".into());
    };
    let addr = parse_ipv4(addr)?;
    let len: u8 = match len.parse::<u8>() {
        Ok(l) if l <= 32 => l,
        _ => return Err(format!("prefix length `{len}` is out of range 0..=32")),
    };
    let c = Cidr4 { addr, len };
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    if addr & !mask != 0 {
        return Err(format!(
            "host bits are set; did you mean {}/{}?",
            super::print::ipv4(addr & mask),
            len
        ));
    }
    Ok(c)
}

/// How deep `(` and `!` may nest: each level is a recursion of the parser
/// and of every later pass over the tree, so an unbounded guard could
/// exhaust the stack.
pub const MAX_GUARD_DEPTH: usize = 256;

/// Recursive-descent parser over the token list.
pub(crate) struct Parser {
    toks: Vec<Token>,
    pos: usize,
    end: usize,
    /// `(` and `!` currently open.
    depth: usize,
}

impl Parser {
    pub(crate) fn new(toks: Vec<Token>, text_len: usize) -> Self {
        Parser {
            toks,
            pos: 0,
            end: text_len,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expected(&self, what: &str) -> GuardError {
        match self.peek() {
            Some(t) => err(
                t.offset,
                t.len,
                GuardErrorKind::Expected {
                    expected: what.into(),
                    found: t.kind.describe(),
                },
            ),
            None => err(
                self.end,
                1,
                GuardErrorKind::Expected {
                    expected: what.into(),
                    found: "end of guard".into(),
                },
            ),
        }
    }

    pub(crate) fn parse_all(mut self) -> Result<Expr, GuardError> {
        if self.toks.is_empty() {
            return Err(err(0, 1, GuardErrorKind::Empty));
        }
        let e = self.or()?;
        if self.peek().is_some() {
            return Err(self.expected("`&&`, `||` or the end of the guard"));
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, GuardError> {
        let mut items = vec![self.and()?];
        while self.peek().is_some_and(|t| t.kind == Tok::OrOr) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, GuardError> {
        let mut items = vec![self.unary()?];
        while self.peek().is_some_and(|t| t.kind == Tok::AndAnd) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    /// One level of `(` or `!` around `inner`, refused past [`MAX_GUARD_DEPTH`].
    fn nested(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<Expr, GuardError>,
    ) -> Result<Expr, GuardError> {
        if self.depth == MAX_GUARD_DEPTH {
            let (offset, len) = self.peek().map_or((self.end, 1), |t| (t.offset, t.len));
            return Err(err(
                offset,
                len,
                GuardErrorKind::TooDeep {
                    limit: MAX_GUARD_DEPTH,
                },
            ));
        }
        self.depth += 1;
        let e = inner(self);
        self.depth -= 1;
        e
    }

    fn unary(&mut self) -> Result<Expr, GuardError> {
        match self.peek().map(|t| &t.kind) {
            Some(Tok::Not | Tok::LParen) => self.nested(Self::unary_nested),
            _ => self.atom(),
        }
    }

    /// `!` or `(` at the current token.
    fn unary_nested(&mut self) -> Result<Expr, GuardError> {
        match self.peek().map(|t| &t.kind) {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                let open = self.next().expect("peeked");
                let e = self.or()?;
                match self.next() {
                    Some(Token {
                        kind: Tok::RParen, ..
                    }) => Ok(e),
                    Some(t) => Err(err(
                        t.offset,
                        t.len,
                        GuardErrorKind::Unclosed {
                            open: open.offset,
                            found: t.kind.describe(),
                        },
                    )),
                    None => Err(err(
                        self.end,
                        1,
                        GuardErrorKind::Unclosed {
                            open: open.offset,
                            found: "end of guard".into(),
                        },
                    )),
                }
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Expr, GuardError> {
        let lhs = self.operand()?;
        let cmp_expected = "a comparison (== != < <= > >=), `in` or `not in`";
        match self.peek().map(|t| t.kind.clone()) {
            Some(Tok::Cmp(op)) => {
                self.pos += 1;
                let rhs = self.operand()?;
                Ok(Expr::Cmp { lhs, op, rhs })
            }
            Some(Tok::Ident(w)) if w == "in" || w == "not" => {
                self.pos += 1;
                let negated = w == "not";
                if negated {
                    match self.peek() {
                        Some(Token {
                            kind: Tok::Ident(w),
                            ..
                        }) if w == "in" => self.pos += 1,
                        _ => return Err(self.expected("`in` after `not`")),
                    }
                }
                let (set, set_offset, set_len) = self.set()?;
                Ok(Expr::In {
                    operand: lhs,
                    set,
                    set_offset,
                    set_len,
                    negated,
                })
            }
            _ => match lhs.atom {
                Atom::Bool(b) => Ok(Expr::Bool(b)),
                _ => Err(self.expected(cmp_expected)),
            },
        }
    }

    fn operand(&mut self) -> Result<Operand, GuardError> {
        let what = "a field, `$param`, literal, `!` or `(`";
        let Some(t) = self.peek().cloned() else {
            return Err(self.expected(what));
        };
        let atom = match t.kind {
            Tok::Ident(ref s) if s == "true" => Atom::Bool(true),
            Tok::Ident(ref s) if s == "false" => Atom::Bool(false),
            Tok::Ident(ref s) if s == "in" || s == "not" => return Err(self.expected(what)),
            Tok::Ident(s) => Atom::Ident(s),
            Tok::Masked(f, len) => Atom::Masked(f, len),
            Tok::Param(s) => Atom::Param(s),
            Tok::Int(v) => Atom::Int(v),
            Tok::NegInt(v) => Atom::NegInt(v),
            Tok::Ipv4(v) => Atom::Ipv4(v),
            Tok::Ipv6(v) => Atom::Ipv6(v),
            Tok::Str(s) => Atom::Str(s),
            Tok::Cidr(_) | Tok::Cidr6(_) => {
                return Err(err(t.offset, t.len, GuardErrorKind::CidrOutsideIn));
            }
            _ => return Err(self.expected(what)),
        };
        self.pos += 1;
        Ok(Operand {
            atom,
            offset: t.offset,
            len: t.len,
        })
    }

    fn set(&mut self) -> Result<(SetSyntax, usize, usize), GuardError> {
        let what = "a set: a CIDR (10.0.0.0/8), `{a, b}`, a range `lo..hi` or a `$param`";
        let Some(t) = self.next() else {
            self.pos -= 1;
            return Err(self.expected(what));
        };
        let start = t.offset;
        let set = match t.kind {
            Tok::Cidr(c) => SetSyntax::Cidr(c),
            Tok::Cidr6(c) => SetSyntax::Cidr6(c),
            Tok::Param(p) => SetSyntax::Param(p),
            Tok::Int(lo) => {
                match self.next() {
                    Some(Token {
                        kind: Tok::DotDot, ..
                    }) => {}
                    _ => {
                        self.pos -= 1;
                        return Err(self.expected("`..` (a range is written lo..hi)"));
                    }
                }
                match self.next() {
                    Some(Token {
                        kind: Tok::Int(hi),
                        offset,
                        len,
                    }) => {
                        if lo > hi {
                            return Err(err(
                                start,
                                offset + len - start,
                                GuardErrorKind::EmptyRange { lo, hi },
                            ));
                        }
                        SetSyntax::Range { lo, hi }
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.expected("the range's upper bound (an integer)"));
                    }
                }
            }
            Tok::LBrace => {
                let mut items = Vec::new();
                loop {
                    if self.peek().is_some_and(|t| t.kind == Tok::RBrace) && items.is_empty() {
                        return Err(self.expected("a value (a set literal cannot be empty)"));
                    }
                    items.push(self.operand()?);
                    match self.next() {
                        Some(Token {
                            kind: Tok::Comma, ..
                        }) => continue,
                        Some(Token {
                            kind: Tok::RBrace, ..
                        }) => break,
                        _ => {
                            self.pos -= 1;
                            return Err(self.expected("`,` or `}`"));
                        }
                    }
                }
                SetSyntax::Values(items)
            }
            _ => {
                self.pos -= 1;
                return Err(self.expected(what));
            }
        };
        let last = &self.toks[self.pos - 1];
        Ok((set, start, last.offset + last.len - start))
    }
}
