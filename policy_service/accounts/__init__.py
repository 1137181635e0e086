"""Accounts (tenants), their members' roles, and API tokens."""
