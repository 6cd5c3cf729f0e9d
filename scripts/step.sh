#!/usr/bin/env bash
# Run one slow set-up step visibly: say what it is, print a heartbeat while it runs, and on failure
# show the end of its log and what to try.   usage: scripts/step.sh "what" "hint on failure" -- cmd...
set -u
what=$1 hint=$2; shift 3
log=$(mktemp "${TMPDIR:-/tmp}/volley-step.XXXXXX")
start=$(date +%s)
"$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"; exit 130' INT TERM
while kill -0 "$pid" 2>/dev/null; do
  sleep 15
  kill -0 "$pid" 2>/dev/null && printf '  ... %s: still working (%dm%02ds)\n' "$what" $(( ($(date +%s)-start)/60 )) $(( ($(date +%s)-start)%60 ))
done
wait "$pid"; rc=$?
if [ "$rc" -ne 0 ]; then
  echo "make: $what failed (exit $rc). The last lines of its output:" >&2
  grep -v "^WARNING: Location" "$log" | tail -n 25 >&2
  echo "What to try: $hint" >&2
  rm -f "$log"; exit "$rc"
fi
printf '  %s: done in %ds\n' "$what" $(( $(date +%s)-start ))
rm -f "$log"
