#!/usr/bin/env bash
# Runs the Prisma CLI offline. Prisma 7 downloads its schema engine on first
# use, which cannot succeed without internet; generate/validate/format do not
# need it, so point the variable at any existing file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$(command -v node)}"
export PRISMA_HIDE_UPDATE_MESSAGE=1
exec npx --no-install prisma "$@"
