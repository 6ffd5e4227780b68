# crypton-marketdata: one image for every part; the command selects it.
#
#   docker build -t crypton-marketdata:0.1.0 .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -p 5001:5001 crypton-marketdata:0.1.0 api
#   docker run --rm crypton-marketdata:0.1.0 producer --exchange kraken   (processor, simulate kraken,
#   topics ensure, config check, ...: any `marketdata` subcommand)
#
# Stages: `dashboard` builds the static dashboard with npm (as `make install` does), `builder`
# installs the locked runtime dependencies (uv.lock, hashes checked) and the project's wheel into
# /opt/venv, `runtime` is the slim base plus that venv only: no compiler, no uv, no Node, no pip
# cache. The configuration is read from /etc/marketdata/config.yaml (MARKETDATA_CONFIG); mount
# yours over the default one. Secrets never enter a layer: they come from the environment or from
# mounted files at run time (apiKeyFile / secretKeyFile).

FROM node:22.22.0-bookworm-slim AS dashboard
WORKDIR /src
COPY dashboard/package.json dashboard/package-lock.json dashboard/
RUN npm ci --prefix dashboard --no-audit --no-fund --loglevel=error
COPY dashboard/ dashboard/
RUN node dashboard/build.mjs


FROM python:3.12.13-slim-bookworm AS builder
# The uv the Makefile pins (UV_VERSION); the tests keep the two equal.
ARG UV_VERSION=0.13.8
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# The dependencies first, from the lock alone: this layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --no-emit-project --format requirements-txt \
        --output-file /tmp/requirements.txt \
    && uv venv /opt/venv --python /usr/local/bin/python3.12 \
    && uv pip install --python /opt/venv/bin/python --require-hashes \
        --requirement /tmp/requirements.txt
# Then the project itself, as the wheel `make smoke` proves (the dashboard is part of it).
COPY README.md ./
COPY marketdata/ marketdata/
COPY schemas/ schemas/
COPY producers/ producers/
COPY simulator/ simulator/
COPY processors/ processors/
COPY query_api/ query_api/
COPY clients/ clients/
COPY --from=dashboard /src/query_api/static/ query_api/static/
RUN uv build --wheel --out-dir /tmp/dist \
    && uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/*.whl


FROM python:3.12.13-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="crypton-marketdata" \
      org.opencontainers.image.description="Real-time crypto market data over Kafka: exchange producers, stream processors, query API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.13-slim-bookworm"
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MARKETDATA_CONFIG=/etc/marketdata/config.yaml
RUN groupadd --gid 10001 marketdata \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /var/lib/marketdata --shell /usr/sbin/nologin marketdata \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/marketdata
COPY --from=builder /opt/venv /opt/venv
COPY deploy/docker/config.yaml /etc/marketdata/config.yaml
WORKDIR /var/lib/marketdata
USER 10001:10001
# 5001: the query API (REST, /ws, SignalR hub, /health/*). 9000: /metrics and /health/* of the
# producer and the processor (service.metricsPort / metricsHost in the default configuration).
EXPOSE 5001 9000
# The API's liveness by default; other parts set MARKETDATA_HEALTH_URL (compose and Helm probe
# each part themselves). Python, not curl: the slim base has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('MARKETDATA_HEALTH_URL', 'http://127.0.0.1:5001/health/live'), timeout=3)"]
ENTRYPOINT ["marketdata"]
CMD ["api"]
