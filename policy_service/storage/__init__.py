"""Relational storage: the tables the service owns, the engine, and the unit of work."""
