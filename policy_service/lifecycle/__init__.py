"""The contact lifecycle: contacts and records, delete/restore/purge, bulk jobs, the
retention sweep and its scheduler, legal holds, deletion rules, import and export."""
