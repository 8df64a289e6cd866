#!/usr/bin/env bash
# Create (or reuse) .venv and install kbit into it. torch==2.13.0 goes first so that
# pip takes the local CPU build instead of pulling a multi-GB CUDA wheel.
# Usage: source scripts/setup.sh [EXTRAS]   e.g. `source scripts/setup.sh test`
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KBIT_VENV:-$root/.venv}"
extras="${1:-}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Skip the pip work when nothing that decides the install has changed.
stamp="$venv/.kbit-installed-$(cat "$root/setup.cfg" "$root/pyproject.toml" | sha1sum | cut -c1-12)-${extras:-none}"
if [ ! -e "$stamp" ]; then
  echo "kbit: installing into $venv (torch==2.13.0 first, then kbit${extras:+[$extras]})" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root${extras:+[$extras]}"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
set +euo pipefail
