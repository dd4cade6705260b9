#!/usr/bin/env bash
# The small model's text front-end ablation (docs/small-model.md, "Text front end"): pre-train the
# byte-level and the phoneme (espeak) LM side by side on the recipe's code shards -- same config,
# seed, data order and LR schedule, one thread each, so both see the same machine -- then judge
# both on the same held-out cases with the evaluation harness.
#
#   scripts/ablate_frontend.sh RUN CORPUS STEPS [CASES]
#
#   RUN    the recipe's output folder (its pipeline stage done: RUN/data/shards, RUN/codec/run/export)
#   CORPUS the recipe's corpus (RUN/corpus, or the corpus.path it was given)
#   STEPS  steps of each arm; the schedule stays the full pre-training's (pretrain.yaml's
#          total_steps), so the arms are the first STEPS steps of the real run
#   CASES  held-out cases per category (plain sentences, clones of held-out speakers; default 20)
#
# The byte arm trains in RUN/lm/pretrain, the recipe's own pre-training folder, so when bytes win
# the recipe continues from it; when phonemes win, move RUN/lm/pretrain-phonemes there and run the
# recipe with --set pretrain.config=pretrain-phonemes.yaml. Results: RUN/ablation/ (the two eval
# reports, compare/, curves.json and curves.png: validation loss and text gain of both arms).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$(realpath "$1")
CORPUS=$(realpath "$2")
STEPS=$3
CASES=${4:-20}
PYTHON=${PYTHON:-.venv/bin/python}
export PYTHONPATH=$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}
CONFIGS=configs/recipe/small
OUT=$RUN/ablation
mkdir -p "$OUT"
s2tts() { nice -n "${S2TTS_ABLATION_NICE:-0}" "$PYTHON" -m s2tts.cli "$@"; }

common=(data.source=shards "data.path=$RUN/data/shards" threads=1 "steps=$STEPS" val_every=100)
s2tts train lm --config $CONFIGS/pretrain.yaml "out_dir=$RUN/lm/pretrain" "${common[@]}" \
  >"$OUT/train-bytes.log" 2>&1 &
bytes=$!
s2tts train lm --config $CONFIGS/pretrain-phonemes.yaml "out_dir=$RUN/lm/pretrain-phonemes" "${common[@]}" \
  >"$OUT/train-phonemes.log" 2>&1 &
phonemes=$!
trap 'kill -TERM $bytes $phonemes 2>/dev/null || true' INT TERM
wait $bytes
wait $phonemes

for arm in pretrain pretrain-phonemes; do  # the recipe's codec beside each exported LM
  cp "$RUN"/codec/run/export/codec*.json "$RUN"/codec/run/export/codec.safetensors "$RUN/lm/$arm/model/"
done

s2tts eval-testset --corpus "$CORPUS" --out "$OUT/all.jsonl" --per-category "$CASES"
grep -E '"category": "(plain|clone)"' "$OUT/all.jsonl" >"$OUT/testset.jsonl"
for arm in bytes phonemes; do
  dir=$RUN/lm/pretrain; [ $arm = phonemes ] && dir=$RUN/lm/pretrain-phonemes
  s2tts eval --system "$dir/model" --testset "$OUT/testset.jsonl" --out "$OUT/$arm" --no-quality \
    --threads 2 >"$OUT/eval-$arm.log" 2>&1
done
s2tts eval-compare "$OUT/bytes" "$OUT/phonemes" --out "$OUT/compare"
"$PYTHON" -m s2tts.training.lm.ablation "$RUN/lm/pretrain" "$RUN/lm/pretrain-phonemes" --labels bytes phonemes \
  --out "$OUT"
