# selfmodel gateway image: small, non-root, config and templates mounted at /etc/selfmodel.
# Not built on the development machines (no Docker engine there); linted with hadolint.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates /etc/selfmodel/templates
COPY config.yaml /etc/selfmodel/config.yaml
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 selfmodel \
    && mkdir -p /var/lib/selfmodel && chown selfmodel /var/lib/selfmodel

USER selfmodel
WORKDIR /var/lib/selfmodel
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["selfmodel"]
CMD ["serve", "--config", "/etc/selfmodel/config.yaml", "--host", "0.0.0.0", "--port", "8000"]
