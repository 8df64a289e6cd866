#!/usr/bin/env bash
# The test command: set up a fresh machine by itself, lint with ruff, then run the suite offline on CPU.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k quant`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh" test
set -euo pipefail
cd "$root"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# Lint first (under a second): any finding fails the command with ruff's own message.
ruff check --quiet "$root"
exec python -m pytest "$@"
