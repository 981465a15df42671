"""Outlier-set hygiene: find the outliers that are copies of in-distribution or OOD test images.

    geometry.py    the resampling matrices: images to 32x32, and the crop-and-resize variants
    phash.py       a 63-bit DCT perceptual hash of each image, and of each crop/flip variant
    index.py       HammingIndex: every indexed hash within a Hamming distance of a query
    verify.py      the second stage: aligned band-pass similarity of a candidate pair
    duplicates.py  find_duplicates: the outlier set streamed against indexed reference sets
    exclusion.py   the exclusion file (one outlier index per line): read and write

`oe outliers check` (commands/outliers.py) runs them; `SPEC@exclude:FILE` (data/modifiers.py)
trains without the indices found. The method, thresholds and measurements: docs/hygiene.md.
Import the module that defines a name; this file imports nothing.
"""
