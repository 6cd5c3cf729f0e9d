#!/usr/bin/env bash
# make demo's main job: 20 questions through a real model on the CPU, then each answer printed.
# Any failure ends with a message that says what failed and what to try, never a bare signal.
set -u
bin=$1
"$bin/volley" run examples/questions.jsonl -m local/smollm2 -o results.jsonl \
  --max-tokens 48 --temperature 0 --overwrite
rc=$?
if [ "$rc" -ge 128 ]; then
  sig=$((rc - 128))
  echo "make demo: volley itself was stopped by signal $sig ($(kill -l "$sig" 2>/dev/null || echo unknown))." >&2
  echo "That should not happen (local models run in a worker process); please report it with the output above." >&2
  exit "$rc"
fi
if [ -s results.jsonl ]; then
  "$bin/python" examples/show_results.py examples/questions.jsonl results.jsonl
fi
case "$rc" in
  0) ;;
  1) echo "make demo: some questions got no answer (their errors are shown above and in results.jsonl)." >&2
     echo "Run 'make demo' again to retry them; a crash of the model is reported as LocalModelCrashedError." >&2 ;;
  130) echo "make demo: interrupted; run 'make demo' again to continue where it stopped." >&2 ;;
  *) echo "make demo: volley run could not start the job (exit $rc, reason above)." >&2
     echo "Check that the install finished: rm -rf .venv && make demo" >&2 ;;
esac
exit "$rc"
