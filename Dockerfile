# newsbot container image: the bot only, as an unprivileged user, state in one volume.
#   docker build -t newsbot .
#   docker build -t newsbot --build-arg EXTRAS="[dashboard]" .   # with `newsbot dashboard`
FROM python:3.11-slim

ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid so a bind-mounted inbox can be given to it on the host (chown 10001:10001).
RUN groupadd --system --gid 10001 newsbot \
    && useradd --system --uid 10001 --gid newsbot --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin newsbot

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
# The project itself, not a package from an index; pip and every dependency at the version
# constraints.txt pins (the lock `make run` and CI install from too).
# hadolint ignore=DL3013
RUN pip install -c constraints.txt pip \
    && pip install -c constraints.txt ".${EXTRAS}" \
    && mkdir -p /data/inbox \
    && chown -R newsbot:newsbot /data

# Inside the container the HTTP server must listen on every interface so the published port
# reaches it; compose.yaml publishes it on the host's 127.0.0.1 only.
ENV NEWSBOT_DB=/data/newsbot.db \
    NEWSBOT_INBOX=/data/inbox \
    NEWSBOT_HTTP_HOST=0.0.0.0 \
    NEWSBOT_HTTP_PORT=8080 \
    MPLCONFIGDIR=/tmp/matplotlib

VOLUME ["/data"]
EXPOSE 8080
# Numeric, so runtimes can check it is not root without reading /etc/passwd.
USER 10001:10001
WORKDIR /data

# /healthz answers 503 when the scheduler or the database is down; urlopen raises on it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEWSBOT_HTTP_PORT', '8080'), timeout=4)"]

# The bot stops cleanly on SIGTERM (scheduler, transports, HTTP server, database, in order).
STOPSIGNAL SIGTERM
CMD ["newsbot", "run"]
