# semsearch: the search service on the embedded local model (works offline).
#
#   docker build -t semsearch .
#   docker run -p 8000:8000 -v semsearch-data:/data semsearch

FROM python:3.11-slim AS build
# hnswlib compiles from source; without this it would use -march=native and the image would
# only run on CPUs like the build machine's.
ENV HNSWLIB_NO_NATIVE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY index ./index
COPY service ./service
# No benchmarks/: the image runs the service only; `semsearch bench` there says how to get it.
RUN python -m venv /opt/semsearch && /opt/semsearch/bin/pip install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 semsearch \
    && mkdir /data && chown semsearch:semsearch /data
COPY --from=build /opt/semsearch /opt/semsearch
ENV PATH=/opt/semsearch/bin:$PATH \
    SEMSEARCH_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
USER semsearch
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SEMSEARCH_PORT', '8000'), timeout=4)" || exit 1
CMD ["semsearch", "serve", "--host", "0.0.0.0"]
