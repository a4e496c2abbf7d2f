"""Package data only (listed in pyproject.toml): a package so setuptools ships
the directory without a "package would be ignored" warning."""
