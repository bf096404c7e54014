/*
 * crmgraph's GraphiQL page: queries and mutations are POSTed to this page's own URL,
 * subscriptions go over graphql-transport-ws on the same path, with the Headers pane's
 * headers (e.g. {"X-API-Key": "..."}) sent along; plugins: the explorer and Explain.
 */
(function () {
  "use strict";

  const DEFAULT_QUERY = `# crmgraph: HubSpot, Salesforce, Zendesk and the
# player-stats back office behind one GraphQL endpoint.
#
# Run with Ctrl-Enter (or the ▶ button). Credentials go in
# the Headers pane below: {"X-API-Key": "cgk_..."}.
# The Explain panel (the chart icon on the left) shows
# what the last request cost: its upstream calls, loader
# batches and cache hits.

{
  customers(first: 3) {
    edges {
      node {
        id
        name
        playerStats {
          level
        }
      }
    }
  }
}
`;

  const url = window.location.href.split(/[?#]/)[0];
  const socket = new URL(url);
  socket.protocol = socket.protocol === "https:" ? "wss:" : "ws:";

  const fetcher = CrmgraphExplain.explaining(
    GraphiQL.createFetcher({ url: url, subscriptionUrl: socket.href }),
  );
  const plugins = [GraphiQLPluginExplorer.explorerPlugin(), CrmgraphExplain.plugin];

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: plugins,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
