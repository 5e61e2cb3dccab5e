/work/main/benches/vectorscan-baseline/target/release/vectorscan-baseline: /work/main/benches/vectorscan-baseline/build.rs /work/main/benches/vectorscan-baseline/src/main.rs
