"""The live tests' fixtures: a gateway in this loop, API keys, a websocket client."""

from tests.integration.gateway.conftest import keys as keys
from tests.integration.gateway.conftest import keys_file as keys_file
from tests.integration.live.conftest import connect_as as connect_as
