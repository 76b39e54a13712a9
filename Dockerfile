# tokenguard's container image: a static binary on a minimal, non-root base.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ) -t tokenguard .
#   docker run --rm -p 8080:8080 -e TOKENGUARD_UPSTREAM=... tokenguard proxy
#
# The binary is built by scripts/build.sh, the same command line `make
# release` runs (cmd/tokenguard/release_test.go checks both). Ports: the data
# listener (--listen, default :8080) and the admin listener (--admin-listen,
# default 127.0.0.1:9090: /metrics, /healthz, /readyz, POST /revoke). Inside a
# container, bind the admin listener to the pod or container network for the
# orchestrator's probes (--admin-listen=:9090) and keep that port off public
# networks (see the README's security model). No HEALTHCHECK: probes belong
# to the orchestrator.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION= COMMIT= DATE=
RUN VERSION=$VERSION COMMIT=$COMMIT DATE=$DATE ./scripts/build.sh /out/tokenguard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokenguard /usr/local/bin/tokenguard
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["tokenguard"]
