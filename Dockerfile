# pinback controller image: non-root, read-only root filesystem friendly (writes only under /var/pinback).
FROM python:3.11-slim

RUN groupadd --gid 10001 pinback \
 && useradd --uid 10001 --gid pinback --no-create-home --home-dir /var/pinback --shell /usr/sbin/nologin pinback \
 && mkdir -p /var/pinback && chown pinback:pinback /var/pinback

WORKDIR /opt/pinback
COPY pyproject.toml README.md ./
COPY daemon ./daemon
RUN pip install --no-cache-dir . && rm -rf /root/.cache

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PINBACK_CONFIG=/etc/pinback/pinback.yaml
VOLUME ["/var/pinback"]
USER pinback:pinback
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)"]
ENTRYPOINT ["pinback", "run", "--listen", "0.0.0.0:9464"]
