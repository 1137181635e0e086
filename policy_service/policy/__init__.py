"""The policy engine: packs (model, rules, tests), named conditions, roles, and the enforcer."""
