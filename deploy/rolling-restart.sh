#!/usr/bin/env bash
# Restarts Flotilla brokers one at a time. Before each restart the whole cluster must be
# healthy (no broker down, every partition led and fully replicated); after it, the next
# broker waits until the restarted one's GET /readyz answers 200 (it listens, knows the
# controller, and every replica it hosts is caught up).
#
#   deploy/rolling-restart.sh HOST[:HTTP_PORT] ...
#
# Environment:
#   FLOTILLA_BROKERS    native addresses for `flotilla cluster health` (HOST:PORT,...)
#   FLOTILLA_RESTART    command that restarts one broker, {host} replaced by its host
#                       (default: ssh {host} sudo systemctl restart flotilla)
#   FLOTILLA_HTTP_PORT  the --http-listen port where a HOST has none (default 8401)
#   READY_TIMEOUT       seconds to wait for health and for /readyz (default 600)
#   FLOTILLA            the CLI (default: flotilla)
set -euo pipefail

if [[ $# -eq 0 ]]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
restart_template=${FLOTILLA_RESTART:-'ssh {host} sudo systemctl restart flotilla'}
default_port=${FLOTILLA_HTTP_PORT:-8401}
timeout=${READY_TIMEOUT:-600}
flotilla=${FLOTILLA:-flotilla}

healthy() {
  if ! $flotilla cluster health --wait --timeout-ms "$((timeout * 1000))" >/dev/null; then
    echo "rolling-restart: the cluster is not healthy after ${timeout} s; stopping here" >&2
    $flotilla cluster health >&2 || true
    exit 1
  fi
}

for target in "$@"; do
  host=${target%:*}
  port=$default_port
  [[ $target == *:* ]] && port=${target##*:}
  healthy
  echo "rolling-restart: restarting $target"
  bash -c "${restart_template//\{host\}/$host}"
  deadline=$((SECONDS + timeout))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$host:$port/readyz") == 200 ]]; do
    if ((SECONDS > deadline)); then
      echo "rolling-restart: $target is not ready after ${timeout} s; stopping here. It says:" >&2
      curl -s "http://$host:$port/readyz" >&2 || true
      exit 1
    fi
    sleep 1
  done
  echo "rolling-restart: $target ready"
done
healthy
echo "rolling-restart: done, the cluster is healthy"
