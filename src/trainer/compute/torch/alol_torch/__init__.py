"""A-LoL Studio's PyTorch compute worker (see worker.py). The Node pipeline starts it; nothing here is imported by
the extension's install, and torch is the only hard requirement."""

# The worker protocol's version: the Node client (src/trainer/compute/torch/backend.ts) refuses another.
PROTOCOL_VERSION = 1
