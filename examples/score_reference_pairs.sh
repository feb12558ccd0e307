#!/usr/bin/env bash
# Scoring and filtering on real translations: Multi30K val + test_2016 English captions with their *human* Czech
# translations as pairs, 15% of them corrupted with known noise, then `clcm-data score` and `clcm-data filter`.
# Prints how many of the corrupted pairs the filter dropped. Offline; about 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DATA=${MULTI30K:-../shared/data/multi30k}
OUT=${OUT:-runs/reference}
BIN=.venv/bin
$BIN/clcm-data import -f multi30k "$DATA" --langs en,cs --splits val,test_2016_flickr --as-pairs -o "$OUT/pairs" --overwrite
$BIN/python examples/corrupt_pairs.py "$OUT/pairs" "$OUT/corrupted" --fraction 0.15
$BIN/clcm-data score -i "$OUT/corrupted" -o "$OUT/scored"
$BIN/clcm-data filter -i "$OUT/scored" -o "$OUT/filtered" --threshold "${THRESHOLD:-0.97}"
$BIN/python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from clcm.schemas import read_table
out = Path(sys.argv[1])
labels = json.loads((out / "corrupted" / "labels.json").read_text())
dropped = read_table(out / "filtered", prefix="dropped").to_pydict()
hit = sum(p in labels for p in dropped["pair_id"])
print(f"dropped {len(dropped['pair_id'])} pairs: {hit} of {len(labels)} corrupted ones "
      f"(recall {hit / max(len(labels), 1):.2f}, precision {hit / max(len(dropped['pair_id']), 1):.2f})")
PY
