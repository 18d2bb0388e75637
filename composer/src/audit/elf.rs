//! From an eBPF ELF object (as clang writes it) to an [`Image`]: every
//! executable section decoded, relocations resolved to map, global and
//! subprogram names, function symbols, and source lines from `.BTF.ext`.
//!
//! Reads only the bytes it is given.

use std::collections::HashMap;

use object::{
    Object, ObjectSection, ObjectSymbol, RelocationTarget as ObjTarget, SectionFlags, SectionIndex,
    SymbolKind,
};

use super::btf;
use super::image::{CodeSection, Image, Loc, RelocTarget};
use super::insn::{decode_all, PSEUDO_CALL};
use super::AuditError;

const SHF_EXECINSTR: u64 = 0x4;

/// Parses `bytes` and prepares the program `program` (a function symbol in
/// an executable section) for analysis.
pub fn image(bytes: &[u8], program: &str) -> Result<Image, AuditError> {
    let file = object::File::parse(bytes).map_err(|e| AuditError::Elf {
        reason: e.to_string(),
    })?;
    if file.architecture() != object::Architecture::Bpf {
        return Err(AuditError::Elf {
            reason: format!(
                "not an eBPF object (architecture {:?})",
                file.architecture()
            ),
        });
    }

    // Executable sections, in file order, and their image index.
    let mut by_index: HashMap<SectionIndex, usize> = HashMap::new();
    let mut sections = Vec::new();
    for s in file.sections() {
        let exec =
            matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & SHF_EXECINSTR != 0);
        let data = s.data().unwrap_or_default();
        if !exec || data.is_empty() {
            continue;
        }
        by_index.insert(s.index(), sections.len());
        sections.push(CodeSection {
            name: s.name().unwrap_or("?").to_string(),
            insns: decode_all(data),
            ..CodeSection::default()
        });
    }

    // Function symbols name code; named data symbols name globals and maps.
    let mut entry = None;
    let mut programs = Vec::new();
    let mut data_syms: HashMap<SectionIndex, Vec<(u64, u64, String)>> = HashMap::new();
    for sym in file.symbols() {
        let Some(sec) = sym.section_index() else {
            continue;
        };
        let name = sym.name().unwrap_or("").to_string();
        if name.is_empty() || sym.kind() == SymbolKind::Section {
            continue;
        }
        if let Some(&i) = by_index.get(&sec) {
            if sym.kind() == SymbolKind::Text {
                let at = (sym.address() / 8) as usize;
                sections[i].functions.insert(at, name.clone());
                if sections[i].name != ".text" {
                    programs.push(name.clone());
                }
                if name == program {
                    entry = Some(Loc {
                        section: i,
                        insn: at,
                    });
                }
            }
        } else {
            data_syms
                .entry(sec)
                .or_default()
                .push((sym.address(), sym.size(), name));
        }
    }
    let Some(entry) = entry else {
        programs.sort();
        return Err(AuditError::ProgramNotFound {
            program: program.into(),
            available: programs,
        });
    };

    // Relocations of every code section.
    for s in file.sections() {
        let Some(&i) = by_index.get(&s.index()) else {
            continue;
        };
        for (offset, rel) in s.relocations() {
            let idx = (offset / 8) as usize;
            let ObjTarget::Symbol(sym_idx) = rel.target() else {
                continue;
            };
            let Ok(sym) = file.symbol_by_index(sym_idx) else {
                continue;
            };
            let Some(insn) = sections[i].insns.get(idx).copied() else {
                continue;
            };
            let target_sec = sym.section_index();
            let is_section_sym = sym.kind() == SymbolKind::Section;
            let target = if insn.is_call() && insn.src == PSEUDO_CALL {
                // libbpf: the callee is at sym_off / 8 + imm + 1 in its section.
                match target_sec.and_then(|t| by_index.get(&t)) {
                    Some(&t) => {
                        let at = (sym.address() / 8) as i64 + i64::from(insn.imm) + 1;
                        RelocTarget::Call(Loc {
                            section: t,
                            insn: at.max(0) as usize,
                        })
                    }
                    None => RelocTarget::Extern(sym.name().unwrap_or("?").to_string()),
                }
            } else if insn.is_ld_imm64() {
                let Some(tsec) = target_sec else {
                    sections[i].relocs.insert(
                        idx,
                        RelocTarget::Extern(sym.name().unwrap_or("?").to_string()),
                    );
                    continue;
                };
                let sec_name = file
                    .section_by_index(tsec)
                    .ok()
                    .and_then(|t| t.name().ok().map(str::to_string))
                    .unwrap_or_default();
                // REL relocations: the addend is the instruction's imm.
                let addr = if is_section_sym {
                    i64::from(insn.imm)
                } else {
                    sym.address() as i64 + i64::from(insn.imm)
                };
                let (name, off) = if is_section_sym {
                    named_at(data_syms.get(&tsec), addr).unwrap_or_else(|| (sec_name.clone(), addr))
                } else {
                    (sym.name().unwrap_or("?").to_string(), i64::from(insn.imm))
                };
                if sec_name == ".maps" || sec_name == "maps" {
                    RelocTarget::Map(name)
                } else {
                    RelocTarget::Global { name, off }
                }
            } else if insn.is_call() {
                RelocTarget::Extern(sym.name().unwrap_or("?").to_string())
            } else {
                continue;
            };
            sections[i].relocs.insert(idx, target);
        }
    }

    // Source lines from .BTF.ext, when the object has them.
    if let (Some(btf), Some(ext)) = (
        file.section_by_name(".BTF").and_then(|s| s.data().ok()),
        file.section_by_name(".BTF.ext").and_then(|s| s.data().ok()),
    ) {
        // A malformed .BTF.ext only costs the line numbers.
        if let Ok(lines) = btf::line_info(btf, ext) {
            for (sec_name, records) in lines {
                if let Some(s) = sections.iter_mut().find(|s| s.name == sec_name) {
                    for (byte_off, line) in records {
                        s.lines.insert((byte_off / 8) as usize, line);
                    }
                }
            }
        }
    }

    Ok(Image {
        sections,
        entry,
        program: program.into(),
    })
}

/// Every program (function symbol outside `.text`) in an object.
pub fn programs(bytes: &[u8]) -> Result<Vec<String>, AuditError> {
    match image(bytes, "\0") {
        Err(AuditError::ProgramNotFound { available, .. }) => Ok(available),
        Err(e) => Err(e),
        Ok(_) => Ok(Vec::new()),
    }
}

/// The named data symbol covering `addr` in a section, and the offset into it.
fn named_at(syms: Option<&Vec<(u64, u64, String)>>, addr: i64) -> Option<(String, i64)> {
    let addr = u64::try_from(addr).ok()?;
    syms?
        .iter()
        .filter(|(start, size, _)| *start <= addr && addr < start + (*size).max(1))
        .max_by_key(|(start, _, _)| *start)
        .map(|(start, _, name)| (name.clone(), (addr - start) as i64))
}
