# The two set-up commands of the README: `make demo` and `make test`.
# Both install what is missing first (LLVM 19 and clang 19 from Debian 12).

LLVM_PACKAGES := llvm-19-dev clang-19 libzstd-dev zlib1g-dev libxml2-dev libffi-dev
# The debugger tests drive gdb; the leak test runs valgrind.
TEST_PACKAGES := $(LLVM_PACKAGES) gdb valgrind
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CARGO ?= cargo

.PHONY: deps demo test lint bench

PACKAGES ?= $(LLVM_PACKAGES)

deps:
	@if ! dpkg -s $(PACKAGES) >/dev/null 2>&1; then \
		echo "installing $(PACKAGES)"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(PACKAGES); \
	fi
	@command -v $(CARGO) >/dev/null 2>&1 || { \
		echo "error: cargo not found: install Rust 1.86 or newer with rustup, then run make again" >&2; \
		exit 1; }

# Runs examples/demo.c under hyperjit with phase times, its host callbacks
# loaded from a plugin (examples/plugin/demo_plugin.c).
demo: deps
	$(CARGO) build --release -p hyperjit-cli
	clang-19 -shared -fPIC -Iinclude examples/plugin/demo_plugin.c -o target/release/libdemo_plugin.so
	./target/release/hyperjit run --stats --plugin target/release/libdemo_plugin.so examples/demo.c -- 1000000

test: PACKAGES = $(TEST_PACKAGES)
test: deps
	$(CARGO) test --workspace

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
