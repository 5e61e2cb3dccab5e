//! Folding throughput over the shared tweet corpora, held in memory.
//!
//! Reads every `*.jsonl` in `$KESTREL_CORPUS` (default: `../shared/corpus`
//! relative to the crate, i.e. `/work/shared/corpus`), takes each line's
//! "text" member, and folds them all with one reused `FoldedText`. Without
//! a corpus it measures a few built-in posts.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel::normalize::{fold_into, FoldedText};

fn corpus_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KESTREL_CORPUS") {
        return PathBuf::from(d);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for cand in [
        here.join("../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ] {
        if cand.is_dir() {
            return cand;
        }
    }
    here.join("../shared/corpus")
}

/// A few posts to measure when the shared corpus is not there.
const FALLBACK: &[&str] = &[
    "RT @user: Support—the   MUJAHIDEEN!! j.o.i.n us today http://t.co/abc123",
    "Donate to the cause: r3cru1t your brothers, $upport the ummah 💪🏽",
    "القوات البرية السعودية والقوات الفرنسية الخاصة تؤديان التمرين المشترك",
    "Élève à l'école, il n'y a pas de problème avec l'énergie solaire",
    "I donated 100 usd to the Red Cross yesterday, what a day!!!",
];

/// (file name, texts) per corpus file.
fn load() -> Vec<(String, Vec<String>)> {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "no corpus at {}: measuring a few built-in posts",
            dir.display()
        );
        let texts = FALLBACK.iter().map(|t| t.repeat(50)).collect();
        return vec![("builtin".to_owned(), texts)];
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let body = std::fs::read_to_string(&p).expect("corpus file");
            let texts = body
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_owned))
                .collect();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, texts)
        })
        .collect()
}

fn bench_fold(c: &mut Criterion) {
    let corpora = load();
    let mut group = c.benchmark_group("fold");
    let mut all: Vec<String> = Vec::new();
    for (name, texts) in &corpora {
        let bytes: usize = texts.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name.as_str(), |b| {
            let mut out = FoldedText::new();
            b.iter(|| {
                let mut n = 0;
                for t in texts {
                    fold_into(t, &mut out);
                    n += out.as_str().len();
                }
                n
            })
        });
        all.extend(texts.iter().cloned());
    }
    let bytes: usize = all.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("all", |b| {
        let mut out = FoldedText::new();
        b.iter(|| {
            let mut n = 0;
            for t in &all {
                fold_into(t, &mut out);
                n += out.as_str().len();
            }
            n
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_fold
}
criterion_main!(benches);
