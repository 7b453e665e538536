"""The compute language: expressions, tensors, reducers."""
