"""Renderers of a result: CSV / TSV / JSON / HTML."""
