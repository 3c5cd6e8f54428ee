# signed-images-policy: a Kubewarden policy verifying cosign signatures.
#
#   make demo        build, start a local registry, sign an image, admit a
#                    signed and deny an unsigned Deployment (the README's first command)
#   make test-all    every test: unit, end-to-end through the module, e2e.bats
#                    (the README's second command; CI runs it)

SHELL := /bin/bash
CARGO_WASM := target/wasm32-wasip1/release/signed_images_policy.wasm
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
DEVHOST := target/debug/devhost
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
WASM_OPT_FLAGS := -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext \
	--enable-mutable-globals --enable-nontrapping-float-to-int

.PHONY: setup test unit-tests devhost-tests e2e-tests test-all lint fmt demo bench clean

setup:
	@scripts/setup.sh

policy.wasm: $(SOURCES)
	cargo build --target=wasm32-wasip1 --release -p signed-images-policy
	@if command -v wasm-opt >/dev/null; then \
		wasm-opt $(WASM_OPT_FLAGS) $(CARGO_WASM) -o policy.wasm; \
		echo "policy.wasm: $$(stat -c %s $(CARGO_WASM)) bytes from cargo, $$(stat -c %s policy.wasm) after wasm-opt"; \
	else \
		cp $(CARGO_WASM) policy.wasm; \
		echo "policy.wasm: $$(stat -c %s policy.wasm) bytes (wasm-opt not installed)"; \
	fi

annotated-policy.wasm: policy.wasm policy-metadata.yml README.md
	kwctl annotate -m policy-metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

$(DEVHOST): $(shell find devhost/src -name '*.rs') devhost/Cargo.toml Cargo.lock
	cargo build -p signed-images-devhost --bin devhost

# Unit tests of the policy logic, on the host target with a fake host.
test unit-tests:
	cargo test -p signed-images-policy

# The compiled module in a real wasm runtime, against a local registry with
# cosign signatures (the development host starts and stops the registry).
devhost-tests: policy.wasm
	POLICY_WASM=$(CURDIR)/policy.wasm cargo test -p signed-images-devhost

# The same scenarios through kwctl, when it is installed.
e2e-tests: policy.wasm $(DEVHOST)
	bats e2e.bats

test-all: setup
	$(MAKE) policy.wasm
	$(MAKE) unit-tests devhost-tests e2e-tests

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p signed-images-policy --target wasm32-wasip1 --release -- -D warnings

fmt:
	cargo fmt --all

demo: setup
	$(MAKE) policy.wasm $(DEVHOST)
	scripts/demo.sh

bench:
	cargo bench -p signed-images-policy

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
