# runbook-bot: `docker build -t runbook-bot .` then
#   docker run --rm -p 3000:3000 -e SLACK_BOT_TOKEN=… -e SLACK_SIGNING_SECRET=… \
#     -e DATABASE_URL=postgresql+asyncpg://user:pass@db/runbook_bot runbook-bot
# Try it without Slack: docker run --rm -p 3000:3000 runbook-bot runbook-bot playground
# Mounts, a read-only root file system, compose and Kubernetes: docs/deploy.md.

# The base is pinned (a rebuild gets the same Python); bump it deliberately.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the locked dependencies and our wheel, into a venv -------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first (exact versions and hashes from requirements.lock, `make
# lock`), so a code change reuses this layer.
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --require-hashes -r requirements.lock \
    && python -m pip install --no-deps --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY runbooks ./runbooks
COPY migrations ./migrations
# Built with the locked hatchling; --no-deps: its dependencies are installed above.
RUN python -m pip wheel --no-deps --no-build-isolation -w /tmp/dist . \
    && /opt/venv/bin/pip install --no-deps /tmp/dist/*.whl \
    && /opt/venv/bin/pip uninstall -y -q pip setuptools \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- runtime: the venv, tini, and an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="runbook-bot" \
      org.opencontainers.image.description="Run your team's Markdown incident runbooks step by step in Slack." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="docs/deploy.md"
# tini as PID 1 forwards signals and reaps the worker child; the base's own pip,
# setuptools and wheel go (nothing installs at run time; a Debian-packaged pip,
# as in the stand-in base `make image-test` builds offline, cannot be removed).
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends tini=0.19.0-1+b3 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && (python -m pip uninstall -y -q pip setuptools wheel 2>/dev/null || true) \
    && groupadd --gid 10001 runbook \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin runbook \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000 \
    HOST=0.0.0.0 \
    HOME=/data

# The embedded SQLite default (./runbook-bot.db) lands in /data: mount a volume
# there (`-v runbook-data:/data`), or set DATABASE_URL=postgresql+asyncpg://… in
# production. No VOLUME: it would leave an anonymous volume behind on every run.
# With a read-only root file system, /data (SQLite) and /tmp (the playground)
# must be writable mounts. Mount your own runbooks and set RUNBOOKS_DIR to use
# them instead of the bundled library.
WORKDIR /data
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["runbook-bot", "serve"]
