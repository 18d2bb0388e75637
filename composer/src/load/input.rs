//! Reading an input file defensively, before any YAML node tree is built:
//! only a regular file of bounded size, only UTF-8 (a stray byte is an
//! error at its line and column), only nesting the recursive YAML loader
//! and every later pass can take without exhausting the stack. The same
//! pass notes the document's top-level keys, so a file that is not what it
//! was named as (`/etc/shadow` as a feature spec) is refused without
//! echoing any of its content.

use std::io::Read;
use std::path::Path;

use yaml_rust2::parser::{Event, Parser};

use super::error::{LoadError, LoadErrorKind, Location};

/// The largest input file accord reads; a spec is a few KiB.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// How deep YAML mappings and lists may nest (guards have the same limit,
/// [`crate::guard::MAX_GUARD_DEPTH`]).
pub const MAX_YAML_DEPTH: usize = 256;

/// Reads `path` as every loader reads its input: a regular file of at most
/// [`MAX_INPUT_BYTES`], UTF-8. `what` names the file in messages ("policy").
/// A byte that is not UTF-8 is an error at its line and column; any other
/// failure is a [`LoadErrorKind::Read`] located at the file.
pub fn read_input(path: &Path, what: &str) -> Result<String, Box<LoadError>> {
    let at = |line: Option<usize>, column: Option<usize>| Location {
        file: path.to_path_buf(),
        line: line.and_then(|l| u32::try_from(l).ok()),
        column: column.and_then(|c| u32::try_from(c).ok()),
    };
    read_text(path).map_err(|failure| {
        Box::new(match failure {
            ReadFailure::Io(reason) => LoadError {
                location: at(None, None),
                kind: LoadErrorKind::Read {
                    what: format!("{what} {}", path.display()),
                    reason,
                },
            },
            ReadFailure::NotUtf8 { byte, line, column } => LoadError {
                location: at(Some(line), Some(column)),
                kind: LoadErrorKind::NotUtf8 { byte },
            },
        })
    })
}

/// Why a file could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadFailure {
    /// Opening or reading failed, or the file is not a regular file or is
    /// too large: the reason, for a message.
    Io(String),
    /// A byte that is not UTF-8, at 1-based `line` and `column` (columns
    /// count characters).
    NotUtf8 {
        byte: u8,
        line: usize,
        column: usize,
    },
}

/// Reads `path` as UTF-8 text, refusing anything but a regular file of at
/// most [`MAX_INPUT_BYTES`] (a FIFO would block, `/dev/zero` never ends).
fn read_text(path: &Path) -> Result<String, ReadFailure> {
    let io = |e: std::io::Error| ReadFailure::Io(io_reason(&e));
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadFailure::Io(format!(
            "not a regular file (a {})",
            file_kind(&meta)
        )));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ReadFailure::Io(format!(
            "larger than {} MiB",
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let (line, column) = position_of_byte(bytes, at);
        ReadFailure::NotUtf8 {
            byte: bytes[at],
            line,
            column,
        }
    })
}

/// The 1-based line and column (in characters) of byte `at`, where
/// everything before `at` is valid UTF-8.
fn position_of_byte(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + std::str::from_utf8(&before[line_start..]).map_or(0, |s| s.chars().count());
    (line, column)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string().to_lowercase(),
    }
}

/// What the event pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outline {
    /// The top-level mapping's keys (plain scalars only), in order; empty
    /// when the top level is not a mapping.
    pub top_keys: Vec<String>,
    /// Where nesting first went past [`MAX_YAML_DEPTH`]: 1-based line and
    /// column of the collection that opened the level too many.
    pub too_deep: Option<(usize, usize)>,
}

/// Walks the YAML events without building a tree (the parser's event
/// stream is iterative; its tree loader recurses once per level). Stops at
/// the first scan error: the full parse reports it.
pub(crate) fn outline(text: &str) -> Outline {
    let mut parser = Parser::new_from_str(text);
    let mut out = Outline::default();
    let mut depth = 0usize;
    let mut top_is_mapping = false;
    // Inside the top-level mapping (depth 1), scalars alternate key, value.
    let mut next_is_key = false;
    loop {
        let Ok((event, mark)) = parser.next_token() else {
            return out;
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if depth == 1 {
                    // A collection as a key or a value: either way the
                    // other comes next.
                    next_is_key = !next_is_key;
                }
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    // A block mapping's start is marked one past its first
                    // key: take that key's position when it is earlier.
                    let col = match parser.next_token() {
                        Ok((_, first)) if first.line() == mark.line() => {
                            first.col().min(mark.col())
                        }
                        _ => mark.col(),
                    };
                    out.too_deep = Some((mark.line(), col + 1));
                    return out;
                }
                if depth == 1 {
                    top_is_mapping = matches!(event, Event::MappingStart(..));
                    next_is_key = top_is_mapping;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::Scalar(value, ..) if depth == 1 => {
                if next_is_key && top_is_mapping {
                    out.top_keys.push(value);
                }
                next_is_key = !next_is_key;
            }
            Event::Alias(..) if depth == 1 => next_is_key = !next_is_key,
            Event::StreamEnd | Event::DocumentEnd => return out,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_finds_the_top_level_keys_only() {
        let o = outline("a: 1\nb: { c: 2, d: [3, 4] }\ne:\n  - f: 5\ng: x\n");
        assert_eq!(o.top_keys, ["a", "b", "e", "g"]);
        assert_eq!(o.too_deep, None);
        assert_eq!(outline("- a\n- b\n").top_keys, Vec::<String>::new());
        assert_eq!(outline("just text").top_keys, Vec::<String>::new());
    }

    #[test]
    fn outline_stops_at_the_first_level_too_many() {
        let deep = format!("k: {}1{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(outline(&deep).too_deep, None);
        let mut s = String::from("k:\n");
        for i in 1..=300 {
            s.push_str(&" ".repeat(i));
            s.push_str("a:\n");
        }
        s.push_str(&" ".repeat(301));
        s.push_str("b: 1\n");
        // Level 1 is the top mapping; `k`'s value (line 2) is level 2, so
        // level 257 opens on line 257, at its key after 256 spaces.
        assert_eq!(outline(&s).too_deep, Some((257, 257)));
        // Block lists on one line: the 256th `-` opens level 257. (Flow
        // brackets cannot get there: the scanner stops at 255 of them.)
        let deep = format!("k:\n  {}x\n", "- ".repeat(300));
        assert_eq!(outline(&deep).too_deep, Some((2, 3 + 2 * 255)));
    }

    #[test]
    fn a_stray_byte_is_found_at_its_line_and_character_column() {
        assert_eq!(position_of_byte(b"ab\ncd\xff", 5), (2, 3));
        assert_eq!(position_of_byte("é\nüü".as_bytes(), 7), (2, 3));
        assert_eq!(position_of_byte(b"\xff", 0), (1, 1));
    }
}
