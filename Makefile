# The two commands a new user runs are `make run` and `make test`; everything
# else here is what those two are made of.
PREFIX   ?= /usr/local
BUILD    ?= build
JOBS     ?= $(shell nproc)
CMAKE_FLAGS ?=

DEB_PACKAGES := build-essential cmake pkg-config libcli11-dev libfmt-dev doctest-dev \
	libnl-3-dev libnl-route-3-dev libnl-idiag-3-dev nlohmann-json3-dev \
	libtomlplusplus-dev libhttp-parser-dev mandoc clang-14 libclang-rt-14-dev \
	libfuzzer-14-dev curl jq python3 man-db bash-completion iproute2 procps util-linux

.PHONY: all deps deps-bench install-missing build run test install fuzz bench completions lint clean

all: build

# The public tools the benchmarks compare against.
BENCH_PACKAGES := wrk nginx-light linux-perf time apache2-utils

# Installs only what is missing, and says nothing when everything is there.
deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(DEB_PACKAGES)"

deps-bench:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(BENCH_PACKAGES)"

install-missing:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/sockdrill suite

test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 300

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

completions: build
	cmake --build $(BUILD) --target completions

# libFuzzer on the HTTP request parser; FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 60
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: build deps-bench
	tests/bench/serve.sh $(BUILD)
	tests/bench/census.sh $(BUILD)
	tests/bench/churn.sh $(BUILD)
	tests/bench/storm.sh $(BUILD)
	tests/bench/syscost.sh $(BUILD)

lint:
	mandoc -T lint -W warning man/*.1 man/*.7

clean:
	rm -rf $(BUILD) build-asan build-fuzz
