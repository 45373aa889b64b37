# tasker-effect: `tasker serve` (API, orchestration and a worker) from the sources; Node 24 strips the TypeScript
# types itself, so there is no build step. docs/deployment.md explains the settings, signals and volumes.
#
#   docker build -t tasker-effect .
#   docker run --rm -p 8080:8080 -v tasker-data:/data --stop-timeout 40 tasker-effect                   # embedded
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://tasker@db:5432/tasker tasker-effect         # PostgreSQL
FROM node:24-slim

WORKDIR /app
ENV NODE_ENV=production

# the dependencies first, so that a change of the sources keeps this layer cached
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY src ./src
COPY layers ./layers
COPY migrations ./migrations

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
