# mqttless build, test and run targets. Every target installs what it needs.
SHELL := bash
GO ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
PKGS := ./...

DATA_DIR ?= data
ARGS ?=
BENCH_ARGS ?=
PROFILE ?=
# apt-get runs as root, or through sudo when there is one.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)

.PHONY: all build run test test-unit vet fmt-check deps bench-deps fuzz bench bench-codec clean

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/mqttless ./cmd/mqttless

## run: builds and starts the all-in-one broker on 127.0.0.1:1883 with its
## data in $(DATA_DIR). Pass flags with ARGS="-log-level debug".
run:
	$(GO) build -o bin/mqttless ./cmd/mqttless
	./bin/mqttless -data-dir $(DATA_DIR) $(ARGS)

## deps: installs what the tests need: Debian's mosquitto clients for the
## smoke test.
deps:
	@command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || { \
	  echo "installing mosquitto-clients"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto-clients >/dev/null; }

## test: everything CI runs: formatting, vet, and all tests with the race detector.
test: deps fmt-check vet test-unit

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

test-unit:
	$(GO) test -race -count=1 $(PKGS)

## fuzz: runs every fuzz target under core/ for FUZZTIME each (default 30s).
fuzz:
	@set -e; for pkg in $$($(GO) list ./core/...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
	  done; \
	done

## bench-codec: the codec and topic micro-benchmarks, side by side with paho.
bench-codec:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./core/packet/ ./core/topic/

## bench-deps: installs Debian's mosquitto broker for the load benchmark.
bench-deps:
	@test -x /usr/sbin/mosquitto || { \
	  echo "installing mosquitto"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto >/dev/null; }

## bench: the load benchmark: scenarios S1-S5 against the all-in-one broker
## (-store bolt) and Mosquitto, 3 rounds alternating, medians and ratios
## (README "Load benchmark"). A quick run: BENCH_ARGS="-duration 2s -rounds 1".
## PROFILE=1 also saves CPU and heap profiles of mqttless in bench-profiles/.
bench: bench-deps
	$(GO) build -o bin/mqttless ./cmd/mqttless
	$(GO) build -o bin/mqttbench ./cmd/mqttbench
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true; \
	./bin/mqttbench -mqttless bin/mqttless $(if $(PROFILE),-profile-dir bench-profiles) $(BENCH_ARGS)

clean:
	rm -rf bin
