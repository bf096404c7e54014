"""Which credentials a websocket's connection_init carries (``app.live.websocket``)."""

from app.live.websocket import credentials


def test_graphiqls_headers_pane_in_the_payload_is_an_api_key() -> None:
    # GraphiQL sends its Headers pane as the connection_init payload, names as typed.
    assert credentials({}, {"X-API-Key": "cgk_a_b"}) == {"x-api-key": "cgk_a_b"}


def test_the_payloads_credentials_win_over_the_upgrade_requests() -> None:
    upgrade = {"x-api-key": "cgk_upgrade_key"}
    assert credentials(upgrade, {"apiKey": "cgk_payload_key"}) == {"x-api-key": "cgk_payload_key"}
    assert credentials(upgrade, {"Content-Type": "application/json"}) == upgrade
