//! Linting speed: signatures per second over many ABIs, and the parsing of
//! signature lists. The 1,000,000-signature figure of the README comes from
//! `argus bench lint`, which also reports peak memory; this bench gives the
//! scaling ratios at sizes criterion can repeat.

use std::hint::black_box;

use argus_abi::lint::LintOptions;
use argus_abi::{ItemKind, lint, parse_signature_list, synthetic};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn lint_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("lint");
    group.sample_size(10);
    for (abis, signatures) in [(100, 10_000), (1_000, 100_000)] {
        let set = synthetic::infrastructure(abis, signatures);
        group.throughput(Throughput::Elements(signatures as u64));
        group.bench_with_input(
            BenchmarkId::new("abis", format!("{abis}x{}", signatures / abis)),
            &set,
            |b, set| b.iter(|| black_box(lint(set, &LintOptions::default()))),
        );
    }
    group.finish();
}

fn list_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("signature_list");
    group.sample_size(10);
    let text = synthetic::signature_list(100_000);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("parse_100k", |b| {
        b.iter(|| black_box(parse_signature_list(&text, ItemKind::Function)))
    });
    group.finish();
}

criterion_group!(benches, lint_scaling, list_parsing);
criterion_main!(benches);
