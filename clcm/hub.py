"""Model references (a local directory or a Hugging Face hub id) checked before anything loads them.

transformers answers a mistyped directory with "Repo id must be in the form 'repo_name'", and a model that is not
cached with a minute of connection retries and "check your internet connection", also when ``HF_HUB_OFFLINE=1``
says there is none. :func:`check_model` turns each case into one line (:class:`~clcm.errors.ModelError`, exit 5)
within seconds, and lets a cached model load when the hub cannot be reached (offline mode for this process).
"""

from __future__ import annotations

import logging
import os

from clcm.errors import ModelError

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0


def looks_like_path(ref: str) -> bool:
    """A reference meant as a directory: absolute, ``./``/``../``/``~``, a Windows path, or more than one ``/``."""
    return ref.startswith(("/", ".", "~")) or "\\" in ref or ref.count("/") > 1 or ref.endswith("/")


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def go_offline(reason: str) -> None:
    """Switch this process (and the workers it starts) to the local Hugging Face cache only."""
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE:
        log.warning("%s; using the local Hugging Face cache only (HF_HUB_OFFLINE=1)", reason)
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"


def check_path(ref: str, what: str = "model") -> bool:
    """True if ``ref`` is a local directory; ModelError if it is meant as one (see :func:`looks_like_path`) but
    is missing or a file; False for what may be a hub id."""
    if os.path.isdir(os.path.expanduser(ref)):
        return True
    if os.path.exists(ref):
        raise ModelError(f"{what} {ref} is a file, not a model directory")
    if looks_like_path(ref):
        raise ModelError(f"{what} directory not found: {ref}")
    return False


def check_model(ref: str, *, revision: str | None = None, what: str = "model") -> None:
    """Check that ``ref`` can be loaded without a long wait; raise ModelError with one clear line if not.

    A local directory passes. A hub id passes when it is in the local cache (if the hub cannot be reached the
    process goes offline so the cached copy loads without retries) or when the hub answers for it.

    Raises:
        ModelError: a directory that does not exist; an invalid hub id; a model that is not cached while
            ``HF_HUB_OFFLINE`` is set; a model the hub does not have; a hub that cannot be reached for a model
            that is not cached.
    """
    if check_path(ref, what):
        return
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        cached = try_to_load_from_cache(ref, "config.json", revision=revision)
    except HFValidationError:
        raise ModelError(f"{what} {ref!r} is neither a local directory nor a Hugging Face hub id") from None
    is_cached = isinstance(cached, str)
    if _offline():
        if is_cached:
            return
        raise ModelError(
            f"{what} {ref!r} is not a local directory, and not in the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) while HF_HUB_OFFLINE=1 is set: pre-fetch it where there is network "
            f"(`hf download {ref}`, then copy HF_HOME) or pass a local directory"
        )
    try:
        model_info(ref, revision=revision, timeout=PROBE_TIMEOUT_S)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        if is_cached:
            return  # e.g. a private model cached earlier with a token
        raise ModelError(f"{what} {ref!r} is neither a local directory nor a model on the Hugging Face hub") from None
    except Exception as exc:  # noqa: BLE001 - the transport's own error types (httpx, requests) vary by version
        if is_cached:
            go_offline(f"the Hugging Face hub cannot be reached ({type(exc).__name__})")
            return
        raise ModelError(
            f"{what} {ref!r} is not a local directory, not in the local Hugging Face cache, and the hub cannot be "
            f"reached ({type(exc).__name__}: {exc}); without network, pre-fetch it (HF_HOME) or pass a directory"
        ) from None
