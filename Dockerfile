# runbook-bot: `docker build -t runbook-bot .` then
#   docker run --rm -p 3000:3000 -e SLACK_BOT_TOKEN=… -e SLACK_SIGNING_SECRET=… \
#     -e DATABASE_URL=postgresql+asyncpg://user:pass@db/runbook_bot runbook-bot
# See docs/slack-setup.md.

# --- build: a wheel that carries the bundled runbooks and the migrations ---------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY commands ./commands
COPY runbooks ./runbooks
COPY migrations ./migrations
RUN pip wheel --no-deps . -w /wheels

# --- runtime ---------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --home-dir /home/runbook --uid 10001 --shell /usr/sbin/nologin runbook \
    && mkdir -p /data && chown runbook:runbook /data

# The embedded SQLite default (./runbook-bot.db) lands in /data; use
# DATABASE_URL=postgresql+asyncpg://… in production. Mount your own runbooks and
# set RUNBOOKS_DIR to use them instead of the bundled library.
WORKDIR /data
VOLUME ["/data"]
USER runbook

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["runbook-bot", "serve"]
