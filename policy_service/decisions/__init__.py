"""Deciding: the one lifecycle decision function, AuthZEN evaluation and explain,
the policy pack's own tests, and policy reload."""
