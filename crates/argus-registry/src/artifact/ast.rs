//! Reading the compiler's AST out of build output, for the analyses in
//! `argus_abi::ast` (the events-requirement lint, privilege detection).
//!
//! Two layouts hold it:
//! - **Foundry** writes the source unit's AST into every artifact of that
//!   file (`out/<File>.sol/<Name>.json`, key `ast`) when the project sets
//!   `ast = true` (or builds with `--ast`). All artifacts found under one
//!   given path are one compilation: forge gives node ids across one build.
//!   The artifact's `methodIdentifiers` name the functions; the source text
//!   is read from the project (the folder above `out/`) when it is there, to
//!   turn offsets into lines.
//! - **Hardhat** keeps the whole compiler output in
//!   `artifacts/build-info/<id>.json` (`_format: hh-sol-build-info-1`):
//!   `output.sources[..].ast`, `output.contracts[..][..].evm.methodIdentifiers`
//!   and the sources in `input.sources`. Each file is one compilation.
//!
//! Files without an AST are skipped: the caller says so when none had one.
//! A file that cannot be read or parsed is an error naming it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use argus_abi::ast::Compilation;
use serde_json::Value;

use super::{ImportError, ImportErrors, ImportProblem, read_limited};

/// Directories the walk never enters (a Hardhat `build-info` is read).
const SKIPPED: &[&str] = &["node_modules", "lib", "cache", "broadcast", "solcInputs"];

/// The compilations found under each path (files or directories).
pub fn load_compilations<'a, I>(paths: I) -> Result<Vec<Compilation>, ImportErrors>
where
    I: IntoIterator<Item = &'a Path>,
{
    let mut errors = Vec::new();
    let mut compilations = Vec::new();
    for path in paths {
        let mut foundry = Compilation {
            origin: path.display().to_string(),
            ..Compilation::default()
        };
        for file in json_files(path, &mut errors) {
            let bytes = match read_limited(&file) {
                Ok(bytes) => bytes,
                Err(problem) => {
                    errors.push(ImportError {
                        path: file,
                        problem,
                    });
                    continue;
                }
            };
            let value: Value = match serde_json::from_slice(&bytes) {
                Ok(value) => value,
                Err(error) => {
                    errors.push(ImportError {
                        path: file,
                        problem: ImportProblem::Json {
                            line: error.line(),
                            column: error.column(),
                            message: error.to_string(),
                        },
                    });
                    continue;
                }
            };
            if value.get("_format").and_then(Value::as_str) == Some("hh-sol-build-info-1") {
                compilations.push(hardhat_build_info(&file, &value));
            } else if let Some(ast) = value.get("ast").filter(|a| a.get("nodeType").is_some()) {
                add_foundry_artifact(&mut foundry, &file, &value, ast);
            }
        }
        if !foundry.units.is_empty() {
            compilations.push(foundry);
        }
    }
    if errors.is_empty() {
        Ok(compilations)
    } else {
        Err(ImportErrors { errors })
    }
}

fn json_files(path: &Path, errors: &mut Vec<ImportError>) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let walk = walkdir::WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            entry.depth() == 0
                || !entry.file_type().is_dir()
                || !(name.starts_with('.') || SKIPPED.contains(&name.as_ref()))
        });
    let mut files = Vec::new();
    for entry in walk {
        match entry {
            Ok(entry) if entry.file_type().is_file() => {
                let name = entry.file_name().to_string_lossy();
                if name.ends_with(".json") && !name.ends_with(".dbg.json") {
                    files.push(entry.into_path());
                }
            }
            Ok(_) => {}
            Err(error) => errors.push(ImportError {
                path: error.path().unwrap_or(path).to_owned(),
                problem: ImportProblem::Io {
                    message: error.to_string(),
                },
            }),
        }
    }
    files
}

fn method_ids(value: Option<&Value>) -> HashMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|ids| {
            ids.iter()
                .filter_map(|(signature, selector)| {
                    Some((signature.clone(), selector.as_str()?.to_ascii_lowercase()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn add_foundry_artifact(compilation: &mut Compilation, file: &Path, value: &Value, ast: &Value) {
    let Some(source) = ast.get("absolutePath").and_then(Value::as_str) else {
        return;
    };
    let contract = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    compilation.method_ids.insert(
        (source.to_owned(), contract),
        method_ids(value.get("methodIdentifiers")),
    );
    if compilation
        .units
        .iter()
        .any(|u| u.get("absolutePath").and_then(Value::as_str) == Some(source))
    {
        return;
    }
    compilation.units.push(ast.clone());
    // out/<File>.sol/<Name>.json → the project is two folders above `out/`'s child.
    let project = file.parent().and_then(Path::parent).and_then(Path::parent);
    // Only a relative path inside the project: the path is the artifact's
    // word, and an artifact is a file from outside.
    let inside = Path::new(source)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if let Some(project) = project.filter(|_| inside) {
        let candidate = project.join(source);
        if let Ok(bytes) = read_limited(&candidate)
            && let Ok(text) = String::from_utf8(bytes)
        {
            compilation.sources.insert(source.to_owned(), text);
        }
    }
}

fn hardhat_build_info(file: &Path, value: &Value) -> Compilation {
    let mut compilation = Compilation {
        origin: file.display().to_string(),
        ..Compilation::default()
    };
    let output = value.get("output").unwrap_or(&Value::Null);
    if let Some(sources) = output.get("sources").and_then(Value::as_object) {
        for source in sources.values() {
            if let Some(ast) = source.get("ast").filter(|a| a.is_object()) {
                compilation.units.push(ast.clone());
            }
        }
    }
    if let Some(contracts) = output.get("contracts").and_then(Value::as_object) {
        for (source, by_name) in contracts {
            let Some(by_name) = by_name.as_object() else {
                continue;
            };
            for (name, contract) in by_name {
                compilation.method_ids.insert(
                    (source.clone(), name.clone()),
                    method_ids(contract.get("evm").and_then(|e| e.get("methodIdentifiers"))),
                );
            }
        }
    }
    if let Some(sources) = value
        .get("input")
        .and_then(|i| i.get("sources"))
        .and_then(Value::as_object)
    {
        for (path, source) in sources {
            if let Some(content) = source.get("content").and_then(Value::as_str) {
                compilation.sources.insert(path.clone(), content.to_owned());
            }
        }
    }
    compilation
}
