# kestrel: build in the Rust image, run in Debian slim.
FROM rust:1-bookworm AS build
WORKDIR /src
# librdkafka is built from source by the rdkafka crate (TLS through OpenSSL).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY crates crates
COPY benches benches
RUN cargo build --release --locked --bin kestrel

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent kestrel
COPY --from=build /src/target/release/kestrel /usr/local/bin/kestrel
# The shipped rule pack; mount a directory over it to run your own.
COPY rules /etc/kestrel/rules
ENV KESTREL_RULES__DIR=/etc/kestrel/rules
USER kestrel
EXPOSE 9898
ENTRYPOINT ["kestrel"]
CMD ["run"]
