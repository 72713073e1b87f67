# canvasflow in a container: the package and llama.cpp are built once in the build
# stage (wheels), the runtime stage installs those wheels only, runs as a non-root user,
# keeps its data under /data and reports its health.

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE* ./
COPY canvasflow ./canvasflow
# a portable CPU baseline (a -march=native llama.cpp crashes on CPUs the build host lacks)
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[all]"

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 canvasflow \
    && mkdir /data \
    && chown canvasflow /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "canvasflow[all]==0.1.0" \
    && rm -rf /wheels
USER 10001
WORKDIR /home/canvasflow
# CANVASFLOW_HOST_NAMES: the names clients reach the server by (Host is checked)
ENV CANVASFLOW_DATA_DIR=/data \
    CANVASFLOW_HOST=0.0.0.0 \
    CANVASFLOW_HOST_NAMES=localhost \
    PYTHONUNBUFFERED=1 \
    PYTHONMALLOC=malloc
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/api/v1/ping', timeout=2)"]
CMD ["canvasflow", "serve"]
