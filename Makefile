# Sotto: the two commands the README names are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := WASM_BINDGEN_BIN=$(HOME)/.cargo/bin/wasm-bindgen \
         ESBUILD_BIN=$(CURDIR)/node_modules/.bin/esbuild \
         WASM_OPT_BIN=$(CURDIR)/node_modules/.bin/wasm-opt
WASM_TARGET := target/wasm32-unknown-unknown/release
# Reproducible wasm: no path of this machine in the modules (scripts/package-client.sh sets
# the same when run on its own; every wasm32 build gets it, so their dependencies are shared).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS ?= --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=/cargo
PORT ?= 8787
# Loopback-only network namespace for everything that opens sockets in tests.
ISOLATED := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: help setup demo release-hashes test check fmt-check clippy unit link-check size-check wasm client worker e2e signaling-it bench bench-v1 clean deploy

help:
	@echo "make demo   build everything and serve the demo on http://127.0.0.1:$(PORT)/"
	@echo "            (RELAY=1: with a local coturn for the relay-only mode)"
	@echo "make release-hashes  the deployable page and npm package with SHA256SUMS (SIGNALING_URL=wss://...)"
	@echo "make test   everything CI runs: fmt, clippy, unit tests, wasm build, integration and e2e"
	@echo "make bench  benchmarks (not part of the tests)"

setup:
	@scripts/setup.sh

## Builds ---------------------------------------------------------------

# The npm package and the demo's copy (production: no test hooks), and the test build the
# e2e suite serves (target/pkg-testing, target/www-testing).
client: setup
	scripts/package-client.sh
	scripts/package-contacts.sh

worker: setup
	cd signaling-worker && $(TOOLS) worker-build --release

wasm: client worker

## Main job ---------------------------------------------------------------

demo: wasm
	@echo
	@echo "  Sotto demo: open http://127.0.0.1:$(PORT)/ in two browser tabs (the second with the link the first shows)."
	@echo
ifeq ($(RELAY),1)
	node scripts/coturn.mjs --port $(PORT)
else
	cd signaling-worker && WRANGLER_SEND_METRICS=false ../node_modules/.bin/wrangler dev --ip 127.0.0.1 --port $(PORT) --persist-to $$(mktemp -d) --assets ../www
endif

# What a deployment serves and npm ships, with their hashes: target/release/{www,npm,SHA256SUMS}
# (scripts/build-hashes.mjs). Two runs from the same commit and tools print the same lines.
release-hashes: setup
	scripts/package-client.sh --release-only
	scripts/package-contacts.sh
	node scripts/build-hashes.mjs $(if $(SIGNALING_URL),--signaling-url $(SIGNALING_URL))

deploy: wasm
	cd signaling-worker && ../node_modules/.bin/wrangler deploy

## Tests ------------------------------------------------------------------

test: setup fmt-check clippy unit link-check wasm size-check signaling-it e2e
	@echo "make test: all checks passed"

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --exclude sotto-client-wasm --exclude sotto-signaling-worker --all-targets -- -D warnings
	cargo clippy -p sotto-client-wasm --all-targets -- -D warnings
	cargo clippy -p sotto-client-wasm -p sotto-call-wasm -p sotto-contacts-wasm -p sotto-signaling-worker --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p sotto-client-wasm --target wasm32-unknown-unknown --features testing -- -D warnings

# The crypto Worker's module runs natively too for its request mapping (service.rs).
unit:
	cargo test --workspace --exclude sotto-client-wasm --exclude sotto-signaling-worker
	cargo test -p sotto-client-wasm --lib

# No key can reach the page's call core or the signaling worker: neither links a crypto crate.
# The check must be able to fail: the crypto Worker's module links them all.
link-check:
	scripts/check-no-crypto.sh sotto-call-wasm sotto-signaling-worker
	@if scripts/check-no-crypto.sh sotto-client-wasm >/dev/null 2>&1; then \
	  echo "link-check: check-no-crypto.sh found no crypto crate in sotto-client-wasm: it is blind" >&2; exit 1; fi

# Sizes of the client package against their limits (scripts/sizes.mjs; BENCHMARKS.md has them).
size-check: client
	node scripts/sizes.mjs --check

signaling-it: worker
	signaling-worker/tests/run.sh

e2e: wasm
	$(ISOLATED) node --test --test-concurrency=1 --test-timeout=180000 e2e/*.test.mjs

# Issue 13's cost check runs the last pre-v2 commit beside this tree: bench-v1 builds it once
# in a git worktree (target/v1, its own Makefile, this tree's node_modules); bench/setup-versions.mjs
# prints SKIPPED when that build is absent. --breakdown: where the setup time goes, step by step.
V1_COMMIT := 0d91b7a
bench: wasm bench-v1
	$(ISOLATED) node bench/run.mjs
	$(ISOLATED) node bench/setup-versions.mjs --calls 20 --merge
	$(ISOLATED) node bench/setup-versions.mjs --breakdown --calls 10 --merge

bench-v1: target/v1/signaling-worker/build/index.js

target/v1/signaling-worker/build/index.js:
	@test -d target/v1 || { git worktree prune && git worktree add --detach target/v1 $(V1_COMMIT); }
	@test -e target/v1/node_modules || ln -s $(CURDIR)/node_modules target/v1/node_modules
	nice $(MAKE) -C target/v1 -o setup client worker

clean:
	cargo clean
	rm -rf signaling-worker/build www/pkg client-wasm/pkg target/pkg-testing target/pkg-core target/www-testing
