# ollama-fleet: the supervisor (`fleet serve`) in a container. docker-compose.yml builds it.
# Build stage: dev dependencies and the TypeScript build (better-sqlite3 compiles here when
# no prebuilt binary can be fetched), then production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/slim-node-modules.sh ./scripts/
RUN npm run build && sh scripts/slim-node-modules.sh

# Run stage: the built app and production dependencies, as an unprivileged user.
FROM node:20-bookworm-slim
# A mounted fleet.yaml without an api section still serves on the published port, and with a
# token: FLEET_API_TOKEN=auto keeps a token the file names, else makes one in the state folder.
# FLEET_CONFIG lets `docker compose exec fleet node dist/main.js status` find the config.
ENV NODE_ENV=production \
    FLEET_STATE_DIR=/var/lib/fleet \
    FLEET_API_HOST=0.0.0.0 \
    FLEET_API_TOKEN=auto \
    FLEET_CONFIG=/etc/fleet/fleet.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# bin/nvidia-smi: the fake one, for `fleet sim` (docker-compose.sim.yml puts it on PATH).
COPY bin ./bin
# The compose set-up's fleet.yaml; mount your own over it.
COPY deploy/fleet.yaml /etc/fleet/fleet.yaml
# State (ladders, jobs, learned VRAM) lives in a volume, owned by the unprivileged user.
RUN mkdir -p /var/lib/fleet && chown -R node:node /var/lib/fleet
VOLUME ["/var/lib/fleet"]
USER node
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:5001/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve", "--config", "/etc/fleet/fleet.yaml"]
