//! `denyctl triage`: CloudTrail sources read in parallel into ranked denial groups (docs/triage.md).
//! The grouping is `denyctl_triage`'s (pure); this verb finds the sources, reads their bytes, and
//! renders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use denyctl_triage::query::Engine;
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
    /// Groups so far: the most any one reader holds (a lower bound until the readers' groups are merged).
    pub groups: AtomicU64,
    done: AtomicBool,
}

impl Counters {
    /// A reader finished a source: add what it read since `before` (its events and denials).
    fn source_done(&self, t: &Triage, before: (u64, u64)) {
        let after = t.summary_counts();
        self.events.fetch_add(after.0 - before.0, Ordering::Relaxed);
        self.denials.fetch_add(after.1 - before.1, Ordering::Relaxed);
        self.groups.fetch_max(t.group_count() as u64, Ordering::Relaxed);
        self.sources.fetch_add(1, Ordering::Relaxed);
    }
}

/// Run the verb.
pub fn run(a: &TriageArgs, g: &GlobalArgs) -> CmdResult {
    let opts = Options { fold: a.fold };
    let counters = Counters::default();
    let mut triage = Triage::new(opts);
    let mut files = Vec::new();
    let mut urls = Vec::new();
    for s in &a.sources {
        if s.starts_with("s3://") {
            match denyctl_runtime::trail::parse_s3_url(s) {
                Some((bucket, prefix)) => urls.push((s.clone(), bucket, prefix)),
                None => return Err(CliError::input(s, "expected s3://BUCKET/PREFIX")),
            }
            continue;
        }
        let p = Path::new(s);
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut triage),
            Ok(_) => files.push(p.to_path_buf()),
            Err(e) => triage.source_skipped(s, format!("cannot read: {e}")),
        }
    }
    counters.total.store(files.len() as u64, Ordering::Relaxed);
    if let Some((engine, name)) = a.athena.as_ref().map(|t| (Engine::Athena, t)).or(a.cloudtrail_lake.as_ref().map(|e| (Engine::Lake, e))) {
        let spec = denyctl_triage::query::QuerySpec { table: name.clone(), fold: a.fold, since: a.since.clone(), until: a.until.clone() };
        let sql = match engine {
            Engine::Athena => denyctl_triage::query::athena_sql(&spec),
            Engine::Lake => denyctl_triage::query::lake_sql(&spec),
        }
        .map_err(CliError::Input)?;
        if a.show_query {
            print!("{sql}");
            return Ok(exit::OK);
        }
        read_engine(engine, &sql, a, g, &mut triage)?;
    }
    let days = denyctl_runtime::trail::date_range(a.since.as_deref(), a.until.as_deref()).map_err(CliError::Input)?;
    if days.is_some() && urls.is_empty() && a.athena.is_none() && a.cloudtrail_lake.is_none() {
        return Err(CliError::Input("--since/--until choose the date prefixes of s3:// sources; give one".into()));
    }
    let read = std::thread::scope(|s| {
        progress(s, g, &counters);
        let mut read = read_files(&files, opts, &counters);
        let s3 = if urls.is_empty() { Ok(()) } else { read_s3(&urls, days.as_deref(), g, opts, &counters, &mut read) };
        counters.done.store(true, Ordering::Relaxed);
        s3.map(|_| read)
    })?;
    triage.merge(read);
    let mut groups = triage.groups();
    let summary = triage.summary();
    report_summary(g, &summary);
    if summary.sources_read == 0 {
        let why = summary.sources_skipped.first().map(|s| format!(" ({}: {})", s.source, s.reason)).unwrap_or_default();
        return Err(CliError::Input(format!("no source could be read{why}")));
    }
    if let Some(dir) = &a.snapshot {
        decide_offline(&mut groups, dir)?;
    } else if a.live {
        decide_live(&mut groups, a.top, g)?;
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

/// Files larger than this are read from disk as they are parsed rather than read whole first.
const STREAM_ABOVE_BYTES: u64 = 8 << 20;

/// One file: a delivered log file (well under a MB) is read into memory first; a larger one is
/// read from disk as it is parsed. Either way its text is held whole when it is a log file and a
/// block at a time when it is long JSON lines.
fn read_file(t: &mut Triage, name: &str, path: &Path) -> std::io::Result<()> {
    let len = std::fs::metadata(path)?.len();
    if len > STREAM_ABOVE_BYTES {
        let _ = t.read_stream(name, &mut std::fs::File::open(path)?, Some(len));
    } else {
        let _ = t.read(name, &std::fs::read(path)?);
    }
    Ok(())
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
                        if let Err(e) = read_file(&mut t, &name, path) {
                            t.source_skipped(&name, format!("cannot read: {e}"));
                        }
                        c.source_done(&t, before);
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

/// Read `s3://` sources: listed and fetched (parallel GETs) on this thread, parsed and grouped on
/// one worker per core as the bodies arrive (a bounded queue between them).
fn read_s3(urls: &[(String, String, String)], days: Option<&[String]>, g: &GlobalArgs, opts: Options, c: &Counters, into: &mut Triage) -> Result<(), CliError> {
    use denyctl_runtime::{trail, Session};
    let (tx, rx) = std::sync::mpsc::sync_channel::<(String, Result<Vec<u8>, String>)>(64);
    let rx = std::sync::Mutex::new(rx);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    let profiles = super::live::profiles(g);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || {
                    let mut t = Triage::new(opts);
                    loop {
                        let msg = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok((name, body)) = msg else { break };
                        let before = t.summary_counts();
                        match body {
                            Ok(bytes) => {
                                let _ = t.read(&name, &bytes);
                            }
                            Err(e) => t.source_skipped(&name, e),
                        }
                        c.source_done(&t, before);
                    }
                    t
                })
            })
            .collect();
        let fetched = super::live::block_on(async {
            let session = Session::new(&profiles).await;
            for (url, bucket, prefix) in urls {
                let listing = match trail::list(&session, bucket, prefix, days).await {
                    Ok(l) => l,
                    Err(denyctl_runtime::RuntimeError::Unreadable(m)) => {
                        let _ = tx.send((url.clone(), Err(m)));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for (p, why) in listing.problems {
                    let _ = tx.send((p, Err(format!("cannot list: {why}"))));
                }
                if listing.objects.is_empty() {
                    let _ = tx.send((url.clone(), Err("no log objects under it (in the date range)".into())));
                }
                c.total.fetch_add(listing.objects.len() as u64, Ordering::Relaxed);
                trail::fetch_all(&session, bucket, &listing.objects, |o, body| {
                    let _ = tx.send((format!("s3://{bucket}/{}", o.key), body));
                })
                .await?;
            }
            Ok(())
        });
        drop(tx);
        for h in handles {
            match h.join() {
                Ok(t) => into.merge(t),
                Err(_) => into.source_skipped("(worker)", "a reader thread failed".into()),
            }
        }
        match fetched {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(super::live::cli_error(e)),
            Err(e) => Err(e),
        }
    })
}

/// Run the grouping query on Athena or CloudTrail Lake and merge its rows (each row's sample event
/// read by explain's reader).
fn read_engine(engine: Engine, sql: &str, a: &TriageArgs, g: &GlobalArgs, t: &mut Triage) -> Result<(), CliError> {
    use denyctl_runtime::{athena, lake};
    let timeout = Duration::from_secs(a.query_timeout);
    let (source, what) = match engine {
        Engine::Athena => (format!("athena:{}", a.athena.as_deref().unwrap_or_default()), "Athena"),
        Engine::Lake => (format!("cloudtrail-lake:{}", a.cloudtrail_lake.as_deref().unwrap_or_default()), "CloudTrail Lake"),
    };
    let profiles = super::live::profiles(g);
    let _progress = super::live::Progress::start(g, &format!("running the grouping query on {what} ({source})"));
    let res = super::live::block_on(async {
        let session = denyctl_runtime::Session::new(&profiles).await;
        let mut n = 0u64;
        let mut add = |row: std::collections::HashMap<String, String>| {
            n += 1;
            match denyctl_triage::query::row_event(&row) {
                Ok((ev, agg)) => {
                    t.add_aggregate(&ev, &agg);
                }
                Err(e) => t.record_skipped(format!("{source}: row {n}"), e),
            }
        };
        match engine {
            Engine::Athena => {
                let run = athena::AthenaRun {
                    sql: sql.to_string(),
                    database: a.database.clone(),
                    workgroup: a.workgroup.clone(),
                    output_location: a.output_location.clone(),
                    timeout,
                };
                athena::run(&session, &run, add).await
            }
            Engine::Lake => {
                let run = lake::LakeRun { sql: sql.to_string(), delivery: a.output_location.clone(), timeout };
                lake::run(&session, &run, |cells| add(denyctl_triage::query::lake_row(cells))).await
            }
        }
    })?;
    match res {
        Ok(_) => t.source_read(0),
        Err(denyctl_runtime::RuntimeError::Unreadable(m)) => t.source_skipped(&source, m),
        Err(e) => return Err(super::live::cli_error(e)),
    }
    Ok(())
}

/// Progress on stderr (files, events, denials, groups), on a terminal only and never with `-q`.
pub fn progress<'s>(s: &'s std::thread::Scope<'s, '_>, g: &GlobalArgs, c: &'s Counters) {
    use std::io::IsTerminal;
    if g.quiet || !std::io::stderr().is_terminal() {
        return;
    }
    s.spawn(move || {
        while !c.done.load(Ordering::Relaxed) {
            eprint!(
                "\rtriage: {}/{} sources, {} events, {} denials, {}+ groups ",
                c.sources.load(Ordering::Relaxed),
                c.total.load(Ordering::Relaxed),
                c.events.load(Ordering::Relaxed),
                c.denials.load(Ordering::Relaxed),
                c.groups.load(Ordering::Relaxed)
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

/// A principal as snapshots and groups can both name it: `ACCOUNT:role:NAME` for a role or a
/// session of it (the path dropped: a session ARN does not carry it), `ACCOUNT:user:NAME`, else as is.
fn principal_id(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        let res = parts[5];
        if let Some(rest) = res.strip_prefix("assumed-role/") {
            return format!("{}:role:{}", parts[4], rest.split('/').next().unwrap_or(rest));
        }
        for (prefix, kind) in [("role/", "role"), ("user/", "user")] {
            if res.starts_with(prefix) {
                return format!("{}:{kind}:{}", parts[4], res.rsplit('/').next().unwrap_or(res));
            }
        }
    }
    arn.to_string()
}

/// Whether a snapshot's request is the group's: same principal, same action, and the same resource
/// (or one inside the group's folded prefix).
fn snapshot_fits(g: &Group, s: &denyctl_runtime::Snapshot) -> bool {
    let r = &s.request;
    if principal_id(&r.principal) != principal_id(&g.principal) || !r.action.eq_ignore_ascii_case(&g.action) {
        return false;
    }
    match g.resource.as_deref() {
        None => true,
        Some(res) if res == r.resource => true,
        Some(res) => res.strip_suffix('*').is_some_and(|p| p.ends_with('/') && r.resource.starts_with(p)),
    }
}

/// Every `denyctl-snapshot/1` file under DIR (others named on stderr and left out).
fn load_snapshots(dir: &str) -> Result<Vec<(String, denyctl_runtime::Snapshot)>, CliError> {
    let p = Path::new(dir);
    if !p.is_dir() {
        return Err(CliError::input(dir, "--snapshot takes a folder of snapshot files (`denyctl collect … -o json > DIR/NAME.json`)"));
    }
    let mut files = Vec::new();
    let mut t = Triage::new(Options::default());
    walk(p, &mut files, &mut t);
    let mut out = Vec::new();
    for f in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let name = f.display().to_string();
        match std::fs::read_to_string(&f).map_err(|e| e.to_string()).and_then(|text| denyctl_runtime::Snapshot::parse_str(&text).map_err(|e| e.to_string())) {
            Ok(s) => out.push((name, s)),
            Err(e) => eprintln!("denyctl: snapshot {name} skipped: {e}"),
        }
    }
    if out.is_empty() {
        return Err(CliError::input(dir, "no snapshot file (denyctl-snapshot/1) in it"));
    }
    Ok(out)
}

/// The verdict object of a group: decision, the denying layers, the deciding statement, the plan
/// `fix` would make from the same layers (its status, change ids and diff).
pub fn verdict_json(v: &denyctl_eval::Verdict, plan: Result<denyctl_remedy::Plan, denyctl_remedy::RemedyError>, source: &str) -> serde_json::Value {
    let denied_by: Vec<&str> = v.denied_by.iter().map(|l| l.as_str()).collect();
    let statement = v
        .layers
        .iter()
        .filter(|l| v.denied_by.contains(&l.layer) && matches!(l.outcome, denyctl_eval::Outcome::ExplicitDeny | denyctl_eval::Outcome::NoAllow))
        .find_map(|l| l.deciding.first().cloned())
        .map(|s| format!("{}#{}", s.policy, s.sid.clone().unwrap_or_else(|| format!("statement {}", s.index + 1))))
        .or_else(|| {
            // An implicit deny has no deciding statement: name the layer that allowed nothing.
            v.layers.iter().find(|l| v.denied_by.contains(&l.layer) && l.outcome == denyctl_eval::Outcome::NoAllow).map(|l| {
                format!("no statement in the {} allows it{}", l.layer.as_str(), l.target.as_deref().map(|t| format!(" (at {t})")).unwrap_or_default())
            })
        });
    let mut out = serde_json::json!({
        "decision": v.decision.as_str(),
        "denied_by": if denied_by.is_empty() { serde_json::Value::Null } else { denied_by.join(",").into() },
        "statement": statement,
        "unknown_layers": v.unknown_layers.iter().map(|u| u.layer.as_str()).collect::<Vec<_>>(),
        "source": source,
    });
    match plan {
        Ok(p) => {
            let mut diff = Vec::new();
            let _ = crate::render::plan::diffs(&mut diff, &p, false);
            out["plan_status"] = serde_json::to_value(p.status).unwrap_or_default();
            out["plan_changes"] = p.changes.iter().map(|c| c.id.clone()).collect::<Vec<_>>().into();
            out["plan_id"] = p.changes.first().map(|c| c.id.clone()).into();
            out["plan_diff"] = String::from_utf8_lossy(&diff).into_owned().into();
        }
        Err(e) => out["plan_error"] = e.to_string().into(),
    }
    out
}

/// Decide every group offline from the snapshots in DIR, in parallel.
pub fn decide_offline(groups: &mut [Group], dir: &str) -> Result<(), CliError> {
    if super::triage_org::is_org(dir) {
        return super::triage_org::decide(groups, dir);
    }
    let snaps = load_snapshots(dir)?;
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    let chunk = groups.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        for part in groups.chunks_mut(chunk) {
            let snaps = &snaps;
            s.spawn(move || {
                for g in part {
                    g.verdict = Some(match snaps.iter().find(|(_, s)| snapshot_fits(g, s)) {
                        Some((path, snap)) => match snap.evaluable() {
                            Ok((req, layers)) => {
                                let v = denyctl_eval::evaluate(&req, &layers);
                                let p = denyctl_remedy::plan(&req, &layers, &v, &denyctl_remedy::Options::default());
                                verdict_json(&v, p, path)
                            }
                            Err(e) => serde_json::json!({"decision": "unknown", "denied_by": null, "source": path, "error": e.to_string()}),
                        },
                        None => serde_json::json!({"decision": "unknown", "denied_by": null, "error": format!(
                            "no snapshot in {dir} for this principal, action and resource: `denyctl collect --principal {} --action {} --resource '{}' -o json > {dir}/NAME.json`",
                            g.principal, g.action, g.resource.as_deref().unwrap_or("*"))}),
                    });
                }
            });
        }
    });
    Ok(())
}

/// Diagnose the top `top` groups live, as `diagnose` does: every layer read as the operator for
/// the group's principal, action and resource, evaluated, and the plan `fix` would make.
pub fn decide_live(groups: &mut [Group], top: usize, g: &GlobalArgs) -> Result<(), CliError> {
    use denyctl_runtime::{collect, CollectOptions, Session};
    let profiles = super::live::profiles(g);
    let plugins = super::live::plugins(g);
    let _progress = super::live::Progress::start(g, &format!("diagnosing the top {top} groups"));
    super::live::block_on(async {
        let session = Session::new(&profiles).await;
        for grp in groups.iter_mut().take(top) {
            let opts = CollectOptions {
                principal: Some(grp.principal.clone()),
                action: grp.action.clone(),
                resource: grp.resource.clone().unwrap_or_else(|| "*".into()),
                ..CollectOptions::default()
            };
            grp.verdict = Some(match collect(&session, &plugins, &opts).await {
                Ok(c) => match c.snapshot.evaluable() {
                    Ok((req, layers)) => {
                        let v = denyctl_eval::evaluate(&req, &layers);
                        let p = denyctl_remedy::plan(&req, &layers, &v, &denyctl_remedy::Options::default());
                        verdict_json(&v, p, "live")
                    }
                    Err(e) => serde_json::json!({"decision": "unknown", "denied_by": null, "source": "live", "error": e.to_string()}),
                },
                Err(e) => serde_json::json!({"decision": "unknown", "denied_by": null, "source": "live", "error": e.to_string()}),
            });
        }
    })
}
