# s2tts server image: the web page and the HTTP/websocket API on port 8080.
#
# CPU (default):   docker build -t s2tts .
# CUDA:            docker build -t s2tts:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
#                  and run with the NVIDIA container toolkit (docker run --gpus all ..., or the GPU block
#                  in compose.yaml). The CUDA wheels bring their own CUDA runtime, so the slim base works.
#
# Mount the checkpoint directory at /checkpoints (read-only) and a volume at /data (stored voices). The
# server uses /checkpoints when it holds a config.json (S2TTS_DEFAULT_CHECKPOINT); S2TTS_CHECKPOINT names
# another directory; with neither a tiny random model serves (noise, and it says so).
# Settings come from S2TTS_* variables (S2TTS_API_KEY, S2TTS_MAX_SESSIONS, ...; docs/server.md).

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    S2TTS_CHECKPOINT= \
    S2TTS_DEFAULT_CHECKPOINT=/checkpoints \
    S2TTS_DATA_DIR=/data \
    S2TTS_PORT=8080

# torch first, from its own index, in its own layer: it is by far the largest and changes least.
# The project needs torch>=2.4; installing this build first keeps pip from pulling another one.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /app
COPY pyproject.toml README* ./
COPY src ./src
RUN pip install ".[server]" && rm -rf /app/src /app/build

RUN useradd --create-home --uid 1000 s2tts \
    && mkdir -p /data /checkpoints \
    && chown s2tts:s2tts /data
USER s2tts
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/v1/health' % os.environ.get('S2TTS_PORT', '8080'), timeout=4)"

# `s2tts serve` reads S2TTS_CHECKPOINT, else S2TTS_DEFAULT_CHECKPOINT (/checkpoints) when it holds a config.
CMD ["sh", "-c", "exec s2tts serve --host 0.0.0.0 --port \"$S2TTS_PORT\" --data-dir \"$S2TTS_DATA_DIR\""]
