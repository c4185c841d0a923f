# The verbs people reach for. README.md documents each one.
GO       ?= go
FUZZTIME ?= 5s
BENCHCOUNT ?= 5

.PHONY: test lint vet fmt-check unit fuzz bench demo testenv

## test: everything CI runs — format check, vet, all tests (unit, emulators, real kube-apiserver), brief fuzzing
test: lint unit fuzz

## lint: gofmt and go vet
lint: fmt-check vet

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 30m ./...

## fuzz: every fuzz target for FUZZTIME (5s in make test; make fuzz FUZZTIME=60s for longer)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## bench: every benchmark, BENCHCOUNT runs, into bench.txt (compare with benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.txt

## demo: the suite on embedded defaults
demo:
	$(GO) run ./cmd/ecrwarden demo
