"""The pipeline: read -> segment -> embed -> align -> score -> mark. Imports no streamlit, pandas or argparse."""
