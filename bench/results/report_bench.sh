#!/usr/bin/env bash
# What the reading commands cost on big databases (a table on stdout):
#   1. `reval report --format html` (and md, for reference) on R runs x T tasks x K samples per problem: wall time,
#      peak memory and file size;
#   2. the HTML page in headless Chromium: wall time of a load and when the page's script had drawn everything;
#   3. `reval export` (JSONL and CSV) of one large run: rows/s, MB/s and peak memory (constant: rows are streamed).
# Usage: bench/results/report_bench.sh [BUILD_DIR]   (env: RUNS=10 TASKS=10 SAMPLES=64 PROBLEMS=200 CHARS=800,
#        EXPORT_PROBLEMS=1563 EXPORT_SAMPLES=64 EXPORT_CHARS=8000, WORK=a scratch folder, default a fresh temp dir)
# The databases are built by bench/results/make_results_db (cmake --build BUILD_DIR --target make_results_db reval).
set -euo pipefail
BUILD=${1:-build}
REVAL=$BUILD/reval
MAKE_DB=$BUILD/bench/results/make_results_db
[ -x "$REVAL" ] && [ -x "$MAKE_DB" ] || { echo "build reval and make_results_db first" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
RUNS=${RUNS:-10} TASKS=${TASKS:-10} SAMPLES=${SAMPLES:-64} PROBLEMS=${PROBLEMS:-200} CHARS=${CHARS:-800}
EXPORT_PROBLEMS=${EXPORT_PROBLEMS:-1563} EXPORT_SAMPLES=${EXPORT_SAMPLES:-64} EXPORT_CHARS=${EXPORT_CHARS:-8000}

# Runs a command, printing "seconds peak_rss_MB" (GNU time when present, else seconds only).
measure() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > /dev/null
    awk '{printf "%.2f %.0f", $1, $2 / 1024}' "$WORK/time.txt"
  else
    local t0 t1
    t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f -", b - a}'
  fi
}

DB=$WORK/report.db
[ -f "$DB" ] || "$MAKE_DB" --db "$DB" --runs "$RUNS" --tasks "$TASKS" --samples "$SAMPLES" --problems "$PROBLEMS" \
  --completion-chars "$CHARS" >&2
N=$(sqlite3 "$DB" "SELECT COUNT(*) FROM samples")
echo "report: $RUNS runs x $TASKS tasks x $SAMPLES samples/problem ($N samples, db $(du -m "$DB" | cut -f1) MB)"
printf "%-34s %10s %12s %10s\n" command seconds "peak RSS MB" "output MB"
read -r s m <<< "$(measure "$REVAL" report --db "$DB" --format md -o "$WORK/r.md")"
printf "%-34s %10s %12s %10.2f\n" "report --format md" "$s" "$m" "$(du -k "$WORK/r.md" | awk '{print $1/1024}')"
read -r s m <<< "$(measure "$REVAL" report --db "$DB" --format html -o "$WORK/r.html")"
printf "%-34s %10s %12s %10.2f\n" "report --format html" "$s" "$m" "$(du -k "$WORK/r.html" | awk '{print $1/1024}')"
read -r s m <<< "$(measure "$REVAL" report --db "$DB" --format html --html-completions 0 -o "$WORK/r0.html")"
printf "%-34s %10s %12s %10.2f\n" "report --format html (no text)" "$s" "$m" "$(du -k "$WORK/r0.html" | awk '{print $1/1024}')"

# 2. The page in a browser: headless Chromium loads the page and its script draws the leaderboard, charts and grid;
#    the page records when it is done (data-reval-ms on <body>: milliseconds from navigation start).
CHROMIUM=${REVAL_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -n "$CHROMIUM" ]; then
  echo
  printf "%-34s %10s %12s\n" "page in headless Chromium" "seconds" "drawn at ms"
  for f in r.html r0.html; do
    t0=$(date +%s.%N)
    dom=$(timeout 300 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
      --disable-component-update --no-first-run --disable-extensions --user-data-dir="$WORK/profile-$f" \
      --dump-dom "file://$WORK/$f" 2> /dev/null || true)
    t1=$(date +%s.%N)
    ms=$(grep -o 'data-reval-ms="[0-9]*"' <<< "$dom" | grep -o '[0-9]*' || echo "-")
    grep -q 'data-reval-errors="0"' <<< "$dom" || ms="$ms (script errors)"
    printf "%-34s %10.2f %12s\n" "$f" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$ms"
  done
else
  echo "(no Chromium: page load not measured)"
fi

XDB=$WORK/export.db
[ -f "$XDB" ] || "$MAKE_DB" --db "$XDB" --runs 1 --only mmlu --samples "$EXPORT_SAMPLES" --problems "$EXPORT_PROBLEMS" \
  --completion-chars "$EXPORT_CHARS" >&2
XN=$(sqlite3 "$XDB" "SELECT COUNT(*) FROM samples")
echo
echo "export: one run, $XN samples of ~$EXPORT_CHARS characters (db $(du -m "$XDB" | cut -f1) MB)"
printf "%-34s %10s %12s %10s %10s %10s\n" command seconds "peak RSS MB" "output MB" rows/s MB/s
for fmt in jsonl csv; do
  read -r s m <<< "$(measure "$REVAL" export --db "$XDB" --run model-00 --format $fmt -o "$WORK/x.$fmt")"
  mb=$(du -k "$WORK/x.$fmt" | awk '{print $1/1024}')
  printf "%-34s %10s %12s %10.1f %10.0f %10.1f\n" "export --format $fmt" "$s" "$m" "$mb" \
    "$(awk -v n="$XN" -v s="$s" 'BEGIN {print n / s}')" "$(awk -v b="$mb" -v s="$s" 'BEGIN {print b / s}')"
  rm -f "$WORK/x.$fmt"
done
echo "(files in $WORK)"
