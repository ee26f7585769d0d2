"""Platform-free core of FFfusion."""

import os

# Set before numpy loads (OpenBLAS reads it once). Ranking is one small matrix-vector product per query:
# BLAS threads only spin against the sentence embedder's OpenMP threads, which measured 66 ms per query on a
# 10,000-meme catalog instead of 12 ms. An operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
