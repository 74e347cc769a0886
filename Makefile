# Sotto: the two commands the README names are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := WASM_BINDGEN_BIN=$(HOME)/.cargo/bin/wasm-bindgen \
         ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
         WASM_OPT_BIN=$(CURDIR)/node_modules/.bin/wasm-opt
WASM_TARGET := target/wasm32-unknown-unknown/release
PORT ?= 8787
# Loopback-only network namespace for everything that opens sockets in tests.
ISOLATED := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: help setup demo test check fmt-check clippy unit wasm client worker e2e signaling-it bench clean deploy

help:
	@echo "make demo   build everything and serve the demo on http://127.0.0.1:$(PORT)/"
	@echo "make test   everything CI runs: fmt, clippy, unit tests, wasm build, integration and e2e"
	@echo "make bench  benchmarks (not part of the tests)"

setup:
	@scripts/setup.sh

## Builds ---------------------------------------------------------------

# The npm package and the demo's copy (production: no test hooks), and the test build the
# e2e suite serves (target/pkg-testing, target/www-testing).
client: setup
	scripts/package-client.sh

worker: setup
	cd signaling-worker && $(TOOLS) worker-build --release

wasm: client worker

## Main job ---------------------------------------------------------------

demo: wasm
	@echo
	@echo "  Sotto demo: open http://127.0.0.1:$(PORT)/ in two browser tabs (the second with the link the first shows)."
	@echo
	cd signaling-worker && WRANGLER_SEND_METRICS=false ../node_modules/.bin/wrangler dev --ip 127.0.0.1 --port $(PORT) --persist-to $$(mktemp -d)

deploy: wasm
	cd signaling-worker && ../node_modules/.bin/wrangler deploy

## Tests ------------------------------------------------------------------

test: setup fmt-check clippy unit wasm signaling-it e2e
	@echo "make test: all checks passed"

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --exclude sotto-client-wasm --exclude sotto-signaling-worker --all-targets -- -D warnings
	cargo clippy -p sotto-client-wasm -p sotto-signaling-worker --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p sotto-client-wasm --target wasm32-unknown-unknown --features testing -- -D warnings

unit:
	cargo test --workspace --exclude sotto-client-wasm --exclude sotto-signaling-worker

signaling-it: worker
	signaling-worker/tests/run.sh

e2e: wasm
	$(ISOLATED) node --test --test-concurrency=1 --test-timeout=180000 e2e/*.test.mjs

bench: wasm
	$(ISOLATED) node bench/run.mjs

clean:
	cargo clean
	rm -rf signaling-worker/build www/pkg client-wasm/pkg target/pkg-testing target/www-testing
