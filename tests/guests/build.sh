#!/usr/bin/env bash
# Builds the wasm guest components used by Gust's integration tests and examples:
#   - tests/guests        -> gust_test_guest.wasm
#   - examples/hello-wasm -> hello_wasm.wasm
# Both are standalone Cargo projects (own [workspace], own target/ dir).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
TARGET=wasm32-wasip2

rustup target add "$TARGET"

cargo build --release --target "$TARGET" --manifest-path "$REPO_ROOT/tests/guests/Cargo.toml"
cargo build --release --target "$TARGET" --manifest-path "$REPO_ROOT/examples/hello-wasm/Cargo.toml"

echo "$REPO_ROOT/tests/guests/target/$TARGET/release/gust_test_guest.wasm"
echo "$REPO_ROOT/examples/hello-wasm/target/$TARGET/release/hello_wasm.wasm"
