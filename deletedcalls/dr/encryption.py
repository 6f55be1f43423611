"""Parquet Modular Encryption of DR archives with pyarrow, keys from a ``KeyService`` (SPEC 11).

Every archive is written with its columns and footer encrypted (AES-GCM,
``AES_GCM_V1``, 256-bit data keys). Its data keys are wrapped directly by the
partition's key-encryption key (single wrapping: the keyring holds the only
key that opens them) and stored as *external* key material, a small JSON file
beside the archive (``_KEY_MATERIAL_FOR_<file>.json``, pyarrow's name): that is
what lets ``dr keys rotate`` re-wrap the data keys under a new key version
(``CryptoFactory.rotate_master_keys``) without rewriting an archive.

pyarrow calls the KMS client from C++; an exception raised there reaches
Python as a generic ``ArrowException``/``OSError``. ``Crypto.guarded`` keeps
the first error of ours and raises it instead, so a destroyed key is still
"exit 6, shredded on DATE" and an untrusted keyring "exit 4".

A new ``CryptoFactory`` per ``Crypto`` keeps pyarrow's key caches per
operation: a key destroyed by one command is never served from a cache to
the next (the tests run many commands in one process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow.parquet.encryption as pe

from deletedcalls.errors import DeletedCallsError, IntegrityFailure

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from deletedcalls.dr.keys import KeyService

KEY_MATERIAL_PREFIX = "_KEY_MATERIAL_FOR_"  # pyarrow's FileSystemKeyMaterialStore
ALGORITHM = "AES_GCM_V1"


def key_material_name(archive_name: str) -> str:
    """The external key material's file name beside an archive (fixed by pyarrow)."""
    return f"{KEY_MATERIAL_PREFIX}{archive_name}.json"


class _KeyringKms(pe.KmsClient):
    """pyarrow's KMS client backed by a KeyService; remembers the first failure for ``Crypto.guarded``."""

    def __init__(self, keys: KeyService, errors: list[BaseException]) -> None:
        super().__init__()
        self.keys = keys
        self.errors = errors

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        try:
            return self.keys.wrap(master_key_identifier, bytes(key_bytes))
        except BaseException as e:
            self.errors.append(e)
            raise

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        try:
            return self.keys.unwrap(master_key_identifier, wrapped_key)
        except BaseException as e:
            self.errors.append(e)
            raise


class Crypto:
    """Encryption and decryption properties for archives, and re-wrapping their key material."""

    def __init__(self, keys: KeyService, instance: str = "deletedcalls") -> None:
        self.keys = keys
        self.errors: list[BaseException] = []
        self.factory = pe.CryptoFactory(lambda _config: _KeyringKms(keys, self.errors))
        # kms_instance_id is written into the key material: it names the keyring's warehouse
        self.config = pe.KmsConnectionConfig(kms_instance_id=instance)

    @contextlib.contextmanager
    def guarded(self, what: str) -> Iterator[None]:
        """Raise the keyring's own error (exit 4 or 6) when pyarrow fails because of it."""
        self.errors.clear()
        try:
            yield
        except Exception as e:
            ours = next((x for x in self.errors if isinstance(x, DeletedCallsError)), None)
            if ours is not None:
                raise ours from e
            if isinstance(e, DeletedCallsError):
                raise
            if self.errors:  # a failure inside the KMS client that is not ours (a bug): keep it visible
                raise self.errors[0] from e
            if _is_crypto_error(e):
                raise IntegrityFailure(f"{what}: {' '.join(str(e).split())[:200]}") from e
            raise

    def encryption_properties(self, key_id: str, parquet_path: str, filesystem: pafs.FileSystem) -> Any:
        """Properties that encrypt columns and footer under data keys wrapped by ``key_id``.

        Writes the key material file beside ``parquet_path`` (now, through ``filesystem``).
        """
        config = pe.EncryptionConfiguration(
            footer_key=key_id, uniform_encryption=True, encryption_algorithm=ALGORITHM, plaintext_footer=False,
            double_wrapping=False, internal_key_material=False, data_key_length_bits=256,
        )
        with self.guarded(f"encrypting {parquet_path}"):
            return self.factory.file_encryption_properties(self.config, config, parquet_path, filesystem)

    def decryption_properties(self, parquet_path: str, filesystem: pafs.FileSystem) -> Any:
        """Properties that decrypt an archive whose key material lies beside it on ``filesystem``."""
        config = pe.DecryptionConfiguration(cache_lifetime=60)
        with self.guarded(f"decrypting {parquet_path}"):
            return self.factory.file_decryption_properties(self.config, config, parquet_path, filesystem)

    def rewrap(self, parquet_path: str, filesystem: pafs.FileSystem) -> None:
        """Re-wrap an archive's data keys under its key's current version (its key material file is rewritten)."""
        with self.guarded(f"re-wrapping the keys of {parquet_path}"):
            self.factory.rotate_master_keys(self.config, parquet_path, filesystem, double_wrapping=False,
                                            cache_lifetime_seconds=1)


def _is_crypto_error(error: BaseException) -> bool:
    text = str(error).lower()
    return any(w in text for w in ("decrypt", "encrypt", "key material", "aad", "tag", "crypto", "footer"))
