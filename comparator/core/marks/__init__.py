"""Spans, their evidence, and the pair's flag."""
