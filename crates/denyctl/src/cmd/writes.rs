//! What `apply` and `rollback` keep on disk and hold while they write: the backup saved
//! durably (written, fsynced, renamed, its directory fsynced), the journal of steps (an
//! append-only file beside the backup: each write's intent before it, done after it), and a
//! lock per target so that two denyctl runs on this machine never interleave on one policy.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use denyctl_plugin_api::version_token;
use denyctl_remedy::Target;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// How long a run waits for another run's lock on the same target.
const LOCK_WAIT: Duration = Duration::from_secs(120);

fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Write `text` to `path` durably: a temporary file written and fsynced, renamed over `path`,
/// and the directory fsynced, so that after a crash `path` holds the old or the new text, whole.
/// Files apply and rollback keep (backups, journals) are owner-only (0600), like every session file.
fn owner_only(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(o, 0o600);
    o
}

pub fn durable_write(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    {
        let mut f = owner_only(OpenOptions::new().write(true).create(true).truncate(true)).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(Path::new(path))
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `apply` or `rollback`.
    pub op: String,
    /// The change id.
    pub change: String,
    /// `intent` (before the write) or `done` (after it, once the backup records it).
    pub step: String,
}

/// The journal beside a backup: `plan.backup.json` → `plan.backup.journal.jsonl`.
pub struct Journal {
    path: String,
    file: File,
}

impl Journal {
    /// The journal's path for a backup file.
    pub fn path_for(backup: &str) -> String {
        format!("{}.journal.jsonl", backup.strip_suffix(".json").unwrap_or(backup))
    }

    /// Open (create) the journal for appending.
    pub fn open(backup: &str) -> Result<Journal, CliError> {
        let path = Self::path_for(backup);
        let fail = |e: std::io::Error| CliError::input(&path, format!("cannot write the journal ({e}); nothing more was written to AWS"));
        let existed = Path::new(&path).exists();
        let file = owner_only(OpenOptions::new().create(true).append(true)).open(&path).map_err(fail)?;
        if !existed {
            sync_dir(Path::new(&path)).map_err(fail)?;
        }
        Ok(Journal { path, file })
    }

    /// Append one record and flush it to disk before returning.
    pub fn record(&mut self, op: &str, change: &str, step: &str) -> Result<(), CliError> {
        let r = Record { op: op.into(), change: change.into(), step: step.into() };
        let line = serde_json::to_string(&r).unwrap_or_default() + "\n";
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| CliError::input(&self.path, format!("cannot write the journal ({e}); nothing more was written to AWS")))
    }

    /// Every record of the journal of `backup` (none when there is no journal; a line torn by a
    /// crash is skipped).
    pub fn read(backup: &str) -> Vec<Record> {
        std::fs::read_to_string(Self::path_for(backup))
            .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default()
    }

    /// The changes whose last `op` record is an intent: the process stopped during that write.
    pub fn in_flight(records: &[Record], op: &str) -> BTreeSet<String> {
        let mut open = BTreeSet::new();
        for r in records.iter().filter(|r| r.op == op) {
            if r.step == "intent" {
                open.insert(r.change.clone());
            } else {
                open.remove(&r.change);
            }
        }
        open
    }
}

/// Locks held on targets (released when dropped).
pub struct Locks {
    _files: Vec<File>,
}

fn lock_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DENYCTL_LOCK_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    // Beside the sessions, in the user's state directory (owner-only), else the temporary folder.
    crate::state::state_dir().map(|d| d.join("locks")).unwrap_or_else(|_| std::env::temp_dir().join("denyctl-locks"))
}

/// Lock every target (in a fixed order, so two runs cannot deadlock), waiting up to two
/// minutes for another denyctl run that holds one. The lock serialises runs on this machine;
/// the compare-and-swap after it catches everyone else.
pub fn lock_targets(targets: &[&Target], verb: &str) -> Result<Locks, CliError> {
    let dir = lock_dir();
    crate::state::create_private_dir(&dir).map_err(|e| CliError::input(dir.display(), format!("cannot create the lock directory ({e}); nothing written")))?;
    let mut keys: Vec<(String, String)> = targets
        .iter()
        .map(|t| {
            let id = serde_json::json!([t.kind.as_str(), t.policy_name, t.policy_arn, t.role_name, t.user_name, t.resource_arn]);
            let token = version_token(Some(&id));
            (token.trim_start_matches("sha256:")[..24].to_string(), denyctl_runtime::apply::describe(t))
        })
        .collect();
    keys.sort();
    keys.dedup();
    let mut files = Vec::new();
    for (key, what) in keys {
        let path = dir.join(format!("{key}.lock"));
        let mut f = owner_only(OpenOptions::new().create(true).truncate(false).read(true).write(true))
            .open(&path)
            .map_err(|e| CliError::input(path.display(), format!("cannot open the lock file ({e}); nothing written")))?;
        let start = Instant::now();
        loop {
            match f.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(50)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(CliError::Input(format!(
                        "{verb}: another denyctl run ({}) has held {what} for {} s; nothing written",
                        holder.trim(),
                        LOCK_WAIT.as_secs()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(CliError::input(path.display(), format!("cannot lock ({e}); nothing written")));
                }
            }
        }
        let _ = f.set_len(0).and_then(|_| write!(f, "pid {} ({verb})", std::process::id()));
        files.push(f);
    }
    Ok(Locks { _files: files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_the_intent_without_done() {
        let r = |c: &str, s: &str| Record { op: "apply".into(), change: c.into(), step: s.into() };
        let recs = vec![r("c1", "intent"), r("c1", "done"), r("c2", "intent")];
        assert_eq!(Journal::in_flight(&recs, "apply").into_iter().collect::<Vec<_>>(), ["c2"]);
        assert!(Journal::in_flight(&recs, "rollback").is_empty());
        assert_eq!(Journal::path_for("/x/plan.backup.json"), "/x/plan.backup.journal.jsonl");
    }
}
