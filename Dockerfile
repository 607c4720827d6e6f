# cdht workflow service.
#
#   docker build -t cdht .
#   docker run --rm -p 8000:8000 -v cdht-data:/app/var cdht
#
# NOTE: without further configuration the container runs in the *dev* environment (CDHT_ENV=dev,
# the app's default: dev tokens signed with a secret generated into the data dir). Production needs
# CDHT_ENV=production plus the auth settings it insists on (see service/config.py), e.g.
#   docker run -e CDHT_ENV=production -e CDHT_AUTH_ISSUER=... -e CDHT_AUTH_AUDIENCE=... \
#              -e CDHT_AUTH_JWKS_URL=... -e CDHT_DATABASE_URL=postgresql+asyncpg://... cdht
# Data (SQLite file, evidence files, dev secret) lives in CDHT_DATA_DIR=/app/var; mount a volume there.
#
# PDF export of the annual report (GET /v1/reports/{id}/export?format=pdf) needs LibreOffice and a font with
# Vietnamese; the image leaves them out (about 300 MB) unless built with --build-arg PDF=1 (otherwise the PDF
# export answers 503 pdf_renderer_missing and the DOCX is there).
FROM python:3.11-slim

ARG PDF=0
RUN if [ "$PDF" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends libreoffice-writer-nogui fonts-liberation2 \
      && rm -rf /var/lib/apt/lists/*; \
    fi

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 cdht \
 && useradd --system --uid 10001 --gid cdht --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin cdht

WORKDIR /app

COPY pyproject.toml README.md constraints.txt ./
COPY service ./service
COPY workflows ./workflows
COPY migrations ./migrations
COPY openapi ./openapi

RUN pip install --no-cache-dir -c constraints.txt . \
 && mkdir -p /app/var \
 && chown cdht:cdht /app/var

ENV CDHT_DATA_DIR=/app/var

USER cdht

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["cdht", "serve", "--host", "0.0.0.0", "--port", "8000"]
