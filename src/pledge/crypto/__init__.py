"""Field encryption at rest with crypto-shredding (per-subject AES-256-GCM keys, wrapped by the
master key). ``FieldCipher.shred(subject_id)`` makes every copy of that subject's encrypted values
unreadable, backups of business tables included."""

from pledge.crypto.cipher import PREFIX, CiphertextInvalid, FieldCipher, KeyShredded, is_encrypted
from pledge.crypto.keys import master_key_id, rotate_master_key

__all__ = [
    "PREFIX",
    "CiphertextInvalid",
    "FieldCipher",
    "KeyShredded",
    "is_encrypted",
    "master_key_id",
    "rotate_master_key",
]
