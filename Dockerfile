# syntax=docker/dockerfile:1
# Builds docker-secscan reproducibly: pinned Go, -trimpath, no VCS stamping, the version
# from a build argument.
#   docker build --target binary --output type=local,dest=./bin .   -> ./bin/docker-secscan, ./bin/secscan-engine
#   docker build --target image -t docker-secscan .                  -> a small image with the docker CLI and the plugin
# Go 1.26 with GOEXPERIMENT=jsonv2 is required by Trivy v0.74.0 (Go 1.27 does not build it).
ARG GO_VERSION=1.26.8
ARG DOCKER_VERSION=28.2

FROM golang:${GO_VERSION}-bookworm AS build
ENV GOEXPERIMENT=jsonv2 CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    for c in docker-secscan secscan-engine; do \
      go build -trimpath -ldflags "-s -w -X github.com/docker-secscan/docker-secscan/internal/version.Version=${VERSION}" \
        -o /out/$c ./cmd/$c || exit 1; \
    done

# Only the binaries, for `docker build --output`.
FROM scratch AS binary
COPY --from=build /out/ /

# The docker CLI with the plugin installed, for CI systems that run tools as containers:
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock docker-secscan secscan push IMAGE
FROM docker:${DOCKER_VERSION}-cli AS image
COPY --from=build /out/docker-secscan /out/secscan-engine /usr/local/libexec/docker/cli-plugins/
ENTRYPOINT ["docker"]
CMD ["secscan", "--help"]
