"""The page cursors one read follows.

A read that gathers pages (Zendesk's export and ticket list, HubSpot's search, a SOQL
query's ``nextRecordsUrl``, Dataverse's ``@odata.nextLink``) goes on while the CRM says there
is more. A CRM that hands out a cursor it gave before would be followed round in circles until
the request's deadline, each page another call against the account's limit and, where the
pages hold records, more memory: a cursor seen again ends the read as the CRM's protocol error.
"""

from __future__ import annotations

from app.connectors.errors import UpstreamProtocolError


class Cursors:
    def __init__(self, source: str, route: str) -> None:
        self.source = source
        self.route = route
        self._seen: set[str] = set()

    def follow(self, cursor: str) -> str:
        """``cursor``, the next page's, unless this read has followed it already."""
        if cursor in self._seen:
            raise UpstreamProtocolError(
                self.source, f"{self.route} gave a page cursor it had already given"
            )
        self._seen.add(cursor)
        return cursor
