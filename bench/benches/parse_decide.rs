//! Throughput of the pure core: parse + decide, per event kind, on the repository's sample events.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use firebreak::{decide, parse_payload, Policy};
use std::hint::black_box;

const KINDS: &[(&str, &str)] = &[
    ("guardduty", "../events/guardduty/ec2-backdoor-high-severity.json"),
    ("alarm-eventbridge", "../events/alarm/idle-cpu-eventbridge.json"),
    ("alarm-sns", "../events/alarm/idle-cpu-sns.json"),
    ("cloudtrail", "../events/cloudtrail/sg-open-ssh-to-world.json"),
];

fn parse_and_decide(c: &mut Criterion) {
    let policy = Policy::default();
    let mut group = c.benchmark_group("parse_decide");
    for (kind, path) in KINDS {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(kind), &bytes, |b, bytes| {
            b.iter(|| {
                let incidents = parse_payload(black_box(bytes)).expect("sample parses");
                for incident in &incidents {
                    black_box(decide(incident, &policy));
                }
            })
        });
    }
    group.finish();
}

/// The two halves apart, per kind: where the time of a kind goes.
fn parse_then_decide(c: &mut Criterion) {
    let policy = Policy::default();
    let mut parse = c.benchmark_group("parse");
    for (kind, path) in KINDS {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse.throughput(Throughput::Elements(1));
        parse.bench_with_input(BenchmarkId::from_parameter(kind), &bytes, |b, bytes| {
            b.iter(|| black_box(parse_payload(black_box(bytes)).expect("sample parses")))
        });
    }
    parse.finish();
    let mut decide_group = c.benchmark_group("decide");
    for (kind, path) in KINDS {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let incidents = parse_payload(&bytes).expect("sample parses");
        decide_group.throughput(Throughput::Elements(1));
        decide_group.bench_with_input(BenchmarkId::from_parameter(kind), &incidents, |b, incidents| {
            b.iter(|| incidents.iter().for_each(|i| drop(black_box(decide(black_box(i), &policy)))))
        });
    }
    decide_group.finish();
}

criterion_group!(benches, parse_and_decide, parse_then_decide);
criterion_main!(benches);
