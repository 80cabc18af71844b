# The me2b daemon as a container image.
#
#   docker build -t me2b .
#   docker run -d --name ada -v ada:/data -e ME2B_ROLE=person -e ME2B_NAME=Ada \
#     -e ME2B_PASSPHRASE_FILE=/run/secrets/me2b-passphrase -p 6428:6428 me2b
#   docker exec ada me2b status
#
# The API and console stay on the container's loopback (127.0.0.1:6429): use them with
# `docker exec NAME me2b ...`, or publish them deliberately behind TLS (see README).

# The rustc that wrote cli/startup.order (its symbol names hold for one compiler version; see
# packaging/startup-order.sh).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The same build as `cargo install --path cli --profile dist`: the lock file pins every crate.
RUN cargo install --locked --profile dist --path cli --root /out

FROM debian:bookworm-slim
# The system's roots, for webhooks over https.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin me2b \
    && mkdir -p /data && chown me2b:me2b /data && chmod 700 /data
COPY --from=build /out/bin/me2b /usr/local/bin/me2b
COPY packaging/docker-entrypoint.sh /usr/local/bin/me2b-entrypoint
USER me2b
ENV ME2B_DATA_DIR=/data \
    ME2B_LOG_FORMAT=json
VOLUME /data
# Peers over TCP and QUIC; the API (6429) is not exposed.
EXPOSE 6428/tcp 6428/udp
# Healthy when the daemon answers /v1/status to its own token (and proves its identity).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["me2b", "status", "--json"]
ENTRYPOINT ["me2b-entrypoint"]
CMD ["daemon"]
