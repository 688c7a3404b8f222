# chatd container image: build stage on debian:bookworm, runtime on
# debian:bookworm-slim, running as an unprivileged user.
#
#   docker build -t chatd:local .
#   docker run --rm -p 9000:9000 chatd:local
#
# Configuration is by CHATD_* environment variables (see README.md).
# Each stage installs only the Debian packages its base image lacks, so the
# same file works with the official images from a registry and with base
# images made locally by deploy/make-base-images.sh (which reads the package
# lists below from this file: keep each ARG on one line).

FROM debian:bookworm AS build

ARG BUILD_PACKAGES="build-essential cmake ninja-build pkg-config libcaf-dev libssl-dev libboost-dev prometheus-cpp-dev libspdlog-dev libcli11-dev libjwt-dev nlohmann-json3-dev zlib1g-dev libgtest-dev libgmock-dev googletest"

COPY scripts/apt-install-missing.sh /usr/local/sbin/apt-install-missing
RUN apt-install-missing $BUILD_PACKAGES && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole source tree minus what .dockerignore leaves out (build trees,
# .git, docs, deploy files): whatever the top-level CMakeLists.txt adds at
# configure time is there. Only the chatd target is built.
COPY . .

RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C build chatd \
 && strip build/app/chatd \
 && build/app/chatd --version


FROM debian:bookworm-slim

ARG RUNTIME_PACKAGES="libcaf-core0.17 libcaf-io0.17 libcaf-openssl0.17 libssl3 openssl libprometheus-cpp-core1.0 libspdlog1.10 libfmt9 libjwt0 zlib1g libstdc++6 curl"

COPY scripts/apt-install-missing.sh /usr/local/sbin/apt-install-missing
RUN set -eu; \
    apt-install-missing $RUNTIME_PACKAGES; \
    rm -rf /var/lib/apt/lists/* /usr/local/sbin/apt-install-missing; \
    groupadd --system --gid 10001 chatd; \
    useradd --system --uid 10001 --gid chatd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin chatd

COPY --from=build /src/build/app/chatd /usr/local/bin/chatd
# Makes the cluster's CA and node certificates (docker-compose.yml's certs service).
COPY deploy/make-cluster-certs.sh /usr/local/bin/chatd-make-cluster-certs
COPY deploy/make-auth-secrets.sh /usr/local/bin/chatd-make-auth-secrets

USER chatd:chatd
ENV CHATD_PORT=9000
# 9000: WebSocket + HTTP (/healthz, /readyz, /metrics, chat page); 7000:
# cluster port used by docker-compose.yml (CHATD_CLUSTER_PORT, off unless
# set; TLS with CHATD_CLUSTER_CERT/KEY/CA, otherwise on 127.0.0.1 only).
EXPOSE 9000 7000
# Healthy once ready: serving, and linked to every node of CHATD_PEERS that is
# up (or CHATD_CLUSTER_READY_GRACE is over); without peers, as soon as it serves.
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:${CHATD_PORT:-9000}/readyz" || exit 1
# Exec form: chatd is PID 1 and gets SIGTERM from `docker stop` (exits 0).
ENTRYPOINT ["/usr/local/bin/chatd"]
