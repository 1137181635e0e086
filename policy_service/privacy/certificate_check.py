"""Checking a DSR completion certificate offline, with only the audit public key: what a
data subject or a regulator runs (``policy-service audit verify-certificate``).

The certificate's Ed25519 signature covers ``certificate``; the ``evidence`` beside it is
checked event by event (audit/evidence.py): each record hashes to its proven event hash,
names this request, and its inclusion proof leads to the root of a checkpoint note signed
by the same key.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature

from audit.evidence import verify_evidence
from audit.keys import PublicKeyLike, key_id, load_public_key
from policy_service.privacy.certificate import canonical_json


def verify_certificate(
    document: dict[str, object], public_key: PublicKeyLike
) -> tuple[list[str], int]:
    """What is wrong with a served certificate (empty: it holds), and how many audit events
    its evidence proves."""
    key = load_public_key(public_key)
    certificate, signature = document.get("certificate"), document.get("signature")
    if not isinstance(certificate, dict) or not isinstance(signature, str):
        return ["not a certificate: needs `certificate` and `signature`"], 0
    problems: list[str] = []
    if certificate.get("key_id") != key_id(key):
        problems.append("the certificate names another signing key")
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical_json(certificate))
    except (InvalidSignature, binascii.Error, ValueError):
        problems.append("the certificate's signature is not valid for this key")
    evidence = document.get("evidence")
    problems.extend(verify_evidence(evidence, key, {"dsr_id": certificate.get("dsr_id")}))
    return problems, len(evidence) if isinstance(evidence, list) else 0
