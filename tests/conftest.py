"""Test-wide settings: CPU only, one torch thread (2-core CI), Qt offscreen."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch

torch.set_num_threads(1)
