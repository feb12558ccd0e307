#!/usr/bin/env bash
# The main job, end to end on the shared Multi30K data, offline, with a local model directory:
#   import English captions -> translate to Czech + back-translate (Beam, CTranslate2 backend)
#   -> score translation noise -> filter.
# The local models are tiny *random* Marian models (real SentencePiece tokenizers, real CTranslate2 conversion),
# so the translations are gibberish but every stage runs for real. With network access, replace
# `--model "$MODELS/marian-ct2"` by a hub id, e.g. `--model Helsinki-NLP/opus-mt-en-cs --bt-model Helsinki-NLP/opus-mt-cs-en`
# (or drop --model: the default per language pair is OPUS-MT where it exists, else NLLB-200 distilled).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
DATA=${MULTI30K:-../shared/data/multi30k}   # {train,val,test_2016_flickr}.{en,de,fr,cs}.gz + *.images.txt
OUT=${OUT:-runs/quickstart}
BIN=.venv/bin
mkdir -p "$OUT"
MODELS="$OUT/models"

echo "== 1/5 import Multi30K English captions (all splits)"
$BIN/clcm-data import -f multi30k "$DATA" --langs en -o "$OUT/captions" --overwrite

echo "== 2/5 build local demo models (tiny random Marian + CTranslate2 conversion) in $MODELS"
$BIN/python -m clcm.testing.tiny_seq2seq "$MODELS"

echo "== 3/5 translate en->cs and back-translate cs->en (Apache Beam, DirectRunner, ct2 backend)"
$BIN/clcm-data translate -i "$OUT/captions" -o "$OUT/pairs" --lang cs \
  --model "$MODELS/marian-ct2" --bt-model "$MODELS/marian-ct2" --cache-dir "$OUT/cache"

echo "== 4/5 score translation noise (rule, chrF-BT, MT log-prob and IBM-1 lexical scorers + learned combiner)"
$BIN/clcm-data score -i "$OUT/pairs" -o "$OUT/scored"

echo "== 5/5 filter: drop noisy pairs, keep the best caption of every image, mark NRF's selected subset"
$BIN/clcm-data filter -i "$OUT/scored" -o "$OUT/filtered" --min-per-media 1

echo "done: pairs in $OUT/pairs, scores in $OUT/scored, selection + report.json + plots in $OUT/filtered"
