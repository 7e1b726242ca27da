"""Numba CPU/CUDA kernels of vqe.

The limits below are shared with the stage parameters (:mod:`realtime.stages.params`);
they live here, free of kernel imports, so reading them compiles and loads no kernel module.
"""
from pathlib import Path

#: Largest sharpen blur radius supported (binomial taps 2r+1), see :mod:`kernels.sharpen`.
MAX_RADIUS = 3
#: Largest upscale factor the kernels are built for (8K from 960x540 needs 8), see :mod:`kernels.upscale`.
MAX_FACTOR = 8
#: Folder of the shipped learned weights (the upscaler's, the stabilizer's path smoother).
MODEL_DIR = Path(__file__).resolve().parent / "models"
