#!/usr/bin/env bash
# Proxy benchmark: lb-agent against nginx and HAProxy in front of the same backends, in one run.
#
#   (a) HTTP/1.1  wrk: backend direct, lb-agent (fast path), lb-agent-yarp (--http-fast-path off),
#                 nginx (proxy_pass, keepalive upstream), HAProxy (mode http)
#   (b) HTTPS     wrk (HTTP/1.1 kept alive, and a new TLS connection per request) and h2load (HTTP/2,
#                 4 connections x 10 streams): TLS terminated by lb-agent and by nginx, same certificate
#   (c) TCP       redis-benchmark: redis direct, lb-agent tcp listener, HAProxy mode tcp
#                 (GET over kept-alive connections, and PING with a new connection per request);
#                 bulk: iperf3 through the same proxies to an iperf3 server, 1 GiB over one connection
#                 each way and 2 GiB over 32 connections (64 MiB each), MB/s and proxy CPU-seconds per GiB
#
# The agent runs as shipped (DOTNET_gcServer=1) behind a real control plane and is configured
# with lbctl. Everything listens on 127.0.0.1; every run is bounded in time or requests; every
# process started here is stopped on exit. Missing tools are installed with apt-get.
#
# Usage: agent/Agent.Benchmarks/proxy/run.sh [--update-readme] [--no-build]
# Environment: DURATION (seconds per wrk/h2load run, default 10), WARMUP (seconds, default 2),
#   THREADS (wrk threads, 1), CONNECTIONS (wrk connections, 32), REDIS_REQUESTS (100000),
#   ROUNDS (3: every target is measured once per round, the report gives the median),
#   REDIS_CONNECT_REQUESTS (10000), PORT_BASE (18500: uses PORT_BASE..PORT_BASE+42),
#   PARTS (which parts to measure, comma-separated from http,https,tcp; default all three),
#   BULK_MB (MiB moved by each single-connection bulk run, 1024; the 32-connection run moves twice that),
#   AGENT_ENV (extra NAME=VALUE settings for the agent only, for experiments; empty as shipped),
#   TRACING (1: both agents run with --otel, the http(s) listeners with tracing.samplingRatio 1, so
#   every request is a span exported by OTLP/HTTP to a sink that answers 200 (the backend's nginx);
#   the report goes to last-run-tracing.md and --update-readme is refused; default 0, tracing off).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
readme="$root/agent/Agent.Benchmarks/README.md"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

update_readme=0
build=1
for arg in "$@"; do
  case "$arg" in
    --update-readme) update_readme=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

duration=${DURATION:-10}
warmup=${WARMUP:-2}
threads=${THREADS:-1}
connections=${CONNECTIONS:-32}
redis_requests=${REDIS_REQUESTS:-100000}
rounds=${ROUNDS:-3}
redis_connect_requests=${REDIS_CONNECT_REQUESTS:-10000}
base=${PORT_BASE:-18500}
parts=${PARTS:-http,https,tcp}
bulk_mb=${BULK_MB:-1024}
tracing=${TRACING:-0}
if [[ "$tracing" == 1 ]] && ((update_readme)); then
  echo "TRACING=1 measures the cost of tracing: its figures do not go into the README" >&2; exit 2
fi
part() { [[ ",$parts," == *",$1,"* ]]; }
for p in ${parts//,/ }; do
  case "$p" in http|https|tcp) ;; *) echo "PARTS: unknown part '$p' (http, https, tcp)" >&2; exit 2 ;; esac
done

cp_port=$base
agent_admin_port=$((base + 1))
agent_yarp_admin_port=$((base + 3))   # the same listeners on 127.0.0.2, served by YARP only
cp_admin_port=$((base + 2))
backend_port=$((base + 10))      # nginx serving a small static response
redis_port=$((base + 11))
bulk_port=$((base + 12))         # iperf3 server, the bulk TCP backend
otlp_port=$((base + 13))         # TRACING=1: the OTLP/HTTP sink (the backend's nginx, answering 200)
agent_http_port=$((base + 20))
agent_https_port=$((base + 21))
agent_tcp_port=$((base + 22))
agent_bulk_port=$((base + 23))
nginx_http_port=$((base + 30))
nginx_https_port=$((base + 31))
haproxy_http_port=$((base + 40))
haproxy_tcp_port=$((base + 41))
haproxy_bulk_port=$((base + 42))

# ---------------------------------------------------------------- tools
need=()
for pair in wrk:wrk h2load:nghttp2-client nginx:nginx haproxy:haproxy redis-server:redis-server redis-benchmark:redis-tools iperf3:iperf3 openssl:openssl curl:curl; do
  tool=${pair%%:*}
  package=${pair#*:}
  if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$tool" ]]; then need+=("$package"); fi
done
if ((${#need[@]})); then
  echo "== installing ${need[*]}"
  apt_get=(apt-get)
  if [[ $(id -u) != 0 ]]; then apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq
  # Packages must not start their system services (nginx on :80, redis on :6379) in a container.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${apt_get[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

bin="$root/artifacts/bin"
if ((build)); then
  echo "== building (Release)"
  dotnet build "$root/ControlPlane.sln" -c Release -nologo -v quiet >/dev/null
fi
controlplane="$bin/ControlPlane/release/lb-controlplane"
agent="$bin/Agent/release/lb-agent"
lbctl="$bin/Lbctl/release/lbctl"
for exe in "$controlplane" "$agent" "$lbctl"; do
  [[ -x "$exe" ]] || { echo "$exe is not built; run without --no-build" >&2; exit 1; }
done

for port in $cp_port $agent_admin_port $agent_yarp_admin_port $cp_admin_port $backend_port $redis_port $agent_http_port $agent_https_port $agent_tcp_port \
            $nginx_http_port $nginx_https_port $haproxy_http_port $haproxy_tcp_port $bulk_port $agent_bulk_port $haproxy_bulk_port; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; set PORT_BASE" >&2
    exit 1
  fi
done

# ---------------------------------------------------------------- processes
work=$(mktemp -d /tmp/lb-proxy-bench.XXXXXX)
chmod 755 "$work"
logs="$work/logs"
mkdir -p "$logs"
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo "== stopping everything this run started"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

start() { # name, command...: runs in the foreground of its own, logs to $logs/name.log
  local name=$1; shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_${name//-/_}=$!"
}

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $what; logs:" >&2
  tail -n 20 "$logs"/*.log >&2
  exit 1
}

# One certificate for both TLS terminators: ECDSA P-256, a leaf (CA:FALSE) for bench.test and 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
  -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$work/bench.key" -out "$work/bench.crt" 2>/dev/null

nginx_common() { # the part of an nginx.conf shared by the backend and the proxy
  cat <<EOF
pid $work/$1.pid;
error_log $logs/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1-body;
  proxy_temp_path $work/$1-proxy;
  fastcgi_temp_path $work/$1-fastcgi;
  uwsgi_temp_path $work/$1-uwsgi;
  scgi_temp_path $work/$1-scgi;
  keepalive_requests 1000000;
EOF
}

# The backend: nginx answering a small static response from memory, one worker, so that it is
# cheap and the proxy in front of it is what the numbers measure.
{
  echo "daemon off; worker_processes 1;"
  nginx_common backend
  cat <<EOF
  server {
    listen 127.0.0.1:$backend_port reuseport;
    location / { default_type text/plain; return 200 "hello from the backend\n"; }
  }
  server {
    listen 127.0.0.1:$otlp_port;
    location / { return 200; }
  }
}
EOF
} >"$work/backend.conf"

# nginx as the proxy under test: as many workers as cores, keepalive upstream, HTTP and HTTPS.
{
  echo "daemon off; worker_processes auto;"
  nginx_common proxy
  cat <<EOF
  upstream backend { server 127.0.0.1:$backend_port; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_http_port;
    listen 127.0.0.1:$nginx_https_port ssl http2;
    ssl_certificate $work/bench.crt;
    ssl_certificate_key $work/bench.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering on;
    }
  }
}
EOF
} >"$work/proxy.conf"

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 8000
  log stderr format short local0 warning
defaults
  log global
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend http_in
  mode http
  option forwardfor
  bind 127.0.0.1:$haproxy_http_port
  default_backend http_backend
backend http_backend
  mode http
  http-reuse always
  server b1 127.0.0.1:$backend_port
frontend tcp_in
  mode tcp
  bind 127.0.0.1:$haproxy_tcp_port
  default_backend tcp_backend
backend tcp_backend
  mode tcp
  server r1 127.0.0.1:$redis_port
frontend bulk_in
  mode tcp
  bind 127.0.0.1:$haproxy_bulk_port
  default_backend bulk_backend
backend bulk_backend
  mode tcp
  server i1 127.0.0.1:$bulk_port
EOF

# TRACING=1: every request traced (see the usage above).
listener_tracing=""
tracing_env=()
tracing_args=()
if [[ "$tracing" == 1 ]]; then
  listener_tracing="  tracing: {samplingRatio: 1}"
  tracing_env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
  tracing_args=(--otel)
fi

cat >"$work/bench.yaml" <<EOF
apiVersion: lb/v1
kind: Certificate
metadata: {name: bench-tls}
spec: {certificateFile: bench.crt, privateKeyFile: bench.key}
---
apiVersion: lb/v1
kind: Pool
metadata: {name: bench-web}
spec: {protocol: http, algorithm: round-robin}
---
apiVersion: lb/v1
kind: Backend
metadata: {name: bench-web-1}
spec: {pool: bench-web, address: 127.0.0.1:$backend_port}
---
apiVersion: lb/v1
kind: Listener
metadata: {name: bench-http}
spec:
  tier: bench
  port: $agent_http_port
  protocol: http
  routes: [{pathPrefix: /, pool: bench-web}]
$listener_tracing
---
apiVersion: lb/v1
kind: Listener
metadata: {name: bench-https}
spec:
  tier: bench
  port: $agent_https_port
  protocol: https
  certificates: [bench-tls]
  routes: [{pathPrefix: /, pool: bench-web}]
$listener_tracing
---
apiVersion: lb/v1
kind: Pool
metadata: {name: bench-redis}
spec: {protocol: tcp, algorithm: round-robin}
---
apiVersion: lb/v1
kind: Backend
metadata: {name: bench-redis-1}
spec: {pool: bench-redis, address: 127.0.0.1:$redis_port}
---
apiVersion: lb/v1
kind: Listener
metadata: {name: bench-tcp}
spec: {tier: bench, port: $agent_tcp_port, protocol: tcp, pool: bench-redis}
---
apiVersion: lb/v1
kind: Pool
metadata: {name: bench-bulk}
spec: {protocol: tcp, algorithm: round-robin}
---
apiVersion: lb/v1
kind: Backend
metadata: {name: bench-bulk-1}
spec: {pool: bench-bulk, address: 127.0.0.1:$bulk_port}
---
apiVersion: lb/v1
kind: Listener
metadata: {name: bench-bulk}
spec: {tier: bench, port: $agent_bulk_port, protocol: tcp, pool: bench-bulk}
EOF

echo "== starting the backend (nginx static), redis, nginx and HAProxy proxies"
nginx -t -q -c "$work/backend.conf" -p "$work" 2>/dev/null || true
start backend nginx -c "$work/backend.conf" -p "$work"
start redis redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --protected-mode no --dir "$work"
start nginx nginx -c "$work/proxy.conf" -p "$work"
start haproxy haproxy -db -f "$work/haproxy.cfg"
start iperf3 iperf3 --server --bind 127.0.0.1 --port "$bulk_port"

echo "== starting the control plane and lb-agent (tier bench, DOTNET_gcServer=1), applying with lbctl"
export LBCTL_CONFIG="$work/lbctl.yaml"
# As shipped: TLS with the control plane's own CA, the admin token it writes on first start, and
# an agent token for the bench tier.
cp_url="https://127.0.0.1:$cp_port"
start controlplane "$controlplane" --data "$work/cp-data" --listen "$cp_url" --admin "http://127.0.0.1:$cp_admin_port"
wait_for "the control plane's admin token" test -s "$work/cp-data/admin.token"
wait_for "the control plane" "$lbctl" --server "$cp_url" --ca-file "$work/cp-data/tls/ca.crt" --token-file "$work/cp-data/admin.token" status
"$lbctl" token create --role agent --tier bench --description "proxy benchmark" --output-file "$work/agent.token" >/dev/null
start agent env DOTNET_gcServer=1 ${AGENT_ENV:-} "${tracing_env[@]}" "$agent" --control-plane "$cp_url" --ca-file "$work/cp-data/tls/ca.crt" --token-file "$work/agent.token" \
  --tier bench --name bench-1 --admin "http://127.0.0.1:$agent_admin_port" --cache "$work/agent-cache" --bind 127.0.0.1 "${tracing_args[@]}"
# The same agent with every HTTP request on YARP's path, to show what the fast path changes.
start agent_yarp env DOTNET_gcServer=1 ${AGENT_ENV:-} "${tracing_env[@]}" "$agent" --control-plane "$cp_url" --ca-file "$work/cp-data/tls/ca.crt" --token-file "$work/agent.token" \
  --tier bench --name bench-yarp --admin "http://127.0.0.1:$agent_yarp_admin_port" --cache "$work/agent-yarp-cache" --bind 127.0.0.2 --http-fast-path off "${tracing_args[@]}"
"$lbctl" apply -f "$work/bench.yaml" >"$logs/apply.log"

wait_for "the backend" curl -sf "http://127.0.0.1:$backend_port/"
wait_for "redis" redis-cli -h 127.0.0.1 -p "$redis_port" ping
wait_for "nginx (http)" curl -sf "http://127.0.0.1:$nginx_http_port/"
wait_for "nginx (https)" curl -sfk "https://127.0.0.1:$nginx_https_port/"
wait_for "HAProxy (http)" curl -sf "http://127.0.0.1:$haproxy_http_port/"
wait_for "HAProxy (tcp)" redis-cli -h 127.0.0.1 -p "$haproxy_tcp_port" ping
wait_for "lb-agent (http)" curl -sf "http://127.0.0.1:$agent_http_port/"
wait_for "lb-agent, YARP path (http)" curl -sf "http://127.0.0.2:$agent_http_port/"
wait_for "lb-agent (https)" curl -sfk "https://127.0.0.1:$agent_https_port/"
wait_for "lb-agent (tcp)" redis-cli -h 127.0.0.1 -p "$agent_tcp_port" ping
wait_for "iperf3 through lb-agent" iperf3 --client 127.0.0.1 --port "$agent_bulk_port" --bytes 1M
wait_for "iperf3 through HAProxy" iperf3 --client 127.0.0.1 --port "$haproxy_bulk_port" --bytes 1M
redis-cli -h 127.0.0.1 -p "$redis_port" set key:__rand_int__ x >/dev/null

# ---------------------------------------------------------------- measuring
clk=$(getconf CLK_TCK)
cpu_ticks() { # pid: utime+stime of the process (all threads) and its direct children (nginx workers)
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    if [[ -r /proc/$p/stat ]]; then
      total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
    fi
  done
  echo "$total"
}

check_alive() { # label, pid: a proxy that died (or was stopped from outside) invalidates the run
  if [[ $2 != - ]] && ! kill -0 "$2" 2>/dev/null; then
    echo "$1 (pid $2) is no longer running; see $logs (KEEP_WORK=1 keeps them)" >&2
    tail -n 5 "$logs/agent.log" >&2 || true
    exit 1
  fi
}

to_ms() { # 512.00us | 1.23ms | 1.02s -> milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else { printf "%s", v } }'
}

results="$work/results.tsv"   # group, target, round, rps, p50 ms, p99 ms, errors, proxy cpu (cores)
round=0
: >"$results"

rss_kb() { # pid: resident set of the process and its direct children (nginx workers), in KB
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [[ -r /proc/$p/status ]] && total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
  done
  echo "$total"
}
memory="$work/memory.tsv"   # target, idle RSS KB, highest RSS KB seen under the HTTP load
: >"$memory"
# Resident memory before any traffic (configured, listeners open).
for target in lb-agent:$pid_agent lb-agent-yarp:$pid_agent_yarp nginx:$pid_nginx haproxy:$pid_haproxy; do
  printf '%s\t%s\n' "${target%%:*}" "$(rss_kb "${target#*:}")" >>"$memory"
done
note_rss() { # label, pid: the highest RSS seen while a run is under way
  local label=$1 pid=$2 peak=0 now
  while kill -0 "$pid" 2>/dev/null && [[ -e "$work/measuring" ]]; do
    now=$(rss_kb "$pid"); ((now > peak)) && peak=$now
    sleep 0.5
  done
  printf '%s\t%s\n' "$label" "$peak" >>"$work/peaks.tsv"
}

run_wrk() { # group, target label, url, pid of the proxy (or -), extra wrk arguments...
  local group=$1 label=$2 url=$3 pid=$4 out="$logs/wrk-$1-$2-r$round.txt"
  shift 4
  wrk -t"$threads" -c"$connections" -d"${warmup}s" "$@" "$url" >/dev/null 2>&1 || true
  local before=0 after=0
  [[ $pid != - ]] && before=$(cpu_ticks "$pid")
  local sampler=
  if [[ $pid != - ]]; then touch "$work/measuring"; note_rss "$group-$label" "$pid" & sampler=$!; fi
  wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "$@" "$url" >"$out" 2>&1
  rm -f "$work/measuring"
  [[ -n $sampler ]] && wait "$sampler" 2>/dev/null || true
  check_alive "$label" "$pid"
  [[ $pid != - ]] && after=$(cpu_ticks "$pid")
  local rps p50 p99 errors cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  errors=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
  cpu=-
  [[ $pid != - ]] && cpu=$(awk -v t=$((after - before)) -v c="$clk" -v d="$duration" 'BEGIN { printf "%.2f", t / c / d }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$label" "$round" "$rps" "$p50" "$p99" "$errors" "$cpu" >>"$results"
  printf '  %s %-8s %-10s %8s req/s  p50 %6s ms  p99 %6s ms  errors %s  proxy cpu %s\n' "$round" "$group" "$label" "$rps" "$p50" "$p99" "$errors" "$cpu"
}

run_h2load() { # group, target label, url, pid
  local group=$1 label=$2 url=$3 pid=$4 out="$logs/h2load-$1-$2-r$round.txt"
  local before after
  before=$(cpu_ticks "$pid")
  h2load -t"$threads" -c4 -m10 --warm-up-time="${warmup}" -D "$duration" "$url" >"$out" 2>&1
  check_alive "$label" "$pid"
  after=$(cpu_ticks "$pid")
  local rps mean errors cpu
  rps=$(awk '/^finished in/ { gsub(/,/, ""); printf "%.0f", $4 }' "$out")
  mean=$(to_ms "$(awk '/^time for request:/ { print $6 }' "$out")")
  errors=$(awk '/^requests:/ { gsub(/,/, ""); print $10 + 0 }' "$out")
  # h2load measures for duration after its warm-up; the CPU reading spans both.
  cpu=$(awk -v t=$((after - before)) -v c="$clk" -v d=$((duration + warmup)) 'BEGIN { printf "%.2f", t / c / d }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$label" "$round" "$rps" "mean $mean" "-" "$errors" "$cpu" >>"$results"
  printf '  %s %-8s %-10s %8s req/s  mean %6s ms  errors %s  proxy cpu %s\n' "$round" "$group" "$label" "$rps" "$mean" "$errors" "$cpu"
}

run_redis() { # group, target label, port, pid (or -), extra redis-benchmark arguments...
  local group=$1 label=$2 port=$3 pid=$4; shift 4
  local out="$logs/redis-$group-$label-r$round.csv" before=0 after=0 start end
  [[ $pid != - ]] && before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  redis-benchmark -h 127.0.0.1 -p "$port" --csv "$@" >"$out" 2>"$logs/redis-$group-$label-r$round.err"
  end=$(date +%s.%N)
  check_alive "$label" "$pid"
  [[ $pid != - ]] && after=$(cpu_ticks "$pid")
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  local line rps p50 p99 cpu
  line=$(grep -v '^"test"' "$out" | head -n 1 | tr -d '"')
  rps=$(cut -d, -f2 <<<"$line" | awk '{ printf "%.0f", $1 }')
  p50=$(cut -d, -f5 <<<"$line")
  p99=$(cut -d, -f7 <<<"$line")
  cpu=-
  [[ $pid != - ]] && cpu=$(awk -v t=$((after - before)) -v c="$clk" -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", t / c / (e - s) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$label" "$round" "$rps" "$p50" "$p99" "-" "$cpu" >>"$results"
  printf '  %s %-8s %-10s %8s req/s  p50 %6s ms  p99 %6s ms  proxy cpu %s\n' "$round" "$group" "$label" "$rps" "$p50" "$p99" "$cpu"
}

run_bulk() { # group, target label, port, pid (or -), MiB in all, extra iperf3 arguments...
  # iperf3 --bytes counts all streams together; the rate is the receiver's, over the bytes received.
  local group=$1 label=$2 port=$3 pid=$4 mib=$5; shift 5
  local out="$logs/iperf3-$group-$label-r$round.txt" before=0 after=0 start end
  [[ $pid != - ]] && before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  timeout 120 iperf3 --client 127.0.0.1 --port "$port" --bytes "${mib}M" --format m "$@" >"$out" 2>&1 || true
  end=$(date +%s.%N)
  check_alive "$label" "$pid"
  [[ $pid != - ]] && after=$(cpu_ticks "$pid")
  local mbps cpu
  # The receiver's total (the [SUM] line with several streams): Mbits/sec -> MB/s (10^6 bytes).
  mbps=$(awk '/receiver/ { r = $(NF - 2) } END { printf "%.0f", r / 8 }' "$out")
  cpu=-
  [[ $pid != - ]] && cpu=$(awk -v t=$((after - before)) -v c="$clk" -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", t / c / (e - s) }')
  # Stored like a request rate: column 4 is MB/s, so "per proxy CPU-second" becomes MB per CPU-second.
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$label" "$round" "$mbps" "-" "-" "-" "$cpu" >>"$results"
  printf '  %s %-8s %-10s %8s MB/s  proxy cpu %s  (%.1f s)\n' "$round" "$group" "$label" "$mbps" "$cpu" "$(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }')"
}

# Rounds interleave the targets, so that a change in the machine's background load during the
# run falls on every target alike; the report gives the median round of each target.
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds"
  if part http; then
    echo "== (a) HTTP/1.1, wrk -t$threads -c$connections -d${duration}s (after ${warmup}s of warm-up)"
    run_wrk http direct "http://127.0.0.1:$backend_port/" -
    run_wrk http lb-agent "http://127.0.0.1:$agent_http_port/" "$pid_agent"
    run_wrk http lb-agent-yarp "http://127.0.0.2:$agent_http_port/" "$pid_agent_yarp"
    run_wrk http nginx "http://127.0.0.1:$nginx_http_port/" "$pid_nginx"
    run_wrk http haproxy "http://127.0.0.1:$haproxy_http_port/" "$pid_haproxy"
  fi
  if part https; then
    echo "== (b) HTTPS, TLS terminated by the proxy, same certificate (ECDSA P-256, TLS 1.3)"
    run_wrk https lb-agent "https://127.0.0.1:$agent_https_port/" "$pid_agent"
    run_wrk https lb-agent-yarp "https://127.0.0.2:$agent_https_port/" "$pid_agent_yarp"
    run_wrk https nginx "https://127.0.0.1:$nginx_https_port/" "$pid_nginx"
    echo "   a new TLS connection per request (Connection: close)"
    run_wrk tls-new lb-agent "https://127.0.0.1:$agent_https_port/" "$pid_agent" -H "Connection: close"
    run_wrk tls-new nginx "https://127.0.0.1:$nginx_https_port/" "$pid_nginx" -H "Connection: close"
    echo "   HTTP/2 over TLS, h2load -t$threads -c4 -m10 -D $duration"
    run_h2load h2 lb-agent "https://127.0.0.1:$agent_https_port/" "$pid_agent"
    run_h2load h2 nginx "https://127.0.0.1:$nginx_https_port/" "$pid_nginx"
  fi
  if part tcp; then
    echo "== (c) TCP, redis-benchmark GET -c50 and -c32 -n$redis_requests (kept-alive), PING -c20 -n$redis_connect_requests (new connection per request)"
    run_redis get direct "$redis_port" - -t get -c 50 -n "$redis_requests"
    run_redis get lb-agent "$agent_tcp_port" "$pid_agent" -t get -c 50 -n "$redis_requests"
    run_redis get haproxy "$haproxy_tcp_port" "$pid_haproxy" -t get -c 50 -n "$redis_requests"
    run_redis get-c32 direct "$redis_port" - -t get -c 32 -n "$redis_requests"
    run_redis get-c32 lb-agent "$agent_tcp_port" "$pid_agent" -t get -c 32 -n "$redis_requests"
    run_redis get-c32 haproxy "$haproxy_tcp_port" "$pid_haproxy" -t get -c 32 -n "$redis_requests"
    run_redis connect direct "$redis_port" - -t ping_inline -c 20 -k 0 -n "$redis_connect_requests"
    run_redis connect lb-agent "$agent_tcp_port" "$pid_agent" -t ping_inline -c 20 -k 0 -n "$redis_connect_requests"
    run_redis connect haproxy "$haproxy_tcp_port" "$pid_haproxy" -t ping_inline -c 20 -k 0 -n "$redis_connect_requests"
    echo "== (c) TCP bulk, iperf3 to an iperf3 server: ${bulk_mb} MiB over one connection each way, $((2 * bulk_mb)) MiB over 32 connections"
    for target in "direct $bulk_port -" "lb-agent $agent_bulk_port $pid_agent" "haproxy $haproxy_bulk_port $pid_haproxy"; do
      read -r label port pid <<<"$target"
      run_bulk bulk-up "$label" "$port" "$pid" "$bulk_mb"
      run_bulk bulk-down "$label" "$port" "$pid" "$bulk_mb" --reverse
      run_bulk bulk-32 "$label" "$port" "$pid" $((2 * bulk_mb)) --parallel 32
    done
  fi
done

# ---------------------------------------------------------------- report
# One line per target: the median round by requests/s (its latencies), errors summed over the
# rounds, and the median of requests per second of proxy CPU ("efficiency", steadier than the
# rate on a busy machine because it does not depend on how much CPU the proxy was given).
summary="$work/summary.tsv"   # group, target, rps, p50, p99, errors, cpu, requests per proxy core-second
awk -F'\t' '
  function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
  {
    key = $1 SUBSEP $2
    if (!(key in n)) { order[++keys] = key }
    i = ++n[key]
    rps[key, i] = $4; row[key, i] = $0; errors[key] += ($7 == "-" ? 0 : $7)
    eff[key, i] = ($8 == "-" || $8 + 0 == 0) ? "" : $4 / $8
  }
  END {
    for (k = 1; k <= keys; k++) {
      key = order[k]; m = n[key]
      # pick the round whose rps is the median
      delete v; for (i = 1; i <= m; i++) v[i] = rps[key, i]
      sort(v, m); med = v[int((m + 1) / 2)]
      for (i = 1; i <= m; i++) if (rps[key, i] == med) { pick = i; break }
      split(row[key, pick], f, "\t")
      delete e; c = 0; for (i = 1; i <= m; i++) if (eff[key, i] != "") e[++c] = eff[key, i]
      sort(e, c); effm = c ? sprintf("%.0f", e[int((c + 1) / 2)]) : "-"
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f[1], f[2], f[4], f[5], f[6], f[7] == "-" ? "-" : errors[key], f[8], effm
    }
  }' "$results" >"$summary"

value() { awk -F'\t' -v g="$1" -v t="$2" -v c="$3" '$1 == g && $2 == t { print $c }' "$summary"; }
ratio() { # group, a, b, column (3 = requests/s, 8 = requests per proxy core-second) -> a / b
  awk -v a="$(value "$1" "$2" "${4:-3}")" -v b="$(value "$1" "$3" "${4:-3}")" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "-" }'
}

report="$work/report.md"
{
  cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') of commit $commit on $(nproc) cores ($cpu_model), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo),"
  echo "$(. /etc/os-release && echo "$PRETTY_NAME"), .NET $(dotnet --list-runtimes | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }'),"
  echo "$(nginx -v 2>&1 | sed 's/.*: //'), HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }'), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'),"
  echo "$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }'), h2load $(h2load --version | awk '{ print $2 }'). Load generator, proxies and backend share the same 2 cores."
  echo
  echo "Median of $rounds rounds per target (targets interleaved)."
  echo
  echo "| Test | Target | Requests/s | p50 (ms) | p99 (ms) | Errors | Proxy CPU (cores) | Requests per proxy CPU-second | Proxy CPU per request (us) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '$1 !~ /^bulk/ { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, ($8 + 0 > 0 ? sprintf("%.1f", 1000000 / $8) : "-") }' "$summary"
  echo
  echo "Resident memory (MB): idle after start and configuration, and the highest seen under the HTTP/1.1 load (nginx: master and workers)."
  echo
  echo "| Target | Idle | Under HTTP/1.1 load |"
  echo "|---|---:|---:|"
  touch "$work/peaks.tsv"   # none when the HTTP part was not run
  while IFS=$'\t' read -r target idle; do
    peak=$(awk -F'\t' -v l="http-$target" '$1 == l && $2 > m { m = $2 } END { print m + 0 }' "$work/peaks.tsv" 2>/dev/null)
    printf '| %s | %.1f | %s |\n' "$target" "$(awk -v k="$idle" 'BEGIN { print k / 1024 }')" "$(awk -v k="$peak" 'BEGIN { if (k > 0) printf "%.1f", k / 1024; else print "-" }')"
  done <"$memory"
  echo
  echo "Ratios, lb-agent divided by the other (requests/s; in brackets requests per proxy CPU-second):"
  echo
  echo "| Test | agent / nginx | agent / HAProxy | agent / direct |"
  echo "|---|---:|---:|---:|"
  part http && echo "| HTTP/1.1 | $(ratio http lb-agent nginx) ($(ratio http lb-agent nginx 8)) | $(ratio http lb-agent haproxy) ($(ratio http lb-agent haproxy 8)) | $(ratio http lb-agent direct) |"
  part http && echo "| HTTP/1.1, YARP path (--http-fast-path off) | $(ratio http lb-agent-yarp nginx) ($(ratio http lb-agent-yarp nginx 8)) | $(ratio http lb-agent-yarp haproxy) ($(ratio http lb-agent-yarp haproxy 8)) | $(ratio http lb-agent-yarp direct) |"
  part https && echo "| HTTPS (HTTP/1.1) | $(ratio https lb-agent nginx) ($(ratio https lb-agent nginx 8)) | - | - |"
  part https && echo "| HTTPS, new TLS connection per request | $(ratio tls-new lb-agent nginx) ($(ratio tls-new lb-agent nginx 8)) | - | - |"
  part https && echo "| HTTPS (HTTP/2) | $(ratio h2 lb-agent nginx) ($(ratio h2 lb-agent nginx 8)) | - | - |"
  if part tcp; then
    echo "| TCP redis GET -c50 | - | $(ratio get lb-agent haproxy) ($(ratio get lb-agent haproxy 8)) | $(ratio get lb-agent direct) |"
    echo "| TCP redis GET -c32 | - | $(ratio get-c32 lb-agent haproxy) ($(ratio get-c32 lb-agent haproxy 8)) | $(ratio get-c32 lb-agent direct) |"
    echo "| TCP new connection per request | - | $(ratio connect lb-agent haproxy) ($(ratio connect lb-agent haproxy 8)) | $(ratio connect lb-agent direct) |"
    for g in bulk-up bulk-down bulk-32; do
      echo "| TCP $g (MB/s; MB per CPU-second) | - | $(ratio $g lb-agent haproxy) ($(ratio $g lb-agent haproxy 8)) | $(ratio $g lb-agent direct) |"
    done
    echo
    echo "TCP bulk (iperf3, ${bulk_mb} MiB over one connection client to backend (up) and backend to client (down), $((2 * bulk_mb)) MiB over 32 connections), median round:"
    echo
    echo "| Test | Target | MB/s | Proxy CPU (cores) | Proxy CPU-seconds per GiB |"
    echo "|---|---|---:|---:|---:|"
    awk -F'\t' '$1 ~ /^bulk/ { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $7, ($8 == "-" || $8 + 0 == 0) ? "-" : sprintf("%.2f", 1073.741824 / $8) }' "$summary"
  fi
  if part http || part https; then
    echo
    echo "Against the targets of issue 14 (CPU per request = 1 / requests per proxy CPU-second):"
    echo
    echo "| Measure | lb-agent / nginx | target |"
    echo "|---|---:|---|"
    part http && echo "| HTTP/1.1 CPU per request | $(ratio http nginx lb-agent 8) | at most 1.3 |"
    part http && echo "| HTTP/1.1 requests/s | $(ratio http lb-agent nginx) | at least 0.8 |"
    part http && echo "| HTTP/1.1 p99, agent minus nginx (ms) | $(awk -v a="$(value http lb-agent 5)" -v b="$(value http nginx 5)" 'BEGIN { printf "%+.2f", a - b }') | at most +1 |"
    part https && echo "| HTTPS (kept alive) CPU per request | $(ratio https nginx lb-agent 8) | at most 1.5 |"
    part https && echo "| New TLS connections per second | $(ratio tls-new lb-agent nginx) | at least 0.7 |"
    part https && echo "| HTTP/2 (h2load -c4 -m10) CPU per request | $(ratio h2 nginx lb-agent 8) | reported |"
  fi
} >"$report"

echo
cat "$report"
last_run=last-run.md
[[ "$tracing" == 1 ]] && last_run=last-run-tracing.md
cp "$report" "$here/$last_run"
echo
echo "report written to agent/Agent.Benchmarks/proxy/$last_run"

if ((update_readme)); then
  start_marker='<!-- proxy-results:start -->'
  end_marker='<!-- proxy-results:end -->'
  if grep -qF "$start_marker" "$readme"; then
    awk -v s="$start_marker" -v e="$end_marker" -v f="$report" '
      $0 == s { print; while ((getline line < f) > 0) print line; skip = 1; next }
      $0 == e { skip = 0 }
      !skip { print }' "$readme" >"$work/README.md"
    cp "$work/README.md" "$readme"
    echo "results written into agent/Agent.Benchmarks/README.md"
  else
    echo "no $start_marker marker in $readme; README left unchanged" >&2
  fi
fi

# The log level field (warn:, fail:, crit:), not the words, which also appear in info lines.
if grep -qE " (warn|fail|crit): " "$logs/agent.log"; then
  echo "note: the agent logged warnings during the run (see below)"
  grep -E " (warn|fail|crit): " "$logs/agent.log" | tail -n 5
fi
