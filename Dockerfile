# syntax=docker/dockerfile:1
#
# The redynamo container image.
#
#   docker build -t redynamo:dev --build-arg VERSION="$(git describe --always)" .
#   docker run --rm -p 6379:6379 -p 9121:9121 redynamo:dev
#
# Two stages: the release binary is built on the Rust image, then copied
# with its licence notices onto distroless/cc (glibc, libgcc, CA
# certificates; no shell, no package manager), as user nonroot (65532).
# Everything at run time is the binary: the HEALTHCHECK is `redynamo
# --check`, which PINGs the server (src/healthcheck.rs).
#
# Checked by hadolint (scripts/check-deploy.sh); the options used here are
# checked against the binary by tests/deploy.rs.

# The toolchain CI builds with (Cargo.toml's rust-version is the oldest
# that compiles the crate; the locked dependencies may want newer).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# Everything .dockerignore lets through: the workspace manifests name the
# benches and examples, so cargo needs them to read the workspace. The
# registry and target/ are BuildKit cache mounts, so a rebuild after a
# source change downloads and compiles only what changed.
COPY . .
# The release profile carries no debug info already; the image strips the
# symbols too, for the smallest binary (`perf` belongs on a developer's
# machine, with `cargo build --profile profiling`).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin redynamo \
    && install -D -m 0755 target/release/redynamo /out/usr/local/bin/redynamo
# Licence notices: redynamo's own (MIT), the Redis 7.2 command documentation that the command
# table carries (BSD 3-clause), and every crate linked into the
# binary (normal dependencies of the target platform), each crate's
# LICENSE*/COPYING*/NOTICE* files plus one list of name, version, licence.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir -p /out/usr/share/doc/redynamo/crates \
    && cp LICENSE /out/usr/share/doc/redynamo/LICENSE \
    && cp scripts/redis-7.2-commands/COPYING /out/usr/share/doc/redynamo/REDIS-COMMANDS-COPYING \
    && cargo tree --locked -p redynamo -e normal --prefix none --format '{p} {l}' \
        | sed 's/ (\*)$//' | sort -u > /out/usr/share/doc/redynamo/THIRD-PARTY.txt \
    && cargo tree --locked -p redynamo -e normal --prefix none --format '{p}' \
        | sed -n 's/^\([^ ]*\) v\([^ ]*\)$/\1-\2/p' | sort -u \
        | while read -r crate; do \
            for dir in /usr/local/cargo/registry/src/*/"${crate}"; do \
                [ -d "${dir}" ] || continue; \
                mkdir -p "/out/usr/share/doc/redynamo/crates/${crate}"; \
                find "${dir}" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' -o -iname 'NOTICE*' \) \
                    -exec cp {} "/out/usr/share/doc/redynamo/crates/${crate}/" \; ; \
            done; \
        done

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="redynamo" \
      org.opencontainers.image.description="A Redis-compatible server whose request path is a tower Service stack" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/ /
# Already nonroot in this base; said again so that a base change cannot
# make the image run as root unnoticed.
USER 65532:65532
# 6379: the Redis protocol; 9121: /metrics, /healthz and /readyz.
EXPOSE 6379 9121
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/redynamo", "--check", "127.0.0.1:6379"]
ENTRYPOINT ["/usr/local/bin/redynamo"]
# Listen on every interface (a container's loopback is its own), metrics on,
# JSON logs for the log collector. Anything after the image name in
# `docker run` replaces these, e.g. a config file:
#   docker run -v ./redynamo.conf:/etc/redynamo/redynamo.conf:ro redynamo /etc/redynamo/redynamo.conf
CMD ["--bind", "0.0.0.0", "--metrics-addr", "0.0.0.0:9121", "--log-format", "json"]
