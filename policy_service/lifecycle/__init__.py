"""The contact lifecycle: contacts and records, delete/restore/purge, bulk jobs, the
retention sweep and its scheduler, legal holds, deletion rules, import and export.

Services only: every statement they run is a named query in ``policy_service.storage``
(``contacts``, ``jobs``, ``legal_holds``, ``deletion_rules``, ``scheduled_tasks``), and every
audit event they append is built in ``events``. ``guards`` holds what each action checks
first (account, profile, decision, reason, audited refusal); ``actions`` the single-contact
delete, restore and purge; ``bulk`` their set-based form for a chunk; ``jobs`` and
``job_runner`` bulk jobs and their leased, resumable running; ``preview`` impact and trash.
"""
