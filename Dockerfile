# ugallu-dns-detect runtime image.
#
#   docker build -t ghcr.io/ugallu/dns-detect:0.1.0 .
#
# Build stage: Debian 12 with the project's build set
# (scripts/install-deps.sh build) plus cmocka, which tests/meson.build
# asks for at setup; only the daemon is built.  Runtime stage:
# debian:12-slim with the shared libraries the daemon links
# (readelf -d) and the data files `meson install` puts in
# /usr/local/share/ugallu-dns-detect.  tests/system/test_deploy.py checks
# that every runtime package below exists in Debian 12.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh build \
 && apt-get install -y -q --no-install-recommends libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build-image \
 && meson setup build-image --buildtype=release -Db_ndebug=true \
        --prefix=/usr/local \
 && ninja -C build-image ugallu-dns-detect \
 && meson install -C build-image --no-rebuild --destdir /out \
 && install -m 0644 data/rdap-dns.json \
        /out/usr/local/share/ugallu-dns-detect/rdap-dns.json \
 && strip /out/usr/local/bin/ugallu-dns-detect

FROM debian:12-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends \
        libpcap0.8 libjansson4 libyaml-0-2 libmicrohttpd12 libpsl5 \
        publicsuffix liburcu8 libcurl4 libgrpc29 libprotobuf-c1 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/ /usr/local/
# The uid the manifests run as (runAsUser 65532); no shell login, no home.
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin nonroot
USER 65532:65532
EXPOSE 9090 8081 9091
ENTRYPOINT ["/usr/local/bin/ugallu-dns-detect"]
