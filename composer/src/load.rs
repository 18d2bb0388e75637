//! The front end: YAML files (hook catalog, feature specs, composition) to
//! a validated [`ir::Composition`](crate::ir::Composition).
//!
//! Every name is resolved, every literal typed, every config param filled
//! (the composition's value, else the spec's default; neither is an error),
//! every range checked. Problems are collected, not thrown: one call reports
//! every error it can find, each with file, line and column (1-based) and
//! the valid choices. It never panics on any input.
//!
//! Catalog lookup: the composition's `hook: H` names `hooks/H.yaml` in a
//! specs directory. By default the loader searches upward from the
//! composition's directory for `specs/hooks/H.yaml`;
//! [`LoadOptions::specs_dir`] or [`LoadOptions::catalog`] override that.
//!
//! `after:` / `before:` naming a feature that is not in the composition is
//! treated as an optional dependency (like systemd's `After=`): no edge, and
//! a [`LoadWarning`] so that a typo is seen. A name equal to the feature's
//! own is an error.
//!
//! This module reads only the files it is asked to load (and the specs
//! directory listing to suggest hook names); it never touches the kernel.

mod catalog;
mod composition;
mod connection;
mod error;
mod field_semantics;
mod input;
mod spec;
mod value;
mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::{LoadError, LoadErrorKind, LoadErrors, LoadWarning, Location};
pub use input::{read_input, MAX_INPUT_BYTES, MAX_YAML_DEPTH};

use crate::ir::{Composition, Feature, HookCatalog};

/// Where to find hook catalogs.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A specs directory holding `hooks/<hook>.yaml` (the CLI's `--specs`).
    pub specs_dir: Option<PathBuf>,
    /// An explicit catalog file; wins over `specs_dir` and the search.
    pub catalog: Option<PathBuf>,
}

/// A loaded composition and the warnings found on the way.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub composition: Composition,
    pub warnings: Vec<LoadWarning>,
}

/// Loads and validates a composition and everything it names.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let mut errors = Vec::new();
    match composition::composition(path, opts, &mut errors) {
        Some(l) if errors.is_empty() => Ok(l),
        _ => Err(finish(errors, path)),
    }
}

/// [`load`] without the warnings.
pub fn load_composition(path: &Path, opts: &LoadOptions) -> Result<Composition, LoadErrors> {
    load(path, opts).map(|l| l.composition)
}

/// Loads a hook catalog file.
pub fn load_catalog(path: &Path) -> Result<HookCatalog, LoadErrors> {
    let mut errors = Vec::new();
    let cat = yaml::read_doc(path, yaml::DocKind::HookCatalog, None, &mut errors).and_then(|doc| {
        let mut cx = yaml::Cx {
            file: &doc.path,
            errors: &mut errors,
        };
        catalog::catalog(&mut cx, &doc)
    });
    match cat {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(finish(errors, path)),
    }
}

/// Loads one feature spec against a catalog. Its `config` holds the params'
/// defaults only (a param without a default is absent); `after`/`before`
/// are kept as written, since there is no composition to resolve them in.
pub fn load_feature_spec(path: &Path, catalog: &HookCatalog) -> Result<Feature, LoadErrors> {
    let mut errors = Vec::new();
    let draft =
        yaml::read_doc(path, yaml::DocKind::FeatureSpec, None, &mut errors).and_then(|doc| {
            let mut cx = yaml::Cx {
                file: &doc.path,
                errors: &mut errors,
            };
            spec::spec(&mut cx, &doc, catalog)
        });
    match draft {
        Some(mut d) if errors.is_empty() => {
            crate::guard::lower_prefix_sets(&mut d.feature, catalog);
            Ok(d.feature)
        }
        _ => Err(finish(errors, path)),
    }
}

fn finish(mut errors: Vec<LoadError>, path: &Path) -> LoadErrors {
    if errors.is_empty() {
        // Every failing path records an error; keep the promise "never empty".
        errors.push(LoadError {
            location: Location {
                file: path.to_path_buf(),
                line: None,
                column: None,
            },
            kind: LoadErrorKind::Yaml {
                reason: "the file could not be loaded".into(),
            },
        });
    }
    errors.dedup();
    LoadErrors { errors }
}

/// The catalog for `hook`, found per [`LoadOptions`]; errors recorded at `at`.
fn catalog_for(
    composition: &Path,
    hook: &str,
    opts: &LoadOptions,
    at: Option<Location>,
    errors: &mut Vec<LoadError>,
) -> Option<HookCatalog> {
    let file = format!("{hook}.yaml");
    let (path, searched) = if let Some(c) = &opts.catalog {
        (Some(c.clone()), vec![c.clone()])
    } else if let Some(d) = &opts.specs_dir {
        let p = d.join("hooks").join(&file);
        (p.is_file().then(|| p.clone()), vec![p])
    } else {
        let mut searched = Vec::new();
        let start = composition
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let start = if start.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            start
        };
        let start = start.canonicalize().unwrap_or(start);
        let mut found = None;
        for dir in start.ancestors() {
            let p = dir.join("specs").join("hooks").join(&file);
            if p.is_file() {
                found = Some(p);
                break;
            }
            searched.push(p);
        }
        (found, searched)
    };
    let at = at.unwrap_or_else(|| Location {
        file: composition.to_path_buf(),
        line: None,
        column: None,
    });
    let Some(path) = path else {
        // Suggest hooks that do exist next to where we looked.
        let mut known: Vec<String> = searched
            .iter()
            .filter_map(|p| p.parent())
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|rd| rd.filter_map(Result::ok))
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".yaml"))
                    .map(str::to_string)
            })
            .collect();
        known.sort();
        known.dedup();
        let kind = if known.is_empty() {
            LoadErrorKind::CatalogNotFound {
                hook: hook.into(),
                searched,
            }
        } else {
            LoadErrorKind::UnknownName {
                what: "hook".into(),
                name: hook.into(),
                suggestion: crate::suggest::did_you_mean(hook, known.iter().map(String::as_str)),
                choices: known,
            }
        };
        errors.push(LoadError { location: at, kind });
        return None;
    };
    let before = errors.len();
    let doc = yaml::read_doc(&path, yaml::DocKind::HookCatalog, Some(at.clone()), errors)?;
    let mut cx = yaml::Cx {
        file: &doc.path,
        errors,
    };
    let cat = catalog::catalog(&mut cx, &doc)?;
    if cat.hook != hook {
        cx.err_at(
            at,
            LoadErrorKind::Invalid {
                what: "hook catalog".into(),
                text: path.display().to_string(),
                reason: format!("it describes hook `{}`, not `{hook}`", cat.hook),
            },
        );
        return None;
    }
    (errors.len() == before).then_some(cat)
}

#[cfg(test)]
mod tests;
