"""Running jobs in hardened Docker containers: spec validation, the container, output collection, reaping."""
from .allow_list import AllowList, PinnedImage
from .handoff import StoreOutputs
from .limits import Limits
from .manifest import Manifest, StagedFile
from .reaper import SandboxReaper, reap_containers
from .runner import run_sandboxed
from .spec import JobSpec, encode_input, parse_spec

__all__ = ["AllowList", "JobSpec", "Limits", "Manifest", "PinnedImage", "SandboxReaper", "StagedFile",
           "StoreOutputs", "encode_input", "parse_spec", "reap_containers", "run_sandboxed"]
