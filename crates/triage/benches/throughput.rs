//! Triage's hot path, measured (a bench binary, not a timed test; figures go to docs/performance.md):
//! 1. `.json.gz` CloudTrail files → groups, end to end (decompress, split records, parse the ones
//!    with an error through explain's reader, group), on one core and on every core, beside plain
//!    gzip decompression of the same files (the physical floor of this path);
//! 2. 10 million events into 5,000 groups, streamed file by file: peak memory (VmHWM).
//!
//! `cargo bench --workspace --bench throughput` (set TRIAGE_BENCH_EVENTS / TRIAGE_BENCH_MEMORY_EVENTS
//! to change the sizes).

#[path = "../../../tests/common/corpus.rs"]
mod corpus;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use denyctl_triage::{Options, Triage};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Run `work` over the files on `threads` workers; seconds taken.
fn timed(files: &[Vec<u8>], threads: usize, work: impl Fn(&[u8]) -> u64 + Sync) -> (f64, u64) {
    let next = AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                total.fetch_add(work(f), Ordering::Relaxed);
            });
        }
    });
    (t.elapsed().as_secs_f64(), total.into_inner())
}

fn throughput(label: &str, spec: corpus::Spec) {
    let mut files = Vec::new();
    let c = corpus::generate(spec, 1, |_, gz| files.push(gz));
    let plain: u64 = files.iter().map(|f| { let mut v = Vec::new(); flate2::read::MultiGzDecoder::new(&f[..]).read_to_end(&mut v).unwrap(); v.len() as u64 }).sum();
    let compressed: u64 = files.iter().map(|f| f.len() as u64).sum();
    println!("\n## {label}: {} events in {} files ({:.1} MB gzip, {:.1} MB JSON, {:.0} bytes/event), {} groups planted", c.events, files.len(), compressed as f64 / 1e6, plain as f64 / 1e6, plain as f64 / c.events as f64, c.planted.len());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    for threads in [1, cores] {
        let mut best_gz = f64::MAX;
        let mut best_triage = f64::MAX;
        for _ in 0..3 {
            let (s, _) = timed(&files, threads, |f| {
                let mut v = Vec::with_capacity(f.len() * 10);
                flate2::read::MultiGzDecoder::new(f).read_to_end(&mut v).unwrap();
                v.len() as u64
            });
            best_gz = best_gz.min(s);
            let (s, n) = timed(&files, threads, |f| {
                let mut t = Triage::new(Options { fold: true });
                t.read("bench", f).unwrap()
            });
            assert_eq!(n, c.events);
            best_triage = best_triage.min(s);
        }
        let ev = c.events as f64;
        println!(
            "threads {threads}: triage {:.0} events/s ({:.0} MB/s of JSON); gzip alone {:.0} events/s ({:.0} MB/s); triage takes {:.2}x the decompression time",
            ev / best_triage,
            plain as f64 / best_triage / 1e6,
            ev / best_gz,
            plain as f64 / best_gz / 1e6,
            best_triage / best_gz
        );
    }
}

/// 10M events into 5,000 groups through one accumulator, file by file: 100,000 generated events
/// (20 per group, ~2,000 per file, gzip) are read again and again until 10M have been read (the
/// generator is far slower than the reader). Peak resident memory of the whole process, which
/// includes the 100,000 events' gzip files held for the replays.
fn memory(events: u64) {
    let groups = 5_000u64;
    let spec = corpus::Spec { denials: 0, extra_groups: groups, per_extra_group: 20, noise_per_denial: 0, look_alikes: 0, days: 1, per_file: 2_000 };
    let mut files = Vec::new();
    let c = corpus::generate(spec, 2, |_, gz| files.push(gz));
    let held: usize = files.iter().map(Vec::len).sum();
    let before = vm_hwm_kb();
    let t = Instant::now();
    let mut triage = Triage::new(Options { fold: true });
    let rounds = events.div_ceil(c.events).max(1);
    for _ in 0..rounds {
        for f in &files {
            triage.read("bench", f).unwrap();
        }
    }
    let g = triage.groups();
    assert_eq!(g.len() as u64, groups);
    assert_eq!(g.iter().map(|x| x.count).sum::<u64>(), c.events * rounds);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "\n## memory: {} events into {} groups on one thread ({:.0} s, {:.0} events/s): peak RSS {:.0} MB (before reading: {:.0} MB, of which {:.0} MB of gzip files held for the replays)",
        c.events * rounds,
        g.len(),
        secs,
        (c.events * rounds) as f64 / secs,
        vm_hwm_kb() as f64 / 1024.0,
        before as f64 / 1024.0,
        held as f64 / 1e6
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Memory first: VmHWM is the process's peak so far.
    memory(env_num("TRIAGE_BENCH_MEMORY_EVENTS", 10_000_000));
    let n = env_num("TRIAGE_BENCH_EVENTS", 200_000);
    // Every event an error (denials, look-alikes): the worst case, all parsed by explain's reader.
    throughput("all errors", corpus::Spec { denials: n * 9 / 10, extra_groups: 50, per_extra_group: n / 500, noise_per_denial: 0, look_alikes: n / 40, days: 3, per_file: 1_000 });
    // A realistic trail: one event in ten an error, the rest successful calls.
    throughput("1 error in 10", corpus::Spec { denials: n / 10, extra_groups: 0, per_extra_group: 0, noise_per_denial: 9, look_alikes: 0, days: 3, per_file: 1_000 });
}
