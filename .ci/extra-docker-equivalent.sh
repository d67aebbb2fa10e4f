#!/usr/bin/env bash
# The Dockerfile's build and run steps without Docker (no engine on CI): see scripts/docker-equivalent.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/docker-equivalent.sh
