#!/usr/bin/env bash
# The README's main command: sets everything up, then starts the chat demo server and prints
# the URL to open. Usage: scripts/demo.sh [--host H] [--port P]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m wsfast serve --demo "$@"
