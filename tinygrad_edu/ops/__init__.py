"""Differentiable ops, one family per module: elementwise, reduce, movement, linalg (and the nn ops)."""
