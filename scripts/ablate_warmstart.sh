#!/usr/bin/env bash
# Pre-training on a new codec's codes: from random weights, or from the LM trained on the previous
# codec's codes (same shapes: the codebooks keep their sizes, only their meaning changes). The text
# side (phoneme embeddings, the heads that read the text) may carry over and save steps; the audio
# embeddings and heads must be learned again either way. Both arms train side by side on the new
# run's code shards -- same config, seed, data order and LR schedule, one thread each -- and are
# compared by their validation curves (audio CE, text gain) at equal steps.
#
#   scripts/ablate_warmstart.sh RUN OLD_LM STEPS
#
#   RUN     the new recipe run (its pipeline stage done: RUN/data/shards from the new codec)
#   OLD_LM  the LM to start from: a published model directory (runs/small/lm/pretrain/model, or
#           `s2tts train export --run runs/small/lm/pretrain -o DIR` for its latest checkpoint)
#   STEPS   steps of each arm; the schedule stays the full pre-training's, so the arms are the
#           first STEPS steps of a real run
#
# The scratch arm trains in RUN/lm/pretrain, the recipe's own folder, so when it wins the recipe
# continues from it; when the warm start wins, move RUN/lm/pretrain-warm there and run the recipe
# with --set pretrain.overrides+=model.init_from=OLD_LM --set pretrain.overrides+=model.text_frontend=text
# (the checkpoint's own front end is kept). Results: RUN/ablation-warmstart/ (curves.json,
# curves.png and the table printed by s2tts.training.lm.ablation).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$(realpath "$1")
OLD=$(realpath "$2")
STEPS=$3
PYTHON=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}
CONFIG=configs/recipe/small/pretrain-phonemes.yaml
OUT=$RUN/ablation-warmstart
mkdir -p "$OUT"
s2tts() { nice -n "${S2TTS_ABLATION_NICE:-0}" "$PYTHON" -m s2tts.cli "$@"; }

common=(data.source=shards "data.path=$RUN/data/shards" threads=1 "steps=$STEPS" val_every=100)
s2tts train lm --config $CONFIG "out_dir=$RUN/lm/pretrain" "${common[@]}" >"$OUT/train-scratch.log" 2>&1 &
scratch=$!
s2tts train lm --config $CONFIG "out_dir=$RUN/lm/pretrain-warm" "${common[@]}" \
  "model.init_from=$OLD" model.text_frontend=text >"$OUT/train-warm.log" 2>&1 &
warm=$!
trap 'kill -TERM $scratch $warm 2>/dev/null || true' INT TERM
wait $scratch
wait $warm

"$PYTHON" -m s2tts.training.lm.ablation "$RUN/lm/pretrain" "$RUN/lm/pretrain-warm" --labels scratch warm \
  --out "$OUT"
