# selfmodel image: small, non-root, config and templates mounted at /etc/selfmodel.
# Not built on the development machines (no Docker engine there); linted with hadolint.
#   docker build -t selfmodel .
#   docker run -p 8000:8000 -v $PWD/config.yaml:/etc/selfmodel/config.yaml:ro selfmodel
# The same image runs the gateway (the default command) and the observation workers
# (`worker --config /etc/selfmodel/config.yaml`); deploy/docker-compose.yml runs both.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    SELFMODEL_STORE_URL=sqlite:////var/lib/selfmodel/selfmodel.db \
    SELFMODEL_WORKERS=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . \
    && rm -rf /app/src /app/build \
    && useradd --create-home --uid 10001 selfmodel \
    && mkdir -p /var/lib/selfmodel \
    && chown 10001 /var/lib/selfmodel
# Defaults for a lone container: the echo model and a SQLite file in the volume below.
# Mount your own config.yaml (and templates/) over these.
COPY deploy/config.yaml /etc/selfmodel/config.yaml
COPY templates /etc/selfmodel/templates

USER 10001
WORKDIR /var/lib/selfmodel
VOLUME ["/var/lib/selfmodel"]
EXPOSE 8000
# SIGTERM drains in-flight requests and streams for server.graceful_timeout (30 s by
# default): give `docker stop` more than that (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["selfmodel"]
CMD ["serve", "--config", "/etc/selfmodel/config.yaml", "--host", "0.0.0.0", "--port", "8000"]
