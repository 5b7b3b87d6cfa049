"""Differential tests against PyTorch: every public op, module and optimizer, compared with torch 2.x on CPU."""
