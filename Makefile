# vipd — see README.md. Every target that needs system packages installs them.
SWIFT ?= swift
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build release deps test unit demo bench clean

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

clean:
	rm -rf .build
