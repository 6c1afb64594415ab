# ugallu-dns-detect: the front door.  meson + ninja do the building.
#
#   make          build build/ugallu-dns-detect
#   make demo     replay the bundled sample and print the findings
#   make test     unit, fuzz-corpus and system tests, sanitizer build
#   make bench    benchmarks (figures printed, nothing asserted)
#   make fuzz     each libFuzzer target for FUZZ_SECONDS
#
# demo and test install missing Debian packages first (as root).

FUZZ_SECONDS ?= 20
PYTHON ?= /usr/bin/python3
BUILD := build
TEST_BUILD := build-test
FUZZ_BUILD := build-fuzz

.PHONY: all deps deps-build demo test unit go-unit system k8s helm coredns \
	bench fuzz clean

all: deps-build
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) \
	    --buildtype=release -Db_ndebug=true >/dev/null
	ninja -C $(BUILD)

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh all

demo: all
	@scripts/demo.sh $(BUILD)/ugallu-dns-detect

$(TEST_BUILD)/build.ninja:
	CC=gcc meson setup $(TEST_BUILD) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dwerror=true >/dev/null

unit: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(TEST_BUILD) --print-errorlogs --num-processes 2

# A real kube-apiserver and kubectl, built once from Go modules and cached.
# Exit 3 means Go or the module proxy is missing: the tests that need the
# binaries then skip and say so.
k8s:
	@scripts/k8s/build-control-plane.sh >/dev/null || [ $$? -eq 3 ]

# helm, built once from its Go module and cached, for the chart's tests.
helm:
	@scripts/k8s/build-helm.sh >/dev/null || [ $$? -eq 3 ]

# CoreDNS with the ugallu plugin, built once from Go modules and cached.
coredns:
	@scripts/coredns/build.sh >/dev/null || [ $$? -eq 3 ]

# The plugin's own Go tests (the plugin is the one part not in C).
go-unit:
	cd coredns-ugallu && PATH="$$PATH:/usr/local/go/bin" \
	    GOFLAGS=-mod=readonly go test ./...

system: deps k8s helm coredns $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	UGALLU_BIN=$(CURDIR)/$(TEST_BUILD)/ugallu-dns-detect \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
	    $(PYTHON) -m pytest -q tests/system

test: unit go-unit system

bench: deps all
	@scripts/bench.sh $(BUILD)/ugallu-dns-detect

fuzz: deps
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup \
	    $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
	    -Db_lundef=false >/dev/null
	ninja -C $(FUZZ_BUILD)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
