"""Everything that imports streamlit: the model cache, the views' DataFrames, the page bodies."""
