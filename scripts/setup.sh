#!/usr/bin/env bash
# Set up a fresh machine for s2tts: system packages (when run as root on Debian/Ubuntu), a
# virtual environment in .venv with the CPU build of torch, and the package with its extras.
# --data adds what `s2tts data` needs: the speech engines, sox, the fortunes text and the [data] extra.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="server,train,dev,eval"
# chromium: the web page test drives a real headless browser. festival, espeak-ng and sox: the
# evaluation and codec-training tests use real speech that they make with them.
APT_PACKAGES=(chromium festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts espeak-ng sox)
for arg in "$@"; do
  case "$arg" in
    --data)
      EXTRAS="$EXTRAS,data"
      APT_PACKAGES+=(espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox
        fortunes fortunes-min fortunes-de fortunes-es fortunes-it
        libjemalloc2)  # the small recipe's background script preloads it (bounded LM training memory)
      ;;
    *) echo "setup: unknown option $arg (known: --data)" >&2; exit 2 ;;
  esac
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first and pinned: the 2.13.0 CPU build installs from local disk; anything looser pulls CUDA.
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || "${PIP[@]}" torch==2.13.0
"${PIP[@]}" -c <(echo "torch==2.13.0") -e ".[$EXTRAS]"
# s2tts eval's speaker and DistillMOS scorers: their declared deps (webrtcvad built from source,
# torchaudio) do not install beside torch 2.13; what they import is in the [eval] extra.
"${PIP[@]}" --no-deps "resemblyzer>=0.1.4" "distillmos>=0.9" "xls-r-sqa>=0.1"
echo "setup: done (.venv)"
