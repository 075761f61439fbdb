//! Where denyctl keeps what a session writes (plans, backups, hand-offs): the user's state
//! directory, never the current directory, owner-only (folders 0700, files 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// `$XDG_STATE_HOME/denyctl`, else `$HOME/.local/state/denyctl` (the XDG base directory default).
/// A relative `XDG_STATE_HOME` is ignored, as the specification says.
pub fn state_dir() -> Result<PathBuf, CliError> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").and_then(absolute) {
        return Ok(p.join("denyctl"));
    }
    match std::env::var_os("HOME").and_then(absolute) {
        Some(home) => Ok(home.join(".local/state/denyctl")),
        None => Err(CliError::Input("no state directory: HOME and XDG_STATE_HOME are unset; give --session-dir DIR".into())),
    }
}

/// A new folder for one guided session: `--session-dir DIR` when given, else
/// `STATE/session-SECONDS-PID`. Folders denyctl creates are owner-only (0700); an existing folder
/// the user named is used as it is.
pub fn session_dir(given: Option<&str>) -> Result<PathBuf, CliError> {
    let dir = match given {
        Some(d) => PathBuf::from(d),
        None => {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            state_dir()?.join(format!("session-{secs}-{}", std::process::id()))
        }
    };
    create_private_dir(&dir).map_err(|e| CliError::Input(format!("cannot create the session folder {}: {e}", dir.display())))?;
    Ok(dir)
}

/// `mkdir -p` with mode 0700 for every folder it creates.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Write a file readable by its owner only (0600), replacing any previous content.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: make it owner-only too.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn folders_are_0700_and_files_0600() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("a/b");
        create_private_dir(&d).unwrap();
        for p in [t.path().join("a"), d.clone()] {
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o700, "{}", p.display());
        }
        let f = d.join("plan.json");
        std::fs::write(&f, "old").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&f, b"new").unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
    }
}
