"""The shipped purpose catalogue (data only; a package so that the TOML file is installed with it)."""
