#!/usr/bin/env bash
# Train the small model in the background across sessions (see docs/small-model.md).
#
#   scripts/small_model_bg.sh start [--until STAGE] [-- extra 's2tts recipe small' args]
#   scripts/small_model_bg.sh status      # alive?, each stage's CPU hours so far, the log's last lines
#   scripts/small_model_bg.sh stop        # SIGTERM to the whole run: trainers save, then exit
#   scripts/small_model_bg.sh milestone pretrain|sft   # the latest checkpoint, fp16 + manifest -> the package
#   scripts/small_model_bg.sh milestone codec          # the codec stage's codec in fp16 (for codec.path)
#   scripts/small_model_bg.sh milestone export         # the export stage's result (with its evaluation)
#   scripts/small_model_bg.sh probe [pretrain|sft] [N] # is it talking yet? the latest checkpoint with the
#                                                      # default voice, N held-out sentences, Whisper-base WER,
#                                                      # and its attention alignment to the text
#
# Settings (environment):
#   S2TTS_SMALL_RUN     run directory, outside the repository (default /work/runs/small)
#   S2TTS_SMALL_CORPUS  an existing 's2tts data synth' corpus (default: the recipe makes one in the run)
#   S2TTS_SMALL_THREADS torch threads of every stage (default 2)
#   S2TTS_SMALL_NICE    nice level (default 15: tests and editors on the same machine stay responsive)
#   S2TTS_SMALL_MODELS  where milestones go (default src/s2tts/assets/small: the packaged default model;
#                       models/small-codec for the codec milestone)
#   PYTHON              interpreter (default .venv/bin/python)
#
# The run resumes where it stopped: 'start' again after 'stop', a reboot or the end of a session.
# Checkpoints are frequent (save_every in configs/recipe/small/*.yaml). A run directory may not
# outlive its machine: commit the codec once its stage is done, and the LM at the end of a session,
#   scripts/small_model_bg.sh milestone codec       # -> models/small-codec
#   S2TTS_SMALL_MODELS=models/small-lm scripts/small_model_bg.sh milestone pretrain
# and on a new machine start from them (fresh optimizer; the codec is not trained again):
#   scripts/small_model_bg.sh start -- --set codec.path=models/small-codec \
#       --set pretrain.overrides+=resume_weights=models/small-lm
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RUN=${S2TTS_SMALL_RUN:-/work/runs/small}
THREADS=${S2TTS_SMALL_THREADS:-2}
NICE=${S2TTS_SMALL_NICE:-15}
MODELS=${S2TTS_SMALL_MODELS:-$REPO/src/s2tts/assets/small}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
PIDFILE=$RUN/background.pid
LOG=$RUN/background.log
export PYTHONPATH=$REPO/src${PYTHONPATH:+:$PYTHONPATH}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

cmd=${1:-status}
shift || true
case "$cmd" in
  start)
    if running; then echo "small: already running (pid $(cat "$PIDFILE"))"; exit 0; fi
    mkdir -p "$RUN"
    args=(recipe small --out "$RUN" --threads "$THREADS")
    [ -n "${S2TTS_SMALL_CORPUS:-}" ] && args+=(--set "corpus.path=$S2TTS_SMALL_CORPUS")
    while [ $# -gt 0 ]; do
      case "$1" in
        --until) args+=(--until "$2"); shift 2 ;;
        --) shift; args+=("$@"); break ;;
        *) echo "small: unknown option $1" >&2; exit 2 ;;
      esac
    done
    # With autogroup scheduling on, the kernel shares CPU equally between sessions whatever their
    # nice level, so a low-priority test run in another terminal still halves the trainer's speed.
    if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo 0)" = 1 ]; then
      echo "small: note: kernel autogroup scheduling is on, so 'nice' does not protect this run from" \
        "jobs in other sessions (as root: echo 0 > /proc/sys/kernel/sched_autogroup_enabled)" >&2
    fi
    # glibc's malloc fragments under the LM's variable-length batches: pre-training's resident
    # memory grew ~0.4-0.6 GB a minute (8.7 GB after 16 min) with or without keep_host_memory, and
    # a fixed mmap threshold bounded it at ~2 GB but nearly halved the speed. jemalloc keeps it at
    # ~2.5 GB (apt-get install libjemalloc2); used when installed.
    JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
    if [ -z "${LD_PRELOAD:-}" ] && [ -f "$JEMALLOC" ]; then export LD_PRELOAD=$JEMALLOC; fi
    # setsid: the run is its own process group, so 'stop' reaches the trainer children too.
    setsid nohup nice -n "$NICE" "$PYTHON" -m s2tts.cli "${args[@]}" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    echo "small: started pid $! (log $LOG)"
    ;;
  status)
    if running; then echo "small: running (pid $(cat "$PIDFILE"))"; else echo "small: not running"; fi
    [ -d "$RUN/stages" ] && nice -n "$NICE" "$PYTHON" -m s2tts.cli recipe small --out "$RUN" --compute
    [ -f "$LOG" ] && tail -n 5 "$LOG" | tr '\r' '\n' | tail -n 5
    ;;
  stop)
    if ! running; then echo "small: not running"; exit 0; fi
    pid=$(cat "$PIDFILE")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then echo "small: still saving after 120 s (pid $pid)"; else echo "small: stopped"; fi
    ;;
  milestone)
    stage=${1:?milestone needs a stage: codec, pretrain, sft or export}
    # the codec alone is not a packaged model: by default it goes beside, not into, the package
    [ "$stage" = codec ] && [ -z "${S2TTS_SMALL_MODELS:-}" ] && MODELS=$REPO/models/small-codec
    margs=(recipe small --out "$RUN" --milestone "$stage" --to "$MODELS")
    [ -n "${S2TTS_SMALL_CORPUS:-}" ] && margs+=(--set "corpus.path=$S2TTS_SMALL_CORPUS")  # the default voice's clip
    nice -n "$NICE" "$PYTHON" -m s2tts.cli "${margs[@]}"
    du -sh "$MODELS"
    echo "small: commit it (git add \"$MODELS\") only at milestones: each commit of the weights adds its size (du above) to the history"
    ;;
  probe)
    # A quick look while training runs: the latest checkpoint of a stage, packaged with the default
    # voice into RUN/probe/STAGE, speaks N held-out sentences (plain cases of 's2tts eval-testset',
    # never trained on); the report goes to RUN/probe/STAGE-step-NNNNNNNN.
    stage=${1:-pretrain}; n=${2:-20}
    corpus=${S2TTS_SMALL_CORPUS:-$RUN/corpus}
    probe=$RUN/probe
    mkdir -p "$probe"
    margs=(recipe small --out "$RUN" --milestone "$stage" --to "$probe/$stage")
    [ -n "${S2TTS_SMALL_CORPUS:-}" ] && margs+=(--set "corpus.path=$S2TTS_SMALL_CORPUS")
    step=$(nice -n "$NICE" "$PYTHON" -m s2tts.cli "${margs[@]}" | tail -n 1 |
      "$PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.read())["checkpoint"])')
    nice -n "$NICE" "$PYTHON" -m s2tts.cli eval-testset --corpus "$corpus" --out "$probe/testset.jsonl" \
      --per-category "$n" >/dev/null
    grep '"category": "plain"' "$probe/testset.jsonl" >"$probe/plain.jsonl"
    nice -n "$NICE" "$PYTHON" -m s2tts.cli eval --system "$probe/$stage" --testset "$probe/plain.jsonl" \
      --out "$probe/$stage-$step" --threads 1 --seed 0 --no-speaker --no-quality | tail -n 1
    # how well its audio attends to its text (scripts/lm_alignment.py): the curve before the WER moves
    nice -n "$NICE" "$PYTHON" "$REPO/scripts/lm_alignment.py" "$probe/$stage" "$RUN/lm/$stage/config.yaml" \
      --samples 10 | tail -n 1 | tee "$probe/$stage-$step/alignment.json"
    echo "small: $stage $step: report $probe/$stage-$step/report.md"
    ;;
  *) echo "usage: $0 start|status|stop|milestone STAGE|probe [STAGE] [N]" >&2; exit 2 ;;
esac
