"""HammingIndex: every indexed 63-bit hash within a Hamming distance of each query hash.

Multi-index hashing (Norouzi, Punjani, Fleet, "Fast search in Hamming space with multi-index
hashing", CVPR 2012): split the 63 bits into BLOCKS = 3 blocks of 21. If two hashes differ in
at most 3 * (RADIUS + 1) - 1 = 8 bits, one block differs in at most RADIUS = 2 bits (else the
three blocks would hold at least 9 differences). So probing, in each block's table, the query's
block value and every value within 2 bits of it (1 + 21 + 210 = 232 keys) finds every hash
within 8 bits: the search is exact up to MAX_DISTANCE, and each candidate is then checked on
all 63 bits. A table is a direct address array of 2^21 bucket starts over the hashes sorted by
that block (a counting sort), so a probe is two array reads; the sorted hashes are kept next to
it so that a bucket is read in order.

Memory: per indexed hash 8 bytes, plus 12 per block (the hash again and its position), plus
3 x 8 MiB of bucket starts: about 44 bytes per hash (11 million hashes: 0.5 GB).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .phash import BITS

BLOCKS = 3
RADIUS = 2
MAX_DISTANCE = BLOCKS * (RADIUS + 1) - 1  # 8
QUERY_BATCH = 2048  # queries probed at once: bounds the candidate arrays


def _block_edges() -> list[tuple[int, int]]:
    edges = np.linspace(0, BITS, BLOCKS + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _masks(width: int) -> np.ndarray:
    """Every width-bit value with at most RADIUS bits set (the probes' XOR masks)."""
    masks = [0] + [sum(1 << b for b in bits) for r in range(1, RADIUS + 1)
                   for bits in combinations(range(width), r)]
    return np.array(masks, dtype=np.int64)


class HammingIndex:
    """`query(q, max_distance)` -> (query positions, indexed positions, distances) of every
    pair within max_distance <= 8 bits; each pair once, sorted by query then indexed position."""

    def __init__(self, hashes: np.ndarray):
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64).ravel()
        if len(self.hashes) >= 2**31:
            raise ValueError("HammingIndex holds fewer than 2^31 hashes")
        self.tables = []
        for lo, hi in _block_edges():
            key = _block(self.hashes, lo, hi)
            order = np.argsort(key, kind="stable").astype(np.int32)
            starts = np.zeros((1 << (hi - lo)) + 1, dtype=np.int32)
            np.cumsum(np.bincount(key, minlength=1 << (hi - lo)), out=starts[1:])
            self.tables.append((lo, hi, order, self.hashes[order], starts, _masks(hi - lo)))

    def __len__(self) -> int:
        return len(self.hashes)

    def query(self, q: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not 0 <= max_distance <= MAX_DISTANCE:
            raise ValueError(f"max_distance must lie in 0..{MAX_DISTANCE}")
        q = np.ascontiguousarray(q, dtype=np.uint64).ravel()
        found = [self._query(q[i:i + QUERY_BATCH], max_distance, i)
                 for i in range(0, len(q), QUERY_BATCH)]
        qi, ri, d = (np.concatenate(parts) for parts in zip(*found)) if found else \
            (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
        # a pair close in several blocks is found by each of them: keep it once
        key = qi * len(self.hashes) + ri
        key, first = np.unique(key, return_index=True)
        return qi[first], ri[first], d[first]

    def _query(self, q: np.ndarray, max_distance: int, offset: int):
        """The pairs of one batch of queries (numbered from `offset`)."""
        qis, ris, ds = [], [], []
        for lo, hi, order, sorted_hashes, starts, masks in self.tables:
            probes = (_block(q, lo, hi)[:, None] ^ masks[None, :]).ravel()
            begin = starts[probes]
            count = starts[probes + 1] - begin
            nonempty = np.flatnonzero(count)
            begin, count = begin[nonempty], count[nonempty]
            total = int(count.sum(dtype=np.int64))
            if total == 0:
                continue
            # int32 throughout: a batch's candidates number far fewer than 2^31
            first = (np.cumsum(count, dtype=np.int64) - count).astype(np.int32)
            positions = np.arange(total, dtype=np.int32) + np.repeat(begin - first, count)
            query_hash = np.repeat(q[nonempty // len(masks)], count)
            distance = np.bitwise_count(sorted_hashes[positions] ^ query_hash)
            hit = np.flatnonzero(distance <= max_distance)
            probe = np.searchsorted(first, hit, side="right") - 1
            qis.append(nonempty[probe] // len(masks) + offset)
            ris.append(order[positions[hit]].astype(np.int64))
            ds.append(distance[hit].astype(np.int64))
        if not qis:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(qis), np.concatenate(ris), np.concatenate(ds)


def _block(hashes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return ((hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)).astype(np.int64)
