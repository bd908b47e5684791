#!/usr/bin/env bash
# `make run`: start the sandbox (AWS emulator + SQLite), then the controller against it, in the
# foreground. Edit state/desired-versions.yaml and watch the rollback in the log and in /metrics.
set -euo pipefail
bin=${1:-.venv/bin}
port=${2:-4566}
mkdir -p .sandbox
rm -f .sandbox/env
"$bin/pinback" sandbox --port "$port" >/dev/null &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null' EXIT INT TERM
for _ in $(seq 300); do
  [ -s .sandbox/env ] && break
  kill -0 "$sandbox" 2>/dev/null || { echo "the sandbox did not start" >&2; exit 1; }
  sleep 0.1
done
# shellcheck disable=SC1091
. .sandbox/env
echo "Sandbox up: AWS emulator at $AWS_ENDPOINT_URL, database $DATABASE_URL"
echo
"$bin/pinback" status || true
cat <<MSG

Starting the controller (Ctrl-C stops it and the sandbox). Try a rollback:
  \$EDITOR state/desired-versions.yaml     # e.g. backend revision 3, ai-worker v1.8.2; save
  curl -s 127.0.0.1:9464/metrics | grep pinback_target
  . .sandbox/env && $bin/pinback status    # in another terminal
  $bin/pinback versions backend           # what each target can go back to

MSG
"$bin/pinback" run
