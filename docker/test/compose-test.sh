#!/usr/bin/env bash
# make compose-test: the cluster of docker/compose.yml, run for real and put through its paces.
#
# Without any image registry: base images come from Debian's mirror (build-base-images.sh), the
# Yagona image is the Dockerfile's runtime stage with the host-built target/release/yagona
# (target `prebuilt`). Then, through the load balancer, with a real relying party (rp.py):
#   1. the stack comes up: PostgreSQL, two replicas migrating together, haproxy; containers healthy
#   2. a client and an account are made with the CLI inside a replica; one login; a failed login
#      is counted against the forwarded client address (http.trusted_proxies)
#   3. logins run continuously while the signing keys are rotated, while one replica is killed
#      (SIGKILL) and started again, and while the other drains (SIGTERM); not one may fail;
#      /metrics counted them
#   4. PostgreSQL is stopped: readiness fails, each replica answers 503 fast, discovery and JWKS
#      stay up; it is started again and the replicas recover without a restart: a login succeeds
#   5. everything is torn down (containers, network, volume); the base images stay cached
# Starts dockerd if it is not running (as root) and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
began=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - began)) "$*"; }
fail() { say "FAIL: $*"; exit 1; }

PYTHON=${PYTHON:-/usr/bin/python3}
missing=()
for tool in docker docker-compose debootstrap curl openssl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
"$PYTHON" -c 'import requests, jwt, cryptography' 2>/dev/null || missing+=("python3-requests python3-jwt python3-cryptography")
if ((${#missing[@]})); then
  fail "missing: ${missing[*]} (Debian: apt-get install docker.io docker-compose debootstrap curl openssl python3-requests python3-jwt python3-cryptography)"
fi
[[ -x target/release/yagona ]] || fail "target/release/yagona is missing: cargo build --release --bin yagona"

work=$(mktemp -d /tmp/yagona-compose-test.XXXXXX)
dockerd_pid=
export COMPOSE_PROJECT_NAME=yagona-compose-test YAGONA_IMAGE=yagona:compose-test
compose() { docker-compose -f docker/compose.yml "$@"; }

cleanup() {
  local status=$?
  set +e
  if [[ $status != 0 ]] && docker info >/dev/null 2>&1; then
    compose logs --no-color --timestamps >/tmp/yagona-compose-test.log 2>&1
    say "the last log lines of each service (all of them: /tmp/yagona-compose-test.log):"
    compose logs --no-color --tail=15 2>&1 | sed 's/^/    /'
  fi
  if docker info >/dev/null 2>&1; then
    say "tearing down"
    compose down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1
    # The Yagona image is rebuilt at every run from the host's binary: keep no copies of it.
    docker image rm "$YAGONA_IMAGE" >/dev/null 2>&1
    left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
    [[ -z "$left" ]] || { say "containers left behind: $left"; status=1; }
  fi
  if [[ -n "$dockerd_pid" ]]; then
    say "stopping the dockerd this test started"
    kill "$dockerd_pid"
    wait "$dockerd_pid" 2>/dev/null
  fi
  rm -rf "$work"
  if [[ $status == 0 ]]; then say "compose-test: PASS"; else say "compose-test: FAIL"; fi
  exit $status
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  [[ $EUID == 0 ]] || fail "the Docker engine is not running (start dockerd as root)"
  say "starting dockerd"
  dockerd >/tmp/yagona-compose-test-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || fail "dockerd did not start (/tmp/yagona-compose-test-dockerd.log)"
fi

say "base images (built once from Debian's mirror, then cached)"
docker/test/build-base-images.sh | sed 's/^/    /'

# The same compose file users run, on the local base images and the host-built binary.
export POSTGRES_IMAGE=yagona-base/postgres:15
export HAPROXY_IMAGE=yagona-base/haproxy:2.6
export YAGONA_RUNTIME_IMAGE=yagona-base/debian:bookworm
export YAGONA_BUILD_TARGET=prebuilt
export YAGONA_REPLICAS=2
export YAGONA_PUBLIC_PORT=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export YAGONA_ISSUER=http://127.0.0.1:$YAGONA_PUBLIC_PORT
export YAGONA_SECRETS_DIR=$work/secrets
docker/init-secrets.sh "$YAGONA_SECRETS_DIR" >/dev/null
issuer=$YAGONA_ISSUER

# status PATH: the HTTP status of a GET through the load balancer (000: no answer within 5 s).
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$issuer$1" || true; }
# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local until=$(($(date +%s) + seconds))
  until "$@"; do
    (($(date +%s) < until)) || fail "$what: not within ${seconds}s"
    sleep 1
  done
}
answers() { [[ "$(status "$1")" == "$2" ]]; }
replicas() { compose ps -q yagona; }
health_of() { docker inspect -f '{{.State.Health.Status}}' "$1"; }
all_healthy() { local c; for c in $(replicas); do [[ "$(health_of "$c")" == healthy ]] || return 1; done; }

say "building the Yagona image (Dockerfile target prebuilt on yagona-base/debian:bookworm)"
compose build --quiet yagona 2>&1 | { grep -v -e DEPRECATED -e buildx -e "^$" || true; } | sed "s/^/    /"
say "starting PostgreSQL, $YAGONA_REPLICAS Yagona replicas and haproxy (issuer $issuer)"
compose up -d --quiet-pull 2>&1 | sed 's/^/    /'
wait_for 120 "the cluster is ready through the load balancer" answers /health/ready 200
wait_for 90 "every replica's container health check (/health/live) passes" all_healthy
mapfile -t nodes < <(replicas)
((${#nodes[@]} == YAGONA_REPLICAS)) || fail "${#nodes[@]} replicas running, expected $YAGONA_REPLICAS"
for node in "${nodes[@]}"; do
  # A replica that lost a migration race would have exited and been restarted by its policy.
  [[ "$(docker inspect -f '{{.RestartCount}}' "$node")" == 0 ]] || fail "replica $node was restarted while starting"
  [[ "$(docker exec "$node" id -u)" == 10001 ]] || fail "replica $node does not run as the yagona user"
  [[ "$(docker exec "$node" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health/ready)" == 200 ]] \
    || fail "replica $node is not ready"
done
applied=$(compose exec -T postgres psql -U yagona -d yagona -tAc 'SELECT count(*) FROM __diesel_schema_migrations')
expected=$(find migrations/postgres -mindepth 1 -maxdepth 1 -type d | wc -l)
[[ "$applied" == "$expected" ]] || fail "$applied migrations applied, expected $expected"
say "up: ${#nodes[@]} replicas started together, none restarted, ready and healthy, running as uid 10001; $applied migrations applied once"

say "a client and an account, made with the CLI inside a replica"
secret=$(openssl rand -hex 16)
docker exec "${nodes[0]}" yagona client add --id compose-rp --name "Compose test" \
  --redirect-uri https://rp.example/callback --secret "$secret" 2>&1 >/dev/null | sed 's/^/    /'
password='Samarqand-Registon-1'
echo "$password" | docker exec -i "${nodes[1]}" yagona account add --login alisher --password-stdin \
  --pinfl 31205900260011 --surname Karimov --first-name Alisher --birth-date 1990-05-12 2>&1 >/dev/null | sed 's/^/    /'
rp=("$PYTHON" docker/test/rp.py --issuer "$issuer" --client-id compose-rp --secret "$secret"
  --redirect-uri https://rp.example/callback --login alisher --password "$password")
"${rp[@]}" login | sed 's/^/    /'

# The client address behind the load balancer: one failed login is counted against the host's
# address as haproxy forwarded it, not against haproxy's own.
"$PYTHON" docker/test/rp.py login --issuer "$issuer" --client-id compose-rp --secret "$secret" \
  --redirect-uri https://rp.example/callback --login alisher --password wrong-password-1 >/dev/null \
  && fail "a wrong password logged in"
throttled=$(docker exec "${nodes[0]}" yagona throttle list)
grep -q "^address" <<<"$throttled" || fail "no client address counted: $throttled"
[[ "$(grep "^address" <<<"$throttled")" == *10.89.0.250* ]] && fail "the load balancer's own address was counted: $throttled"
docker exec "${nodes[0]}" yagona throttle clear --all >/dev/null
say "a failed login is counted against the forwarded client address ($(grep "^address" <<<"$throttled" | cut -f2)), not haproxy's"

# Logins run in the background from here, each checked end to end, until the stop file appears.
progress=$work/progress.json
good() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["good"])' "$progress" 2>/dev/null || echo 0; }
more_logins() { local target=$(($(good) + $1)); wait_for 90 "$1 more logins" test_good_at_least "$target"; }
test_good_at_least() { (($(good) >= $1)); }
"${rp[@]}" loop --stop "$work/stop" --progress "$progress" >"$work/loop.log" 2>&1 &
loop_pid=$!
more_logins 5

victim=${nodes[0]}
survivor=${nodes[1]}
say "$(good) good logins so far; rotating the signing keys on ${survivor:0:12} while both replicas serve logins"
kids() { "$PYTHON" -c 'import json,sys; print(" ".join(sorted(k["kid"] for k in json.load(sys.stdin)["keys"])))'; }
kids_before=$(curl -s "$issuer/jwks" | kids)
docker exec "$survivor" yagona keys rotate | sed 's/^/    /'
# Every running replica publishes the new keys (at once when notified, else at its periodic reload).
published_everywhere() {
  local node now
  for node in $(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter label=com.docker.compose.service=yagona); do
    now=$(docker exec "$node" curl -s http://127.0.0.1:8080/jwks | kids)
    [[ $(comm -13 <(tr ' ' '\n' <<<"$kids_before") <(tr ' ' '\n' <<<"$now") | wc -l) -ge 2 ]] || return 1
  done
}
wait_for 60 "the new keys are in every running replica's JWKS" published_everywhere
more_logins 10
say "killing replica ${victim:0:12} (SIGKILL) while logins run"
docker kill --signal KILL "$victim" >/dev/null
more_logins 15
say "starting the killed replica again"
docker start "$victim" >/dev/null
wait_for 60 "the restarted replica is ready" \
  bash -c "[[ \$(docker exec $victim curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health/ready) == 200 ]]"
more_logins 10
wait_for 60 "the new keys are in every replica's JWKS, the restarted one's too" published_everywhere
say "stopping replica ${survivor:0:12} gracefully (SIGTERM: drain for http.shutdown_grace) while logins run"
docker stop --time 60 "$survivor" >/dev/null &
stopping=$!
more_logins 10
wait "$stopping"
more_logins 5
docker start "$survivor" >/dev/null
wait_for 60 "the stopped replica is ready again" \
  bash -c "[[ \$(docker exec $survivor curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health/ready) == 200 ]]"
touch "$work/stop"
if ! wait "$loop_pid"; then
  sed 's/^/    /' "$work/loop.log"
  fail "a login failed while the keys rotated, a replica was killed or a replica drained"
fi
grep "^browser resent" "$work/loop.log" | sed 's/^/    /' || true
say "$(tail -1 "$work/loop.log"); the new keys published by every replica"

# Every replica's /metrics (on metrics.listen, inside the network) counted the logins and tokens
# it served since it last started (both were restarted above), summed over the replicas.
counted() { # counted METRIC LABEL...: the sum over the replicas of the samples with those labels
  local node
  for node in $(replicas); do docker exec "$node" curl -s http://127.0.0.1:9464/metrics; done \
    | "$PYTHON" -c 'import sys
total = 0.0
for line in sys.stdin:
    name, _, rest = line.partition("{")
    if name == sys.argv[1] and all(label in rest for label in sys.argv[2:]):
        total += float(line.rsplit(" ", 1)[1])
print(int(total))' "$@"
}
"$PYTHON" docker/test/rp.py login --issuer "$issuer" --client-id compose-rp --secret "$secret" \
  --redirect-uri https://rp.example/callback --login alisher --password wrong-password-2 >/dev/null \
  && fail "a wrong password logged in"
logins_counted=$(counted yagona_logins_total 'method="password"' 'outcome="success"')
tokens_counted=$(counted yagona_tokens_issued_total 'grant_type="authorization_code"' 'client="compose-rp"')
failures_counted=$(counted yagona_logins_total 'method="password"' 'outcome="failure"')
((logins_counted > 0 && tokens_counted > 0 && failures_counted > 0)) \
  || fail "/metrics counted $logins_counted logins, $tokens_counted tokens, $failures_counted failed logins"
scrape=$(docker exec "${nodes[0]}" curl -s http://127.0.0.1:9464/metrics)
grep -q '^yagona_signing_key_age_seconds' <<<"$scrape" || fail "/metrics has no signing key ages"
say "/metrics of the running replicas (since their last start): $logins_counted password logins, $tokens_counted codes redeemed by compose-rp, $failures_counted failed logins"

restarts() { local c; for c in $(replicas); do docker inspect -f '{{.Id}} {{.RestartCount}} {{.State.StartedAt}}' "$c"; done; }
before=$(restarts)
say "stopping PostgreSQL"
compose stop postgres 2>&1 | sed 's/^/    /'
wait_for 30 "readiness fails while PostgreSQL is down" answers /health/ready 503
for p in /.well-known/openid-configuration /jwks; do
  [[ "$(status $p)" == 200 ]] || fail "$p is unavailable while PostgreSQL is down"
done
t0=$(date +%s%N)
# A token request that needs the database (the client's authentication, the code).
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -u "compose-rp:$secret" -d grant_type=authorization_code \
  -d code=x -d redirect_uri=https://rp.example/callback "$issuer/token" || true)
ms=$((($(date +%s%N) - t0) / 1000000))
[[ "$code" == 503 ]] || fail "the token endpoint answered $code while PostgreSQL is down, expected 503"
say "outage, through the load balancer: readiness 503, token endpoint 503 in ${ms} ms"
for node in $(replicas); do
  [[ "$(docker exec "$node" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health/live)" == 200 ]] \
    || fail "replica $node is not alive during the outage"
  t0=$(date +%s%N)
  answer=$(docker exec "$node" curl -s -i --max-time 10 -u "compose-rp:$secret" \
    -d grant_type=authorization_code -d code=x -d redirect_uri=https://rp.example/callback \
    http://127.0.0.1:8080/token | tr -d '\r')
  ms=$((($(date +%s%N) - t0) / 1000000))
  grep -q '^HTTP/1.1 503' <<<"$answer" && grep -qi '^retry-after:' <<<"$answer" \
    && grep -q temporarily_unavailable <<<"$answer" \
    || fail "replica $node answered a token request during the outage with: $(head -1 <<<"$answer")"
  say "outage, replica ${node:0:12}: alive; token request answered 503 temporarily_unavailable with Retry-After in ${ms} ms"
done
say "outage: discovery and JWKS still 200 through the load balancer"
say "starting PostgreSQL again"
compose start postgres 2>&1 | sed 's/^/    /'
wait_for 60 "the cluster recovers" answers /health/ready 200
"${rp[@]}" login | sed 's/^/    /'
[[ "$(restarts)" == "$before" ]] || fail "a replica was restarted during the outage: $before -> $(restarts)"
say "recovered without restarting a replica"
