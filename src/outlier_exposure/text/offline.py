"""`offline-sst`: baseline vs OE for the reference SST classifier, over the offline shared data.

In-distribution SST binary (train 6920 / test 1821 sentences, the offline TSV, lower-cased at
the source); OE on WikiText-2 sentences made from the *valid* split (the train split is not
offline; the reference uses train); OOD: SNLI test hypotheses, IMDB test reviews, Multi30K train
captions, Yelp (Shen et al. sentences, test), EWT (UD dev+test raw sentences: dev) - WMT16 is not
offline and is skipped. Reference recipe at full scale (5 + 5 epochs, Adam 0.01, batch 64,
lambda 1.0), FPR90, 10 draws at 1:5. The stages run as every text preset's do
(`experiment.run_text_experiment`).
"""

from __future__ import annotations

from pathlib import Path

from .experiment import run_text_experiment


def run_offline_sst(out: str | Path, data_root: str | Path | None = None, device: str = "auto",
                    progress: bool = True, log=print, threads: int | None = 1,
                    **overrides) -> dict:
    """Train OUT/baseline and OUT/oe, evaluate both, write OUT/results.json ({"baseline": R,
    "oe": R}) and OUT/results.md; `overrides` (e.g. epochs=1) apply to both runs; `threads`:
    PyTorch CPU threads while it runs (see `run_text_experiment`)."""
    return run_text_experiment("offline-sst", out, data_root=data_root, device=device,
                               progress=progress, log=log, threads=threads, **overrides)
