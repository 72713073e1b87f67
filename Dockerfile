# canvasflow in a container: the package and llama.cpp are built once in the build
# stage (wheels), the runtime stage installs those wheels only, runs as a non-root user,
# keeps its data under /data and reports its health.
#
#   docker build --network host -t canvasflow .                        # the default image
#   docker build --network host --build-arg VARIANT=all -t canvasflow:all .
#
# VARIANT=default: the server, the embedded model, SQLite, PostgreSQL and Redis clients.
# VARIANT=all: and the heavy engines (Chroma with onnxruntime, Qdrant's local mode,
# faiss, PDF, text splitters, OpenTelemetry).
ARG VARIANT=default

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# a portable CPU baseline (a -march=native llama.cpp crashes on CPUs the build host lacks)
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF" \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# llama.cpp first, in a layer of its own: it compiles for minutes, and a change to
# canvasflow's sources (or the variant) does not make it compile again
ARG LLAMA_CPP_VERSION=0.3.36
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels "llama-cpp-python==${LLAMA_CPP_VERSION}"
ARG VARIANT
COPY pyproject.toml README.md LICENSE* ./
COPY canvasflow ./canvasflow
COPY scripts/link_library_copies.sh ./scripts/
# everything installed into one virtualenv, copied whole into the runtime image: no
# layer there holds the wheels too. V8's and llama.cpp's libraries stripped of their
# symbols (not the libraries auditwheel patched into *.libs/: stripping breaks them),
# and the copies of one library a wheel carries (it cannot hold symlinks) made links.
RUN extras="postgres,redis"; \
    if [ "$VARIANT" = "all" ]; then extras="all"; fi; \
    pip wheel --no-cache-dir --find-links /wheels --wheel-dir /wheels ".[$extras]" \
    && python -m venv /opt/canvasflow \
    && /opt/canvasflow/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        "canvasflow[$extras]" \
    && site="$(/opt/canvasflow/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && find "$site/py_mini_racer" "$site/llama_cpp" "$site/lib" -name '*.so*' -type f \
        -exec strip --strip-unneeded {} + \
    && sh scripts/link_library_copies.sh /opt/canvasflow

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 canvasflow \
    && mkdir /data \
    && chown canvasflow /data
COPY --from=build /opt/canvasflow /opt/canvasflow
USER 10001
WORKDIR /home/canvasflow
# CANVASFLOW_HOST_NAMES: the names clients reach the server by (Host is checked).
# The grace a stop gives running streams stays within `docker stop`'s 10 s.
ENV PATH=/opt/canvasflow/bin:$PATH \
    CANVASFLOW_DATA_DIR=/data \
    CANVASFLOW_HOST=0.0.0.0 \
    CANVASFLOW_PORT=3000 \
    CANVASFLOW_HOST_NAMES=localhost \
    CANVASFLOW_SHUTDOWN_GRACE=8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONMALLOC=malloc
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
# the port the server listens on, whatever CANVASFLOW_PORT says
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/ping' % os.environ.get('CANVASFLOW_PORT', '3000'), timeout=2)"]
CMD ["canvasflow", "serve"]
