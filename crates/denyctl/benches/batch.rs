//! `denyctl simulate --batch` end to end: a 20,000-scenario JSON-lines file (102 MB) through
//! the release binary, wall time per run. Target: under 0.8 seconds (issue #14).
//! `DENYCTL_BENCH_BIN=/path/to/denyctl` measures another build (an older one, to compare);
//! `DENYCTL_BENCH_FILE=PATH` also keeps the batch file there (for `perf stat`, `/usr/bin/time`).

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../../../tests/common/gen.rs"]
mod gen;

const SCENARIOS: usize = 20_000;

fn bench(c: &mut Criterion) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let mut bytes = 0u64;
    {
        let mut w = std::io::BufWriter::new(file.as_file_mut());
        for i in 0..SCENARIOS {
            let line = serde_json::to_vec(&gen::scenario_sized(i, 2)).expect("json");
            bytes += line.len() as u64 + 1;
            w.write_all(&line).and_then(|_| w.write_all(b"\n")).expect("write");
        }
    }
    eprintln!("batch file: {SCENARIOS} scenarios, {:.1} MB", bytes as f64 / 1e6);
    if let Ok(keep) = std::env::var("DENYCTL_BENCH_FILE") {
        std::fs::copy(file.path(), &keep).expect("copy the batch file");
    }
    let bin = std::env::var("DENYCTL_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_denyctl").to_string());
    eprintln!("binary: {bin}");
    let mut g = c.benchmark_group("simulate_batch");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("20000_scenarios", |b| {
        b.iter(|| {
            let out = Command::new(&bin)
                .args(["simulate", "--batch"])
                .arg(file.path())
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run denyctl");
            assert!(out.success());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
