# synprobe: one test command (make test), run as root for the lab tests.
GO        ?= go
PKGS      ?= ./...
BIN       ?= bin/synprobe
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 10s
# Parallel test binaries share two cores and the lab; -p 2 keeps timing tests honest.
TESTFLAGS ?= -count=1 -p 2 -timeout 25m

.PHONY: all build test vet fmt-check fuzz bench bench-go bench-compare demo clean lab-down

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/synprobe

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: fmt-check vet
	$(GO) test $(TESTFLAGS) $(PKGS)
	@# Tests must leave nothing behind: no lab namespace whose owner died, no
	@# process in one (or in one already deleted), no lab nftables table or veth
	@# here. A lab still in use (synprobe lab up, another run) is not residue,
	@# nor a leftover older than this make ($$PPID: make itself).
	@$(GO) run ./internal/lab/leftcheck -since-pid $$PPID

# Every fuzz target for a short time (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Go benchmarks of the hot functions (ns/op, allocs/op), then, as root, the
# side-by-side benchmark against zmap, masscan, nmap, hping3 and nping in
# the namespace lab (docs/BENCHMARK.md; BENCHFLAGS passes flags to it).
bench: bench-go bench-compare

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

BENCHFLAGS ?=
bench-compare: build
	$(GO) run ./bench -synprobe $(BIN) $(BENCHFLAGS)

demo: build
	./scripts/demo.sh $(BIN)

lab-down: build
	$(BIN) lab down

clean:
	rm -rf bin
