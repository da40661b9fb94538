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

case "${1:-}" in
  --check)
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
