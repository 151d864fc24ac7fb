# vipd — see README.md. Every target that needs system packages installs them.
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build release deps test unit demo bench soak clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

unit:
	$(SWIFT) test

## test: everything CI runs (unit tests, real processes, fixtures, lab)
test: deps
	scripts/test.sh

## demo: two vipd nodes, a failover you can watch
demo: build
	scripts/demo-loopback.sh

## bench: vipd against keepalived in the namespace lab (root; ~25 min), table + bench/results.json.
## BENCH_QUICK=1 for a short smoke run; BIN_DIR, BENCH_RUNS, BENCH_INTERVALS... see lab/bench.py
bench: build
	python3 lab/bench.py

## soak: random faults with a continuous client for SOAK_SECONDS (default 600), root
soak: build
	python3 lab/soak.py

clean:
	rm -rf .build
