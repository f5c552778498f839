# mqttless build, test and run targets. Every target installs what it needs.
SHELL := bash
GO ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
PKGS := ./...

.PHONY: all build test test-unit vet fmt-check fuzz bench bench-codec clean

all: build

build:
	$(GO) build $(PKGS)

## test: everything CI runs: formatting, vet, and all tests with the race detector.
test: fmt-check vet test-unit

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

bench: bench-codec

clean:
	rm -rf bin
