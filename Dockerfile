# cloakpipe container image: build the TypeScript in one stage, then run it from a second stage
# that has only the production dependencies, as a non-root user.
#
#   docker build -t cloakpipe .
#   docker run --rm cloakpipe --version
#   docker run -d --name redis-tunnel -p 6380:6380 \
#     -v /etc/cloakpipe/redis.key:/run/secrets/cloakpipe.key:ro \
#     cloakpipe -d -s '[0.0.0.0]:6380' -t redis.internal:6379 -k /run/secrets/cloakpipe.key
#
# Ports: no EXPOSE. The tunnel listens wherever -s says, so publish that port yourself (-p). Inside
# a container, -s must listen on [0.0.0.0]:PORT (or [::]:PORT) to be reachable from outside.
# The metrics endpoint (see HEALTHCHECK) is on loopback unless CLOAKPIPE_METRICS says otherwise.
#
# Keys: mount the key file read-only (a bind mount, a compose secret or a Kubernetes Secret; see
# contrib/docker and contrib/kubernetes). It must be readable by uid 1000. Never COPY a key into
# the image: .dockerignore keeps all but the sources out of the build context.
#
# Stopping: node runs as PID 1, which is fine here. cloakpipe installs its own SIGTERM/SIGINT
# handlers (drain, then exit), so it needs neither a shell nor an init. With --workers N
# (CLOAKPIPE_WORKERS) PID 1 is the primary: it passes the signal to its workers, waits for each
# (it reaps its own children) and serves /metrics and the HEALTHCHECK's /healthz for all of them.
# `docker stop` waits 10 s before SIGKILL. If you set CLOAKPIPE_SHUTDOWN_TIMEOUT, keep it below
# that, or raise the wait (docker stop -t, compose stop_grace_period).
#
# scripts/docker-equivalent.sh runs these same steps without a Docker engine (as CI does) and
# runs a tunnel through the result. Change it along with this file.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile src/ to dist/src/ ------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

# ---- runtime: production dependencies, compiled JS, non-root ----------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
COPY contrib/docker/healthcheck.mjs ./healthcheck.mjs
# Serve /healthz (and /metrics, /readyz) on the container's loopback so the HEALTHCHECK below has
# something to ask. This is cloakpipe's --metrics option, set through its environment variable.
# Override it with -e CLOAKPIPE_METRICS=0.0.0.0:9090 to let Prometheus scrape it; the check follows
# the variable.
ENV CLOAKPIPE_METRICS=127.0.0.1:9090
# Stay in the foreground (-F). cloakpipe would also stay as PID 1, but not under docker run --init
# or a pod's shared process namespace, where it would return and the container would stop.
ENV CLOAKPIPE_FOREGROUND=1
# The node user of the official image, given by number so that Kubernetes runAsNonRoot can check it.
USER 1000:1000
# Needs --metrics (CLOAKPIPE_METRICS above). Uses node, not curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "bin/cloakpipe.js"]
CMD ["--help"]
