"""Trailing-window sums anywhere in O(1), from prefix sums kept in short blocks.

One prefix sum over 30 years of prices loses about nine digits to cancellation when a
short window is taken as a difference of two large totals. Restarting the sums every
``BLOCK_DAYS`` days (each block reaching ``overlap`` days back) and centring each block
on its own first value keeps the error near the rounding of the window itself, while
every window sum stays a constant-time lookup.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

BLOCK_DAYS = 128

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class WindowSums:
    """Window sums of ``values``: (n_rows, n_days), for windows of up to
    ``overlap + 1`` days ending on any day.
    """

    def __init__(self, values: FloatArray, overlap: int, block: int = BLOCK_DAYS) -> None:
        n_rows, n_days = values.shape
        self.block = block
        self.overlap = overlap
        n_blocks = max(1, -(-n_days // block))
        width = block + overlap
        index = np.arange(n_blocks)[:, None] * block - overlap + np.arange(width)
        gathered = values[:, np.clip(index, 0, n_days - 1)]
        self.reference = gathered[:, :, overlap : overlap + 1].copy()
        centred = gathered - self.reference
        local = np.arange(width, dtype=np.float64)
        self.plain = _prefix(centred)
        self.weighted = _prefix(centred * local)

    def _locate(self, ends: IntArray) -> tuple[IntArray, IntArray]:
        blocks = ends // self.block
        local_ends = ends - blocks * self.block + self.overlap
        return blocks, local_ends

    def sums(self, ends: IntArray, starts: IntArray) -> FloatArray:
        """Sum of values[:, start : end + 1] per (start, end) pair, (n_rows, n_pairs).

        Each window must satisfy end - start <= overlap.
        """
        blocks, local_ends = self._locate(ends)
        local_starts = local_ends - (ends - starts)
        window = self.plain[:, blocks, local_ends + 1] - self.plain[:, blocks, local_starts]
        reference = self.reference[:, blocks, 0]
        result: FloatArray = window + (ends - starts + 1) * reference
        return result

    def linear(self, ends: IntArray, length: int) -> FloatArray:
        """Sum of w_j * values[:, end - length + j] with weights w_j = j, j = 1..length."""
        blocks, local_ends = self._locate(ends)
        local_starts = local_ends - length + 1
        plain = self.plain[:, blocks, local_ends + 1] - self.plain[:, blocks, local_starts]
        weighted = (
            self.weighted[:, blocks, local_ends + 1] - self.weighted[:, blocks, local_starts]
        )
        reference = self.reference[:, blocks, 0]
        centred = weighted - (local_starts - 1.0) * plain
        result: FloatArray = centred + reference * (length * (length + 1) / 2.0)
        return result


def _prefix(values: FloatArray) -> FloatArray:
    shape = (*values.shape[:-1], values.shape[-1] + 1)
    sums = np.zeros(shape)
    np.cumsum(values, axis=-1, out=sums[..., 1:])
    return sums
