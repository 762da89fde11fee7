"""Random streams that make the output independent of how applicants are chunked.

Applicants are cut into fixed blocks of ``BLOCK_SIZE``; block ``b`` owns the
generator ``PCG64(SeedSequence(seed, spawn_key=(b,)))``, i.e. the ``b``-th child
that ``SeedSequence(seed).spawn`` would return. Every draw is split by block and
each block draws its share from its own stream, in the same order whatever chunk
the block falls in. So a chunk is only a unit of vectorization and memory: any
``chunk_size`` gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Applicants per random stream. Part of the output's definition: changing it
#: changes every generated value, so it is a constant, not a setting.
BLOCK_SIZE = 1000


class Level:
    """How many elements (applicants, rows of a table) each block of a chunk holds.

    Elements are laid out block after block, so a draw for a level is the
    concatenation of each block's draw of ``counts[b]`` values.
    """

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        self.bounds = np.concatenate(([0], np.cumsum(self.counts)))

    @property
    def size(self) -> int:
        """Total elements over the chunk."""
        return int(self.bounds[-1])

    def child(self, per_element: np.ndarray) -> Level:
        """The level of rows hanging off these elements, ``per_element[i]`` rows each."""
        cum = np.concatenate(([0], np.cumsum(per_element, dtype=np.int64)))
        return Level(np.diff(cum[self.bounds]))


class BlockStreams:
    """One PCG64 generator per block of a chunk, addressed through :class:`Level` draws."""

    def __init__(self, seed: int, first_block: int, n_blocks: int) -> None:
        self._gens = [
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(b,))))
            for b in range(first_block, first_block + n_blocks)
        ]

    def _draw(self, level: Level, method: str, *params: float | np.ndarray) -> np.ndarray:
        parts = []
        for b, gen in enumerate(self._gens):
            lo, hi = level.bounds[b], level.bounds[b + 1]
            args = [p[lo:hi] if isinstance(p, np.ndarray) else p for p in params]
            parts.append(getattr(gen, method)(*args, size=int(hi - lo)))
        return np.concatenate(parts)

    def uniform(self, level: Level) -> np.ndarray:
        """U[0, 1) per element."""
        return self._draw(level, "random")

    def normal(self, level: Level, loc: float | np.ndarray = 0.0, scale: float = 1.0) -> np.ndarray:
        """Gaussian per element."""
        return self._draw(level, "normal", loc, scale)

    def beta(self, level: Level, a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
        """Beta(a, b) per element."""
        return self._draw(level, "beta", a, b)

    def gamma(
        self, level: Level, shape: float | np.ndarray, scale: float | np.ndarray
    ) -> np.ndarray:
        """Gamma(shape, scale) per element."""
        return self._draw(level, "gamma", shape, scale)

    def lognormal(self, level: Level, mean: float | np.ndarray, sigma: float) -> np.ndarray:
        """exp(N(mean, sigma)) per element."""
        return self._draw(level, "lognormal", mean, sigma)

    def poisson(self, level: Level, lam: float | np.ndarray) -> np.ndarray:
        """Poisson(lam) counts per element."""
        return self._draw(level, "poisson", lam)

    def integers(self, level: Level, low: int | np.ndarray, high: int | np.ndarray) -> np.ndarray:
        """Integers in [low, high) per element."""
        return self._draw(level, "integers", low, high)

    def bernoulli(self, level: Level, p: float | np.ndarray) -> np.ndarray:
        """Boolean with probability ``p`` per element."""
        return self.uniform(level) < p

    def choice(self, level: Level, weights: Sequence[float] | np.ndarray) -> np.ndarray:
        """Category codes drawn with the given (unnormalized) weights."""
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        return np.searchsorted(cum / cum[-1], self.uniform(level), side="right").astype(np.int64)
