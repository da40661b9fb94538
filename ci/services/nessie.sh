#!/usr/bin/env bash
# Fetch (once) and build the Nessie server used by `pytest -m integration`; print its jar's path.
#
#   jar=$(ci/services/nessie.sh)
#   java -Xmx512m -jar "$jar" --port 19120     # prints NESSIE_URI=http://127.0.0.1:19120/api/v2
#
# The server is Nessie 0.95.0 (the last release whose server runs on Java 17): Nessie's own REST
# resources, services and in-memory version store, hosted by Jersey/Grizzly (see
# nessie/NessieServer.java for why not the Quarkus runner jar). Maven fetches the artifacts into
# ~/.m2; the jar and its lib/ go to $BRANCHOPS_CACHE (default ~/.cache/branchops). Needs a JDK
# (javac, jar) 17 or newer and Maven on PATH. Progress goes to stderr (ci/services/progress.sh: a
# line per step on a terminal, else one summary line), only the path to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=progress.sh
. "$here/progress.sh"
version="0.95.0"
cache="${BRANCHOPS_CACHE:-$HOME/.cache/branchops}/nessie-server-$version"
jar="$cache/nessie-server.jar"
stamp="$(cat "$here/nessie/pom.xml" "$here/nessie/NessieServer.java" | sha256sum | cut -c1-16)"

if [[ -f "$jar" && "$(cat "$cache/stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "$jar"
    exit 0
fi

if [[ -n "${JAVA_HOME:-}" ]]; then PATH="$JAVA_HOME/bin:$PATH"; fi
for tool in mvn javac jar; do
    command -v "$tool" >/dev/null || { echo "nessie.sh: $tool not found (install a JDK 17+ and Maven)" >&2; exit 2; }
done

progress_begin nessie.sh
tmp="$(mktemp -d "${cache%/*}/.nessie-build.XXXXXX" 2>/dev/null || { mkdir -p "${cache%/*}"; mktemp -d "${cache%/*}/.nessie-build.XXXXXX"; })"
trap 'progress_stop abort; rm -rf "$tmp"' EXIT
progress_fetch "Nessie $version server jars (org.projectnessie.nessie, runtime scope)" "$tmp/lib" \
    mvn -q -B -Dstyle.color=never -f "$here/nessie/pom.xml" dependency:copy-dependencies \
    -Dnessie.version="$version" -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >&2
progress_step "compile the launcher (nessie/NessieServer.java)" "$tmp/classes" \
    javac --release 17 -nowarn -d "$tmp/classes" -cp "$tmp/lib/*" "$here/nessie/NessieServer.java" >&2

# Class-Path entries relative to the jar; manifest lines wrap at 72 bytes (continuations start
# with one space).
classpath="Class-Path:$(for f in "$tmp"/lib/*.jar; do printf ' lib/%s' "${f##*/}"; done)"
{
    echo "Main-Class: branchops.ci.NessieServer"
    echo "$classpath" | fold -w 70 | sed '2,$s/^/ /'
} > "$tmp/manifest.txt"
jar --create --file "$tmp/nessie-server.jar" --manifest "$tmp/manifest.txt" -C "$tmp/classes" .

rm -rf "$cache"
mkdir -p "$cache"
mv "$tmp/lib" "$tmp/nessie-server.jar" "$cache/"
echo "$stamp" > "$cache/stamp"
progress_end "Nessie $version into $cache"
echo "$jar"
