"""Stage 1, the zoo: tasks, architectures, batched kernels, population training, the zoo file, importers.

Depends only on the shared basics in ``core`` (errors, device, progress, jsonfile).
"""
