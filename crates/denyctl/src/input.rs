//! Reading user input safely: size limits, UTF-8 checks, one-line errors.

use crate::error::CliError;
use std::io::Read;

/// Largest input file accepted (scenario batches of 20,000 cases are about 80 MB).
pub const MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

/// Stdin, read once: a verb that looks at its input twice (the request, then the options made
/// from it) sees the same text both times.
static STDIN: std::sync::OnceLock<Result<Vec<u8>, String>> = std::sync::OnceLock::new();

/// Read a whole file (or stdin for `-`) as bytes, refusing anything above `limit`.
pub fn read_bytes(path: &str, limit: u64) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let res = if path == "-" {
        let all = STDIN.get_or_init(|| {
            let mut b = Vec::new();
            std::io::stdin().lock().take(MAX_INPUT_BYTES + 1).read_to_end(&mut b).map(|_| b).map_err(|e| e.to_string())
        });
        match all {
            Ok(b) => {
                buf.extend_from_slice(&b[..b.len().min(limit as usize + 1)]);
                Ok(buf.len())
            }
            Err(e) => Err(std::io::Error::other(e.clone())),
        }
    } else {
        let f = std::fs::File::open(path).map_err(|e| CliError::input(path, e))?;
        if let Ok(meta) = f.metadata() {
            if meta.is_dir() {
                return Err(CliError::input(path, "is a directory, expected a file"));
            }
            if meta.len() > limit {
                return Err(CliError::input(
                    path,
                    format!("file is {} bytes, larger than the {} byte limit", meta.len(), limit),
                ));
            }
        }
        f.take(limit + 1).read_to_end(&mut buf)
    };
    res.map_err(|e| CliError::input(path, e))?;
    if buf.len() as u64 > limit {
        return Err(CliError::input(path, format!("input is larger than the {limit} byte limit")));
    }
    Ok(buf)
}

/// Read a file as UTF-8 text.
pub fn read_text(path: &str, limit: u64) -> Result<String, CliError> {
    let bytes = read_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        CliError::input(path, format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
    })
}
