#!/usr/bin/env bash
# The lock of the whole dependency set (every extra), which the README's commands and .ci/run
# install from with `pip install -c constraints.txt`. pyproject.toml keeps the ranges that
# library users resolve; this file pins one known-good set of them for development and CI.
#
#   ci/lock.sh            regenerate constraints.txt after changing pyproject.toml
#                         (existing pins are kept where they still satisfy it)
#   ci/lock.sh --upgrade  move every pin to the newest release that resolves
#   ci/lock.sh --check    exit 1 when pyproject.toml and the lock disagree (CI runs this)
#
# Needs uv (`pip install uv`; the dev extra has it).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=constraints.txt
compile=(uv pip compile pyproject.toml --all-extras --universal --python-version 3.11
         --custom-compile-command "ci/lock.sh" --quiet)

# the build backend: pip installs it in an isolated environment that -c constraints.txt does not
# reach, so pyproject.toml pins it exactly
build_pins_exact() {
  python3 - <<'PY'
import re, sys, tomllib
requires = tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]
loose = [r for r in requires if not re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+!-]+", r.replace(" ", ""))]
if loose:
    sys.exit("pyproject.toml [build-system] requires must pin exact versions (name==version): " + ", ".join(loose))
PY
}

case "${1:-}" in
  --check)
    build_pins_exact
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    cp "$lock" "$tmp/lock.txt"
    "${compile[@]}" -o "$tmp/lock.txt"
    if ! diff -u "$lock" "$tmp/lock.txt" >"$tmp/diff"; then
      echo "constraints.txt does not match pyproject.toml:" >&2
      cat "$tmp/diff" >&2
      echo "Regenerate it with: ci/lock.sh   (then commit constraints.txt)" >&2
      exit 1
    fi
    echo "constraints.txt matches pyproject.toml"
    ;;
  --upgrade) "${compile[@]}" --upgrade -o "$lock" ;;
  "") "${compile[@]}" -o "$lock" ;;
  *) echo "usage: ci/lock.sh [--check|--upgrade]" >&2; exit 2 ;;
esac
