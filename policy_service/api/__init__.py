"""HTTP edge: blueprints, request parsing, authentication and problem responses."""
