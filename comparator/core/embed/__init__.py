"""Sentence and token encoders, and the vector store."""
