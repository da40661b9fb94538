# Progress of a fetch, on stderr (sourced by the ci/services scripts; stdout stays their result).
#
#   . "$here/progress.sh"; progress_begin trino.sh
#   progress_fetch "io.trino:trino-iceberg:476:zip" "$tmp/download" mvn ... dependency:copy ...
#   progress_step "unpack" "$tmp/unpacked" tar -xzf ...
#   progress_end "Trino 476 into $home"
#
# On a terminal every fetch or step is one line that ticks its elapsed seconds while it runs and
# ends with the files and bytes it added and its time. Off a terminal (CI logs, pipes, a test
# harness) nothing but the one summary line of progress_end: what was fetched, how many files, how
# big, how long. BRANCHOPS_PROGRESS=1 or 0 overrides the terminal check (the integration tests set
# it: the script's stderr is a pipe to them even when their own output is a terminal).

progress_tty() {
    case "${BRANCHOPS_PROGRESS:-}" in 1) return 0 ;; 0) return 1 ;; esac
    [[ -t 2 ]]
}

_progress_name=""
_progress_t0=0
_progress_kb=0
_progress_files=0
_progress_ticker=""

progress_begin() {  # name: the script's, the prefix of every line
    _progress_name=$1
    _progress_t0=$(date +%s)
}

_progress_size() {  # path -> "<KiB> <files>" (0 0 when missing)
    if [[ -e "$1" ]]; then echo "$(du -sk "$1" | cut -f1) $(find "$1" -type f | wc -l)"; else echo "0 0"; fi
}

_progress_mb() {  # KiB -> "12.3 MB"
    awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb * 1024 / 1000000 }'
}

progress_stop() {  # stop the ticking line, if one runs; "abort": end it with a newline (EXIT trap)
    if [[ -n "$_progress_ticker" ]]; then
        # KILL, not TERM: a ticker forked a moment ago still holds the script's EXIT trap, which
        # a TERM would run in it (printing "wait_for: No record of process" on stderr)
        kill -KILL "$_progress_ticker" 2>/dev/null || true
        wait "$_progress_ticker" 2>/dev/null || true
        _progress_ticker=""
        if [[ "${1:-}" == abort ]]; then echo >&2; fi
    fi
}

_progress_run() {  # counted label path command...
    local counted=$1 label=$2 path=$3 t0 kb0 n0 kb1 n1
    shift 3
    t0=$(date +%s)
    read -r kb0 n0 < <(_progress_size "$path")
    if progress_tty; then
        printf '%s: %s ...' "$_progress_name" "$label" >&2
        (while sleep 1; do
            printf '\r\033[K%s: %s ... %d s' "$_progress_name" "$label" $(($(date +%s) - t0)) >&2
        done) &
        _progress_ticker=$!
    fi
    "$@"
    progress_stop
    read -r kb1 n1 < <(_progress_size "$path")
    if [[ "$counted" == 1 ]]; then
        _progress_kb=$((_progress_kb + kb1 - kb0))
        _progress_files=$((_progress_files + n1 - n0))
    fi
    if progress_tty; then
        printf '\r\033[K%s: %s: %d file(s), %s in %d s\n' "$_progress_name" "$label" $((n1 - n0)) \
            "$(_progress_mb $((kb1 - kb0)))" $(($(date +%s) - t0)) >&2
    fi
}

progress_fetch() {  # label path command...: fetch into path (a file or folder); counted in the summary
    _progress_run 1 "$@"
}

progress_step() {  # label path command...: other work (unpack, compile); shown on a terminal only
    _progress_run 0 "$@"
}

progress_end() {  # what was fetched and where: the one line printed on and off a terminal
    printf '%s: fetched %s: %d file(s), %s in %d s\n' "$_progress_name" "$1" "$_progress_files" \
        "$(_progress_mb "$_progress_kb")" $(($(date +%s) - _progress_t0)) >&2
}
