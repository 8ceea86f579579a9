# Yagona: `make run` starts it on the embedded SQLite default; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the yagona binary (debug)
	$(CARGO) build --bin yagona

.PHONY: run
run: ## Build and start Yagona on ./data/yagona.db with a demo client and account (--dev)
	$(CARGO) run --bin yagona -- serve --dev

.PHONY: release
release: ## Build the optimised binary (target/release/yagona)
	$(CARGO) build --release --bin yagona

.PHONY: test
test: ## Run the whole test suite (needs PostgreSQL at 127.0.0.1:5432, Chromium and Node.js, see README)
	$(CARGO) build --bin yagona
	cd tests/rp-node && npm ci --no-audit --no-fund --silent
	$(CARGO) test --workspace

.PHONY: compose-test
compose-test: ## Run docker/compose.yml for real: login via haproxy, kill a replica, rotate keys, restart PostgreSQL (minutes; needs Docker, see docs/operations.md)
	$(CARGO) build --release --bin yagona
	docker/test/compose-test.sh

.PHONY: assets
assets: ## Rebuild the in-browser EDS signer (web/) into crates/server/assets/eds.js
	cd web && npm ci --no-audit --no-fund && npm run build

.PHONY: screenshots
screenshots: ## Refresh the page screenshots in docs/images (runs the browser tests)
	$(CARGO) build --bin yagona
	YAGONA_SCREENSHOTS=$(CURDIR)/docs/images $(CARGO) test -p yagona-tests --test integration -- browser:: browser_eds:: browser_phone::

.PHONY: bench
bench: ## Benchmark Yagona (SQLite, PostgreSQL) and oidc-provider side by side (docs/performance.md)
	$(CARGO) build --release -p yagona-server -p yagona-loadgen
	cd bench && npm ci --no-audit --no-fund
	python3 bench/run.py

.PHONY: bench-quick
bench-quick: ## The one-minute benchmark (SQLite and the peer, short windows)
	$(CARGO) build --release -p yagona-server -p yagona-loadgen
	cd bench && npm ci --no-audit --no-fund
	python3 bench/run.py --quick

SEED_ACCOUNTS ?= 1000000
SEED_PG ?= postgres://postgres@127.0.0.1:5432/yagona_seed
.PHONY: bench-seed
bench-seed: ## Seed SEED_ACCOUNTS (1 M) people into target/bench/seed.db and SEED_PG, fresh (docs/performance.md)
	$(CARGO) build --release --features bench-seed --bin yagona -p yagona-server
	mkdir -p target/bench && rm -f target/bench/seed.db target/bench/seed.db-wal target/bench/seed.db-shm
	target/release/yagona bench seed --accounts $(SEED_ACCOUNTS) --database sqlite://target/bench/seed.db
	psql "$(dir $(SEED_PG))test" -qc "DROP DATABASE IF EXISTS $(notdir $(SEED_PG)) WITH (FORCE)" -c "CREATE DATABASE $(notdir $(SEED_PG))"
	target/release/yagona bench seed --accounts $(SEED_ACCOUNTS) --database $(SEED_PG)

SCALE_ARGS ?=
.PHONY: bench-scale
bench-scale: ## Cost as data grows: seed, bench and purge at SCALE_SIZES (1 k, 1 M) on SQLite and PostgreSQL; writes target/bench/scale.json and scale.svg (~22 min plus the build, docs/performance.md)
	$(CARGO) build --release --features yagona-server/bench-seed -p yagona-server -p yagona-loadgen
	python3 bench/scale.py $(SCALE_ARGS)

.PHONY: bench-purge
bench-purge: ## After bench-seed: the index migration and the purge under load on both seeded databases (uses up their expired rows; docs/performance.md)
	$(CARGO) build --release --features yagona-server/bench-seed -p yagona-server -p yagona-loadgen
	python3 bench/migration.py --database sqlite://target/bench/seed.db --json-out target/bench/migration-sqlite.json
	python3 bench/purge.py --database sqlite://target/bench/seed.db --json-out target/bench/purge-sqlite.json
	python3 bench/migration.py --database $(SEED_PG) --json-out target/bench/migration-pg.json
	python3 bench/purge.py --database $(SEED_PG) --json-out target/bench/purge-pg.json

.PHONY: fuzz-smoke
fuzz-smoke: ## A 20-second fuzz run of the CMS verifier: cargo-fuzz on nightly, else the stable smoke fuzzer
	@if cargo +nightly --version >/dev/null 2>&1; then \
	  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked; \
	  cd crates/pki && cargo +nightly fuzz run verify_cms -- -max_total_time=20; \
	else \
	  $(CARGO) run --release -p yagona-pki --example fuzz_smoke -- 20; \
	fi

.PHONY: lint
lint: ## rustfmt and clippy, warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: fmt
fmt: ## Format the code
	$(CARGO) fmt --all

.PHONY: clean-data
clean-data: ## Delete the development database and its key-encryption key
	rm -rf ./data
