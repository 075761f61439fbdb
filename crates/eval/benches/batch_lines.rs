// Reading the scenarios of `simulate --batch`'s benchmark file, one thread, beside the limits
// of the same bytes. `batch_lines` runs with the system allocator, `batch_lines_mimalloc` with
// the allocator the denyctl binary uses (the same code: that file includes this one).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use denyctl_eval::evaluate;
use denyctl_eval::scenario::Scenario;

#[path = "../../../tests/common/gen.rs"]
mod gen;

/// The lines of `simulate --batch`'s benchmark file (tests/common/gen.rs `scenario_sized(i, 2)`,
/// ~5 KB each), one thread: the scenario reading beside the limits of the same bytes (finding
/// the lines, serde_json reading them without keeping anything, reading them into a `Value`)
/// and beside evaluation alone and output alone.
pub fn batch_lines(c: &mut Criterion) {
    const LINES: usize = 256;
    let mut file = Vec::new();
    for i in 0..LINES {
        file.extend_from_slice(&serde_json::to_vec(&gen::scenario_sized(i, 2)).unwrap());
        file.push(b'\n');
    }
    let text = std::str::from_utf8(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut g = c.benchmark_group("batch_lines");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("split_lines_memchr", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', std::hint::black_box(&file)).count())
    });
    g.bench_function("serde_json_ignored_any", |b| {
        b.iter(|| {
            for l in &lines {
                serde_json::from_str::<serde::de::IgnoredAny>(l).unwrap();
            }
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(serde_json::from_str::<serde_json::Value>(l).unwrap());
            }
        })
    });
    g.bench_function("scenario_reference_via_value", |b| {
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(Scenario::parse_json_str(l).unwrap());
            }
        })
    });
    g.bench_function("scenario_parse_str", |b| {
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(Scenario::parse_str(l).unwrap());
            }
        })
    });
    // The same reading on every core, as `simulate --batch` runs it (its workers take chunks of
    // lines in turn): the lines dealt out in chunks of 16, one thread per core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    g.bench_function(format!("scenario_parse_str_{cores}_threads"), |b| {
        let next = std::sync::atomic::AtomicUsize::new(0);
        b.iter(|| {
            next.store(0, std::sync::atomic::Ordering::Relaxed);
            std::thread::scope(|s| {
                for _ in 0..cores {
                    s.spawn(|| loop {
                        let start = next.fetch_add(16, std::sync::atomic::Ordering::Relaxed);
                        if start >= lines.len() {
                            break;
                        }
                        for l in &lines[start..(start + 16).min(lines.len())] {
                            std::hint::black_box(Scenario::parse_str(l).unwrap());
                        }
                    });
                }
            })
        })
    });
    let parsed: Vec<Scenario> = lines.iter().map(|l| Scenario::parse_str(l).unwrap()).collect();
    g.bench_function("evaluate_only", |b| {
        b.iter(|| {
            for s in &parsed {
                std::hint::black_box(evaluate(&s.request, &s.layers));
            }
        })
    });
    let verdicts: Vec<_> = parsed.iter().map(|s| evaluate(&s.request, &s.layers)).collect();
    g.bench_function("verdict_json_only", |b| {
        let mut buf = Vec::with_capacity(1 << 20);
        b.iter(|| {
            buf.clear();
            for v in &verdicts {
                serde_json::to_writer(&mut buf, v).unwrap();
                buf.push(b'\n');
            }
            std::hint::black_box(buf.len())
        })
    });
    g.finish();
}

criterion_group!(benches, batch_lines);
criterion_main!(benches);
