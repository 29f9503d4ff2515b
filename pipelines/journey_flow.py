"""The deployment entrypoint of the cjm flow, `pipelines/journey_flow.py:journey_flow`.

The flows and tasks live in cjm.flows; this module re-exports them so existing deployments and
imports (`from pipelines.journey_flow import journey_flow`) keep working.
"""

from cjm.flows import *  # noqa: F403
from cjm.flows import __all__  # noqa: F401
