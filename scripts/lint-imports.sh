#!/usr/bin/env bash
# Check the import contract of pyproject.toml ([tool.importlinter]) with import-linter.
# import-linter reads the package tree from disk; slimir.passes and slimir.runtime live in passes/ and runtime/
# (pyproject's package-dir), which an editable install maps only at import time. So the check runs on the
# installed layout: the project is installed (without dependencies) into a temporary folder first, and
# lint-imports runs from there (it puts its working directory first on the module path).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m pip install -q --no-deps --no-compile --target "$tmp/site" "$repo" >/dev/null
cd "$tmp/site"
PYTHONPATH="$tmp/site" lint-imports "$repo/pyproject.toml"
