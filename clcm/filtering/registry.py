"""The explicit registry of built-in scorers (name -> class), and the default set per situation.

Adding a scorer: write its class (a :class:`~clcm.filtering.base.Scorer`; one that fits or loads a model overrides
``build`` and gets it through the :class:`~clcm.filtering.base.BuildContext`) and add it to ``SCORERS`` below.
"""

from __future__ import annotations

from clcm.filtering.base import Scorer
from clcm.filtering.chrf import ChrfScorer
from clcm.filtering.copy import CopyScorer
from clcm.filtering.embedding import EmbeddingBtScorer, EmbeddingScorer
from clcm.filtering.fluency import GapFluencyScorer, LexicalFluencyScorer, SuffixFluencyScorer, SwapFluencyScorer
from clcm.filtering.langid import LangIdScorer
from clcm.filtering.length import LengthRatioScorer
from clcm.filtering.lexical import (
    LexicalCoverageScorer,
    LexicalGapSourceScorer,
    LexicalGapTargetScorer,
    LexicalLengthScorer,
    LexicalLikelihoodScorer,
    LexicalWorstWordScorer,
)
from clcm.filtering.logprob import LogProbScorer
from clcm.filtering.punctuation import FinalPunctuationScorer
from clcm.filtering.repetition import RepetitionScorer

SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls
    for cls in (
        LangIdScorer,
        LengthRatioScorer,
        CopyScorer,
        RepetitionScorer,
        FinalPunctuationScorer,
        ChrfScorer,
        LogProbScorer,
        LexicalLikelihoodScorer,
        LexicalWorstWordScorer,
        LexicalCoverageScorer,
        LexicalGapSourceScorer,
        LexicalGapTargetScorer,
        LexicalLengthScorer,
        SuffixFluencyScorer,
        GapFluencyScorer,
        SwapFluencyScorer,
        LexicalFluencyScorer,
        EmbeddingScorer,
        EmbeddingBtScorer,
    )
}
RULE_SCORERS = ("length_ratio", "copy", "repetition", "final_punct")  # cheap, no model: >= 10k pairs/s on one core
LEXICAL_SCORERS = (
    "lexical",
    "lexical_min",
    "lexical_cov",
    "lexical_gap_src",
    "lexical_gap_tgt",
    "lexical_length",
)  # share one IBM-1 model fitted on the input
FLUENCY_SCORERS = ("fluency_suffix", "fluency_gap", "fluency_swap")  # share target n-gram LMs fitted on the input
JOINT_SCORERS = ("lexical_fluency",)  # need both the IBM-1 model and the fluency LMs
NEEDS_LEXICAL = (*LEXICAL_SCORERS, *JOINT_SCORERS)
NEEDS_FLUENCY = (*FLUENCY_SCORERS, *JOINT_SCORERS)
EMBEDDING_SCORERS = ("embedding", "embedding_bt")  # need an encoder (--embedder use, or an HF encoder)
# Everything that runs with no pretrained weights; scorers whose columns are empty are skipped with a note.
DEFAULT_SCORERS = ("langid", *RULE_SCORERS, "bt_chrf", "mt_logprob", *NEEDS_LEXICAL, *FLUENCY_SCORERS)
