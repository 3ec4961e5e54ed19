"""The control plane's user directory: users, their key pairs (wrapped under the KEK) and API keys.

Only the control plane (CLI, admin app) uses this module; workers read public keys through ``recipient_for``,
which touches only the columns the worker's database role may read.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import StorageError
from ..security import audit
from ..security.api_keys import new_api_key
from .kek import Kek, KekRing
from .models import ApiKey, StoredFile, User, UserKey, utcnow
from .user_keys import X25519, Recipient, UserPrivateKey, WrappedUserKey, check_user, generate_user_key, rewrap_user_key, \
    unwrap_user_key, wrap_user_key

ROLES = ("user", "admin")


@dataclass(frozen=True)
class CreatedUser:
    user: User
    api_key: str  # shown once


def _get(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise StorageError(f"no user {name!r}; see `cloudai users list`")
    return user


def _store_key(session: Session, user: User, key: UserPrivateKey, kek: Kek) -> UserKey:
    wrapped = wrap_user_key(key, kek)
    row = UserKey(user_id=user.id, version=key.version, kem=key.kem, public_key=wrapped.public_bytes,
                  kek_id=wrapped.kek_id, wrapped_private_key=wrapped.wrapped_private, status="current")
    session.add(row)
    return row


def create_user(session: Session, name: str, keks: KekRing, *, role: str = "user", kem: str = X25519,
                actor: str = "cli") -> CreatedUser:
    check_user(name)
    if role not in ROLES:
        raise StorageError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if session.execute(select(User.id).where(User.name == name)).first():
        raise StorageError(f"user {name!r} already exists")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    _store_key(session, user, generate_user_key(name, 1, kem), keks.current)
    key = new_api_key()
    session.add(ApiKey(user_id=user.id, prefix=key.prefix, key_hash=key.key_hash))
    audit.record(session, actor=actor, action="user.create", target=name, details={"role": role, "kem": kem})
    return CreatedUser(user, key.token)


def rotate_user_key(session: Session, name: str, keks: KekRing, *, actor: str = "cli") -> int:
    """A new key pair for new files; older versions stay (wrapped) so old files remain readable."""
    user = _get(session, name)
    if user.status != "active":
        raise StorageError(f"user {name!r} is {user.status}; nothing to rotate")
    current = session.execute(select(UserKey).where(UserKey.user_id == user.id).order_by(UserKey.version.desc())
                              ).scalars().first()
    version = (current.version + 1) if current else 1
    kem = current.kem if current else X25519
    session.execute(update(UserKey).where(UserKey.user_id == user.id, UserKey.status == "current")
                    .values(status="retired"))
    _store_key(session, user, generate_user_key(name, version, kem), keks.current)
    audit.record(session, actor=actor, action="user.rotate_key", target=name, details={"version": version})
    return version


def delete_user(session: Session, name: str, *, actor: str = "cli") -> int:
    """Crypto-shred: destroy every wrapped private key of the user; their files become unrecoverable."""
    user = _get(session, name)
    now = utcnow()
    session.execute(update(UserKey).where(UserKey.user_id == user.id)
                    .values(wrapped_private_key=None, kek_id=None, status="destroyed", destroyed_at=now))
    files = session.execute(update(StoredFile).where(StoredFile.user_id == user.id)
                            .values(status="unrecoverable")).rowcount
    session.execute(update(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
                    .values(revoked_at=now))
    user.status, user.deleted_at = "deleted", now
    audit.record(session, actor=actor, action="user.delete", target=name, details={"files_unrecoverable": files})
    return files


def recipient_for(session: Session, name: str) -> Recipient:
    """The user's current public key (worker-readable columns only)."""
    status = session.execute(select(User.status).where(User.name == name)).scalar()
    if status is None:
        raise StorageError(f"user {name!r} does not exist; create it with `cloudai users create {name}`")
    if status != "active":
        raise StorageError(f"user {name!r} is {status}; results cannot be stored for them")
    row = session.execute(
        select(UserKey.version, UserKey.kem, UserKey.public_key)
        .join(User, UserKey.user_id == User.id)
        .where(User.name == name, UserKey.status == "current")
    ).first()
    if row is None:
        raise StorageError(f"user {name!r} has no current key; give them one with `cloudai users rotate-key {name}`")
    return Recipient(name, row.version, row.kem, bytes(row.public_key))


def _wrapped(name: str, row: UserKey) -> WrappedUserKey:
    if row.wrapped_private_key is None:
        raise StorageError(f"key v{row.version} of {name!r} was destroyed; their files are unrecoverable")
    return WrappedUserKey(name, row.version, row.kem, bytes(row.public_key), row.kek_id, bytes(row.wrapped_private_key))


def private_keys(session: Session, name: str, keks: KekRing):
    """A key source for decryption: version → unwrapped private key, unwrapped only when asked for."""
    rows = {r.version: r for r in _get(session, name).keys}

    def for_version(version: int) -> UserPrivateKey:
        if version not in rows:
            raise StorageError(f"user {name!r} has no key version {version}")
        return unwrap_user_key(_wrapped(name, rows[version]), keks)

    return for_version


def rotate_kek(session: Session, keks: KekRing, new_kek: Kek, *, actor: str = "cli") -> int:
    """Re-wrap every live private key under ``new_kek``; file data is not touched. Returns the keys re-wrapped."""
    count = 0
    rows = session.execute(select(UserKey, User.name).join(User).where(UserKey.wrapped_private_key.is_not(None)))
    for row, name in rows:
        new = rewrap_user_key(_wrapped(name, row), keks, new_kek)
        row.kek_id, row.wrapped_private_key = new.kek_id, new.wrapped_private
        count += 1
    audit.record(session, actor=actor, action="keys.rotate_kek", target=new_kek.id, details={"rewrapped": count})
    return count
