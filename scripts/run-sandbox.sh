#!/usr/bin/env bash
# `make run`: start the sandbox (AWS emulator + SQLite), seeded with a staging and a prod copy
# of the service, then one controller for both, in the foreground. Edit a pin file and watch
# the rollback in the log, on the page and in /metrics.
set -euo pipefail
bin=${1:-.venv/bin}
port=${2:-4566}
config=${3:-config/environments.yaml}
mkdir -p .sandbox
rm -f .sandbox/env
"$bin/pinback" sandbox --config "$config" --port "$port" >/dev/null &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null' EXIT INT TERM
for _ in $(seq 300); do
  [ -s .sandbox/env ] && break
  kill -0 "$sandbox" 2>/dev/null || { echo "the sandbox did not start" >&2; exit 1; }
  sleep 0.1
done
# shellcheck disable=SC1091
. .sandbox/env
echo "Sandbox up: AWS emulator at $AWS_ENDPOINT_URL; staging and prod seeded ($PINBACK_CONFIG)"
echo
"$bin/pinback" status --env prod || true
cat <<MSG

Starting the controller for staging and prod (Ctrl-C stops it and the sandbox). Try:
  \$EDITOR state/desired-versions.yaml     # prod: e.g. backend revision 3; save
  open http://127.0.0.1:9464/              # the status page, staging and prod
  . .sandbox/env                           # in another terminal, then:
  $bin/pinback status --env prod
  $bin/pinback promote --from staging --to prod
  $bin/pinback rollback --last-good --env prod

MSG
"$bin/pinback" run
