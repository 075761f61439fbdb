//! `denyctl triage`: CloudTrail sources read in parallel into ranked denial groups (docs/triage.md).
//! The grouping is `denyctl_triage`'s (pure); this verb finds the sources, reads their bytes, and
//! renders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use denyctl_triage::{Group, Options, Summary, Triage};

use crate::cli::{GlobalArgs, TriageArgs};
use crate::error::{exit, CliError, CmdResult};
use crate::output::{self, Format};

/// Counters shown on stderr while reading.
#[derive(Default)]
pub struct Counters {
    /// Sources (files, objects) done.
    pub sources: AtomicU64,
    /// Sources in all.
    pub total: AtomicU64,
    /// Events read.
    pub events: AtomicU64,
    /// Denial events grouped.
    pub denials: AtomicU64,
    done: AtomicBool,
}

/// Run the verb.
pub fn run(a: &TriageArgs, g: &GlobalArgs) -> CmdResult {
    let opts = Options { fold: a.fold };
    let counters = Counters::default();
    let mut triage = Triage::new(opts);
    let mut files = Vec::new();
    for s in &a.sources {
        if s.starts_with("s3://") {
            return Err(CliError::Input(format!("{s}: s3:// sources are not read yet")));
        }
        let p = Path::new(s);
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut triage),
            Ok(_) => files.push(p.to_path_buf()),
            Err(e) => triage.source_skipped(s, format!("cannot read: {e}")),
        }
    }
    counters.total.store(files.len() as u64, Ordering::Relaxed);
    let read = std::thread::scope(|s| {
        progress(s, g, &counters);
        let read = read_files(&files, opts, &counters);
        counters.done.store(true, Ordering::Relaxed);
        read
    });
    triage.merge(read);
    let groups = triage.groups();
    let summary = triage.summary();
    report_summary(g, &summary);
    if summary.sources_read == 0 {
        let why = summary.sources_skipped.first().map(|s| format!(" ({}: {})", s.source, s.reason)).unwrap_or_default();
        return Err(CliError::Input(format!("no source could be read{why}")));
    }
    if let Some(path) = &a.html {
        let page = crate::render::triage::html(&groups, &summary);
        write_file(path, page.as_bytes())?;
    }
    print(g.output, &groups)?;
    Ok(exit::OK)
}

/// Every file under a folder, in name order; hidden files and CloudTrail digest files left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, t: &mut Triage) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) => return t.source_skipped(&dir.display().to_string(), format!("cannot list: {e}")),
    };
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.contains("CloudTrail-Digest") {
            continue;
        }
        if p.is_dir() {
            walk(&p, out, t);
        } else {
            out.push(p);
        }
    }
}

/// Read files in parallel (one worker per core, each with its own accumulator), then merge.
pub fn read_files(files: &[PathBuf], opts: Options, c: &Counters) -> Triage {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(files.len()).max(1);
    let mut all = Triage::new(opts);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut t = Triage::new(opts);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        let name = path.display().to_string();
                        let before = t.summary_counts();
                        match std::fs::read(path) {
                            Ok(bytes) => {
                                let _ = t.read(&name, &bytes);
                            }
                            Err(e) => t.source_skipped(&name, format!("cannot read: {e}")),
                        }
                        let after = t.summary_counts();
                        c.events.fetch_add(after.0 - before.0, Ordering::Relaxed);
                        c.denials.fetch_add(after.1 - before.1, Ordering::Relaxed);
                        c.sources.fetch_add(1, Ordering::Relaxed);
                    }
                    t
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(t) => all.merge(t),
                Err(_) => all.source_skipped("(worker)", "a reader thread failed".into()),
            }
        }
    });
    all
}

/// Progress on stderr (files, events, denials), on a terminal only and never with `-q`.
pub fn progress<'s>(s: &'s std::thread::Scope<'s, '_>, g: &GlobalArgs, c: &'s Counters) {
    use std::io::IsTerminal;
    if g.quiet || !std::io::stderr().is_terminal() {
        return;
    }
    s.spawn(move || {
        while !c.done.load(Ordering::Relaxed) {
            eprint!(
                "\rtriage: {}/{} sources, {} events, {} denials ",
                c.sources.load(Ordering::Relaxed),
                c.total.load(Ordering::Relaxed),
                c.events.load(Ordering::Relaxed),
                c.denials.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        eprint!("\r\x1b[K");
    });
}

/// The summary on stderr: skipped sources one per line, then the counts.
fn report_summary(g: &GlobalArgs, s: &Summary) {
    for x in &s.sources_skipped {
        eprintln!("denyctl: skipped {}: {}", x.source, x.reason);
    }
    if g.quiet {
        return;
    }
    if g.verbose > 0 {
        for x in &s.skipped_samples {
            eprintln!("denyctl: skipped event {x}");
        }
    }
    let looks: Vec<String> = s.look_alikes.iter().map(|l| format!("{} {}", l.count, l.error)).collect();
    eprintln!(
        "triage: {} sources read, {} skipped; {} events, {} denials in {} groups; look-alikes (not denials): {}; {} other errors; {} events skipped",
        s.sources_read,
        s.sources_skipped.len(),
        s.events,
        s.denials,
        s.groups,
        if looks.is_empty() { "none".to_string() } else { looks.join(", ") },
        s.other_errors,
        s.skipped_events
    );
}

fn print(format: Format, groups: &[Group]) -> Result<(), CliError> {
    use std::io::Write;
    match format {
        Format::Csv => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::render::triage::csv(&mut out, groups).and_then(|_| out.flush()).or_else(output::ignore_broken_pipe)
        }
        Format::Diff => Err(CliError::Input("-o diff is only for `fix`; use -o table, json, yaml or csv".into())),
        f => output::emit(f, &groups, |w| crate::render::triage::table(w, groups)),
    }
}

/// Write a whole file or nothing: to a temporary name beside it, then renamed.
fn write_file(path: &str, bytes: &[u8]) -> Result<(), CliError> {
    let target = Path::new(path);
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", target.file_name().and_then(|n| n.to_str()).unwrap_or("report")));
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, target)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::input(path, format!("cannot write: {e}"))
    })
}
