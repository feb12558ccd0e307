#!/usr/bin/env bash
# The main job, end to end, offline, on the shared Multi30K data: captions -> translate -> score -> filter -> train
# -> evaluate, ending in a retrieval table (all pairs vs filtered pairs). About 10 minutes on 2 CPU cores.
#
# Part A, the MT path: import English captions -> translate to Czech and back-translate (Apache Beam, CTranslate2)
#   -> score -> filter. The MT model is a tiny *random* Marian model (real SentencePiece tokenizers, real ct2
#   conversion): its output is gibberish, every stage runs for real. With network access, use
#   `--model Helsinki-NLP/opus-mt-en-cs --bt-model Helsinki-NLP/opus-mt-cs-en` (or drop --model).
# Part B, what filtering buys: gibberish cannot train a retrieval model, so the training half uses stand-ins for
#   MT output, image features and text encoder (each announced below): score and filter the noisy pairs, then train
#   the same model on all pairs and on the kept pairs (same number of steps) and evaluate both on test_2016_flickr.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
DATA=${MULTI30K:-../shared/data/multi30k}   # {train,val,test_2016_flickr}.{en,de,fr,cs}.gz + *.images.txt
OUT=${OUT:-runs/quickstart}
BIN=${BIN:-.venv/bin}
TRAIN_PAIRS=${TRAIN_PAIRS:-6000}   # training pairs taken from Multi30K train (29,000 in all)
NOISE=${NOISE:-0.3}                # share of training targets replaced by synthetic MT-style errors
EPOCHS=${EPOCHS:-}                 # epochs over all pairs (default: examples/train_tiny_cpu.yaml's); same steps per arm
mkdir -p "$OUT"
MODELS="$OUT/models"
stand_in() { echo "   STAND-IN: $*"; }

echo "== A1/4 import Multi30K English captions (val split: 1,014 captions)"
$BIN/clcm-data import -f multi30k "$DATA" --langs en --splits val -o "$OUT/captions" --overwrite

echo "== A2/4 build local demo models (tiny random Marian + CTranslate2 conversion) in $MODELS"
stand_in "the MT model is a tiny RANDOM Marian model: its Czech is gibberish (no weights can be downloaded offline)"
$BIN/python -m clcm.testing.tiny_seq2seq "$MODELS"

echo "== A3/4 translate en->cs and back-translate cs->en (Apache Beam, DirectRunner, ct2 backend)"
$BIN/clcm-data translate -i "$OUT/captions" -o "$OUT/pairs" --lang cs \
  --model "$MODELS/marian-ct2" --bt-model "$MODELS/marian-ct2" --cache-dir "$OUT/cache"

echo "== A4/4 score the MT pairs and filter them (default threshold and hard rules)"
$BIN/clcm-data score -i "$OUT/pairs" -o "$OUT/scored"
$BIN/clcm-data filter -i "$OUT/scored" -o "$OUT/filtered"
echo "   (random MT output babbles in loops and is not Czech: the hard rules drop every pair; nothing to train on)"

echo "== B1/4 training data, features and text encoder"
stand_in "MT output = Multi30K's HUMAN Czech captions ($TRAIN_PAIRS train pairs) with ${NOISE} of them replaced by"
stand_in "  synthetic MT-style errors (untranslated, half-translated, code-mixed, wrong language, truncated, loops,"
stand_in "  dropped or swapped words, misaligned; clcm.filtering.synthetic_noise; labels kept in labels.json)"
stand_in "image features = SYNTHETIC: a random projection of each image's English content words + noise"
stand_in "text encoder = a tiny RANDOM BERT (64 wide, 2 layers, WordPiece trained on the captions), not mBERT"
$BIN/python examples/make_multi30k_pairs.py --multi30k "$DATA" --out "$OUT/train-data" --tgt cs \
  --limit "$TRAIN_PAIRS" --no-bt --tiny-bert "$MODELS/tiny-bert"
$BIN/python examples/make_synthetic_features.py --multi30k "$DATA" --out "$OUT/features" --dim 256
$BIN/python examples/corrupt_pairs.py "$OUT/train-data/train_pairs" "$OUT/train-noisy" --fraction "$NOISE" --seed 7

echo "== B2/4 score the noisy training pairs (no back-translations: the scorers see source and target only)"
$BIN/clcm-data score -i "$OUT/train-noisy" -o "$OUT/train-scored"

echo "== B3/4 filter with the defaults: hard rules (langid, copy, repetition) and noise_score > 0.97"
$BIN/clcm-data filter -i "$OUT/train-scored" -o "$OUT/train-filtered"

echo "== B4/4 train the baseline model on all pairs and on the kept pairs (same steps), evaluate on test_2016_flickr"
F="$OUT/features"
FEATURES="$F/train.npy,$F/val.npy,$F/test_2016_flickr.npy"
# `clcm-train sweep` trains one model per selection of the scored pairs on the same step budget: keep-1 is every
# pair, threshold-0.97 is exactly what the filter above kept. Model selection on val, test on test_2016_flickr.
$BIN/clcm-train sweep --scored "$OUT/train-scored" --out-dir "$OUT/train" --keep-fractions 1 --thresholds 0.97 \
  --features "$FEATURES" --val "$OUT/train-data/val_cs.parquet" --test "$OUT/train-data/test_2016_flickr_cs.parquet" \
  --config examples/train_tiny_cpu.yaml --text-model "$MODELS/tiny-bert" ${EPOCHS:+--epochs "$EPOCHS"}

$BIN/python examples/quickstart_table.py "$OUT/train" --labels "$OUT/train-noisy/labels.json"
echo "done: MT pairs in $OUT/pairs (scored, filtered); training runs in $OUT/train (sweep.json, sweep.png, points/)"
