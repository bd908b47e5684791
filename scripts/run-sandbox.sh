#!/usr/bin/env bash
# `make run`: start the sandbox (AWS emulator + SQLite), show the plan for the repo's pin file,
# and keep the sandbox up until Ctrl-C.
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
echo
"$bin/pinback" plan || true
cat <<MSG

Try a rollback. In another terminal:
  . .sandbox/env
  $bin/pinback versions backend            # what each target can go back to
  \$EDITOR state/desired-versions.yaml      # e.g. backend revision 3, ai-worker v1.8.2
  $bin/pinback plan                        # the ordered actions
  $bin/pinback apply                       # roll back, wait, verify
Ctrl-C here stops the sandbox.
MSG
wait $sandbox
