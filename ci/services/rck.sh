#!/usr/bin/env bash
# Fetch (once) the Apache Iceberg REST Compatibility Kit (RCK) and its classpath; print the folder.
#
#   lib=$(ci/services/rck.sh)        # e.g. ~/.cache/branchops/iceberg-rck-1.10.0
#   java -Drck.local=false -cp "$lib/*" org.junit.platform.console.ConsoleLauncher execute \
#        --select-class org.apache.iceberg.rest.RESTCompatibilityKitCatalogTests
#
# The RCK is `RESTCompatibilityKitCatalogTests` in iceberg-open-api's `tests` jar (RCKUtils in its
# `test-fixtures` jar): Iceberg's own CatalogTests run through a RESTCatalog client against any
# REST server named by CATALOG_* environment variables. tests/rest/test_rck.py runs it against
# `branchops serve`. Maven resolves the jars (with iceberg-core's and iceberg-api's test jars,
# JUnit's console launcher, AssertJ, a shaded Hadoop client that RCKUtils needs) from a small
# generated pom into $BRANCHOPS_CACHE (default ~/.cache/branchops). Needs Maven; Java 17+ runs it.
# Progress goes to stderr (ci/services/progress.sh: a line on a terminal, else one summary line),
# only the path to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=progress.sh
. "$here/progress.sh"

version="${ICEBERG_RCK_VERSION:-1.10.0}"
cache_root="${BRANCHOPS_CACHE:-$HOME/.cache/branchops}"
home="$cache_root/iceberg-rck-$version"

if [[ -f "$home/.complete" ]]; then
    echo "$home"
    exit 0
fi
command -v mvn >/dev/null || { echo "rck.sh: mvn not found (install Maven)" >&2; exit 2; }

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.rck-build.XXXXXX")"
trap 'progress_stop abort; rm -rf "$tmp"' EXIT

dep() {  # groupId artifactId version [classifier]
    echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version>${4:+<classifier>$4</classifier>}</dependency>"
}
{
    echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
    echo '<groupId>branchops</groupId><artifactId>rck</artifactId><version>1</version><dependencies>'
    dep org.apache.iceberg iceberg-core "$version"
    dep org.apache.iceberg iceberg-core "$version" tests
    dep org.apache.iceberg iceberg-api "$version" tests
    dep org.apache.iceberg iceberg-open-api "$version" tests
    dep org.apache.iceberg iceberg-open-api "$version" test-fixtures
    dep org.junit.platform junit-platform-console-standalone 1.11.4
    dep org.assertj assertj-core 3.26.3
    dep org.awaitility awaitility 4.2.2
    dep org.mockito mockito-core 5.14.2
    dep org.slf4j slf4j-simple 2.0.16
    dep org.apache.hadoop hadoop-client-api 3.4.1
    dep org.apache.hadoop hadoop-client-runtime 3.4.1
    echo '</dependencies></project>'
} > "$tmp/pom.xml"

progress_begin rck.sh
progress_fetch "Iceberg $version REST Compatibility Kit and its classpath" "$tmp/lib" \
    mvn -q -B -Dstyle.color=never -f "$tmp/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp/lib" >&2
echo "$version" > "$tmp/lib/.complete"
rm -rf "$home"
mv "$tmp/lib" "$home"
progress_end "the Iceberg $version REST Compatibility Kit into $home"
echo "$home"
