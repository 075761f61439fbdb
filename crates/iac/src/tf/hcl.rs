//! The `.tf` files of a module folder, parsed with `hcl-edit` (spans kept for in-place edits).

use hcl_edit::structure::{Block, Body};

use crate::model::{IacError, Sources};

/// One parsed `.tf` file.
#[derive(Debug, Clone)]
pub struct TfFile {
    /// The path relative to the IaC folder.
    pub path: String,
    /// Its text.
    pub text: String,
    /// Its body.
    pub body: Body,
}

/// The folder part of `path` (`""` at the root).
pub fn dir_of(path: &str) -> &str {
    path.rfind('/').map(|i| &path[..i]).unwrap_or("")
}

/// `dir/rel`, with `.` and `..` resolved; `None` when it leaves the IaC folder.
pub fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            x => parts.push(x),
        }
    }
    Some(parts.join("/"))
}

/// Parse one `.tf` text.
pub fn parse_file(path: &str, text: &str) -> Result<TfFile, IacError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or("syntax error").to_string();
        IacError::new(path, "-", format!("the file does not parse as HCL: {first}"))
    })?;
    Ok(TfFile { path: path.to_string(), text: text.to_string(), body })
}

/// The `.tf` files directly in `dir`, parsed (errors for files that do not parse).
pub fn module_files(sources: &Sources, dir: &str) -> (Vec<TfFile>, Vec<IacError>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for f in sources.files.iter().filter(|f| f.path.ends_with(".tf") && dir_of(&f.path) == dir) {
        match parse_file(&f.path, &f.text) {
            Ok(t) => out.push(t),
            Err(e) => errs.push(e),
        }
    }
    (out, errs)
}

/// The label texts of a block.
pub fn labels(b: &Block) -> Vec<&str> {
    b.labels.iter().map(|l| l.as_str()).collect()
}

/// The block `ident "l0" "l1"` among the files: (file index, block).
pub fn find_block<'a>(files: &'a [TfFile], ident: &str, l: &[&str]) -> Option<(usize, &'a Block)> {
    for (i, f) in files.iter().enumerate() {
        for b in f.body.blocks() {
            if b.ident.as_str() == ident && labels(b) == l {
                return Some((i, b));
            }
        }
    }
    None
}
