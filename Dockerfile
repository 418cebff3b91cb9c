# syntax=docker/dockerfile:1
#
# Tainá in a container: `docker build -t taina .` then
#   docker run -d -p 4000:4000 -v taina-data:/data taina
# Several nodes on PostgreSQL and NATS: deploy/compose.yaml.
# Needs BuildKit (the default since Docker 23) for the cache mounts below.

# The dependencies need rustc ≥ 1.94 (sqlx 0.9); 1.95 is what the project is built and tested with.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src

# 1. Dependencies, in a layer of their own that only the manifests and the lockfile
#    invalidate. Cargo needs every workspace member's manifest and each target it names, so
#    the members' entry points are empty stand-ins here (add one when a member gains a
#    target: `cargo fetch` then says which is missing).
COPY Cargo.toml Cargo.lock ./
COPY server/Cargo.toml server/
COPY protocol/Cargo.toml protocol/
COPY imaging/Cargo.toml imaging/
COPY admin_ui/Cargo.toml admin_ui/
COPY tests/Cargo.toml tests/
COPY load/Cargo.toml load/
RUN for f in server/src/lib.rs server/src/main.rs server/benches/hub_fanout.rs \
             protocol/src/lib.rs protocol/benches/codecs.rs imaging/src/lib.rs \
             admin_ui/src/lib.rs tests/src/lib.rs load/src/main.rs; do \
        mkdir -p "$(dirname "$f")" && touch "$f"; \
    done \
 && cargo fetch --locked

# 2. The crates the `taina` binary is built from (tests/ and load/ keep their stand-ins, so
#    changing them does not rebuild the image). admin_ui/build.rs fetches the front-end
#    packages its package-lock.json pins from the npm registry with curl (node_modules is
#    not copied), so the build needs network access, as `cargo fetch` does.
COPY migrations migrations
COPY protocol protocol
COPY imaging imaging
COPY admin_ui admin_ui
COPY server server
# `taina --version` names this commit: `docker build --build-arg BUILD_GIT_COMMIT=$(git
# rev-parse --short=12 HEAD) .` (.git is not in the build context).
ARG BUILD_GIT_COMMIT=unknown
# The target directory is a cache mount: a source change rebuilds only the crates it touches.
RUN --mount=type=cache,id=taina-target,target=/src/target,sharing=locked \
    cargo build --release --locked --offline -p taina \
 && install -D -m 0755 target/release/taina /out/taina

# The binary calls `ffmpeg` and `ffprobe` from PATH (video probing and HLS transcodes), so the
# runtime is Debian slim with Debian's ffmpeg rather than distroless. curl is for HEALTHCHECK.
FROM debian:${DEBIAN_RELEASE}-slim
# Unpinned on purpose: Debian stable only ships security and point-release fixes, and a
# pinned version disappears from the mirrors at the next one.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin taina \
 && install -d -m 0700 -o taina -g taina /data /backups
COPY --from=build /out/taina /usr/local/bin/taina

# Only known TAINA_* names: an unknown one stops start-up (README, "Configure it").
ENV TAINA_DATA_DIR=/data \
    TAINA_LISTEN=0.0.0.0:4000 \
    TAINA_BACKUP__DIR=/backups
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 4000

# Liveness only (GET /healthz checks nothing); /readyz also checks the database, disk and bus.
# The port follows TAINA_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${TAINA_LISTEN##*:}/healthz\" || exit 1"]

# taina handles SIGTERM itself (graceful, `shutdown_grace_seconds`); give `docker stop` more
# than that: `docker stop -t 20`, or `stop_grace_period` in compose.
ENTRYPOINT ["/usr/local/bin/taina"]
CMD ["serve"]
