# The sidecar-injector image: one image for both roles —
#   serve    the webhook (the Deployment in manifests/ runs `sidecar-injector serve ...`)
#   capture  the iptables init container injected into pods (`sidecar-injector capture ...`, run as root
#            with NET_ADMIN/NET_RAW by the injected pod spec; the image itself defaults to non-root).
# Build (needs a Docker engine or any OCI builder; the project's CI machines have none, so this file is
# checked by review and by test/dockerfile.test.ts, not built there):
#   docker build -t ghcr.io/sidecar-injector/sidecar-injector:0.1.0 .

# --- build: compile TypeScript with the dev dependencies ---
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: Node 24 LTS, production dependencies only, dist/, iptables ---
FROM node:24-bookworm-slim
# iptables (nft and legacy back ends) for the capture role, and iproute2: on IPv6 pods capture adds
# ::6 to lo (`ip -6 addr add`) for Envoy's inbound passthrough. Nothing else is added to the base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
# `sidecar-injector manifests` renders these from inside the image too.
COPY manifests ./manifests
# The injected init container runs `sidecar-injector capture`: the command must be on PATH. It is the
# bundle (dist/bundle: one file per command, our code and its dependencies but @kubernetes/client-node),
# which starts faster than dist/cli.js's hundreds of modules (BENCHMARKS.md, start-up levers).
RUN chmod 0755 dist/bundle/cli.js && ln -s /app/dist/bundle/cli.js /usr/local/bin/sidecar-injector
# V8's code cache, written once here for the two roles and only read at run time (the root
# filesystem is read-only in the Deployment): no compiling of fastify & co. at every start.
ENV NODE_COMPILE_CACHE=/app/compile-cache
RUN sidecar-injector serve --help >/dev/null && sidecar-injector capture --help >/dev/null
# The base image's unprivileged `node` user, by number so that runAsNonRoot can verify it.
USER 1000:1000
# The webhook port (HTTPS) and the metrics port the manifests give serve --metrics-port (plain HTTP).
EXPOSE 9443 8080
ENTRYPOINT ["sidecar-injector"]
CMD ["serve"]
