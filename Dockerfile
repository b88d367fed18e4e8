# syntax=docker/dockerfile:1
# openOrchestrator's image (decision 0036). Three stages:
#   build  — every dependency, the dashboard (Vite) and the server bundle (esbuild)
#   deps   — the server's production dependencies only (no Vite, React, TypeScript, test tools)
#   final  — Node on Debian bookworm-slim, the bundle, the dashboard, those dependencies; a non-root user
#
#   docker build -t openorch .
#   docker build -t openorch:browser --build-arg WITH_CHROMIUM=1 .   # + Debian's Chromium for the browser tools
#   docker run -p 8080:8080 -v openorch-data:/data --stop-timeout 30 openorch
#
# BASE_IMAGE must be a Debian bookworm image with Node.js 20.19+ and npm on the PATH.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
# better-sqlite3 downloads a prebuilt addon; without network access to it, node-gyp compiles it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The manifests alone first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY apps/server/package.json apps/server/
COPY apps/web/package.json apps/web/
COPY packages/contracts/package.json packages/contracts/
COPY packages/sdk/package.json packages/sdk/
COPY bench/package.json bench/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && test -f apps/web/dist/index.html \
 && test -f apps/server/dist/cli.js

FROM ${BASE_IMAGE} AS deps
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY apps/server/package.json apps/server/
COPY apps/web/package.json apps/web/
COPY packages/contracts/package.json packages/contracts/
COPY packages/sdk/package.json packages/sdk/
COPY bench/package.json bench/
# Only what the server imports at run time; the bundle already holds our own packages and Kysely.
# (@openorch/* are links to sources the bundle already holds: dropped.)
RUN npm ci --omit=dev --workspace=@openorch/server --include-workspace-root=false --no-audit --no-fund \
 && rm -rf node_modules/@openorch \
 && mkdir -p apps/server/node_modules \
 && npm cache clean --force

FROM ${BASE_IMAGE} AS final
# 1: with Debian's Chromium; unset (the default): without.
ARG WITH_CHROMIUM=
# tini as PID 1: forwards SIGTERM to Node and reaps Chromium's and stdio MCP servers' children.
# With WITH_CHROMIUM=1, Debian's Chromium and the fonts pages need (emoji, Latin metrics).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && if [ -n "$WITH_CHROMIUM" ] && [ "$WITH_CHROMIUM" != "0" ]; then \
      apt-get install -y --no-install-recommends chromium fonts-liberation fonts-noto-color-emoji; \
    fi \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 openorch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/openorch --create-home --shell /usr/sbin/nologin openorch \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 700 /data \
 && printf '#!/bin/sh\nexec node --enable-source-maps --max-semi-space-size=2 /app/apps/server/dist/cli.js "$@"\n' > /usr/local/bin/openorch \
 && chmod 755 /usr/local/bin/openorch
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=deps /src/apps/server/node_modules ./apps/server/node_modules
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/apps/server/package.json ./apps/server/package.json
COPY --from=build /src/apps/server/dist ./apps/server/dist
COPY --from=build /src/apps/web/dist ./apps/web/dist
# OPENORCH_CHROMIUM_PATH: /usr/bin/chromium in an image built with WITH_CHROMIUM=1; else empty, which
# the configuration reads as unset (the browser tools then say Chromium is missing when called).
ENV OPENORCH_CHROMIUM_PATH=${WITH_CHROMIUM:+/usr/bin/chromium}
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    OPENORCH_DATA_DIR=/data \
    OPENORCH_SHUTDOWN_GRACE_SECONDS=25 \
    OPENORCH_PRETTY_LOGS=false \
    HOME=/home/openorch
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM: no new requests or claims; running runs get OPENORCH_SHUTDOWN_GRACE_SECONDS to finish, then
# they are released for another process. Give the container more than that before SIGKILL:
# `docker run --stop-timeout 30`, compose `stop_grace_period: 30s`, k8s terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
# Ready = the process answers, the database answers and no migration is pending (GET /ready).
# Node's own fetch: the image has no curl. With OPENORCH_TLS_CERT set the server speaks HTTPS with a
# certificate that need not name 127.0.0.1, so this one local check does not verify it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const tls=!!process.env.OPENORCH_TLS_CERT;if(tls)process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';fetch((tls?'https':'http')+'://127.0.0.1:'+(process.env.PORT||8080)+'/ready',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# `openorch` is also on the PATH for `docker exec <container> openorch backup /data/backup.db` and the like.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "--max-semi-space-size=2", "/app/apps/server/dist/cli.js"]
CMD ["start"]
