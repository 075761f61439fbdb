//! Print the plan for a scenario file: `cargo run -p denyctl-remedy --example plan_scenario -- FILE [scope] [accept]`.

use denyctl_eval::scenario::Scenario;
use denyctl_remedy::{plan, Options, Scope};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: plan_scenario FILE [exact|prefix|bucket|access_level] [accept]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let sc = Scenario::parse_str(&text).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let scope = match args.get(2).map(String::as_str) {
        Some("prefix") => Scope::Prefix,
        Some("bucket") => Scope::Bucket,
        Some("access_level") => Scope::AccessLevel,
        _ => Scope::Exact,
    };
    let opts = Options { scope, accept_widening: args.get(3).is_some(), ..Options::default() };
    let v = denyctl_eval::evaluate(&sc.request, &sc.layers);
    let t = std::time::Instant::now();
    let _ = denyctl_catalog::catalog();
    let decode = t.elapsed();
    let t = std::time::Instant::now();
    let first = plan(&sc.request, &sc.layers, &v, &opts);
    let cold = t.elapsed();
    let t = std::time::Instant::now();
    let _ = plan(&sc.request, &sc.layers, &v, &opts);
    let warm = t.elapsed();
    match first {
        Ok(p) => {
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            eprintln!(
                "catalog decode {decode:?}; plan (first, incl. ARN regexes) {cold:?}; plan (again) {warm:?}; {} requests checked",
                p.no_new_access.checked
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
