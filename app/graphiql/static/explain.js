/*
 * crmgraph's Explain panel for GraphiQL: what the page's last request cost at the gateway.
 *
 * `CrmgraphExplain.explaining(fetcher)` asks for `extensions.explain` on every request and
 * remembers the last answer (not GraphiQL's own schema introspection);
 * `CrmgraphExplain.plugin` is the panel that shows it: upstream calls, loader batches, cache
 * hits and misses, stale answers, errors. Plain React.createElement: no build step.
 */
(function () {
  "use strict";

  const h = React.createElement;
  const INTROSPECTION = "IntrospectionQuery"; // the operation name GraphiQL's toolkit uses
  const listeners = new Set();
  let last = null; // {number, operationName, at, response}

  function remember(operationName, response) {
    const number = last ? last.number + 1 : 1;
    last = { number, operationName: operationName || null, at: new Date(), response };
    listeners.forEach((listener) => listener(last));
  }

  /** `fetcher`, asking the gateway to explain each request and remembering each answer. */
  function explaining(fetcher) {
    return function (params, options) {
      const extensions = Object.assign({}, params.extensions, { explain: true });
      const result = fetcher(Object.assign({}, params, { extensions: extensions }), options);
      if (params.operationName === INTROSPECTION) return result;
      return tapped(result, (response) => remember(params.operationName, response));
    };
  }

  /** A fetcher's result (a promise, an answer, or a stream of them) that shows each answer
   * to `seen` on its way to GraphiQL. A stream's return() is passed straight on, so stopping
   * a subscription stops it at once. */
  function tapped(result, seen) {
    if (result && typeof result.then === "function") {
      return result.then((value) => tapped(value, seen));
    }
    if (result && typeof result[Symbol.asyncIterator] === "function") {
      const stream = result[Symbol.asyncIterator]();
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        next() {
          return stream.next().then((step) => {
            if (!step.done) seen(step.value);
            return step;
          });
        },
        return(value) {
          return stream.return ? stream.return(value) : Promise.resolve({ done: true, value });
        },
        throw(error) {
          return stream.throw ? stream.throw(error) : Promise.reject(error);
        },
      };
    }
    if (result && typeof result === "object" && typeof result.subscribe !== "function") {
      seen(result);
    }
    return result;
  }

  function useLast() {
    const [value, setValue] = React.useState(last);
    React.useEffect(() => {
      listeners.add(setValue);
      setValue(last);
      return () => listeners.delete(setValue);
    }, []);
    return value;
  }

  const shown = (value) => (value === null || value === undefined ? "—" : String(value));

  // Columns: [heading, cell of a row, numeric?].
  const CALLS = [
    ["Source", (c) => c.source],
    ["Batch", (c) => c.batchSize, true],
    ["Status", (c) => (c.status === null ? c.error : c.status), true],
    ["Try", (c) => c.attempt, true],
    ["ms", (c) => c.ms, true],
  ];
  const LOADERS = [
    ["Loader", (l) => l.loader],
    ["Batches", (l) => l.batches, true],
    ["Keys", (l) => l.keys, true],
  ];
  const CACHE = [
    ["Entity", (c) => c.entity],
    ["Group", (c) => c.group],
    ["Hits", (c) => c.hits, true],
    ["Misses", (c) => c.misses, true],
  ];
  const STALE = [
    ["Entity", (s) => s.entity],
    ["Id", (s) => s.id],
    ["Age s", (s) => s.ageSeconds, true],
  ];
  const ERRORS = [
    ["Code", (e) => (e.extensions && e.extensions.code) || null],
    ["Message", (e) => e.message],
  ];

  function cells(tag, columns, content) {
    return columns.map(([heading, cell, numeric]) =>
      h(tag, { key: heading, className: numeric ? "numeric" : undefined }, content(heading, cell)),
    );
  }

  /** A titled table of `rows`; `detail(row)`, when given, is a full-width line under each. */
  function table(name, title, rows, columns, { empty = "None.", detail = null } = {}) {
    const body = [];
    rows.forEach((row, index) => {
      const cls = detail ? "crmgraph-explain-has-detail" : undefined;
      const values = cells("td", columns, (_, cell) => shown(cell(row)));
      body.push(h("tr", { key: index, className: cls }, values));
      if (detail) {
        body.push(
          h(
            "tr",
            { key: `${index}-detail`, className: "crmgraph-explain-detail" },
            h("td", { colSpan: columns.length }, shown(detail(row))),
          ),
        );
      }
    });
    const content = rows.length
      ? h(
          "table",
          { className: "crmgraph-explain-table" },
          h("thead", null, h("tr", null, cells("th", columns, (heading) => heading))),
          h("tbody", null, body),
        )
      : h("p", { className: "crmgraph-explain-empty" }, empty);
    return h(
      "section",
      { key: name, className: "crmgraph-explain-section", "data-explain": name },
      h("h3", null, title),
      content,
    );
  }

  function summary(explain) {
    const items = [
      ["Total", `${shown(explain.totalMs)} ms`, "total"],
      ["Upstream calls", shown(explain.upstreamCalls), "upstream-calls"],
    ];
    if (explain.cost !== undefined) items.push(["Cost", shown(explain.cost), "cost"]);
    return h(
      "dl",
      { key: "summary", className: "crmgraph-explain-summary" },
      items.map(([term, value, name]) =>
        h("div", { key: name, "data-explain": name }, h("dt", null, term), h("dd", null, value)),
      ),
    );
  }

  function note(name, text, className = "crmgraph-explain-note") {
    return h("p", { key: name, className: className, "data-explain": name }, text);
  }

  /** The sections for one answer: its explain (or why there is none), stale marks, errors. */
  function report(response) {
    const extensions = response.extensions || {};
    const explain = extensions.explain;
    const parts = [];
    if (!explain) {
      parts.push(note("missing", "The last response has no extensions.explain."));
    } else if (explain.code) {
      const refusal = `${explain.code}: ${explain.message}`;
      parts.push(note("refused", refusal, "crmgraph-explain-refused"));
    } else {
      parts.push(
        summary(explain),
        table("calls", "Upstream calls", explain.calls || [], CALLS, {
          empty: "No upstream call.",
          detail: (call) => call.route,
        }),
        table("loaders", "Loader batches", explain.loaders || [], LOADERS, {
          empty: "No loader batch.",
        }),
        table("cache", "Cache", explain.cache || [], CACHE, {
          empty: "No cached read: the cache is off, or holds nothing asked for.",
        }),
      );
    }
    if (extensions.stale && extensions.stale.length) {
      const title = "Stale answers (their source failed)";
      const source = (stale) => `from ${stale.source}`;
      parts.push(table("stale", title, extensions.stale, STALE, { detail: source }));
    }
    const errors = response.errors || [];
    if (errors.length) parts.push(table("errors", "Errors", errors, ERRORS));
    return parts;
  }

  function ExplainPanel() {
    const seen = useLast();
    const parts = [];
    if (!seen) {
      parts.push(note("waiting", "Run an operation: what it cost at the gateway shows here."));
    } else {
      const name = seen.operationName || "Anonymous operation";
      const at = seen.at.toLocaleTimeString();
      parts.push(note("operation", `#${seen.number} · ${name} · ${at}`));
      parts.push(...report(seen.response || {}));
    }
    return h(
      "div",
      { className: "crmgraph-explain" },
      h("div", { className: "graphiql-doc-explorer-title" }, "Explain"),
      parts,
    );
  }

  function ExplainIcon() {
    return h(
      "svg",
      {
        viewBox: "0 0 24 24",
        fill: "none",
        stroke: "currentColor",
        strokeWidth: 1.5,
        strokeLinecap: "round",
        "aria-hidden": "true",
      },
      h("path", { d: "M4 20V10M10 20V4M16 20v-7M22 20H2" }),
    );
  }

  window.CrmgraphExplain = {
    explaining: explaining,
    plugin: { title: "Explain", icon: ExplainIcon, content: ExplainPanel },
  };
})();
