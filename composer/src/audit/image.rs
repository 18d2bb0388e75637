//! What the audit analyses: the code sections of one object with their
//! relocations resolved to names, source lines and function names, and
//! the entry point of one program.
//!
//! `elf` builds an [`Image`] from an object file; tests build one directly
//! from instructions ([`Image::from_insns`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::insn::Insn;

/// A code location: a section of the image and an instruction index in it
/// (the index `llvm-objdump -d` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub section: usize,
    pub insn: usize,
}

/// What a relocation on an instruction points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map (a symbol in `.maps`).
    Map(String),
    /// `ld_imm64` of the address of a global (`.rodata`, `.data`, `.bss`,
    /// string literals): the symbol and the byte offset into it.
    Global { name: String, off: i64 },
    /// A BPF-to-BPF `call` to this location.
    Call(Loc),
    /// A kfunc or another extern the audit does not resolve.
    Extern(String),
}

/// A source position from BTF line info.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceLine {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The source line's text as the compiler recorded it.
    pub text: String,
}

/// One executable section.
#[derive(Debug, Clone, Default)]
pub struct CodeSection {
    pub name: String,
    pub insns: Vec<Insn>,
    /// By instruction index.
    pub relocs: BTreeMap<usize, RelocTarget>,
    /// Line info records by the first instruction index they cover.
    pub lines: BTreeMap<usize, SourceLine>,
    /// Function symbols by their first instruction index.
    pub functions: BTreeMap<usize, String>,
}

/// The code of an object and the program to audit in it.
#[derive(Debug, Clone)]
pub struct Image {
    pub sections: Vec<CodeSection>,
    pub entry: Loc,
    /// The program's name (its function symbol).
    pub program: String,
}

impl Image {
    /// One section named `sockops` holding `insns`, the entry at index 0,
    /// with the given relocations (tests and the property test).
    pub fn from_insns(insns: Vec<Insn>, relocs: BTreeMap<usize, RelocTarget>) -> Image {
        let mut functions = BTreeMap::new();
        functions.insert(0, "prog".to_string());
        Image {
            sections: vec![CodeSection {
                name: "sockops".into(),
                insns,
                relocs,
                lines: BTreeMap::new(),
                functions,
            }],
            entry: Loc {
                section: 0,
                insn: 0,
            },
            program: "prog".into(),
        }
    }

    pub fn insn(&self, loc: Loc) -> Option<&Insn> {
        self.sections.get(loc.section)?.insns.get(loc.insn)
    }

    pub fn reloc(&self, loc: Loc) -> Option<&RelocTarget> {
        self.sections.get(loc.section)?.relocs.get(&loc.insn)
    }

    /// The source line of the record covering `loc`, if line info has one.
    pub fn line(&self, loc: Loc) -> Option<&SourceLine> {
        let s = self.sections.get(loc.section)?;
        s.lines.range(..=loc.insn).next_back().map(|(_, l)| l)
    }

    /// The function containing `loc` and the index relative to its start.
    pub fn function(&self, loc: Loc) -> Option<(&str, usize)> {
        let s = self.sections.get(loc.section)?;
        s.functions
            .range(..=loc.insn)
            .next_back()
            .map(|(start, name)| (name.as_str(), loc.insn - start))
    }

    pub fn section_name(&self, loc: Loc) -> &str {
        self.sections
            .get(loc.section)
            .map(|s| s.name.as_str())
            .unwrap_or("?")
    }
}
