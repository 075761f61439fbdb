//! Rendering of triage groups: the ranked table, CSV, and the self-contained HTML report.

use std::collections::BTreeSet;
use std::io::{self, Write};

use denyctl_triage::{Group, Summary};

/// The verdict's decision and deciding layer, as one short cell.
fn verdict_cell(g: &Group) -> String {
    let Some(v) = &g.verdict else { return String::new() };
    let decision = v.get("decision").and_then(|d| d.as_str()).unwrap_or("?");
    match v.get("denied_by").and_then(|d| d.as_str()) {
        Some(by) => format!("{decision}: {by}"),
        None => decision.to_string(),
    }
}

/// The ranked queue: what to fix first, and how many events each fix would end.
pub fn table(w: &mut dyn Write, groups: &[Group]) -> io::Result<()> {
    if groups.is_empty() {
        return writeln!(w, "no denials found");
    }
    let verdicts = groups.iter().any(|g| g.verdict.is_some());
    writeln!(w, "{:>3}  {:>7}  {:>8}  {:<20}  {:<12}  {:<40}  {:<28}  {:<40}  {:<24}{}", "#", "EVENTS", "SESSIONS", "LAST SEEN", "ACCOUNT", "PRINCIPAL", "ACTION", "RESOURCE", "ERROR", if verdicts { "  VERDICT" } else { "" })?;
    for (i, g) in groups.iter().enumerate() {
        let mut err = g.error_code.clone();
        if let Some(k) = &g.deny_kind {
            err.push_str(&format!(" ({k}{})", g.policy_type.as_deref().map(|p| format!(", {p}")).unwrap_or_default()));
        }
        write!(w, "{:>3}  {:>7}  {:>8}  {:<20}  {:<12}  {:<40}  {:<28}  {:<40}  {:<24}", i + 1, g.count, g.sessions, g.last_seen, g.account, g.principal, g.action, g.resource.as_deref().unwrap_or("-"), err)?;
        if verdicts {
            write!(w, "  {}", verdict_cell(g))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV: a header, then one row per group in rank order.
pub fn csv(w: &mut dyn Write, groups: &[Group]) -> io::Result<()> {
    writeln!(w, "rank,count,sessions,first_seen,last_seen,account,principal,session_sample,action,resource,error_code,deny_kind,policy_type,regions,source_ips,user_agents,sample_event_id,decision,denied_by")?;
    for (i, g) in groups.iter().enumerate() {
        let agents: Vec<String> = g.user_agents.iter().map(|a| a.agent.clone()).collect();
        let v = |k: &str| g.verdict.as_ref().and_then(|v| v.get(k)).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let row = [
            (i + 1).to_string(),
            g.count.to_string(),
            g.sessions.to_string(),
            g.first_seen.clone(),
            g.last_seen.clone(),
            g.account.clone(),
            g.principal.clone(),
            g.session_sample.clone().unwrap_or_default(),
            g.action.clone(),
            g.resource.clone().unwrap_or_default(),
            g.error_code.clone(),
            g.deny_kind.clone().unwrap_or_default(),
            g.policy_type.clone().unwrap_or_default(),
            g.regions.join(" "),
            g.source_ips.to_string(),
            agents.join(" | "),
            g.sample_event_id.clone(),
            v("decision"),
            v("denied_by"),
        ];
        let cells: Vec<String> = row.iter().map(|c| field(c)).collect();
        writeln!(w, "{}", cells.join(","))?;
    }
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// How many groups the chart draws.
const CHART_GROUPS: usize = 5;
const COLORS: [&str; CHART_GROUPS] = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"];

/// An inline SVG line chart: denials per day for the top groups.
fn chart(groups: &[Group]) -> String {
    let top = &groups[..groups.len().min(CHART_GROUPS)];
    let days: Vec<&String> = top.iter().flat_map(|g| g.per_day.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    if days.is_empty() {
        return String::new();
    }
    let max = top.iter().flat_map(|g| g.per_day.values()).copied().max().unwrap_or(1).max(1);
    let (w, h, left, bottom) = (760.0_f64, 240.0_f64, 50.0_f64, 30.0_f64);
    let step = if days.len() > 1 { (w - left - 10.0) / (days.len() - 1) as f64 } else { 0.0 };
    let x = |i: usize| left + step * i as f64;
    let y = |n: u64| 10.0 + (h - bottom - 10.0) * (1.0 - n as f64 / max as f64);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"denials per day, top groups\">");
    s.push_str(&format!("<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>", h - bottom, w - 10.0, h - bottom));
    s.push_str(&format!("<text x=\"4\" y=\"16\" font-size=\"11\">{max}</text><text x=\"4\" y=\"{}\" font-size=\"11\">0</text>", h - bottom));
    let label_every = days.len().div_ceil(8).max(1);
    for (i, d) in days.iter().enumerate() {
        if i % label_every == 0 {
            s.push_str(&format!("<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>", x(i), h - 10.0, esc(d)));
        }
    }
    for (gi, g) in top.iter().enumerate() {
        let pts: Vec<String> = days.iter().enumerate().map(|(i, d)| format!("{:.1},{:.1}", x(i), y(g.per_day.get(*d).copied().unwrap_or(0)))).collect();
        s.push_str(&format!("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>#{} {}</title></polyline>", COLORS[gi], pts.join(" "), gi + 1, esc(&g.action)));
    }
    s.push_str("</svg>");
    s
}

/// The report: one page, no external resources: summary, chart, queue, each group's verdict and plan diff.
pub fn html(groups: &[Group], s: &Summary) -> String {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>denyctl triage</title><style>");
    h.push_str("body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}code,pre{font:12px ui-monospace,monospace}pre{background:#f8f8f8;padding:6px;overflow:auto}.add{color:#1a7f37}.del{color:#cf222e}.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}");
    h.push_str("</style></head><body><h1>denyctl triage</h1>\n");
    let looks: Vec<String> = s.look_alikes.iter().map(|l| format!("{} {}", l.count, esc(&l.error))).collect();
    h.push_str(&format!(
        "<p>{} sources read, {} skipped; {} events; <b>{} denials in {} groups</b>; look-alikes (not denials): {}; {} events skipped.</p>\n",
        s.sources_read,
        s.sources_skipped.len(),
        s.events,
        s.denials,
        s.groups,
        if looks.is_empty() { "none".into() } else { looks.join(", ") },
        s.skipped_events
    ));
    if !s.sources_skipped.is_empty() {
        h.push_str("<details><summary>Skipped sources</summary><ul>");
        for x in &s.sources_skipped {
            h.push_str(&format!("<li><code>{}</code>: {}</li>", esc(&x.source), esc(&x.reason)));
        }
        h.push_str("</ul></details>\n");
    }
    h.push_str("<h2>Denials per day, top groups</h2>\n");
    h.push_str(&chart(groups));
    h.push_str("<p class=\"legend\">");
    for (i, g) in groups.iter().take(CHART_GROUPS).enumerate() {
        h.push_str(&format!("<span style=\"background:{}\"></span>#{} {} {}", COLORS[i], i + 1, esc(&g.action), esc(g.resource.as_deref().unwrap_or(""))));
    }
    h.push_str("</p>\n<h2>Queue</h2>\n<table><tr><th>#</th><th>events</th><th>sessions</th><th>first seen</th><th>last seen</th><th>account</th><th>principal</th><th>action</th><th>resource</th><th>error</th><th>verdict</th></tr>\n");
    for (i, g) in groups.iter().enumerate() {
        h.push_str(&format!(
            "<tr><td><a href=\"#g{n}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
            g.count,
            g.sessions,
            esc(&g.first_seen),
            esc(&g.last_seen),
            esc(&g.account),
            esc(&g.principal),
            esc(&g.action),
            esc(g.resource.as_deref().unwrap_or("-")),
            esc(&g.error_code),
            esc(&verdict_cell(g)),
            n = i + 1
        ));
    }
    h.push_str("</table>\n<h2>Groups</h2>\n");
    for (i, g) in groups.iter().enumerate() {
        h.push_str(&format!("<h3 id=\"g{}\">#{} {} on {}</h3>\n<p>", i + 1, i + 1, esc(&g.action), esc(g.resource.as_deref().unwrap_or("-"))));
        h.push_str(&format!(
            "<code>{}</code>{}; {} events, {} sessions, regions {}, {} source IPs, sample event <code>{}</code>",
            esc(&g.principal),
            g.session_sample.as_deref().map(|x| format!(" (session {})", esc(x))).unwrap_or_default(),
            g.count,
            g.sessions,
            esc(&g.regions.join(", ")),
            g.source_ips,
            esc(&g.sample_event_id)
        ));
        let agents: Vec<String> = g.user_agents.iter().map(|a| format!("{} ({})", esc(&a.agent), a.count)).collect();
        if !agents.is_empty() {
            h.push_str(&format!("; user agents: {}", agents.join(", ")));
        }
        h.push_str("</p>\n");
        match &g.verdict {
            Some(v) => {
                h.push_str(&format!("<p>Verdict: <b>{}</b>", esc(&verdict_cell(g))));
                if let Some(st) = v.get("statement").and_then(|x| x.as_str()) {
                    h.push_str(&format!(", statement <code>{}</code>", esc(st)));
                }
                if let Some(p) = v.get("plan_id").and_then(|x| x.as_str()) {
                    h.push_str(&format!("; plan <code>{}</code>", esc(p)));
                }
                if let Some(e) = v.get("error").and_then(|x| x.as_str()) {
                    h.push_str(&format!("; not decided: {}", esc(e)));
                }
                h.push_str("</p>\n");
                if let Some(diff) = v.get("plan_diff").and_then(|x| x.as_str()).filter(|d| !d.is_empty()) {
                    h.push_str("<pre>");
                    for line in diff.lines() {
                        let class = if line.starts_with('+') { " class=\"add\"" } else if line.starts_with('-') { " class=\"del\"" } else { "" };
                        h.push_str(&format!("<span{class}>{}</span>\n", esc(line)));
                    }
                    h.push_str("</pre>\n");
                }
            }
            None => h.push_str("<p>No verdict: run with <code>--snapshot DIR</code> or <code>--live</code>.</p>\n"),
        }
    }
    h.push_str("</body></html>\n");
    h
}
