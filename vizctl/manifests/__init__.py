"""Manifests: loading, source positions, the schema check, ${VAR} variables, the packaged schema."""
