// The dashboard of one node. Everything it shows comes from the node's
// management API: snapshots pushed on /api/events (server-sent events),
// or, when no event stream can be kept open, the same routes polled.
// A snapshot is {node, peers, agents, variables, runs}, each as the JSON
// route of that name answers it (null for what the node does not serve).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  // With a token the page was opened as /?token=T: the event stream takes
  // it in the query, fetch() as a header.
  const token = params.get("token");
  // Relative to where the page is served, so that a router nested under a
  // prefix works too.
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";

  // Peers this page has seen, by name: one seen and no longer listed is
  // shown down.
  const seen = new Set();
  // The history of each variable, fetched when its version changes:
  // name -> {version, values}.
  const histories = new Map();
  const fetching = new Set();
  let lastSnapshot = null;
  let newestRun = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) node.append(child);
    return node;
  }

  function url(path) {
    return base + path;
  }

  async function get(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(url(path), { headers, cache: "no-store" });
    const body = await response.json().catch(() => null);
    return { status: response.status, body };
  }

  function setTransport(state, text) {
    const node = $("transport");
    node.dataset.transport = state;
    node.textContent = text;
  }

  function showProblem(message) {
    const node = $("problem");
    node.hidden = !message;
    node.textContent = message || "";
  }

  // ---- the values -------------------------------------------------------

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString();
  }

  // A variable's value ({"Float": 0.05}, {"Int": 3}, {"Bool": true},
  // {"Text": "x"}) as text, and as a number when it is one.
  function valueText(value) {
    if (value === null || typeof value !== "object") return String(value);
    const [kind, inner] = Object.entries(value)[0] || ["", ""];
    return kind === "Text" ? JSON.stringify(inner) : String(inner);
  }

  function valueNumber(value) {
    if (value && typeof value === "object") {
      if (typeof value.Float === "number") return value.Float;
      if (typeof value.Int === "number") return value.Int;
    }
    return null;
  }

  // ---- the picture of the cluster --------------------------------------

  function renderCluster(node, peers, agents) {
    const listed = new Map(peers.map((p) => [p.node, p]));
    for (const name of listed.keys()) seen.add(name);
    const others = [...seen].sort().map((name) => {
      const peer = listed.get(name);
      return peer
        ? { name, status: peer.status, addr: peer.addr, since: peer.since_ms }
        : { name, status: "down", addr: "", since: null };
    });
    const perNode = new Map();
    for (const agent of agents || []) perNode.set(agent.node, (perNode.get(agent.node) || 0) + 1);

    const picture = $("cluster");
    for (const old of picture.querySelectorAll("g")) old.remove();
    const [width, height] = [440, 300];
    const centre = { x: width / 2, y: height / 2 - 5 };
    const radius = Math.min(width, height) / 2 - 55;
    const links = svg("g", { class: "links" });
    const nodes = svg("g", { class: "nodes" });

    const drawNode = (at, name, status, self, tooltip) => {
      const count = perNode.get(name) || 0;
      const group = svg("g", { class: "member" });
      const circle = svg("circle", {
        cx: at.x, cy: at.y, r: self ? 26 : 22,
        class: "node status-" + status + (self ? " self" : ""),
        "data-node": name,
        "data-status": status,
      }, svg("title", {}, tooltip));
      group.append(circle);
      group.append(svg("text", { x: at.x, y: at.y + 5, class: "initial" }, name.slice(0, 2)));
      const below = at.y + (self ? 44 : 40);
      group.append(svg("text", { x: at.x, y: below, class: "label" }, name + (self ? " (this node)" : "")));
      const agentsText = agents ? " \u00b7 " + count + (count === 1 ? " agent" : " agents") : "";
      group.append(svg("text", { x: at.x, y: below + 14, class: "sub" }, status + agentsText));
      nodes.append(group);
    };

    // Peers on an ellipse around this node, from its left: two peers sit
    // either side of it, clear of its label.
    others.forEach((peer, i) => {
      const angle = Math.PI + (2 * Math.PI * i) / others.length;
      const at = { x: centre.x + radius * 1.6 * Math.cos(angle), y: centre.y + radius * Math.sin(angle) };
      links.append(svg("line", {
        x1: centre.x, y1: centre.y, x2: at.x, y2: at.y,
        class: "link status-" + peer.status,
        "data-link": peer.name,
      }));
      const since = peer.since ? " since " + clock(peer.since) : "";
      const tooltip = peer.status === "down"
        ? peer.name + ": no longer listed by " + node.node
        : peer.name + " (" + (peer.addr || "address not yet known") + "): " + peer.status + since;
      drawNode(at, peer.name, peer.status, false, tooltip);
    });
    drawNode(centre, node.node, "up", true, node.node + " (" + node.addr + "): this page's node");
    picture.append(links, nodes);
  }

  // ---- agents ------------------------------------------------------------

  function renderAgents(agents) {
    const body = $("agents").tBodies[0];
    const empty = $("agents-empty");
    body.replaceChildren();
    if (!agents) {
      $("agents-count").textContent = "";
      empty.hidden = false;
      empty.textContent = "This node runs no agents.";
      return;
    }
    const sorted = [...agents].sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
    let previousNode = null;
    for (const agent of sorted) {
      const row = el("tr", { "data-agent": agent.id },
        el("td", {}, agent.node === previousNode ? "" : agent.node),
        el("td", {}, agent.id),
        el("td", {}, agent.kind || "\u2013"),
        el("td", {}, el("span", { class: "badge " + agent.status }, agent.status)),
        el("td", {}, agent.health || "\u2013"),
        el("td", { class: "num" }, String(agent.restarts)),
        el("td", {}, (agent.capabilities || []).join(", ")));
      if (agent.node !== previousNode && previousNode !== null) row.classList.add("group-start");
      previousNode = agent.node;
      body.append(row);
    }
    const nodes = new Set(sorted.map((a) => a.node)).size;
    $("agents-count").textContent = sorted.length + " on " + nodes + (nodes === 1 ? " node" : " nodes");
    empty.hidden = sorted.length > 0;
    empty.textContent = "No agents are listed.";
  }

  // ---- variables ----------------------------------------------------------

  function sparkline(values) {
    const numbers = values.map(valueNumber).filter((v) => v !== null);
    const [width, height, pad] = [140, 30, 3];
    const plot = svg("svg", {
      class: "spark", viewBox: "0 0 " + width + " " + height,
      "data-points": numbers.length, role: "img",
    });
    if (numbers.length === 0) return plot;
    const low = Math.min(...numbers);
    const high = Math.max(...numbers);
    const span = high - low || 1;
    const x = (i) => numbers.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (numbers.length - 1);
    const y = (v) => high === low ? height / 2 : height - pad - ((v - low) * (height - 2 * pad)) / span;
    const points = numbers.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    plot.append(svg("title", {}, numbers.join(" \u2192 ")));
    plot.append(svg("polyline", { points }));
    const last = numbers.length - 1;
    plot.append(svg("circle", { cx: x(last).toFixed(1), cy: y(numbers[last]).toFixed(1), r: 2.5 }));
    return plot;
  }

  async function fetchHistory(name, version) {
    if (fetching.has(name)) return;
    fetching.add(name);
    try {
      const answer = await get("api/variables/" + encodeURIComponent(name));
      if (answer.status === 200 && answer.body) {
        const values = (answer.body.history || []).map((c) => c.value);
        histories.set(name, { version, values });
      } else {
        // No quorum (503), say: plot what this node holds, the current value.
        histories.set(name, { version, values: null });
      }
    } catch (_) {
      histories.set(name, { version, values: null });
    } finally {
      fetching.delete(name);
    }
    if (lastSnapshot) renderVariables(lastSnapshot.variables);
  }

  function renderVariables(variables) {
    const body = $("variables").tBodies[0];
    const empty = $("variables-empty");
    body.replaceChildren();
    if (!variables) {
      $("variables-group").textContent = "";
      empty.hidden = false;
      empty.textContent = "This node keeps no variables.";
      return;
    }
    const group = variables.group || {};
    $("variables-group").textContent = group.leader
      ? "leader " + group.leader + ", term " + group.term
      : "no leader known";
    for (const committed of variables.variables || []) {
      const known = histories.get(committed.name);
      if (!known || known.version !== committed.version) fetchHistory(committed.name, committed.version);
      const values = known && known.version === committed.version && known.values
        ? known.values
        : [committed.value];
      body.append(el("tr", { "data-variable": committed.name },
        el("td", {}, committed.name),
        el("td", { class: "num" }, valueText(committed.value)),
        el("td", { class: "num" }, String(committed.version)),
        el("td", {}, committed.by),
        el("td", {}, sparkline(values))));
    }
    empty.hidden = (variables.variables || []).length > 0;
    empty.textContent = "No variables are defined.";
  }

  // ---- runs ------------------------------------------------------------------

  function renderRuns(runs) {
    const body = $("runs").tBodies[0];
    const empty = $("runs-empty");
    body.replaceChildren();
    if (!runs) {
      $("runs-count").textContent = "";
      empty.hidden = false;
      empty.textContent = "This node runs no agents, so no protocols.";
      return;
    }
    const previous = newestRun;
    for (const run of [...runs].reverse()) {
      const row = el("tr", { "data-run": run.seq, "data-protocol": run.protocol, "data-ok": run.ok },
        el("td", { class: "num" }, String(run.seq)),
        el("td", { class: "protocol" }, run.protocol),
        el("td", {}, el("span", { class: "badge " + (run.ok ? "ok" : "error") }, run.ok ? "ok" : "failed"),
          " ", run.summary || "\u2013"),
        el("td", { class: "num" }, run.answered + "/" + run.invited),
        el("td", { class: "num" }, run.duration_ms + " ms"),
        el("td", {}, clock(run.started_ms)));
      if (previous !== null && run.seq > previous) row.classList.add("fresh");
      body.append(row);
    }
    if (runs.length > 0) newestRun = Math.max(newestRun || 0, ...runs.map((r) => r.seq));
    else if (newestRun === null) newestRun = 0;
    $("runs-count").textContent = runs.length ? "coordinated by this node, newest first" : "";
    empty.hidden = runs.length > 0;
    empty.textContent = "No protocol has run from this node yet.";
  }

  // ---- the whole page -------------------------------------------------------

  function render(snapshot) {
    lastSnapshot = snapshot;
    const node = snapshot.node;
    document.title = node.node + " \u2013 Foundation";
    $("node-name").textContent = node.node;
    $("fact-addr").textContent = node.addr;
    $("fact-version").textContent = node.version;
    $("fact-uptime").textContent = duration(node.uptime_s);
    $("fact-peers").textContent = node.peers_up + " of " + node.peers;
    $("fact-names").textContent = String(node.names);
    renderCluster(node, snapshot.peers, snapshot.agents);
    renderAgents(snapshot.agents);
    renderVariables(snapshot.variables);
    renderRuns(snapshot.runs);
  }

  // The same snapshot the event stream sends, from the JSON routes.
  async function pollOnce() {
    const [node, peers, agents, variables, runs] = await Promise.all([
      get("api/node"), get("api/peers"), get("api/agents"), get("api/variables"), get("api/runs?limit=50"),
    ]);
    for (const answer of [node, peers]) {
      if (answer.status !== 200) throw new Error((answer.body && answer.body.error) || "HTTP " + answer.status);
    }
    // 404: the node does not serve that part.
    const part = (answer, pick) => answer.status === 200 ? pick(answer.body) : null;
    return {
      node: node.body,
      peers: peers.body.peers,
      agents: part(agents, (b) => b.agents),
      variables: part(variables, (b) => b),
      runs: part(runs, (b) => b.runs),
    };
  }

  function poll() {
    setTransport("polling", "polling every " + POLL_MS / 1000 + " s");
    const round = async () => {
      try {
        render(await pollOnce());
        showProblem(null);
        setTransport("polling", "polling every " + POLL_MS / 1000 + " s");
      } catch (error) {
        setTransport("failed", "no answer");
        showProblem("The node did not answer: " + error.message);
      }
      setTimeout(round, POLL_MS);
    };
    round();
  }

  function stream() {
    const address = url("api/events") + (token ? "?token=" + encodeURIComponent(token) : "");
    const source = new EventSource(address);
    source.addEventListener("snapshot", (event) => {
      try {
        render(JSON.parse(event.data));
        showProblem(null);
        setTransport("live", "live");
      } catch (error) {
        showProblem("A snapshot could not be shown: " + error.message);
      }
    });
    source.addEventListener("failure", (event) => {
      let message = event.data;
      try { message = JSON.parse(event.data).error; } catch (_) { /* the raw text then */ }
      showProblem("The node could not say: " + message);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a wrong token, too many watchers) or not an event
        // stream: poll the routes instead.
        source.close();
        poll();
      } else {
        setTransport("reconnecting", "reconnecting\u2026");
      }
    });
  }

  if (params.get("transport") === "poll" || typeof EventSource === "undefined") poll();
  else stream();
})();
