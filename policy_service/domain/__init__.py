"""Domain types: plain data and the error hierarchy. No Flask, no SQLAlchemy."""
