"""Reference data shipped with the gateway (a package so that setuptools installs its CSV files)."""
