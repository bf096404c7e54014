"""GraphiQL as the gateway serves it at ``GET /graphql``: our page, with React, GraphiQL and
its explorer plugin vendored at pinned versions (``static/SOURCES.md``) and served from
``/graphql/static/``, so it works with no network; and an Explain panel
(``static/explain.js``) showing ``extensions.explain`` of the page's last request."""

from app.graphiql.assets import assets, assets_router
from app.graphiql.page import page

__all__ = ["assets", "assets_router", "page"]
