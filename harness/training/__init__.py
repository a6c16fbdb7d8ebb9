"""Training: SFT, DPO, the trained-model store, LoRA gradient features."""
