# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/nudgebot
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN /opt/nudgebot/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/nudgebot/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 nudgebot && mkdir /data && chown nudgebot /data
COPY --from=build /opt/nudgebot /opt/nudgebot
ENV PATH=/opt/nudgebot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NUDGEBOT_HOST=0.0.0.0 \
    NUDGEBOT_PORT=8080 \
    DATABASE_URL=sqlite:////data/nudgebot.db \
    NUDGEBOT_CONFIG=/config/nudgebot.yaml
USER nudgebot
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NUDGEBOT_PORT','8080'), timeout=2)"
ENTRYPOINT ["nudgebot"]
CMD ["run"]
