/work/main/benches/vectorscan-baseline/target/release/deps/vectorscan_baseline-4ce91b6a57f581e5.d: src/main.rs

/work/main/benches/vectorscan-baseline/target/release/deps/vectorscan_baseline-4ce91b6a57f581e5: src/main.rs

src/main.rs:
