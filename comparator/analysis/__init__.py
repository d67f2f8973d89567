"""What is built on comparisons: several systems with bootstrap, run history, batch runs."""
