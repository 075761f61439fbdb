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

fn batch(path: &str) -> CmdResult {
    let bytes = read_bytes(path, MAX_INPUT_BYTES)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        CliError::input(path, format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
    })?;
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l)).collect();
    // Evaluate in parallel chunks, then print in input order.
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    let chunk = lines.len().div_ceil(workers).max(1);
    let rendered: Vec<Vec<(Vec<u8>, bool)>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(n, l)| match line_result(l) {
                            Ok((name, v)) => {
                                let out = SimulateOutput {
                                    schema_version: Some(output::SCHEMA_VERSION),
                                    name: name.as_deref(),
                                    verdict: &v,
                                };
                                (serde_json::to_vec(&out).unwrap_or_default(), true)
                            }
                            Err(e) => {
                                let obj = serde_json::json!({"schema_version": output::SCHEMA_VERSION, "line": n, "error": format!("{path}:{n}: {e}")});
                                (serde_json::to_vec(&obj).unwrap_or_default(), false)
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut failed = 0usize;
    let mut first_error = None;
    for (json, ok) in rendered.into_iter().flatten() {
        if !ok {
            failed += 1;
            if first_error.is_none() {
                first_error = serde_json::from_slice::<serde_json::Value>(&json)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string));
            }
        }
        if let Err(e) = out.write_all(&json).and_then(|_| out.write_all(b"\n")) {
            ignore_broken_pipe(e)?;
            return Ok(exit::OK);
        }
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
