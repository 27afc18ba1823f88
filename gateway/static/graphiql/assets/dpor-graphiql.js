// dpor-gateway's GraphiQL page (gateway/graphiql.py serves it; no inline script, so the page's CSP allows 'self'
// only). Operations go to the page's own path. The document being edited is kept in the address bar as
// ?query=&variables=&operationName= (the names GraphQL over HTTP uses), so reloading the page or opening a
// shared link brings the same document back. Headers (the bearer token) never go into the URL: GraphiQL keeps
// them in this browser's local storage.
(function () {
  "use strict";

  var WELCOME = [
    "# GraphiQL for dpor-gateway (development only).",
    "#",
    "# Operations need a bearer token (`make run`",
    "# prints one). In the Headers tab below, enter",
    '#   {"Authorization": "Bearer <token>"}',
    "# then run with Ctrl-Enter or the play button:",
    "",
    "{",
    "  viewer {",
    "    subject",
    "    roles",
    "  }",
    "}",
    "",
  ].join("\n");

  var parameters = new URLSearchParams(window.location.search);

  function remember(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    var search = parameters.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
  }

  var props = {
    fetcher: GraphiQL.createFetcher({ url: window.location.pathname }),
    defaultQuery: WELCOME,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: true,
    onEditQuery: function (value) {
      // The welcome text is what a plain /graphql shows anyway: no need to carry it in the URL.
      remember("query", value === WELCOME ? "" : value);
    },
    onEditVariables: function (value) {
      remember("variables", value);
    },
    onEditOperationName: function (value) {
      remember("operationName", value);
    },
  };
  // Given once, at the first render: the editors start from the link and are the user's from then on.
  if (parameters.has("query")) props.query = parameters.get("query");
  if (parameters.has("variables")) props.variables = parameters.get("variables");
  if (parameters.has("operationName")) props.operationName = parameters.get("operationName");

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
