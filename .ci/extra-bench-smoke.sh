#!/usr/bin/env bash
# Keep the benchmark harness from rotting: a few MiB, a handful of handshakes, a short
# redis-benchmark, against spiped and cloakpipe. Asserts nothing about speed.
set -euo pipefail
cd "$(dirname "$0")/.."
node dist/bench/bench.js --smoke
