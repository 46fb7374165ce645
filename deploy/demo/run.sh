#!/usr/bin/env bash
# The three-tier demo on one machine: a control plane on an embedded SQLite file, one agent per
# tier (edge HTTPS, internal HTTP, data TCP), sample backends, a self-signed certificate, the
# example applied with lbctl. Runs in the foreground; Ctrl-C stops everything it started.
#   --no-build           use what is already built (the test suite, after its own build)
#   --stop-after SECONDS stop by itself after that long (scripts and tests; a forgotten demo ends)
set -euo pipefail
build=1
stop_after=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --stop-after) stop_after=${2:?--stop-after needs a number of seconds}; shift ;;
    -h|--help) sed -n '2,7p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

demo="$root/.demo"
logs="$demo/logs"
bin="$root/artifacts/bin"
cp_url="https://127.0.0.1:7400"
# The demo's own lbctl config, so that a config of yours elsewhere is neither used nor changed.
export LBCTL_CONFIG="$demo/lbctl.yaml"

# Before anything is built or started: a second demo stops here, touching nothing of the first.
for port in 7400 7401 8443 8080 6432 9101 9102 9201 9202 5433 5434 9901 9902 9903; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use (is another demo running?)" >&2
    exit 1
  fi
done

if [ "$build" = 1 ]; then
  echo "== building (first run takes a minute)"
  for project in controlplane/ControlPlane cli/Lbctl agent/Agent deploy/demo/SampleBackend; do
    dotnet build "$root/$project" -c Release -nologo -v quiet >/dev/null
  done
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "== stopping the demo"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${pg_root:-}" ]; then rm -rf "$pg_root"; fi
  echo "== stopped"
}
trap cleanup EXIT
# Ctrl-C or a TERM is the normal way to stop: exit 0, cleaning up on the way out.
trap 'exit 0' INT TERM

rm -rf "$demo"
mkdir -p "$demo/bin" "$logs"
for tool in Lbctl/release/lbctl ControlPlane/release/lb-controlplane Agent/release/lb-agent; do
  ln -sf "$bin/$tool" "$demo/bin/$(basename "$tool")"
done
lbctl="$demo/bin/lbctl"

start() { # name, command...
  local name=$1; shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!)
}

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $what; see $logs" >&2
  exit 1
}

echo "== starting the control plane ($cp_url, TLS with its own CA, data in .demo/controlplane)"
start controlplane "$bin/ControlPlane/release/lb-controlplane" --data "$demo/controlplane" --listen "$cp_url"
# On first start it makes a CA (tls/ca.crt, which clients pin) and an admin token file.
wait_for "the control plane's admin token" test -s "$demo/controlplane/admin.token"
# The first call writes the demo's lbctl config: later calls need no flags.
wait_for "the control plane" "$lbctl" --server "$cp_url" --ca-file "$demo/controlplane/tls/ca.crt" --token-file "$demo/controlplane/admin.token" status

echo "== creating one agent token per tier (each may read only its own tier)"
mkdir -p "$demo/tokens"
for tier in edge internal data; do
  "$lbctl" token create --role agent --tier "$tier" --description "demo $tier agents" --output-file "$demo/tokens/$tier.token" >/dev/null
done

echo "== starting sample backends"
start web-1 "$bin/SampleBackend/release/lb-sample-backend" --name web-1 --port 9101
start web-2 "$bin/SampleBackend/release/lb-sample-backend" --name web-2 --port 9102
start api-1 "$bin/SampleBackend/release/lb-sample-backend" --name api-1 --port 9201
start api-2 "$bin/SampleBackend/release/lb-sample-backend" --name api-2 --port 9202
# The data tier: two real PostgreSQL servers when PostgreSQL is installed, a built-in TCP
# service that says its name otherwise.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$pg_bin" ] && [ -x "$pg_bin/postgres" ]; then
  pg_root=$(mktemp -d /tmp/lb-demo-pg.XXXXXX)
  chmod 755 "$pg_root"
  as_pg=()
  if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
  for n in 1 2; do
    data="$pg_root/db-$n"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data"
    "${as_pg[@]}" "$pg_bin/initdb" -D "$data" -A trust -U postgres --no-sync >"$logs/db-$n-initdb.log" 2>&1
    start "db-$n" "${as_pg[@]}" "$pg_bin/postgres" -D "$data" -p $((5432 + n)) -k "$data" -c listen_addresses=127.0.0.1
  done
  data_hint="psql -h 127.0.0.1 -p 6432 -U postgres -c 'select inet_server_port()'   # the data tier: PostgreSQL"
else
  start db-1 "$bin/SampleBackend/release/lb-sample-backend" --name db-1 --port 5433 --mode tcp
  start db-2 "$bin/SampleBackend/release/lb-sample-backend" --name db-2 --port 5434 --mode tcp
  data_hint='exec 3<>/dev/tcp/127.0.0.1/6432; head -n 1 <&3; exec 3<&-    # the data tier (TCP): a sample service says its name'
fi

echo "== starting one agent per tier"
start agent-edge "$bin/Agent/release/lb-agent" --control-plane "$cp_url" --ca-file "$demo/controlplane/tls/ca.crt" --token-file "$demo/tokens/edge.token" --tier edge --name edge-1 --admin http://127.0.0.1:9901 --cache "$demo/cache/edge-1" --bind 127.0.0.1
start agent-internal "$bin/Agent/release/lb-agent" --control-plane "$cp_url" --ca-file "$demo/controlplane/tls/ca.crt" --token-file "$demo/tokens/internal.token" --tier internal --name internal-1 --admin http://127.0.0.1:9902 --cache "$demo/cache/internal-1" --bind 127.0.0.1
start agent-data "$bin/Agent/release/lb-agent" --control-plane "$cp_url" --ca-file "$demo/controlplane/tls/ca.crt" --token-file "$demo/tokens/data.token" --tier data --name data-1 --admin http://127.0.0.1:9903 --cache "$demo/cache/data-1" --bind 127.0.0.1

echo "== creating a self-signed certificate for shop.example.test"
cp "$root/deploy/demo/three-tier.yaml" "$demo/three-tier.yaml"
"$lbctl" cert self-signed --host shop.example.test --cert-out "$demo/shop.example.test.crt" --key-out "$demo/shop.example.test.key" --ca-out "$demo/demo-ca.crt" >/dev/null

echo "== applying the three-tier example"
"$lbctl" apply -f "$demo/three-tier.yaml"

# Needs nothing but bash: readiness of each agent, then every listener programmed.
http_ok() { # port path
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  local status
  read -r _ status _ <&3
  exec 3<&-
  [ "$status" = 200 ]
}
listeners_programmed() {
  local table
  table=$("$lbctl" get listeners) || return 1
  [ "$(grep -c ' 1/1 ' <<<"$table")" -eq 3 ]
}
for admin in 9901 9902 9903; do wait_for "the agent on admin port $admin" http_ok "$admin" /readyz; done
wait_for "every listener to be programmed" listeners_programmed

cat <<INFO

The demo is running (logs in .demo/logs). Try:

  curl --cacert .demo/demo-ca.crt --resolve shop.example.test:8443:127.0.0.1 https://shop.example.test:8443/
  curl http://127.0.0.1:8080/orders
  $data_hint

  export PATH="\$PWD/.demo/bin:\$PATH" LBCTL_CONFIG="\$PWD/.demo/lbctl.yaml"
  lbctl get pools
  lbctl get backends
  lbctl get agents
  lbctl backend drain web-1
  lbctl audit                                 # who changed what (the admin token: .demo/controlplane/admin.token)
  lbctl token create --role viewer            # a read-only token for a colleague

The dashboard: $cp_url/ui
  sign in by pasting the admin token: cat .demo/controlplane/admin.token
  the browser must trust the control plane's CA, .demo/controlplane/tls/ca.crt (README, "Dashboard", shows how
  per system); or open it once with the warning accepted, the demo being on your own machine.

INFO
if [ -n "$stop_after" ]; then
  echo "Stopping by itself in $stop_after seconds (or press Ctrl-C)."
  sleep "$stop_after" &
  pids+=($!)
  wait $!
else
  echo "Press Ctrl-C to stop."
  wait
fi
