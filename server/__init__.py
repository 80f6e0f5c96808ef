"""Mien's server: websocket sessions pairing an LLM (through litellm) with the animation model."""

import os

__version__ = "0.1.0"

# The face bank's matrices are small: OpenBLAS's worker threads would spin after every product and take a
# core of their own (measured: 500 idle sessions at 14 fps with them, 21 fps without, on 2 cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
