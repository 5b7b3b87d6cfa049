"""Compiled kernels: pure functions over NumPy arrays. This package never imports tinygrad_edu."""
