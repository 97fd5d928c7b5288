// The s3 serve page: watch a search turn by turn, and browse an evaluation run.
// Plain JS, no build step. URL parameters: ?q=QUESTION searches at once; ?view=run&dataset=D&id=X
// opens a question of the evaluation run.
"use strict";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, body) {
  // a server started with --token: the page asks for it once and keeps it for this tab
  const headers = body === undefined ? {} : {"Content-Type": "application/json"};
  const token = sessionStorage.getItem("s3-token");
  if (token) headers.Authorization = `Bearer ${token}`;
  const options = body === undefined ? {headers} : {method: "POST", headers, body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    const given = prompt("This server needs its bearer token (s3 serve --token):");
    if (given) { sessionStorage.setItem("s3-token", given.trim()); return api(path, body); }
  }
  if (!response.ok) throw new Error(data.detail || `${response.status} ${response.statusText}`);
  return data;
}

function docList(docs, selected = [], limit = 240) {
  // selected: 1-based positions in `docs` that the searcher kept
  const list = el("ol", {class: "docs"});
  docs.forEach((doc, i) => {
    const kept = selected.includes(i + 1);
    const text = (doc.text || "").length > limit ? doc.text.slice(0, limit) + "…" : (doc.text || "");
    list.append(el("li", {class: kept ? "doc selected" : "doc", "data-id": doc.id},
      el("span", {class: "doc-title", text: doc.title || "(untitled)"}),
      kept ? el("span", {class: "badge", text: "selected"}) : null,
      " ", el("span", {class: "doc-text", text: text})));
  });
  return list;
}

// ------------------------------------------------------------------ search view

function renderTrace(result) {
  const out = $("#trace");
  out.replaceChildren();
  const episode = (result.trace || {}).episode || {blocks: []};
  const turns = (result.trace || {}).turns || [];
  const blocks = episode.blocks || [];
  const initial = blocks[0];
  if (initial && initial.docs.length) {
    out.append(el("div", {class: "card turn", "data-turn": "0"},
      el("div", {class: "turn-head"}, el("h3", {text: "Initial retrieval"}),
        el("span", {class: "muted", text: `top ${initial.docs.length} for the question (naive RAG)`})),
      docList(initial.docs, initial.selected || [])));
  }
  turns.forEach((turn, i) => {
    const action = turn.action || {};
    const card = el("div", {class: "card turn", "data-turn": String(i + 1)});
    const head = el("div", {class: "turn-head"}, el("h3", {text: `Turn ${i + 1}`}),
      el("span", {class: "badge", text: action.kind || "?"}));
    if (action.selected) head.append(el("span", {class: "selection", text: `selected ${JSON.stringify(action.selected)} from the window above`}));
    card.append(head, el("pre", {class: "raw", text: turn.text || ""}));
    const block = blocks[i + 1];
    if (action.kind === "search" && block) {
      card.append(el("div", {}, "query ", el("span", {class: "query", text: block.query})),
        docList(block.docs, block.selected || []));
    }
    out.append(card);
  });
  out.append(el("div", {class: "card"},
    el("span", {class: "badge stop", id: "finish-reason", text: `stopped: ${result.finish_reason}`}),
    " ", el("span", {class: "muted", text: `${result.queries.length} search(es), ${result.documents.length} documents for the generator`})));
  const context = el("div", {class: "card", id: "generator-context"}, el("h2", {text: "Context handed to the generator"}),
    docList(result.documents, result.documents.map((d, i) => result.selected.includes(d.id) ? i + 1 : 0)));
  out.append(context);
  if (result.generator) {
    const messages = result.generator.messages.map((m) => `[${m.role}]\n${m.content}`).join("\n\n");
    out.append(el("div", {class: "card"}, el("h2", {text: `Answer (${result.generator.model})`}),
      el("p", {class: "answer", id: "answer", text: result.generator.answer || "(empty)"}),
      el("details", {}, el("summary", {text: "generator prompt"}), el("pre", {class: "raw", text: messages}))));
  }
}

async function runSearch(question) {
  $("#question").value = question;
  $("#search-status").textContent = "searching…";
  $("#search-status").className = "muted";
  $("#trace").replaceChildren();
  try {
    const data = await api("search", {question, answer: $("#with-answer").checked});
    renderTrace(data.results[0]);
    $("#search-status").textContent = `done: ${data.results[0].question}`;
  } catch (error) {
    $("#search-status").textContent = `error: ${error.message}`;
    $("#search-status").className = "error";
  }
}

// ------------------------------------------------------------------ evaluation-run view

let run = null;

function verdict(value) {
  if (value === null || value === undefined) return el("span", {class: "badge", text: "n/a"});
  return value >= 1 ? el("span", {class: "badge right", text: "right"}) : el("span", {class: "badge wrong", text: "wrong"});
}

function fmt(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(1); }

async function loadRun() {
  if (run) return run;
  try {
    run = await api("api/run");
  } catch (error) {
    $("#run-summary").replaceChildren(el("p", {class: "muted", text: error.message}));
    return null;
  }
  const table = el("table", {class: "results"},
    el("tr", {}, ...["method", "dataset", "n", "GenAcc", "EM", "F1", "searches"].map((h) => el("th", {text: h}))));
  for (const row of run.results) {
    table.append(el("tr", {}, el("td", {text: row.method}), el("td", {text: row.dataset}), el("td", {text: row.n}),
      el("td", {text: fmt(row.genacc)}), el("td", {text: fmt(row.em)}), el("td", {text: fmt(row.f1)}),
      el("td", {text: fmt(row.searches)})));
  }
  $("#run-summary").replaceChildren(el("h2", {text: `Evaluation run ${run.name}`}), table);
  $("#run-dataset").replaceChildren(...run.datasets.map((d) => el("option", {value: d, text: d})));
  $("#run-method").replaceChildren(...run.methods.map((m) => el("option", {value: m, text: m})));
  if (params.get("dataset")) $("#run-dataset").value = params.get("dataset");
  if (params.get("method")) $("#run-method").value = params.get("method");
  if (params.get("filter")) $("#run-filter").value = params.get("filter");
  listQuestions();
  return run;
}

function listQuestions() {
  const dataset = $("#run-dataset").value, method = $("#run-method").value;
  const filter = $("#run-filter").value, text = $("#run-text").value.toLowerCase();
  const shown = run.questions.filter((q) => q.dataset === dataset
    && (filter === "all" || (filter === "right") === (q.genacc[method] >= 1))
    && (!text || q.question.toLowerCase().includes(text)));
  $("#run-count").textContent = `${shown.length} question(s); ${method}: ${filter}`;
  $("#run-questions").replaceChildren(...shown.map((q) => {
    const item = el("li", {"data-id": q.id}, verdict(q.genacc[method]), " ", q.question);
    item.addEventListener("click", () => showQuestion(q.dataset, q.id));
    return item;
  }));
}

async function showQuestion(dataset, id) {
  for (const item of document.querySelectorAll("#run-questions li")) item.classList.toggle("current", item.dataset.id === id);
  const data = await api(`api/run/question?dataset=${encodeURIComponent(dataset)}&id=${encodeURIComponent(id)}`);
  const grid = el("div", {class: "compare"});
  for (const [method, m] of Object.entries(data.methods)) {
    const blocks = ((m.trace || {}).episode || {}).blocks || [];
    const queries = blocks.filter((b) => b.query).map((b) => el("li", {}, el("span", {class: "query", text: b.query})));
    grid.append(el("div", {class: "card method", "data-method": method},
      el("div", {class: "turn-head"}, el("h3", {text: method}), verdict(m.genacc)),
      el("p", {}, "answer: ", el("strong", {class: "prediction", text: m.prediction || "(empty)"})),
      el("p", {class: "muted", text: `${m.docs.length} documents, ${m.searches ?? 0} searches, F1 ${fmt(100 * (m.f1 ?? 0))}`}),
      queries.length ? el("ol", {class: "queries"}, ...queries) : null,
      docList(m.docs, [], 140)));
  }
  $("#run-detail").replaceChildren(el("h2", {text: data.question}),
    el("p", {class: "muted", text: `gold: ${(data.golden_answers || []).join(" | ")}  ·  ${data.dataset} #${data.id}`}), grid);
}

// ------------------------------------------------------------------ wiring

function show(view) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  $("#view-search").hidden = view !== "search";
  $("#view-run").hidden = view !== "run";
  if (view === "run") return loadRun();
}

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));
for (const id of ["#run-dataset", "#run-method", "#run-filter"]) $(id).addEventListener("change", listQuestions);
$("#run-text").addEventListener("input", listQuestions);
$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("#question").value.trim();
  if (question) runSearch(question);
});

(async function start() {
  try {
    const health = await api("health");
    $("#server-info").textContent = health.searcher
      ? `searcher: ${health.model} (${health.protocol}, ${health.episode}) · generator: ${health.generator || "none"}`
      : "no searcher: evaluation run only";
    if (!health.searcher) { $("#submit").disabled = true; if (!params.get("view")) params.set("view", "run"); }
    if (!health.run) $("#tab-run").disabled = true;
  } catch (error) {
    $("#server-info").textContent = `server: ${error.message}`;
  }
  if (params.get("view") === "run") {
    if (await show("run") && params.get("id")) await showQuestion($("#run-dataset").value, params.get("id"));
  } else if (params.get("q")) {
    runSearch(params.get("q"));
  }
})();
