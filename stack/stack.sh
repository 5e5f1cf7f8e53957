#!/usr/bin/env bash
# Local service stack: Apache Kafka (KRaft), Apache Cassandra, Redis on 127.0.0.1.
#   bash stack/stack.sh up       fetch what is missing, start what is not running, wait until all answer
#   bash stack/stack.sh down     stop what this script started (pidfiles under stack/.data)
#   bash stack/stack.sh status   state of each service (exit 0 only if all answer)
#   bash stack/stack.sh restart kafka|cassandra|redis [SECONDS]
#                                stop one service gracefully and start it again on the same data
#                                (SECONDS: stay down that long in between)
# Kafka and Cassandra run on Java 17 from Maven Central artifacts; Redis from
# Debian's redis-server package (plain port, and a TLS port with an ACL user). See stack/README.md.
set -euo pipefail
export LC_ALL=C

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=${FLOWCRAFT_STACK_DATA:-$STACK_DIR/.data}
CACHE=${FLOWCRAFT_STACK_CACHE:-$STACK_DIR/.cache}

KAFKA_PORT=${FLOWCRAFT_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${FLOWCRAFT_KAFKA_CONTROLLER_PORT:-9093}
CASSANDRA_PORT=${FLOWCRAFT_CASSANDRA_PORT:-9042}
CASSANDRA_STORAGE_PORT=${FLOWCRAFT_CASSANDRA_STORAGE_PORT:-7000}
REDIS_PORT=${FLOWCRAFT_REDIS_PORT:-6379}
REDIS_TLS_PORT=${FLOWCRAFT_REDIS_TLS_PORT:-6380}
# The ACL user for the TLS port (it exists on the plain port too; `default` stays as it was).
REDIS_TLS_USER=flowcraft-tls
REDIS_TLS_PASSWORD=flowcraft-tls-password

KAFKA_HEAP_MIN=${FLOWCRAFT_KAFKA_HEAP_MIN:-256m}
KAFKA_HEAP=${FLOWCRAFT_KAFKA_HEAP:-768m}
CASSANDRA_HEAP_MIN=${FLOWCRAFT_CASSANDRA_HEAP_MIN:-512m}
CASSANDRA_HEAP=${FLOWCRAFT_CASSANDRA_HEAP:-2g}

CASSANDRA_TIMEOUT=${FLOWCRAFT_CASSANDRA_TIMEOUT:-180}
KAFKA_TIMEOUT=${FLOWCRAFT_KAFKA_TIMEOUT:-90}
REDIS_TIMEOUT=${FLOWCRAFT_REDIS_TIMEOUT:-30}
STOP_GRACE=${FLOWCRAFT_STOP_GRACE:-30}

SERVICES=(cassandra kafka redis)

pom_prop() { sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1" | head -n1; }
KAFKA_VERSION=$(pom_prop "$STACK_DIR/kafka/pom.xml" kafka.version)
CASSANDRA_VERSION=$(pom_prop "$STACK_DIR/cassandra/pom.xml" cassandra.version)
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
CASSANDRA_LIBS=$CACHE/cassandra-$CASSANDRA_VERSION/libs

T0=$EPOCHREALTIME
log() { printf '[stack %6.1fs] %s\n' "$(elapsed "$T0")" "$*"; }
err() { printf '[stack] ERROR: %s\n' "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

port_of() {
  case $1 in
    kafka) echo "$KAFKA_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
  esac
}
timeout_of() {
  case $1 in
    kafka) echo "$KAFKA_TIMEOUT" ;;
    cassandra) echo "$CASSANDRA_TIMEOUT" ;;
    redis) echo "$REDIS_TIMEOUT" ;;
  esac
}
pidfile_of() { echo "$DATA/$1/$1.pid"; }
# Logs shown when a service fails: main log first, then the raw stdout/stderr.
logs_of() {
  case $1 in
    kafka) echo "$DATA/kafka/logs/server.log $DATA/kafka/logs/kafka.out" ;;
    cassandra) echo "$DATA/cassandra/logs/system.log $DATA/cassandra/logs/cassandra.out" ;;
    redis) echo "$DATA/redis/redis.log $DATA/redis/redis.out" ;;
  esac
}

# A pid from our pidfile that is alive and is still the process we started
# (guards against pid reuse after a reboot or a crash).
our_pid() {
  local svc=$1 f pid
  f=$(pidfile_of "$svc")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case $svc in
    redis) [[ $cmd == *redis-server* ]] || return 1 ;;
    *) [[ $cmd == *"-Dflowcraft.stack.service=$svc "* ]] || return 1 ;;
  esac
  echo "$pid"
}

probe() { node "$STACK_DIR/probe.js" "$1" "127.0.0.1:$(port_of "$1")" --timeout "${2:-3000}" "${@:3}"; }
answers() { probe "$1" "${2:-3000}" >/dev/null 2>&1; }
port_open() { node "$STACK_DIR/probe.js" tcp "127.0.0.1:$1" --timeout 1000 --quiet; }

show_logs() {
  local svc=$1 f
  for f in $(logs_of "$svc"); do
    if [[ -s $f ]]; then
      echo "----- last 40 lines of $f -----" >&2
      tail -n 40 "$f" >&2
    fi
  done
  echo "-----" >&2
}

# ---------------------------------------------------------------- prerequisites
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then err "need $*, and apt-get is not available"; exit 1; fi
  local sudo=""
  mkdir -p "$DATA/logs"
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$DATA/logs/apt.log" 2>&1; then
      err "apt-get update failed:"; tail -n 40 "$DATA/logs/apt.log" >&2; exit 1
    fi
    apt_updated=1
  fi
  log "apt-get install -y $*"
  local t=$EPOCHREALTIME
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$DATA/logs/apt.log" 2>&1; then
    err "apt-get install $* failed:"; tail -n 40 "$DATA/logs/apt.log" >&2; exit 1
  fi
  log "installed $* in $(elapsed "$t")s"
}

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n1
}

ensure_java() {
  if ! command -v java >/dev/null; then apt_install openjdk-17-jre-headless; fi
  local major
  major=$(java_major)
  if [[ -z $major || $major -lt 17 ]]; then
    err "Java 17 or later is needed (found: $(java -version 2>&1 | head -n1)). Set PATH or JAVA_HOME."
    exit 1
  fi
}

ensure_node() {
  command -v node >/dev/null || { err "node is needed for stack/probe.js"; exit 1; }
}

# Resolve a pom's dependencies into $CACHE/<name>-<version>/libs once; the
# stamp records the pom's checksum so a changed pom re-resolves.
fetch_libs() {
  local name=$1 version=$2 pomdir=$3 libs=$4
  local stamp=$libs/../.complete sum
  sum=$(sha256sum "$pomdir/pom.xml" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$sum" ]]; then
    log "$name $version: artifacts cached ($(ls "$libs" | wc -l) jars in ${libs#"$STACK_DIR"/})"
    return 0
  fi
  command -v mvn >/dev/null || apt_install maven
  local t=$EPOCHREALTIME tmp=$libs.tmp.$$ mlog=$DATA/logs/mvn-$name.log
  mkdir -p "$DATA/logs"
  log "$name $version: fetching artifacts with Maven (mvn -q dependency:copy-dependencies)"
  rm -rf "$tmp"
  if ! mvn -B -q -f "$pomdir/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mlog" 2>&1; then
    err "$name: Maven could not resolve the artifacts; last lines of $mlog:"
    tail -n 40 "$mlog" >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$libs"
  mv "$tmp" "$libs"
  echo "$sum" >"$stamp"
  log "$name $version: fetched $(ls "$libs" | wc -l) jars ($(du -sh "$libs" | cut -f1)) in $(elapsed "$t")s"
}

render() { # render TEMPLATE DEST KEY=VALUE...
  local src=$1 dst=$2 kv
  shift 2
  local args=()
  for kv in "$@"; do args+=(-e "s#@${kv%%=*}@#${kv#*=}#g"); done
  sed "${args[@]}" "$src" >"$dst"
}

# ------------------------------------------------------------------- services
# Each start_* launches the process in its own session, detached from the
# caller's terminal and pipes (stdin /dev/null, output to files, lock fd
# closed), and writes the pidfile.

# A self-signed certificate for the CQL port's optional TLS, made once; clients trust
# $DATA/cassandra/tls/ca.pem (the tests connect both with and without TLS).
cassandra_tls_keystore() {
  local tls=$1
  [[ -f $tls/keystore.p12 && -f $tls/ca.pem ]] && return 0
  mkdir -p "$tls"
  keytool -genkeypair -alias cassandra -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=localhost" -ext "SAN=IP:127.0.0.1,DNS:localhost" \
    -keystore "$tls/keystore.p12" -storetype PKCS12 \
    -storepass flowcraft-local -keypass flowcraft-local >"$tls/keytool.log" 2>&1
  keytool -exportcert -rfc -alias cassandra -keystore "$tls/keystore.p12" -storetype PKCS12 \
    -storepass flowcraft-local -file "$tls/ca.pem" >>"$tls/keytool.log" 2>&1
}

start_cassandra() {
  local d=$DATA/cassandra
  mkdir -p "$d/conf" "$d/logs" "$d/data" "$d/commitlog" "$d/saved_caches" "$d/hints" "$d/cdc_raw"
  cassandra_tls_keystore "$d/tls"
  render "$STACK_DIR/cassandra/cassandra.yaml" "$d/conf/cassandra.yaml" \
    DATA_DIR="$d" STORAGE_PORT="$CASSANDRA_STORAGE_PORT" CQL_PORT="$CASSANDRA_PORT" TLS_DIR="$d/tls"
  local opts=()
  mapfile -t opts < <(grep -v -E '^[[:space:]]*(#|$)' "$STACK_DIR/cassandra/jvm17.options")
  local jamm
  jamm=$(ls "$CASSANDRA_LIBS"/jamm-*.jar 2>/dev/null | head -n1 || true)
  if [[ -n $jamm ]]; then opts+=("-javaagent:$jamm"); fi
  (
    cd "$d"
    exec 9>&- setsid java -Dflowcraft.stack.service=cassandra \
      "-Xms$CASSANDRA_HEAP_MIN" "-Xmx$CASSANDRA_HEAP" "${opts[@]}" \
      "-Dcassandra.config=file://$d/conf/cassandra.yaml" \
      "-Dcassandra.storagedir=$d" \
      "-Dcassandra.logdir=$d/logs" \
      "-Dlogback.configurationFile=$STACK_DIR/cassandra/logback.xml" \
      -cp "$CASSANDRA_LIBS/*" org.apache.cassandra.service.CassandraDaemon \
      </dev/null >"$d/logs/cassandra.out" 2>&1
  ) &
  echo $! >"$(pidfile_of cassandra)"
  log "cassandra: starting $CASSANDRA_VERSION (pid $!, heap $CASSANDRA_HEAP_MIN..$CASSANDRA_HEAP, CQL 127.0.0.1:$CASSANDRA_PORT, storage 127.0.0.1:$CASSANDRA_STORAGE_PORT)"
}

kafka_java() { # common JVM command line for the broker and its tools
  local d=$DATA/kafka
  echo "-Dlog4j2.configurationFile=$STACK_DIR/kafka/log4j2.properties"
  echo "-Dkafka.logs.dir=$d/logs"
  echo "-Djava.awt.headless=true"
}

start_kafka() {
  local d=$DATA/kafka
  mkdir -p "$d/conf" "$d/logs" "$d/data"
  render "$STACK_DIR/kafka/server.properties" "$d/conf/server.properties" \
    KAFKA_PORT="$KAFKA_PORT" CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" LOG_DIR="$d/data"
  local common=()
  mapfile -t common < <(kafka_java)
  if [[ ! -f $d/data/meta.properties ]]; then
    local t=$EPOCHREALTIME cid
    if [[ -s $d/cluster.id ]]; then
      cid=$(<"$d/cluster.id")
    else # a Kafka cluster id: 16 random bytes (UUID v4 layout), base64url without padding; never
      # starting with '-', which kafka-storage would read as an option (Kafka's own ids avoid it too)
      cid=$(node -e "const c=require('crypto');let id;do{const b=c.randomBytes(16);b[6]=(b[6]&15)|64;b[8]=(b[8]&63)|128;id=b.toString('base64url')}while(id.startsWith('-'));process.stdout.write(id)")
      echo "$cid" >"$d/cluster.id"
    fi
    log "kafka: formatting storage (KRaft, cluster id $cid)"
    if ! java -Xmx256m "${common[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
          -t "$cid" -c "$d/conf/server.properties" >"$d/logs/format.out" 2>&1; then
      err "kafka: storage format failed:"
      tail -n 40 "$d/logs/format.out" >&2
      return 1
    fi
    log "kafka: formatted in $(elapsed "$t")s (metadata.version $(sed -n 's/.*with metadata.version \([^ ]*\)\.$/\1/p' "$d/logs/format.out" | head -n1))"
  fi
  (
    cd "$d"
    exec 9>&- setsid java -Dflowcraft.stack.service=kafka \
      "-Xms$KAFKA_HEAP_MIN" "-Xmx$KAFKA_HEAP" \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.net.preferIPv4Stack=true \
      "${common[@]}" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$d/conf/server.properties" \
      </dev/null >"$d/logs/kafka.out" 2>&1
  ) &
  echo $! >"$(pidfile_of kafka)"
  log "kafka: starting $KAFKA_VERSION (pid $!, heap $KAFKA_HEAP_MIN..$KAFKA_HEAP, client 127.0.0.1:$KAFKA_PORT, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
}

# PEM files for Redis's TLS port, made once: a CA, a server certificate for 127.0.0.1 and
# localhost, and a client certificate (the port accepts clients with or without one).
# Clients trust $DATA/redis/tls/ca.pem.
redis_tls_files() {
  local tls=$1 f
  local files=(ca.pem server.pem server.key client.pem client.key)
  local missing=0
  for f in "${files[@]}"; do [[ -f $tls/$f ]] || missing=1; done
  [[ $missing -eq 1 ]] || return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$tls"
  if ! (
    set -e
    cd "$tls"
    rm -f "${files[@]}" ca.key
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=flowcraft local Redis CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile server.ext -out server.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=flowcraft-tls-client" -keyout client.key -out client.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile client.ext -out client.pem
    rm -f server.csr client.csr server.ext client.ext ca.srl
    chmod 600 ca.key server.key client.key
  ) >"$tls/openssl.log" 2>&1; then
    err "redis: could not make the TLS certificates with openssl:"
    tail -n 20 "$tls/openssl.log" >&2
    return 1
  fi
}

# PING over TLS as the ACL user, verifying the server against the stack's CA.
redis_tls_answers() {
  local tls=$DATA/redis/tls
  [[ -f $tls/ca.pem ]] || return 1
  [[ $(timeout 5 redis-cli --tls --cacert "$tls/ca.pem" -h 127.0.0.1 -p "$REDIS_TLS_PORT" \
        --user "$REDIS_TLS_USER" --pass "$REDIS_TLS_PASSWORD" --no-auth-warning ping 2>/dev/null) == PONG ]]
}

start_redis() {
  local d=$DATA/redis
  mkdir -p "$d"
  redis_tls_files "$d/tls" || return 1
  (
    cd "$d"
    exec 9>&- setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
      --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$d/tls/server.pem" --tls-key-file "$d/tls/server.key" \
      --tls-ca-cert-file "$d/tls/ca.pem" --tls-auth-clients optional \
      --user "$REDIS_TLS_USER" on ">$REDIS_TLS_PASSWORD" '~*' '&*' '+@all' \
      --daemonize no --dir "$d" --logfile "$d/redis.log" \
      --save "" --appendonly yes --appendfsync everysec \
      </dev/null >"$d/redis.out" 2>&1
  ) &
  echo $! >"$(pidfile_of redis)"
  log "redis: starting $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (pid $!, 127.0.0.1:$REDIS_PORT, TLS 127.0.0.1:$REDIS_TLS_PORT, AOF in ${d#"$STACK_DIR"/}/appendonlydir, fsync every second)"
}

# ------------------------------------------------------------------ commands
# Decide what to do with one service before starting anything.
# Prints one of: running | external | start | busy
plan() {
  local svc=$1 pid
  if pid=$(our_pid "$svc"); then
    if answers "$svc"; then echo running; else echo starting; fi
    return
  fi
  rm -f "$(pidfile_of "$svc")"
  if port_open "$(port_of "$svc")"; then
    if answers "$svc"; then echo external; else echo busy; fi
    return
  fi
  echo start
}

# watch SERVICE: poll until the service answers (exit 0), its process exits
# or the timeout passes (exit 1, with the log tail). Runs in the background.
declare -A WATCHERS=()
watch() {
  local svc=$1 t=$EPOCHREALTIME line limit
  limit=$(timeout_of "$svc")
  while :; do
    local extra=()
    if [[ $svc == kafka ]]; then extra=(--warm); fi
    if line=$(probe "$svc" 5000 "${extra[@]}" 2>/dev/null) && { [[ $svc != redis ]] || redis_tls_answers; }; then
      if [[ $svc == redis ]]; then line+=", TLS 127.0.0.1:$REDIS_TLS_PORT as $REDIS_TLS_USER"; fi
      log "$svc: READY in $(elapsed "$t")s -- ${line#*ok: }"
      return 0
    elif ! our_pid "$svc" >/dev/null; then
      err "$svc: the process exited before answering (after $(elapsed "$t")s)"
      show_logs "$svc"
      rm -f "$(pidfile_of "$svc")"
      return 1
    elif (($(printf '%.0f' "$(elapsed "$t")") >= limit)); then
      err "$svc: not ready within ${limit}s; stopping it"
      show_logs "$svc"
      stop_one "$svc" 10 >/dev/null || true
      return 1
    fi
    sleep 0.25
  done
}
start_watch() { watch "$1" 9>&- & WATCHERS[$1]=$!; }

# One stack.sh up/down at a time (fd 9; every service closes it on launch).
take_lock() {
  exec 9>"$DATA/.lock"
  if ! flock -n 9; then
    log "another stack.sh up/down is running: waiting for it"
    if ! flock -w 600 9; then err "another stack.sh still holds $DATA/.lock after 600s"; exit 1; fi
  fi
}

cmd_up() {
  ensure_node
  mkdir -p "$DATA" "$CACHE"
  take_lock

  local svc p
  declare -A PLAN=()
  for svc in "${SERVICES[@]}"; do
    p=$(plan "$svc")
    PLAN[$svc]=$p
    case $p in
      running) log "$svc: already running (pid $(our_pid "$svc"), 127.0.0.1:$(port_of "$svc") answers)" ;;
      starting) log "$svc: process $(our_pid "$svc") already started, not answering yet: waiting for it" ;;
      external) log "$svc: 127.0.0.1:$(port_of "$svc") already answers from a process this script did not start: using it" ;;
      busy)
        err "$svc: port 127.0.0.1:$(port_of "$svc") is taken by another process that does not answer as $svc"
        exit 1 ;;
    esac
  done
  # A Redis started by an older stack.sh has no TLS port: restart it on its data (SIGTERM
  # fsyncs the AOF first).
  if [[ ${PLAN[redis]} == running ]] && ! redis_tls_answers; then
    log "redis: 127.0.0.1:$REDIS_TLS_PORT (TLS) does not answer: restarting redis on its data to add it"
    log "$(stop_one redis "$STOP_GRACE")"
    PLAN[redis]=start
  elif [[ ${PLAN[redis]} == external ]] && ! redis_tls_answers; then
    log "redis: 127.0.0.1:$REDIS_TLS_PORT does not answer TLS as $REDIS_TLS_USER: the Redis TLS tests will fail"
  fi
  for p in "$KAFKA_CONTROLLER_PORT" "$CASSANDRA_STORAGE_PORT" "$REDIS_TLS_PORT"; do
    if [[ ${PLAN[kafka]} == start && $p == "$KAFKA_CONTROLLER_PORT" ]] || [[ ${PLAN[cassandra]} == start && $p == "$CASSANDRA_STORAGE_PORT" ]] ||
      [[ ${PLAN[redis]} == start && $p == "$REDIS_TLS_PORT" ]]; then
      if port_open "$p"; then err "port 127.0.0.1:$p is taken by another process"; exit 1; fi
    fi
  done

  if [[ ${PLAN[cassandra]} == start || ${PLAN[kafka]} == start ]]; then ensure_java; fi

  # Cassandra first: it is the slowest to become ready.
  if [[ ${PLAN[cassandra]} == start ]]; then
    fetch_libs cassandra "$CASSANDRA_VERSION" "$STACK_DIR/cassandra" "$CASSANDRA_LIBS"
    start_cassandra
    start_watch cassandra
  fi
  if [[ ${PLAN[kafka]} == start ]]; then
    fetch_libs kafka "$KAFKA_VERSION" "$STACK_DIR/kafka" "$KAFKA_LIBS"
    if start_kafka; then start_watch kafka; else PLAN[kafka]=failed; fi
  fi
  if [[ ${PLAN[redis]} == start ]]; then
    if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
    if start_redis; then start_watch redis; else PLAN[redis]=failed; fi
  fi
  for svc in "${SERVICES[@]}"; do
    if [[ ${PLAN[$svc]} == starting ]]; then start_watch "$svc"; fi
  done

  # Every launched service has a watcher (started right after the launch, so
  # the times are exact even while later steps run); wait for all of them.
  local failed=()
  for svc in "${SERVICES[@]}"; do
    if [[ ${PLAN[$svc]} == failed ]]; then failed+=("$svc"); fi
  done
  if [[ ${#WATCHERS[@]} -gt 0 ]]; then log "waiting for: ${!WATCHERS[*]}"; fi
  for svc in "${!WATCHERS[@]}"; do
    wait "${WATCHERS[$svc]}" || failed+=("$svc")
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    err "failed to start: ${failed[*]} (logs under $DATA)"
    exit 1
  fi
  log "stack up: kafka $KAFKA_VERSION 127.0.0.1:$KAFKA_PORT, cassandra $CASSANDRA_VERSION 127.0.0.1:$CASSANDRA_PORT, redis 127.0.0.1:$REDIS_PORT (TLS $REDIS_TLS_PORT) (data in $DATA)"
}

# A process that has not exited yet (a zombie waiting for its reaper has exited).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_one SERVICE GRACE_SECONDS: SIGTERM, then SIGKILL after the grace period.
stop_one() {
  local svc=$1 grace=$2 pid t=$EPOCHREALTIME
  if ! pid=$(our_pid "$svc"); then
    rm -f "$(pidfile_of "$svc")"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i=0
  while alive "$pid" && ((i < grace * 10)); do
    sleep 0.1
    i=$((i + 1))
  done
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
    echo "$svc: stopped (pid $pid, SIGKILL after ${grace}s grace)"
  else
    echo "$svc: stopped (pid $pid, SIGTERM, $(elapsed "$t")s)"
  fi
  rm -f "$(pidfile_of "$svc")"
}

cmd_down() {
  mkdir -p "$DATA"
  take_lock
  local svc any=0 pids=() out
  out=$(mktemp)
  for svc in "${SERVICES[@]}"; do
    if our_pid "$svc" >/dev/null; then
      any=1
      log "$svc: stopping (pid $(our_pid "$svc"))"
      (stop_one "$svc" "$STOP_GRACE" >>"$out" || true) &
      pids+=($!)
    else
      rm -f "$(pidfile_of "$svc")"
      log "$svc: not running (nothing started by this script)"
    fi
  done
  for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" || true; done
  while read -r line; do log "$line"; done <"$out"
  rm -f "$out"
  [[ $any -eq 1 ]] || log "nothing to stop"
}

cmd_status() {
  ensure_node
  local svc pid line rc=0
  for svc in "${SERVICES[@]}"; do
    local port
    port=$(port_of "$svc")
    if pid=$(our_pid "$svc"); then
      if line=$(probe "$svc" 3000 2>&1); then
        printf '%-10s running, answering   pid %-8s 127.0.0.1:%-5s %s\n' "$svc" "$pid" "$port" "${line#*ok: }"
      else
        printf '%-10s running, NOT answering pid %-8s 127.0.0.1:%-5s %s\n' "$svc" "$pid" "$port" "${line##*: }"
        rc=1
      fi
    elif line=$(probe "$svc" 3000 2>/dev/null); then
      printf '%-10s external, answering  (not started by stack.sh) 127.0.0.1:%-5s %s\n' "$svc" "$port" "${line#*ok: }"
    else
      printf '%-10s stopped              %-12s 127.0.0.1:%-5s\n' "$svc" "" "$port"
      rc=1
    fi
  done
  if redis_tls_answers; then
    printf '%-10s answering                         127.0.0.1:%-5s TLS, ACL user %s\n' "redis-tls" "$REDIS_TLS_PORT" "$REDIS_TLS_USER"
  else
    printf '%-10s NOT answering                     127.0.0.1:%-5s TLS, ACL user %s\n' "redis-tls" "$REDIS_TLS_PORT" "$REDIS_TLS_USER"
    if our_pid redis >/dev/null; then rc=1; fi
  fi
  echo "data: $DATA   cache: $CACHE"
  return $rc
}

# restart SERVICE [SECONDS]: stop it gracefully (SIGTERM; Kafka and Cassandra flush,
# Redis fsyncs its AOF), wait for the process to exit (and SECONDS more, default 0),
# start it again on the same data directory and wait until it answers. The last line reads
#   <service>: restarted, down <s>s (stop <s>s, start until answering <s>s)
# where "down" runs from the SIGTERM until the service answers again.
cmd_restart() {
  local svc=${1:-} pause=${2:-0} s
  local known=0
  for s in "${SERVICES[@]}"; do [[ $s == "$svc" ]] && known=1; done
  if [[ $known -eq 0 || ! $pause =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    echo "usage: bash stack/stack.sh restart kafka|cassandra|redis [SECONDS]" >&2
    exit 2
  fi
  ensure_node
  mkdir -p "$DATA" "$CACHE"
  take_lock
  local t=$EPOCHREALTIME stopped_after=0 pid
  if pid=$(our_pid "$svc"); then
    log "$svc: stopping (pid $pid)"
    log "$(stop_one "$svc" "$STOP_GRACE")"
    stopped_after=$(elapsed "$t")
  else
    rm -f "$(pidfile_of "$svc")"
    if port_open "$(port_of "$svc")"; then
      err "$svc: 127.0.0.1:$(port_of "$svc") is served by a process this script did not start: not restarting it"
      exit 1
    fi
    log "$svc: not running: starting it"
  fi
  if [[ $pause != 0 ]]; then
    log "$svc: staying down for ${pause}s"
    sleep "$pause"
  fi
  local t_start=$EPOCHREALTIME
  case $svc in
    cassandra)
      ensure_java
      fetch_libs cassandra "$CASSANDRA_VERSION" "$STACK_DIR/cassandra" "$CASSANDRA_LIBS"
      start_cassandra ;;
    kafka)
      ensure_java
      fetch_libs kafka "$KAFKA_VERSION" "$STACK_DIR/kafka" "$KAFKA_LIBS"
      start_kafka || exit 1 ;;
    redis)
      if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
      start_redis || exit 1 ;;
  esac
  if ! watch "$svc" 9>&-; then
    err "$svc: failed to restart (logs under $DATA/$svc)"
    exit 1
  fi
  log "$svc: restarted, down $(elapsed "$t")s (stop ${stopped_after}s, start until answering $(elapsed "$t_start")s)"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_restart "${2:-}" "${3:-0}" ;;
  *)
    echo "usage: bash stack/stack.sh up|down|status|restart <service> [seconds]" >&2
    exit 2
    ;;
esac
