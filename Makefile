# vipd — see README.md. Every target that needs system packages installs them.
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build release deps test unit demo bench soak fuzz clean acceptance deploy-test

all: build

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build

# The shipped binaries link the Swift runtime in (smaller RSS, no runtime to
# install); `make install`, `make deb` and `make bench` all use them.
RELEASE_FLAGS ?= --static-swift-stdlib

release: deps
	$(SWIFT) build -c release $(RELEASE_FLAGS)

unit:
	$(SWIFT) test

## test: everything CI runs (unit tests, real processes, fixtures, lab)
test: deps
	scripts/test.sh

## demo: two nodes (nginx, bingo stand-in, vipd) in network namespaces, a hard failover you can watch
demo: build
	python3 lab/demo.py

## acceptance: bingo.md's acceptance list against the two-node lab installation (root; full data, ~25 min);
## table + bench/acceptance.json. ACCEPTANCE_ARGS=--quick for the CI-sized run (docs/acceptance.md)
## deploy-test: the playbook on two systemd sandboxes in the replicated layout, then on one in the
## local layout (root; ~17 min; CI runs the replicated one's short version, PLAYBOOK_QUICK=1)
deploy-test: build
	bash Tests/deploy/replicated_playbook.sh
	bash Tests/deploy/test_playbook.sh

acceptance: build
	python3 -m lab.acceptance $(ACCEPTANCE_ARGS)

## demo-loopback: the same election on loopback addresses, without namespaces or nginx
demo-loopback: build
	scripts/demo-loopback.sh

## bench: vipd against keepalived in the namespace lab (root; ~40 min, several instances and link loss included), then bingo's API on PostgreSQL
## (api-120rps, ~26 min: lab/bench_api.py), then the replicated database under faults (db-failover, ~6 min:
## lab/bench_db.py); table + bench/results.json; then vipd and keepalived
## in one VRRPv3 router, unsigned with Debian's 2.2.7 and with auth_hmac against 2.4.3 built from
## ../shared/third_party (interop, interop-auth, ~4 min: lab/bench_interop.py, bench/interop.json).
## Measures the release binaries, as shipped. BENCH_QUICK=1 for a short smoke run;
## BIN_DIR, BENCH_RUNS, BENCH_INTERVALS... see lab/bench.py
bench: release
	BIN_DIR="$${BIN_DIR:-$$($(SWIFT) build -c release $(RELEASE_FLAGS) --show-bin-path)}" python3 lab/bench.py
	BIN_DIR="$${BIN_DIR:-$$($(SWIFT) build -c release $(RELEASE_FLAGS) --show-bin-path)}" \
		python3 lab/bench_interop.py --runs $${BENCH_RUNS:-7} --out bench/interop.json

## fuzz: the libFuzzer targets of Fuzz/ with ASan, FUZZ_SECONDS each (default 300) from
## Fuzz/corpus; prints executions and crashes per target, fails on a crash (scripts/fuzz.sh)
FUZZ_SECONDS ?= 300
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

## soak: random faults with a continuous client for SOAK_SECONDS (default 600), root
soak: build
	python3 lab/soak.py

clean:
	rm -rf .build

# ------------------------------------------------ install and packaging
# docs/deploying-bingo.md. `make install` builds the release binaries (Swift
# runtime linked in: RELEASE_FLAGS) unless BIN_DIR names prebuilt ones, then
# runs scripts/install.sh: binaries to $(DESTDIR)$(PREFIX)/bin, units to
# $(DESTDIR)/etc/systemd/system, /etc/vipd configs never overwritten, users
# and keys created (users only without DESTDIR). Idempotent.
BIN_DIR ?=
.PHONY: install uninstall deb

install:
	@if [ -z "$(BIN_DIR)" ]; then scripts/deps.sh && $(SWIFT) build -c release $(RELEASE_FLAGS); fi
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" \
	    BIN_DIR="$(or $(BIN_DIR),$$($(SWIFT) build -c release $(RELEASE_FLAGS) --show-bin-path))" \
	    scripts/install.sh install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" scripts/install.sh uninstall

## deb: dist/vipd_<version>_<arch>.deb (dpkg-deb; install with apt install ./dist/vipd_*.deb)
deb:
	BIN_DIR="$(BIN_DIR)" RELEASE_FLAGS="$(RELEASE_FLAGS)" scripts/mkdeb.sh
