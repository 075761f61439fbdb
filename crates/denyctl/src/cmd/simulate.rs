//! `denyctl simulate`: evaluate scenarios offline.

use std::io::{BufWriter, Write};

use denyctl_eval::scenario::Scenario;
use denyctl_eval::{evaluate, Verdict};
use serde::Serialize;

use crate::cli::{GlobalArgs, SimulateArgs};
use crate::error::{exit, CliError, CmdResult};
use crate::input::{read_bytes, read_text, MAX_INPUT_BYTES};
use crate::output::{self, ignore_broken_pipe};

/// A single scenario's file may not be larger than this (a policy set is a few hundred KB at most).
const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;

/// The JSON shape of one simulated scenario.
#[derive(Serialize)]
pub struct SimulateOutput<'a> {
    /// The JSON contract's version (docs/schema/simulate.json); set for batch lines, `emit` adds it otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<&'static str>,
    /// The scenario's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// The verdict, flattened (`decision`, `denied_by`, `layers`, ...).
    #[serde(flatten)]
    pub verdict: &'a Verdict,
}

/// Run the verb.
pub fn run(args: &SimulateArgs, global: &GlobalArgs) -> CmdResult {
    if let Some(path) = &args.scenario {
        return one(path, global);
    }
    if let Some(path) = &args.batch {
        return batch(path);
    }
    Err(CliError::Input("simulate: give --scenario FILE or --batch FILE".into()))
}

fn one(path: &str, global: &GlobalArgs) -> CmdResult {
    let text = read_text(path, MAX_SCENARIO_BYTES)?;
    let sc = Scenario::parse_str(&text).map_err(|e| CliError::input(path, e))?;
    let v = evaluate(&sc.request, &sc.layers);
    let out = SimulateOutput { schema_version: None, name: sc.name.as_deref(), verdict: &v };
    output::emit(global.output, &out, |w| crate::render::verdict(w, sc.name.as_deref(), &sc.request, &sc.layers, &v))?;
    Ok(exit::OK)
}

/// One line of a batch: a verdict, or the error for that line.
fn line_result(line: &str) -> Result<(Option<String>, Verdict), String> {
    let sc = Scenario::parse_str(line).map_err(|e| e.to_string())?;
    let v = evaluate(&sc.request, &sc.layers);
    Ok((sc.name, v))
}

/// Lines a worker takes at a time: small enough that both cores stay busy to the end (and the
/// first results are written while the rest is evaluated), large enough to cost nothing to hand out.
const LINES_PER_CHUNK: usize = 128;

/// A chunk's output lines, one buffer, and its failures.
struct Rendered {
    json: Vec<u8>,
    failed: usize,
    first_error: Option<String>,
}

fn render_chunk(path: &str, part: &[(usize, &str)]) -> Rendered {
    let mut r = Rendered { json: Vec::with_capacity(part.len() * 1024), failed: 0, first_error: None };
    for (n, l) in part {
        match line_result(l) {
            Ok((name, v)) => {
                let out = SimulateOutput { schema_version: Some(output::SCHEMA_VERSION), name: name.as_deref(), verdict: &v };
                // Writing into a Vec cannot fail, and a verdict always serializes.
                let _ = serde_json::to_writer(&mut r.json, &out);
            }
            Err(e) => {
                let error = format!("{path}:{n}: {e}");
                let obj = serde_json::json!({"schema_version": output::SCHEMA_VERSION, "line": n, "error": error});
                let _ = serde_json::to_writer(&mut r.json, &obj);
                r.failed += 1;
                r.first_error.get_or_insert(error);
            }
        }
        r.json.push(b'\n');
    }
    r
}

fn batch(path: &str) -> CmdResult {
    let bytes = read_bytes(path, MAX_INPUT_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        CliError::input(path, format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
    })?;
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l)).collect();
    // Workers take chunks of lines in turn and send them back rendered; this thread prints them
    // in input order as they arrive.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunks: Vec<&[(usize, &str)]> = lines.chunks(LINES_PER_CHUNK).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut failed = 0usize;
    let mut first_error = None;
    let mut pipe_closed = false;
    std::thread::scope(|s| -> Result<(), CliError> {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Rendered)>();
        for _ in 0..workers.min(chunks.len()) {
            let tx = tx.clone();
            let (chunks, next) = (&chunks, &next);
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(part) = chunks.get(i) else { break };
                if tx.send((i, render_chunk(path, part))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending = std::collections::BTreeMap::new();
        let mut due = 0usize;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&due) {
                due += 1;
                failed += r.failed;
                if first_error.is_none() {
                    first_error = r.first_error;
                }
                if pipe_closed {
                    continue;
                }
                if let Err(e) = out.write_all(&r.json) {
                    ignore_broken_pipe(e)?;
                    // The reader went away: stop the workers (they see the closed channel).
                    pipe_closed = true;
                    next.store(chunks.len(), std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        Ok(())
    })?;
    if pipe_closed {
        return Ok(exit::OK);
    }
    out.flush().or_else(ignore_broken_pipe)?;
    if failed > 0 {
        return Err(CliError::Input(format!(
            "{failed} of {} scenarios could not be evaluated; first: {}",
            lines.len(),
            first_error.unwrap_or_default()
        )));
    }
    if lines.is_empty() {
        return Err(CliError::input(path, "no scenarios in the batch file"));
    }
    Ok(exit::OK)
}
