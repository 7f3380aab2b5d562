# syntax=docker/dockerfile:1
#
# The Argus container image: the `dist` build of `argus` (see the `dist`
# profile in Cargo.toml) on Debian slim, run as an unprivileged user whose
# only writable place is the data volume. docs/deploy.md says how to build
# and run it, and which `docker run` flags carry over the hardening of the
# systemd unit (`argus doctor systemd-unit`); the image alone cannot set
# them.
#
#   docker build -t argus .
#   docker run --rm argus --version

# The builder's Rust must be the one rust-toolchain.toml pins (checked
# below), on the same Debian release as the runtime, so the binary never
# needs a newer glibc than the runtime has.
ARG RUST_TOOLCHAIN=1.95.0
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_TOOLCHAIN}-slim-${DEBIAN_RELEASE} AS builder
ARG RUST_TOOLCHAIN
# The image's toolchain, not one rustup would fetch after reading
# rust-toolchain.toml (with rustfmt and clippy, which a build does not use).
ENV RUSTUP_TOOLCHAIN=${RUST_TOOLCHAIN} \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY rust-toolchain.toml ./
RUN grep -qx "channel = \"${RUST_TOOLCHAIN}\"" rust-toolchain.toml \
    || { echo "rust-toolchain.toml pins another Rust than this builder (${RUST_TOOLCHAIN}): set ARG RUST_TOOLCHAIN to its channel" >&2; exit 1; }
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# The documented install, into /out/bin. The registry and the target
# directory are BuildKit caches, so a rebuild after a source change does
# not fetch or compile the dependencies again.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_TARGET_DIR=/src/target \
    cargo install --locked --path crates/argus-cli --profile dist --root /out

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: the trust roots that Argus's one TLS setup
# (rustls-platform-verifier) reads from the OS for https:// and wss://
# nodes and notifiers. Nothing else: no shell tools beyond the base.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid and gid (10001), so a bind-mounted data directory and the
# config files can be given to it on the host. No home, no login shell.
# The data directory is 0700, as `argus doctor` wants it.
RUN groupadd --system --gid 10001 argus \
    && useradd --system --uid 10001 --gid argus --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin argus \
    && install -d -o argus -g argus -m 0700 /var/lib/argus \
    && install -d -m 0755 /etc/argus
COPY --from=builder /out/bin/argus /usr/local/bin/argus
# Every command's data directory (a `data_dir:` in the config overrides it:
# leave it out, or set it to this path).
ENV ARGUS_DATA_DIR=/var/lib/argus
# Freed memory goes back to the kernel at once (docs/deploy.md, Memory).
ENV MIMALLOC_PURGE_DELAY=0
USER 10001:10001
WORKDIR /var/lib/argus
VOLUME ["/var/lib/argus"]
# `argus status` exits 1 when the monitor needs a person (a chain behind its
# nodes, a delivery refused or pending too long, an audit log that does not
# verify); it reads the volume read-only beside the daemon, and needs no
# HTTP client in the image. Override it (--health-cmd) with other paths.
HEALTHCHECK --interval=1m --timeout=30s --start-period=2m --retries=3 \
    CMD ["argus", "status", "-c", "/etc/argus/argus.yaml"]
# SIGTERM (docker stop) stops the daemon cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["argus"]
CMD ["run", "-c", "/etc/argus/argus.yaml"]
