# The README's two commands: `make demo` and `make test`.
GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/meridian
TOPOLOGY  ?= examples/ecommerce.yaml
DIR       ?= .meridian/sandbox

.PHONY: setup build demo test test-short bench clean

setup:
	@scripts/setup.sh

build:
	$(GO) build -o $(BIN) ./cmd/meridian

# Sets up the machine, then runs the e-commerce case study in the foreground (Ctrl-C stops it).
demo: setup build
	$(BIN) sandbox up -f $(TOPOLOGY) --dir $(DIR)

# The whole suite: vet, unit tests with the race detector, and integration tests on real mariadbd.
test: setup
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

bench: setup build
	bench/sandbox-up.sh
	bench/controller-cost.sh
	bench/router.sh
	bench/failover.sh
	bench/residency.sh
	bench/check.sh

clean:
	rm -rf bin
