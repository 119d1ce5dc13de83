"""Compression: pruning and clustering as weight constraints (annotations on weight tensors),
the trainable Keras side of them, and statistics of sparsity and distinct values."""
