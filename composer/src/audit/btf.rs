//! BTF line info: which source line each instruction came from, read from
//! the object's `.BTF` (for the string table) and `.BTF.ext` sections.
//!
//! Layout (linux/btf.h, tools/lib/bpf/libbpf_internal.h):
//! `.BTF` starts with `{magic u16 = 0xeb9f, version u8, flags u8, hdr_len
//! u32, type_off u32, type_len u32, str_off u32, str_len u32}`, offsets
//! relative to the end of the header. `.BTF.ext` starts with `{magic,
//! version, flags, hdr_len u32, func_info_off u32, func_info_len u32,
//! line_info_off u32, line_info_len u32, ...}`; its line info is a record
//! size (u32) then, per section, `{sec_name_off u32, num_info u32}` and
//! `num_info` records `{insn_off u32 (bytes), file_name_off u32, line_off
//! u32, line_col u32 (line << 10 | column)}`.

use super::image::SourceLine;
use super::AuditError;

const BTF_MAGIC: u16 = 0xeb9f;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> AuditError {
    AuditError::Btf {
        reason: what.to_string(),
    }
}

/// The string table of a `.BTF` section.
fn strings(btf: &[u8]) -> Result<&[u8], AuditError> {
    if u16_at(btf, 0) != Some(BTF_MAGIC) {
        return Err(bad("`.BTF` has no BTF magic (little-endian objects only)"));
    }
    let hdr_len = u32_at(btf, 4).ok_or_else(|| bad("`.BTF` header is cut short"))? as usize;
    let str_off = u32_at(btf, 16).ok_or_else(|| bad("`.BTF` header is cut short"))? as usize;
    let str_len = u32_at(btf, 20).ok_or_else(|| bad("`.BTF` header is cut short"))? as usize;
    let start = hdr_len + str_off;
    btf.get(start..start + str_len)
        .ok_or_else(|| bad("`.BTF` string table is outside the section"))
}

fn string_at(strs: &[u8], off: u32) -> String {
    let Some(rest) = strs.get(off as usize..) else {
        return String::new();
    };
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

/// One code section's line records: its name and (byte offset, line) pairs.
pub type SectionLines = (String, Vec<(u32, SourceLine)>);

/// Line info per code section name: (byte offset in the section, line).
pub fn line_info(btf: &[u8], ext: &[u8]) -> Result<Vec<SectionLines>, AuditError> {
    let strs = strings(btf)?;
    if u16_at(ext, 0) != Some(BTF_MAGIC) {
        return Err(bad("`.BTF.ext` has no BTF magic"));
    }
    let short = || bad("`.BTF.ext` header is cut short");
    let hdr_len = u32_at(ext, 4).ok_or_else(short)? as usize;
    let li_off = u32_at(ext, 16).ok_or_else(short)? as usize;
    let li_len = u32_at(ext, 20).ok_or_else(short)? as usize;
    let start = hdr_len + li_off;
    let li = ext
        .get(start..start + li_len)
        .ok_or_else(|| bad("`.BTF.ext` line info is outside the section"))?;
    let mut out = Vec::new();
    if li.is_empty() {
        return Ok(out);
    }
    let rec_size = u32_at(li, 0).ok_or_else(short)? as usize;
    if rec_size < 16 {
        return Err(bad(
            "`.BTF.ext` line info records are smaller than 16 bytes",
        ));
    }
    let mut at = 4;
    while at + 8 <= li.len() {
        let sec = string_at(strs, u32_at(li, at).ok_or_else(short)?);
        let n = u32_at(li, at + 4).ok_or_else(short)? as usize;
        at += 8;
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            let rec = li
                .get(at..at + rec_size)
                .ok_or_else(|| bad("`.BTF.ext` line info record is cut short"))?;
            let insn_off = u32_at(rec, 0).ok_or_else(short)?;
            let file = string_at(strs, u32_at(rec, 4).ok_or_else(short)?);
            let text = string_at(strs, u32_at(rec, 8).ok_or_else(short)?);
            let line_col = u32_at(rec, 12).ok_or_else(short)?;
            records.push((
                insn_off,
                SourceLine {
                    file,
                    line: line_col >> 10,
                    column: line_col & 0x3ff,
                    text: text.trim().to_string(),
                },
            ));
            at += rec_size;
        }
        out.push((sec, records));
    }
    Ok(out)
}
