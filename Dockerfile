# syntax=docker/dockerfile:1
# Builds the docker-secscan plugin binary.
#   docker build --target binary --output type=local,dest=./bin .   -> ./bin/docker-secscan
# Go 1.26 with GOEXPERIMENT=jsonv2 is required by Trivy v0.74.0 (Go 1.27 does not build it).
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
ENV GOEXPERIMENT=jsonv2 CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/docker-secscan/docker-secscan/internal/version.Version=${VERSION}" \
      -o /out/docker-secscan ./cmd/docker-secscan

# Only the binary, for `docker build --output`.
FROM scratch AS binary
COPY --from=build /out/docker-secscan /docker-secscan
