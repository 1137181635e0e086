"""Data-subject requests (GDPR / CCPA erasure and access), run by compliance officers.

``requests`` records and finds them, ``steps`` moves them through verify-identity, approve,
deny and extend, ``execution`` carries them out as leased, resumable jobs, ``certificate``
builds and hands out what a completed one yields, ``suppression`` keeps erased people from
being re-created, ``sealing`` keeps identities and packages encrypted, ``events`` builds
their audit events and ``records`` is the request as handed out. Their SQL is in
``storage/dsr.py``.
"""
