"""The ModelArts visualization-job API simulator (``vizctl sim``)."""

from vizctl.sim.config import SimConfig, add_arguments
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimApiError, SimState

__all__ = ["SimApiError", "SimConfig", "SimServer", "SimState", "add_arguments"]
