#!/usr/bin/env bash
# start-rgw.sh - the integration suite's S3 server: a throw-away single-node Ceph cluster (1 mon + 1 OSD, no mgr)
# with the RADOS Gateway on 127.0.0.1, from Debian's packages. Never touches anything outside $S3_DATA_DIR.
#
#   start-rgw.sh start    install (apt, idempotent) + fresh cluster in $S3_DATA_DIR + start + S3 user, then print env
#                         and S3_STARTED=1. If a server started by this script is already up on the port, just
#                         print env and S3_STARTED=0 (fast, keeps the data) unless RGW_FRESH=1.
#   start-rgw.sh stop     stop the daemons this script started (by the PIDs it recorded) and wait for them
#   start-rgw.sh status   exit 0 when the S3 endpoint answers
#   start-rgw.sh env      print S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY/S3_REGION lines (eval-able)
#
# Settings (environment):
#   S3_PORT=7480  S3_ACCESS_KEY=rgwtestaccess  S3_SECRET_KEY=rgwtestsecret0123456789
#   S3_DATA_DIR=${TMPDIR:-/tmp}/r2mirror-rgw  (wiped by a real "start" unless RGW_KEEP_DATA=1; everything lives here)
#   RGW_FRESH=1                      restart with a fresh cluster even if ours is already up
#   S3_BUCKETS="demo other"          create these buckets once the server is up (for trying r2mirror by hand)
#   CEPH_MON_PORT=$((S3_PORT+1))     msgr2 port of the monitor (loopback only)
#   CEPH_OBJECTSTORE=bluestore       bluestore (20 GiB sparse file in the data dir; ~250 MiB OSD RSS) | memstore
#                                    (objects in OSD RAM: ~4 s faster start, but the OSD grows with every byte stored)
#   RGW_TCP_NODELAY=1                beast tcp_nodelay (without it small GETs stall on Nagle/delayed-ACK: ~2x slower)
#   CEPH_MEMSTORE_BYTES=4294967296   memstore capacity (RAM is only used as objects are written)
#   RGW_START_TIMEOUT=120            seconds to wait for each stage
# Installing needs root and apt-get; the daemons run as the caller. Everything binds to 127.0.0.1 only.
# Instead of this server, the suite can use any S3 endpoint (e.g. a real R2 bucket's account endpoint):
#   S3_ENDPOINT=https://<account>.r2.cloudflarestorage.com S3_ACCESS_KEY=... S3_SECRET_KEY=... npm test
set -euo pipefail

CMD=${1:-start}
S3_PORT=${S3_PORT:-7480}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-rgwtestaccess}
S3_SECRET_KEY=${S3_SECRET_KEY:-rgwtestsecret0123456789}
S3_DATA_DIR=${S3_DATA_DIR:-${TMPDIR:-/tmp}/r2mirror-rgw}
CEPH_MON_PORT=${CEPH_MON_PORT:-$((S3_PORT + 1))}
CEPH_OBJECTSTORE=${CEPH_OBJECTSTORE:-bluestore}
CEPH_MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-4294967296}
RGW_START_TIMEOUT=${RGW_START_TIMEOUT:-120}
D=${S3_DATA_DIR%/}
CONF=$D/ceph.conf
ENDPOINT=http://127.0.0.1:$S3_PORT
PACKAGES=(radosgw ceph-mon ceph-osd)

log() { echo "[start-rgw $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; for f in "$D"/log/*.log; do [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done; exit 1; }

need_install_help() { # $1 = what is missing; exits
  cat >&2 <<EOF
[start-rgw] ERROR: $1
The integration tests need a local Ceph RADOS Gateway: the Debian/Ubuntu packages ${PACKAGES[*]} (+ curl).
Either install them once:
    sudo apt-get install ${PACKAGES[*]} curl
or point the suite at an existing S3 endpoint (a real R2 bucket, MinIO, ...) and skip this script:
    S3_ENDPOINT=https://<account>.r2.cloudflarestorage.com S3_ACCESS_KEY=... S3_SECRET_KEY=... npm test
Unit tests alone need no server: npm run test:unit
EOF
  exit 1
}

apt_install() { # apt_install <pkg...>: only as root with apt-get, else explain what to do
  command -v apt-get >/dev/null || need_install_help "missing: $* and there is no apt-get on this machine"
  [ "$(id -u)" = 0 ] || need_install_help "missing: $* and installing needs root (this script runs as $(id -un))"
  log "installing $* with apt-get (first run only)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "$@" >/dev/null; } \
    || need_install_help "apt-get install $* failed"
}

install_ceph() {
  local missing=() p
  for p in radosgw ceph-mon ceph-osd; do command -v "$p" >/dev/null || missing+=("$p"); done
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${PACKAGES[@]}" curl
  command -v uuidgen >/dev/null || apt_install uuid-runtime
}

http_up() { # any HTTP answer from the endpoint counts as "up"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ENDPOINT/" 2>/dev/null) || true
  [ -n "$code" ] && [ "$code" != "000" ]
}

ours_running() { # all three daemons this script recorded are alive
  local f
  for f in "$D"/run/mon.pid "$D"/run/osd.pid "$D"/run/rgw.pid; do
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || return 1
  done
}

stop_all() {
  local pids=() f p
  for f in "$D"/run/rgw.pid "$D"/run/osd.pid "$D"/run/mon.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); rm -f "$f"
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; pids+=("$p"); fi
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then log "PID $p did not stop, sending KILL"; kill -KILL "$p" 2>/dev/null || true; fi
  done
  [ ${#pids[@]} -gt 0 ] && log "stopped PIDs ${pids[*]}"
  return 0
}

wait_for() { # wait_for <what> <timeout> <cmd...>
  local what=$1 t=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${t}s waiting for $what"
    sleep 0.3
  done
}

s3curl() { # s3curl <method> <path> [curl args...]: signed request, response body on stdout
  local method=$1 path=$2; shift 2
  curl -sf --max-time 60 --aws-sigv4 "aws:amz:auto:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    -X "$method" "$ENDPOINT$path" "$@"
}

warm_up() {
  local b="/rgw-warmup-$$" upload
  s3curl PUT "$b" >/dev/null && s3curl PUT "$b/o" -H "content-length: 0" >/dev/null || return 1
  upload=$(s3curl POST "$b/m?uploads=" | sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
  [ -n "$upload" ] && s3curl DELETE "$b/m?uploadId=$upload" >/dev/null || return 1
  s3curl DELETE "$b/o" >/dev/null && s3curl DELETE "$b" >/dev/null
}

make_buckets() { # S3_BUCKETS="demo other": create these buckets (for trying r2mirror by hand)
  local b list="${S3_BUCKETS:-}"
  for b in ${list//,/ }; do
    if s3curl PUT "/$b" >/dev/null; then log "bucket $b ready"; else log "could not create bucket $b"; return 1; fi
  done
}

start_all() {
  local t0=$SECONDS
  install_ceph
  if [ "${RGW_FRESH:-0}" != 1 ] && ours_running && http_up; then
    log "already up: $ENDPOINT (data in $D; RGW_FRESH=1 to restart fresh)"
    make_buckets
    print_env
    echo "S3_STARTED=0"
    return
  fi
  stop_all
  if http_up; then
    die "something else answers on $ENDPOINT; set S3_PORT to a free port, or S3_ENDPOINT to use that server"
  fi
  # interrupted half-way (Ctrl-C, test runner killed): do not leave daemons behind
  trap 'log "interrupted: stopping the daemons started so far"; stop_all; exit 130' INT TERM
  if [ "${RGW_KEEP_DATA:-0}" != 1 ]; then rm -rf "$D"; fi
  mkdir -p "$D"/{run,log,mon,osd/ceph-0,rgw}
  local fsid; fsid=$(cat "$D/fsid" 2>/dev/null || uuidgen); echo "$fsid" > "$D/fsid"

  cat > "$CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$CEPH_MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# radosgw defaults ms_mon_client_mode to "secure", which auth "none" cannot do (-> EACCES -13 forever)
ms mon client mode = crc secure
ms client mode = crc secure
run dir = $D/run
admin socket = $D/run/\$cluster-\$name.asok
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = $CEPH_OBJECTSTORE
memstore device bytes = $CEPH_MEMSTORE_BYTES
bluestore block path = $D/osd/block
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mount = false
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
osd max object name len = 460
osd max object namespace len = 64
osd op num shards = 1
osd op num threads per shard = 2

[mon.a]
mon data = $D/mon/ceph-a

[osd.0]
osd data = $D/osd/ceph-0
host = localhost

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$S3_PORT tcp_nodelay=${RGW_TCP_NODELAY:-1}
rgw data = $D/rgw
rgw dns name = 127.0.0.1
rgw enable usage log = false
rgw thread pool size = 128
rgw dynamic resharding = false
rgw crypt require ssl = false
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF

  # --- monitor
  if [ ! -e "$D/mon/ceph-a/store.db" ]; then
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$CEPH_MON_PORT]" "$D/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" >>"$D/log/setup.log" 2>&1 || die "ceph-mon --mkfs failed"
  fi
  ceph-mon -c "$CONF" -i a -f >>"$D/log/mon.stdout" 2>&1 9>&- &
  echo $! > "$D/run/mon.pid"
  wait_for "monitor" "$RGW_START_TIMEOUT" timeout 5 ceph -c "$CONF" mon stat
  log "mon up after $((SECONDS - t0))s"

  # --- OSD
  if [ ! -e "$D/osd/ceph-0/fsid" ]; then
    local ouuid; ouuid=$(uuidgen)
    ceph -c "$CONF" osd new "$ouuid" 0 >>"$D/log/setup.log" 2>&1 || die "ceph osd new failed"
    ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$ouuid" >>"$D/log/setup.log" 2>&1 || die "ceph-osd --mkfs failed"
  fi
  ceph-osd -c "$CONF" -i 0 -f >>"$D/log/osd.stdout" 2>&1 9>&- &
  echo $! > "$D/run/osd.pid"
  wait_for "osd.0 up" "$RGW_START_TIMEOUT" bash -c "ceph -c '$CONF' osd dump 2>/dev/null | grep -q '^osd.0 up'"
  log "osd up after $((SECONDS - t0))s"

  # --- S3 user (radosgw-admin creates the rgw pools as needed)
  if ! radosgw-admin -c "$CONF" -n client.rgw.a user info --uid=tester >/dev/null 2>&1; then
    radosgw-admin -c "$CONF" -n client.rgw.a user create --uid=tester --display-name="Test User" \
      --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >>"$D/log/setup.log" 2>&1 || die "radosgw-admin user create failed"
  fi
  # The SDK, with region "auto" (R2), sends <LocationConstraint>auto</LocationConstraint> on CreateBucket;
  # RGW accepts a constraint only if it names a zonegroup api_name, so rename the default one's to "auto".
  if ! radosgw-admin -c "$CONF" -n client.rgw.a zonegroup get --rgw-zonegroup=default 2>/dev/null | grep -q '"api_name": "auto"'; then
    radosgw-admin -c "$CONF" -n client.rgw.a zonegroup get --rgw-zonegroup=default 2>>"$D/log/setup.log" \
      | sed 's/"api_name": "[^"]*"/"api_name": "auto"/' > "$D/zonegroup.json"
    radosgw-admin -c "$CONF" -n client.rgw.a zonegroup set --rgw-zonegroup=default --infile "$D/zonegroup.json" >>"$D/log/setup.log" 2>&1 \
      || die "zonegroup set failed"
  fi
  log "user + zonegroup ready after $((SECONDS - t0))s"

  # --- gateway
  radosgw -c "$CONF" -n client.rgw.a -f >>"$D/log/rgw.stdout" 2>&1 9>&- &
  echo $! > "$D/run/rgw.pid"
  wait_for "radosgw on $ENDPOINT" "$RGW_START_TIMEOUT" http_up
  if [ "${RGW_WARMUP:-1}" = 1 ]; then
    # the first CreateBucket, PutObject and CreateMultipartUpload each create RADOS pools (bucket index, data,
    # non-ec; ~1-2.5 s each): pay that here, not in the first tests
    warm_up || log "warm-up (bucket, object, multipart upload) failed (continuing)"
  fi
  log "READY $ENDPOINT after $((SECONDS - t0))s (pids mon=$(cat "$D/run/mon.pid") osd=$(cat "$D/run/osd.pid") rgw=$(cat "$D/run/rgw.pid"))"
  trap - INT TERM
  make_buckets
  print_env
  echo "S3_STARTED=1"
}

print_env() {
  echo "S3_ENDPOINT=$ENDPOINT"
  echo "S3_ACCESS_KEY=$S3_ACCESS_KEY"
  echo "S3_SECRET_KEY=$S3_SECRET_KEY"
  echo "S3_REGION=auto"
  echo "S3_PIDS=$(cat "$D"/run/mon.pid 2>/dev/null),$(cat "$D"/run/osd.pid 2>/dev/null),$(cat "$D"/run/rgw.pid 2>/dev/null)"
}

with_lock() { # serialise start/stop of the same data dir (parallel test processes may call start together);
  # the daemons are started with fd 9 closed so they do not hold the lock after we exit
  if command -v flock >/dev/null; then
    mkdir -p "$(dirname "$D")"
    exec 9>"$D.lock"
    flock 9
  fi
  "$@"
}

case "$CMD" in
  start) with_lock start_all ;;
  stop) with_lock stop_all ;;
  status) http_up && { log "up: $ENDPOINT"; exit 0; } || { log "down: $ENDPOINT"; exit 1; } ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
