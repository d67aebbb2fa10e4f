#!/usr/bin/env bash
# Perform the Dockerfile's steps without a Docker engine (CI has none), then run the result the
# way the image runs: from its WORKDIR, through its ENTRYPOINT, as its non-root USER, with its ENV.
#
#   1. check the Dockerfile still has the steps mirrored here, its exec forms are valid JSON, and
#      every COPY source exists and is allowed by .dockerignore
#   2. build stage: npm ci + tsc on exactly the files the build stage COPYs
#   3. runtime stage: npm ci --omit=dev, the compiled dist/src, bin/, healthcheck.mjs
#   4. as uid 1000: --version, the default CMD (--help), keygen
#   5. a real tunnel: an echo target, a -d end with two workers running as PID 1 of its own PID
#      namespace (as in a container, so `docker stop`'s SIGTERM semantics apply) and an -e end, 1 MiB through both,
#      compared byte for byte; the HEALTHCHECK script against the -d end's /healthz; SIGTERM to
#      both, and a clean exit 0
#
# Usage: sudo scripts/docker-equivalent.sh   (root: it switches to the image's uid)
# Env:   DOCKER_EQ_NPM   npm command to use (default: npm if it is npm 10, as in node:20 images,
#                        else "npx -y npm@10")
#        DOCKER_EQ_KEEP=1  keep the temp directory
# Exit status: 0 when every check passed; 1 with a "FAIL:" line naming the first that did not.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DOCKERFILE=$ROOT/Dockerfile
DOCKERIGNORE=$ROOT/.dockerignore

say() { printf 'docker-equivalent: %s\n' "$*"; }
LOGS=()
fail() {
  printf 'docker-equivalent: FAIL: %s\n' "$*" >&2
  for f in "${LOGS[@]}"; do
    [ -s "$f" ] && { printf -- '--- %s (last 20 lines)\n' "$f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

# ---- preconditions -----------------------------------------------------------------------------
[ "$(id -u)" = 0 ] ||
  fail "run as root (CI does): the image runs as a non-root uid and this script switches to it: sudo $0"
for bin in node npm setpriv unshare; do
  command -v "$bin" >/dev/null || fail "$bin is not installed (setpriv, unshare: sudo apt-get install -y util-linux)"
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] ||
  say "note: host node is $(node --version); the image uses node:20-bookworm-slim, so this is not exact"
if [ -n "${DOCKER_EQ_NPM:-}" ]; then
  read -r -a NPM <<<"$DOCKER_EQ_NPM"
elif [ "$(npm --version | cut -d. -f1)" = 10 ]; then
  NPM=(npm)
else
  # node:20 images bundle npm 10; npm 11 is stricter about package-lock.json, so use npm 10.
  say "host npm is $(npm --version); using npm 10 (as bundled in node:20 images) through npx"
  NPM=(npx -y npm@10)
fi

# ---- 1. the Dockerfile still says what this script does ------------------------------------------
[ -f "$DOCKERFILE" ] || fail "no Dockerfile at $DOCKERFILE"
# Logical lines: backslash continuations joined, comments and blank lines dropped.
mapfile -t LINES < <(sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$DOCKERFILE" | grep -v '^[[:space:]]*\(#\|$\)')
need_line() {
  local want=$1 l
  for l in "${LINES[@]}"; do [ "$l" = "$want" ] && return 0; done
  fail "the Dockerfile no longer has the line: $want
  (this script mirrors it; change scripts/docker-equivalent.sh along with the Dockerfile)"
}
MIRRORED=(
  'FROM ${NODE_IMAGE} AS build'
  'WORKDIR /src'
  'COPY package.json package-lock.json ./'
  'RUN npm ci --no-audit --no-fund'
  'COPY tsconfig.json ./'
  'COPY src ./src'
  'RUN npx tsc -p tsconfig.json'
  'FROM ${NODE_IMAGE} AS runtime'
  'ENV NODE_ENV=production'
  'WORKDIR /app'
  'RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force'
  'COPY --from=build /src/dist/src ./dist/src'
  'COPY bin ./bin'
  'COPY contrib/docker/healthcheck.mjs ./healthcheck.mjs'
  'ENV CLOAKPIPE_METRICS=127.0.0.1:9090'
  'ENV CLOAKPIPE_FOREGROUND=1'
  'USER 1000:1000'
)
for l in "${MIRRORED[@]}"; do need_line "$l"; done
grep -q '^ARG NODE_IMAGE=node:20-bookworm-slim$' "$DOCKERFILE" ||
  fail "the Dockerfile's base image is no longer node:20-bookworm-slim; update this script"
WORKDIR=/app
RUN_UID=1000
RUN_GID=1000
IMAGE_METRICS=127.0.0.1:9090

# Exec-form instructions must be JSON arrays; a typo (single quotes) silently becomes shell form.
json_array() { # $1 = instruction text after the keyword; prints one element a line
  node -e 'const a = JSON.parse(process.argv[1]);
    if (!Array.isArray(a) || !a.every((x) => typeof x === "string")) process.exit(1);
    for (const x of a) console.log(x);' "$1" 2>/dev/null
}
entry_line=$(printf '%s\n' "${LINES[@]}" | grep '^ENTRYPOINT ' | tail -n 1) || fail "no ENTRYPOINT in the Dockerfile"
cmd_line=$(printf '%s\n' "${LINES[@]}" | grep '^CMD ' | tail -n 1) || fail "no CMD in the Dockerfile"
health_line=$(printf '%s\n' "${LINES[@]}" | grep '^HEALTHCHECK ' | tail -n 1) || fail "no HEALTHCHECK in the Dockerfile"
mapfile -t ENTRYPOINT < <(json_array "${entry_line#ENTRYPOINT }") || true
[ "${#ENTRYPOINT[@]}" -gt 0 ] || fail "ENTRYPOINT is not a JSON array of strings: $entry_line"
mapfile -t CMD < <(json_array "${cmd_line#CMD }") || true
[ "${#CMD[@]}" -gt 0 ] || fail "CMD is not a JSON array of strings: $cmd_line"
mapfile -t HEALTH < <(json_array "${health_line##* CMD }") || true
[ "${#HEALTH[@]}" -gt 0 ] || fail "HEALTHCHECK CMD is not a JSON array of strings: $health_line"
[ "${ENTRYPOINT[0]}" = node ] || fail "ENTRYPOINT should start the program with node directly: $entry_line"
[ "${HEALTH[0]}" = node ] || fail "HEALTHCHECK should use node (the slim image has no curl): $health_line"
say "ENTRYPOINT ${ENTRYPOINT[*]}, CMD ${CMD[*]}, HEALTHCHECK ${HEALTH[*]}"

# Every COPY source (from the context) exists and is allowlisted in .dockerignore.
[ -f "$DOCKERIGNORE" ] || fail "no .dockerignore: the build context would include keys, .git and node_modules"
[ "$(grep -v '^\(#\|$\)' "$DOCKERIGNORE" | head -n 1)" = '*' ] ||
  fail ".dockerignore must start with '*' (an allowlist), so no key file can enter the build context"
while read -r -a words; do
  srcs=("${words[@]:1:${#words[@]}-2}")
  for s in "${srcs[@]}"; do
    [ -e "$ROOT/$s" ] || fail "Dockerfile COPYs $s, which does not exist"
    grep -qxF "!$s" "$DOCKERIGNORE" || fail "Dockerfile COPYs $s, but .dockerignore does not allow it (add: !$s)"
  done
done < <(printf '%s\n' "${LINES[@]}" | grep '^COPY ' | grep -v -- '--from=')
say "Dockerfile: mirrored steps present, exec forms valid, COPY sources allowed by .dockerignore"

# ---- 2. build stage ------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/cloakpipe-docker-eq.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "${DOCKER_EQ_KEEP:-}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
chmod 755 "$TMP"
BUILD=$TMP/src
APP=$TMP/app
mkdir -p "$BUILD" "$APP"

say "build stage: npm ci (${NPM[*]}) and tsc in $BUILD"
cp package.json package-lock.json "$BUILD/"
(cd "$BUILD" && "${NPM[@]}" ci --no-audit --no-fund >"$TMP/build-npm.log" 2>&1) ||
  { LOGS+=("$TMP/build-npm.log"); fail "build stage: npm ci failed"; }
cp tsconfig.json "$BUILD/"
cp -r src "$BUILD/src"
(cd "$BUILD" && npx tsc -p tsconfig.json >"$TMP/build-tsc.log" 2>&1) ||
  { LOGS+=("$TMP/build-tsc.log"); fail "build stage: tsc failed (the image would not build)"; }
[ -f "$BUILD/dist/src/cli/main.js" ] || fail "build stage: tsc did not produce dist/src/cli/main.js"

# ---- 3. runtime stage ----------------------------------------------------------------------------
say "runtime stage: npm ci --omit=dev in $APP"
cp package.json package-lock.json "$APP/"
(cd "$APP" && "${NPM[@]}" ci --omit=dev --ignore-scripts --no-audit --no-fund >"$TMP/app-npm.log" 2>&1) ||
  { LOGS+=("$TMP/app-npm.log"); fail "runtime stage: npm ci --omit=dev failed"; }
mkdir -p "$APP/dist"
cp -r "$BUILD/dist/src" "$APP/dist/src"
cp -r bin "$APP/bin"
cp contrib/docker/healthcheck.mjs "$APP/healthcheck.mjs"
# COPY leaves files owned by root and readable by all; the USER can read but not write them.
chmod -R a+rX,go-w "$APP"
for dev in $(node -p 'Object.keys(require("./package.json").devDependencies ?? {}).join(" ")'); do
  [ ! -e "$APP/node_modules/$dev" ] || fail "runtime stage: devDependency $dev was installed"
done
# Absolute paths into the image's WORKDIR point into $APP here.
for i in "${!HEALTH[@]}"; do HEALTH[i]=${HEALTH[i]/#"$WORKDIR"\//"$APP"/}; done
say "runtime stage: $(du -sh "$APP/node_modules" | cut -f1) of production node_modules, no devDependencies"

# ---- 4. run as the image's USER, from its WORKDIR, with its ENV ----------------------------------
NODE_DIR=$(dirname "$(command -v node)")
# user_cmd METRICS: sets UCMD to the prefix that runs a command as the image's USER with exactly
# the image's environment (run it from $APP, the WORKDIR). Everything in it execs, so the final
# process is the command itself (node), as in a container.
user_cmd() {
  UCMD=(setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups --
    env -i PATH="$NODE_DIR:/usr/local/bin:/usr/bin:/bin" HOME=/nonexistent NODE_ENV=production
    CLOAKPIPE_METRICS="$1" CLOAKPIPE_FOREGROUND=1)
}
# as_user command...: run it as the image's user, in the foreground.
as_user() {
  user_cmd "$IMAGE_METRICS"
  (cd "$APP" && exec "${UCMD[@]}" "$@")
}
free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => {
    console.log(s.address().port); s.close(); });'
}

want="cloakpipe $(node -p 'require("./package.json").version')"
got=$(as_user "${ENTRYPOINT[@]}" --version) || fail "ENTRYPOINT --version exited non-zero as uid $RUN_UID"
[ "$got" = "$want" ] || fail "--version printed '$got', expected '$want'"
say "as uid $RUN_UID: ${ENTRYPOINT[*]} --version -> $got"
help=$(as_user "${ENTRYPOINT[@]}" "${CMD[@]}") || fail "the default CMD (${CMD[*]}) exited non-zero"
grep -q 'Usage:' <<<"$help" || fail "the default CMD (${CMD[*]}) did not print the usage text"
whoami_uid=$(as_user node -p 'process.getuid() + ":" + process.getgid()')
[ "$whoami_uid" = "$RUN_UID:$RUN_GID" ] || fail "expected to run as $RUN_UID:$RUN_GID, ran as $whoami_uid"
if as_user node -e 'require("node:fs").accessSync(".", require("node:fs").constants.W_OK)' 2>/dev/null; then
  fail "the app directory is writable by uid $RUN_UID (the image's files belong to root)"
fi

KEYS=$TMP/keys
mkdir -m 700 "$KEYS"
chown "$RUN_UID:$RUN_GID" "$KEYS"
as_user "${ENTRYPOINT[@]}" keygen "$KEYS/tunnel.key" 2>"$TMP/keygen.log" ||
  { LOGS+=("$TMP/keygen.log"); fail "keygen as uid $RUN_UID failed"; }
[ "$(stat -c '%u %a %s' "$KEYS/tunnel.key")" = "$RUN_UID 600 32" ] ||
  fail "keygen wrote $(stat -c 'uid %u mode %a size %s' "$KEYS/tunnel.key"), expected uid $RUN_UID mode 600 size 32"
say "keygen as uid $RUN_UID: 32 bytes, mode 600"

# ---- 5. a real tunnel ------------------------------------------------------------------------------
wait_listen() { # $1 = log file, $2 = pid; prints the listen address
  local i addr
  for i in $(seq 1 100); do
    addr=$(sed -n 's/.*"msg":"listening on \([^,]*\),.*/\1/p' "$1" | head -n 1)
    [ -n "$addr" ] && { echo "$addr"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

node -e 'require("node:net").createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {}); s.pipe(s);
  }).listen(0, "127.0.0.1", function () { console.log(this.address().port); });' >"$TMP/echo.port" &
PIDS+=($!)
disown $! # killed at exit, never waited for: no "Killed" notice
for _ in $(seq 1 50); do [ -s "$TMP/echo.port" ] && break; sleep 0.1; done
ECHO_PORT=$(head -n 1 "$TMP/echo.port")
[ -n "$ECHO_PORT" ] || fail "the echo target did not start"

D_METRICS=127.0.0.1:$(free_port)
E_METRICS=127.0.0.1:$(free_port)
D_LOG=$TMP/d.log
E_LOG=$TMP/e.log
LOGS+=("$D_LOG" "$E_LOG")

# The -d end as PID 1 of a new PID namespace, like a container's main process: the kernel then
# delivers a SIGTERM sent from outside only because cloakpipe handles it.
D_ARGS=(-d -s '[127.0.0.1]:0' -t "[127.0.0.1]:$ECHO_PORT" -k "$KEYS/tunnel.key")
user_cmd "$D_METRICS"
# With two workers, as CLOAKPIPE_WORKERS=2 would run it: the image's CLOAKPIPE_METRICS must not
# stop --workers, PID 1 is then the primary, and it answers the HEALTHCHECK for its workers.
UCMD+=(CLOAKPIPE_WORKERS=2)
if unshare --pid --fork --kill-child -- true 2>/dev/null; then
  D_PID1=yes
  (cd "$APP" && exec unshare --pid --fork --kill-child -- "${UCMD[@]}" "${ENTRYPOINT[@]}" "${D_ARGS[@]}") \
    >"$D_LOG" 2>&1 &
  D_WAIT=$!
  PIDS+=("$D_WAIT")
  D_PID=
  for _ in $(seq 1 50); do
    D_PID=$(cat "/proc/$D_WAIT/task/$D_WAIT/children" 2>/dev/null | awk '{ print $1 }')
    [ -n "$D_PID" ] && break
    sleep 0.1
  done
  [ -n "$D_PID" ] || fail "the -d end's PID namespace did not start"
else
  D_PID1=no
  say "note: cannot create a PID namespace here; the -d end runs as an ordinary process (PID-1 signal handling not checked)"
  (cd "$APP" && exec "${UCMD[@]}" "${ENTRYPOINT[@]}" "${D_ARGS[@]}") >"$D_LOG" 2>&1 &
  D_WAIT=$!
  D_PID=$D_WAIT
  PIDS+=("$D_WAIT")
fi
D_ADDR=$(wait_listen "$D_LOG" "$D_WAIT") || fail "the -d end did not start listening"
if [ "$D_PID1" = yes ]; then
  ns_pid=$(awk '/^NSpid:/ { print $NF }' "/proc/$D_PID/status")
  ns_comm=$(cat "/proc/$D_PID/comm")
  [ "$ns_pid" = 1 ] && [ "$ns_comm" = node ] ||
    fail "expected node as PID 1 of the -d end's namespace, found '$ns_comm' as PID $ns_pid"
fi
say "-d end listening on $D_ADDR (PID 1 in its namespace: $D_PID1), target 127.0.0.1:$ECHO_PORT"

user_cmd "$E_METRICS"
(cd "$APP" && exec "${UCMD[@]}" "${ENTRYPOINT[@]}" -e -s '[127.0.0.1]:0' \
  -t "[${D_ADDR%:*}]:${D_ADDR##*:}" -k "$KEYS/tunnel.key") >"$E_LOG" 2>&1 &
E_PID=$!
PIDS+=("$E_PID")
E_ADDR=$(wait_listen "$E_LOG" "$E_PID") || fail "the -e end did not start listening"
say "-e end listening on $E_ADDR"

head -c 1048576 /dev/urandom >"$TMP/payload"
node -e 'const [port, inFile, outFile] = process.argv.slice(1);
  const fs = require("node:fs");
  const s = require("node:net").connect({ host: "127.0.0.1", port: Number(port), allowHalfOpen: true });
  const out = fs.createWriteStream(outFile);
  setTimeout(() => { console.error("no EOF within 30 s"); process.exit(1); }, 30000).unref();
  s.on("error", (e) => { console.error(e.message); process.exit(1); });
  s.on("connect", () => s.end(fs.readFileSync(inFile)));
  s.pipe(out).on("finish", () => process.exit(0));' "${E_ADDR##*:}" "$TMP/payload" "$TMP/echoed" ||
  fail "the transfer through the tunnel failed"
cmp -s "$TMP/payload" "$TMP/echoed" ||
  fail "the bytes that came back differ from those sent ($(stat -c %s "$TMP/echoed") of 1048576 bytes back)"
say "1 MiB through -e -> -d -> echo and back: identical"

# The image's HEALTHCHECK, run as Docker runs it: in the container, with its environment.
health=$(IMAGE_METRICS=$D_METRICS; as_user "${HEALTH[@]}") ||
  fail "HEALTHCHECK (${HEALTH[*]}) reported unhealthy for a running -d end: $health"
say "HEALTHCHECK: $health"

# docker stop: SIGTERM, then a clean drain and exit 0 (docker stop would SIGKILL after 10 s).
# exit_code PID: sets CODE to the exit status of this shell's child PID, or "none" after 10 s.
exit_code() {
  local _
  CODE=none
  for _ in $(seq 1 100); do
    if ! kill -0 "$1" 2>/dev/null; then
      CODE=0
      wait "$1" || CODE=$?
      return
    fi
    sleep 0.1
  done
}
kill -TERM "$E_PID" "$D_PID"
exit_code "$E_PID"
e_code=$CODE
exit_code "$D_WAIT"
d_code=$CODE
[ "$e_code" != none ] || fail "-e end still running 10 s after SIGTERM"
[ "$e_code" = 0 ] || fail "-e end exited $e_code on SIGTERM, expected 0"
[ "$d_code" != none ] || fail "-d end (PID 1 in its namespace: $D_PID1) still running 10 s after SIGTERM"
[ "$d_code" = 0 ] || fail "-d end (PID 1 in its namespace: $D_PID1) exited $d_code on SIGTERM, expected 0"
grep -q '"msg":"all connections closed; exiting"' "$D_LOG" || fail "-d end did not log a clean shutdown"
say "SIGTERM: both ends drained and exited 0"

if health=$(IMAGE_METRICS=$D_METRICS; as_user "${HEALTH[@]}"); then
  fail "HEALTHCHECK reported healthy after the -d end stopped: $health"
fi
say "HEALTHCHECK after stop: $health"
say "PASS"
