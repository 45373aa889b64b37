# tasker-effect: `tasker serve` (API, orchestration, a worker and the web dashboard) from the sources. Node 24
# strips the TypeScript types itself, so the server needs no build step; the dashboard is built in a first stage
# and only its files (dist/ui) go into the image. docs/deployment.md explains the settings, signals and volumes.
#
#   docker build -t tasker-effect .
#   docker run --rm -p 8080:8080 -v tasker-data:/data --stop-timeout 40 tasker-effect                   # embedded
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://tasker@db:5432/tasker tasker-effect         # PostgreSQL

# --- the web dashboard: React + Vite, built with the development dependencies, which stay in this stage ---------
FROM node:24-slim AS dashboard
WORKDIR /build
COPY package.json package-lock.json ./
# no install scripts: `prepare` would build everything, and the `node` dev dependency would fetch a second Node
RUN npm ci --ignore-scripts
# the dashboard imports the API definition (src/api/Api.ts), so it needs the sources too
COPY ui ./ui
COPY src ./src
# what `npm run build:ui` runs (node itself: the `node` package's binary was not installed; ui/build.ts builds in production mode)
RUN node ui/build.ts

# --- the image ------------------------------------------------------------------------------------------------
FROM node:24-slim

WORKDIR /app
ENV NODE_ENV=production

# the dependencies first, so that a change of the sources keeps this layer cached
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY src ./src
COPY layers ./layers
COPY migrations ./migrations
# the built dashboard, where src/api/DashboardAssets.ts looks for it (served under /ui)
COPY --from=dashboard /build/dist/ui ./dist/ui

# the embedded database's directory (unused when DATABASE_URL is set), writable by the unprivileged user
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

ENV TASKER_API_HOST=0.0.0.0 \
    TASKER_API_PORT=8080 \
    TASKER_EMBEDDED_DATA_DIR=/data
EXPOSE 8080

# exec form: node is PID 1 and receives SIGTERM itself (no npm or shell in between), shuts down gracefully and
# exits 0. Give it more than TASKER_SHUTDOWN_GRACE_MS (30 s) to do so: `docker run --stop-timeout 40`, or
# `stop_grace_period: 40s` in Compose.
STOPSIGNAL SIGTERM
CMD ["node", "src/cli/main.ts", "serve"]
