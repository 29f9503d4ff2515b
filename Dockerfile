# syntax=docker/dockerfile:1
# cjm in a container: the wheel built from this checkout, installed (not editable) with the exact
# versions of requirements.lock, run by a non-root user. With no arguments it runs the pipeline on
# the bundled sample; any other arguments are a cjm command (docs/production.md, "Docker"):
#   docker build -t cjm .
#   docker run --rm -v "$PWD/output:/home/cjm/output" cjm
#   docker run --rm -v "$PWD/output:/home/cjm/output" cjm query "select * from pipeline_runs"
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: build cjm's wheel, and wheels of its dependencies at the locked versions.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY cjm ./cjm
COPY sql ./sql
COPY pipelines ./pipelines
RUN python -m pip install --no-cache-dir --disable-pip-version-check "setuptools>=68" wheel \
    && python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps \
        --wheel-dir /wheels . \
    && python -m pip wheel --no-cache-dir --disable-pip-version-check \
        --constraint requirements.lock --wheel-dir /wheels /wheels/cjm-*.whl

# Stage 2: the runtime, with no compilers and no source tree.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 cjm \
    && useradd --system --uid 10001 --gid cjm --create-home --home-dir /home/cjm cjm
# The wheels are mounted from the build stage, not copied: no layer of the image keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --disable-pip-version-check --no-index \
        --find-links /wheels cjm
# The sample log and its config: the default command runs on them.
COPY --chown=cjm:cjm data/sample/cjm.yaml /opt/cjm/sample/cjm.yaml
COPY --chown=cjm:cjm data/sample/events /opt/cjm/sample/events
USER cjm
WORKDIR /home/cjm
# A run without a Prefect server starts a temporary local API: offline and quiet.
ENV PREFECT_HOME=/home/cjm/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=60 \
    PYTHONUNBUFFERED=1
RUN mkdir -p /home/cjm/output
ENTRYPOINT ["cjm"]
CMD ["run", "--events", "/opt/cjm/sample/events", "--config", "/opt/cjm/sample/cjm.yaml", "--db", "/home/cjm/output/cjm.duckdb"]
