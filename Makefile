# The verbs people reach for. README.md documents each one.
GO       ?= go
FUZZTIME ?= 5s
BENCHCOUNT ?= 5

.PHONY: test lint vet fmt-check unit fuzz bench demo synth testenv

# jsii (the CDK's Go bindings) prints a banner on Node 20 without this.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

## test: everything CI runs — format check, vet, all tests (unit, emulators, real kube-apiserver,
## compiled functions, the demo story, CDK assertions), brief fuzzing, and an offline cdk synth
test: lint unit fuzz synth

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

## synth: offline cdk synth through the pinned aws-cdk CLI into cdk.out/, then cfn-lint on the template
## (infra/cfnlint.sh: any error or warning fails)
synth:
	./infra/synth.sh

## testenv: build (once) and cache etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok for the tests and the demo
testenv:
	$(GO) run ./internal/testenv/cmd/testenv-build
