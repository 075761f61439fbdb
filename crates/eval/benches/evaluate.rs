//! Evaluation throughput on realistic layers (see tests/common/gen.rs): decisions per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use denyctl_eval::evaluate;
use denyctl_eval::scenario::Scenario;

#[path = "../../../tests/common/gen.rs"]
mod gen;

fn bench(c: &mut Criterion) {
    let scenarios: Vec<Scenario> =
        (0..64).map(|i| Scenario::from_json(gen::scenario(i)).expect("generated scenario parses")).collect();
    let statements: usize = scenarios
        .iter()
        .map(|s| {
            let l = &s.layers;
            l.identity.iter().map(|p| p.policy.statements.len()).sum::<usize>()
                + l.permissions_boundary.iter().map(|p| p.policy.statements.len()).sum::<usize>()
                + l.resource.iter().map(|p| p.policy.statements.len()).sum::<usize>()
                + l.scp.iter().flatten().flat_map(|lv| &lv.policies).map(|p| p.policy.statements.len()).sum::<usize>()
        })
        .sum();
    eprintln!("average statements per request: {}", statements / scenarios.len());
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(scenarios.len() as u64));
    g.bench_function("realistic_layers_x64", |b| {
        b.iter(|| {
            let mut denied = 0usize;
            for s in &scenarios {
                let v = evaluate(&s.request, &s.layers);
                denied += usize::from(v.decision != denyctl_eval::Decision::Allow);
            }
            std::hint::black_box(denied)
        })
    });
    g.finish();
    let mut g = c.benchmark_group("parse");
    let texts: Vec<String> = (0..64).map(|i| gen::scenario(i).to_string()).collect();
    g.throughput(Throughput::Bytes(texts.iter().map(|t| t.len() as u64).sum()));
    g.bench_function("scenario_json_x64", |b| {
        b.iter(|| {
            for t in &texts {
                std::hint::black_box(Scenario::parse_str(t).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
