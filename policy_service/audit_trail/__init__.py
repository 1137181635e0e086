"""The service's side of the audit log: recording actions and refusals into ``audit``,
the signing and encryption keys, and access for compliance officers."""
