"""Data-subject requests (GDPR/CCPA erasure and access) and the suppression list."""
