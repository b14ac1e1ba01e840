# syntax=docker/dockerfile:1
# One image for the api and the worker (and the SMS simulator, for a local
# stack): the command picks the process.
#
#   docker build -t sms-backend .
#   docker run --env-file .env -p 3000:3000 --stop-timeout 20 sms-backend                 # api
#   docker run --env-file .env --stop-timeout 20 sms-backend \
#     node --max-old-space-size=192 --max-semi-space-size=32 dist/apps/worker/src/main.js                           # worker
#   docker run --env-file .env -p 3002:3002 sms-backend node dist/apps/api/src/links-server.js   # short links
#   docker run --env-file .env sms-backend node dist/scripts/migrate.js                    # migrations
#
# --stop-timeout: SIGTERM drains for SHUTDOWN_TIMEOUT_MS (10 s by default)
# plus up to 5 s to close the pools; Docker's own default (10 s) would
# SIGKILL a drain in progress.
ARG NODE_IMAGE=node:20-bookworm-slim

# Build: every dependency, then dist/ (tsc) and the admin bundle (Vite).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CI=true PRISMA_HIDE_UPDATE_MESSAGE=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY apps ./apps
COPY domain ./domain
COPY lib ./lib
COPY queue ./queue
RUN npm run build

# Production dependencies only. --omit=optional too: @prisma/client declares
# the Prisma CLI and TypeScript as optional peers, which --omit=dev alone
# installs (430 MB instead of 150 MB); no production package needs an
# install script.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/apps/admin/dist ./apps/admin/dist
# The api compares the applied migrations with these (/health/full); dist/scripts/migrate.js applies them.
COPY prisma/migrations ./prisma/migrations
COPY scripts/build-if-stale.mjs ./scripts/build-if-stale.mjs
# Files stay root-owned (read-only to the process); it runs as the image's unprivileged user.
USER node
EXPOSE 3000 3001 3002
# /health of whichever process this container runs: the api on PORT, the worker on WORKER_METRICS_PORT, the links on LINKS_PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const p=[process.env.PORT||3000,process.env.WORKER_METRICS_PORT||3001,process.env.LINKS_PORT||3002];Promise.any(p.map(n=>fetch('http://127.0.0.1:'+n+'/health',{signal:AbortSignal.timeout(2500)}).then(r=>{if(!r.ok)throw new Error(String(r.status))}))).then(()=>process.exit(0),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/api/src/server.js"]
