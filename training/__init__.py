"""PyTorch trainer: corpus -> BPE -> QAT transformer -> soul.bin."""
