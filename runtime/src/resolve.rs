//! Object resolution: from a spec's `object:` to the bytes a member is
//! loaded from, exactly as the spec writes it.
//!
//! - `object: PATH` is a file, relative to the spec (the loader already
//!   joined it). A missing or unreadable file is an input error pointing at
//!   the `object:` key; nothing else is tried in its place.
//! - `object: builtin:NAME` is the object of that name built into accord
//!   (`runtime::objects::FEATURES`), and only then is a built-in object used.
//! - A program without `object:` cannot be loaded.
//!
//! The object must hold exactly the programs its spec names: the program
//! the member runs, and no program no spec of the feature declares (an
//! extra program has effects nobody declared).
//!
//! Every member's object is read once, into [`ResolvedObjects`]: the
//! bytes the host-side audit checks are the bytes the executor loads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use composer::ir::{Composition, Feature, MemberId, ObjectLocation, Program, Span};
use thiserror::Error;

use crate::desired::{ObjectImage, StructOpsImage};

/// Where in a spec an object is named: the `object:` key, or the program
/// (or the spec) when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecAt(pub String);

impl SpecAt {
    fn of(span: Option<&Span>, spec: &std::path::Path) -> SpecAt {
        SpecAt(match span {
            Some(s) if s.line > 0 => format!("{}:{}:{}", s.file.display(), s.line, s.column),
            Some(s) => s.file.display().to_string(),
            None => spec.display().to_string(),
        })
    }
}

impl fmt::Display for SpecAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why one member's object cannot be used. Each message starts with the
/// spec's file, line and column (`file:line:col: error: …`).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ObjectError {
    #[error("{at}: error: member {member}: object {} does not exist (an `object:` path is relative to the spec file; `object: builtin:<name>` names an object built into accord: {})", path.display(), builtins.join(", "))]
    Missing {
        at: SpecAt,
        member: String,
        path: PathBuf,
        builtins: Vec<String>,
    },
    #[error("{at}: error: member {member}: cannot read object {}: {reason}", path.display())]
    Unreadable {
        at: SpecAt,
        member: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{at}: error: member {member}: no object `builtin:{name}` is built into accord{} (built in: {})", did_you_mean(suggestion), builtins.join(", "))]
    UnknownBuiltin {
        at: SpecAt,
        member: String,
        name: String,
        suggestion: Option<String>,
        builtins: Vec<String>,
    },
    #[error("{at}: error: member {member}: the spec names no object (add `object: PATH` relative to the spec, or `object: builtin:<name>`: {})", builtins.join(", "))]
    Unnamed {
        at: SpecAt,
        member: String,
        builtins: Vec<String>,
    },
    #[error(
        "{at}: error: member {member}: {object} is not a BPF object accord can read: {reason}"
    )]
    NotBpf {
        at: SpecAt,
        member: String,
        object: String,
        reason: String,
    },
    #[error(
        "{at}: error: member {member}: object {object} has no program `{program}` (it has: {})",
        list(available)
    )]
    NoSuchProgram {
        at: SpecAt,
        member: String,
        object: String,
        program: String,
        available: Vec<String>,
    },
    #[error("{at}: error: member {member}: object {object} also holds program(s) {} that no program of its feature declares (it has: {}); an object must hold only the programs its spec names", extra.join(", "), list(available))]
    ExtraPrograms {
        at: SpecAt,
        member: String,
        object: String,
        extra: Vec<String>,
        available: Vec<String>,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!("; did you mean `builtin:{s}`?"))
        .unwrap_or_default()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Every object error of one composition (never empty).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ObjectErrors {
    pub errors: Vec<ObjectError>,
}

/// Finds the object of a program.
pub trait ObjectSource {
    /// The object `program` of `feature` names, checked to hold exactly the
    /// programs the feature declares for it.
    fn find(
        &self,
        member: &MemberId,
        feature: &Feature,
        program: &Program,
    ) -> Result<ObjectImage, ObjectError>;
    /// The struct_ops object that goes with a member object, if any.
    fn struct_ops(&self, object: &ObjectImage) -> Option<StructOpsImage>;
}

/// The spec's `object:` exactly as written: a file relative to the spec, or
/// a built-in object asked for by name.
pub struct SpecObjects {
    /// Objects built into the binary, by name (`init_cwnd`).
    pub builtin: fn(&str) -> Option<&'static [u8]>,
    /// Their names, for messages.
    pub builtin_names: fn() -> Vec<String>,
    /// struct_ops objects built into the binary, by name (`bpf_dctcp`).
    pub struct_ops: fn(&str) -> Option<&'static [u8]>,
}

impl SpecObjects {
    /// The objects built into this binary (`runtime::objects`).
    pub fn built_in() -> SpecObjects {
        SpecObjects {
            builtin: crate::objects::feature_object,
            builtin_names: || {
                crate::objects::FEATURES
                    .iter()
                    .map(|o| o.name.to_owned())
                    .collect()
            },
            struct_ops: crate::objects::struct_ops_object,
        }
    }
}

impl ObjectSource for SpecObjects {
    fn find(
        &self,
        member: &MemberId,
        feature: &Feature,
        program: &Program,
    ) -> Result<ObjectImage, ObjectError> {
        let who = member.to_string();
        let Some(object) = &program.object else {
            return Err(ObjectError::Unnamed {
                at: SpecAt::of(program.span.as_ref(), &feature.spec_path),
                member: who,
                builtins: (self.builtin_names)(),
            });
        };
        let at = SpecAt::of(object.span.as_ref(), &feature.spec_path);
        let image = match &object.location {
            ObjectLocation::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        ObjectError::Missing {
                            at: at.clone(),
                            member: who.clone(),
                            path: path.clone(),
                            builtins: (self.builtin_names)(),
                        }
                    } else {
                        ObjectError::Unreadable {
                            at: at.clone(),
                            member: who.clone(),
                            path: path.clone(),
                            reason: e.to_string(),
                        }
                    }
                })?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                ObjectImage::new(&name, format!("file:{}", path.display()), bytes)
            }
            ObjectLocation::Builtin(name) => match (self.builtin)(name) {
                Some(bytes) => {
                    ObjectImage::new(&format!("{name}.bpf.o"), object.to_string(), bytes.to_vec())
                }
                None => {
                    let builtins = (self.builtin_names)();
                    return Err(ObjectError::UnknownBuiltin {
                        at,
                        member: who,
                        name: name.clone(),
                        suggestion: suggest(name, &builtins),
                        builtins,
                    });
                }
            },
        };
        check_programs(&image, feature, program, member, at)?;
        Ok(image)
    }

    fn struct_ops(&self, object: &ObjectImage) -> Option<StructOpsImage> {
        let stem = object.name.strip_suffix(".bpf.o").unwrap_or(&object.name);
        (self.struct_ops)(stem).map(|bytes| StructOpsImage {
            name: stem.to_owned(),
            bytes: bytes.into(),
        })
    }
}

/// The closest built-in name, if any is close.
fn suggest(name: &str, builtins: &[String]) -> Option<String> {
    composer::suggest::did_you_mean(name, builtins.iter().map(String::as_str))
}

/// The object holds `program` and no program its feature does not declare
/// for this same object.
fn check_programs(
    image: &ObjectImage,
    feature: &Feature,
    program: &Program,
    member: &MemberId,
    at: SpecAt,
) -> Result<(), ObjectError> {
    let available =
        composer::audit::elf::programs(&image.bytes).map_err(|e| ObjectError::NotBpf {
            at: at.clone(),
            member: member.to_string(),
            object: image.origin.clone(),
            reason: e.to_string(),
        })?;
    if !available.contains(&program.name) {
        return Err(ObjectError::NoSuchProgram {
            at,
            member: member.to_string(),
            object: image.origin.clone(),
            program: program.name.clone(),
            available,
        });
    }
    let declared: Vec<&str> = feature
        .programs
        .iter()
        .filter(|p| {
            p.object.as_ref().map(|o| &o.location) == program.object.as_ref().map(|o| &o.location)
        })
        .map(|p| p.name.as_str())
        .collect();
    let extra: Vec<String> = available
        .iter()
        .filter(|a| !declared.contains(&a.as_str()))
        .cloned()
        .collect();
    if !extra.is_empty() {
        return Err(ObjectError::ExtraPrograms {
            at,
            member: member.to_string(),
            object: image.origin.clone(),
            extra,
            available,
        });
    }
    Ok(())
}

/// One member's object and the struct_ops registration it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedObject {
    pub object: ObjectImage,
    pub struct_ops: Option<StructOpsImage>,
}

/// Every member's object of a composition, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedObjects {
    members: BTreeMap<MemberId, ResolvedObject>,
}

impl ResolvedObjects {
    /// Resolves every member of `comp`; every error at once.
    pub fn resolve(
        comp: &Composition,
        source: &dyn ObjectSource,
    ) -> Result<ResolvedObjects, ObjectErrors> {
        let mut members = BTreeMap::new();
        let mut errors = Vec::new();
        for (id, feature, program) in comp.members() {
            match source.find(&id, feature, program) {
                Ok(object) => {
                    let struct_ops = source.struct_ops(&object);
                    members.insert(id, ResolvedObject { object, struct_ops });
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(ResolvedObjects { members })
        } else {
            Err(ObjectErrors { errors })
        }
    }

    /// Objects given directly, by member (tests, benchmarks).
    pub fn from_members(members: impl IntoIterator<Item = (MemberId, ResolvedObject)>) -> Self {
        ResolvedObjects {
            members: members.into_iter().collect(),
        }
    }

    pub fn get(&self, member: &MemberId) -> Option<&ResolvedObject> {
        self.members.get(member)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&MemberId, &ResolvedObject)> {
        self.members.iter()
    }
}
