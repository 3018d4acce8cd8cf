// The seat map page: signs in as a demo user, joins the waiting room when the event has one,
// shows the seats live (EventSource on /v1/performances/{id}/seats/stream), holds the picked
// seats, shows the quote and the hold's countdown, and pays with points or through Toss.
"use strict";

const $ = (id) => document.getElementById(id);
const won = (v) => {
  const n = typeof v === "object" && v !== null ? (v.minor ?? v.amount ?? 0) : Number(v);
  return "₩" + n.toLocaleString("en-US");
};
const page = { token: null, user: null, sales: new Map(), sale: null, seats: new Map(),
  stock: new Map(), picked: new Set(), order: null, queue: null, source: null, timer: null };

async function api(method, path, body, headers = {}) {
  const h = { ...headers };
  if (page.token) h.authorization = "Bearer " + page.token;
  if (body !== undefined) h["content-type"] = "application/json";
  if (method === "POST") h["idempotency-key"] = crypto.randomUUID();
  const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error((data && (data.detail || data.title)) || res.statusText);
    err.problem = data;
    throw err;
  }
  return data;
}

function say(text) { $("message").textContent = text || ""; }

async function signIn() {
  const saved = sessionStorage.getItem("demo-login");
  const login = saved ? JSON.parse(saved) : await api("POST", "/v1/auth/demo", {});
  sessionStorage.setItem("demo-login", JSON.stringify(login));
  page.token = login.token;
  page.user = login.user_id;
  $("who").textContent = "Signed in as a new demo user";
}

async function loadSales() {
  const events = await api("GET", "/v1/events");
  for (const event of events) {
    for (const p of await api("GET", `/v1/events/${event.id}/performances`)) {
      page.sales.set(p.id, { ...p, event });
      const option = new Option(`${event.name} — ${p.name}`, p.id);
      $("sale").add(option);
    }
  }
}

function seatState(seat) {
  if (page.picked.has(seat.ticket)) return "picked";
  return seat.state;
}

function renderSeat(seat) {
  let button = seat.button;
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.className = "seat";
    button.dataset.label = seat.label;
    button.textContent = seat.label;
    button.addEventListener("click", () => pick(seat));
    seat.button = button;
  }
  const state = seatState(seat);
  button.className = "seat " + state;
  button.dataset.state = state;
  const words = { free: "free", picked: "picked", mine: "held by you", taken: "held", sold: "sold" };
  button.setAttribute("aria-label", `Seat ${seat.label}, class ${seat.class}, ${won(seat.price)}, ${words[state]}`);
  button.setAttribute("aria-pressed", String(state === "picked"));
  button.setAttribute("aria-disabled", String(state !== "free" && state !== "picked"));
  return button;
}

function renderStock() {
  const box = $("stock");
  box.replaceChildren();
  for (const s of page.stock.values()) {
    const p = document.createElement("p");
    p.dataset.stock = s.stock;
    p.textContent = `${s.name}: ${s.available} left at ${won(s.price)}`;
    box.append(p);
  }
}

function pick(seat) {
  if (page.picked.has(seat.ticket)) page.picked.delete(seat.ticket);
  else if (seat.state === "free") page.picked.add(seat.ticket);
  else return;
  renderSeat(seat);
  $("hold").disabled = page.picked.size === 0;
}

function mineNow() {
  const o = page.order;
  const live = o && !["Cancelled", "Expired", "Refunded"].includes(o.state);
  return new Set(live ? o.lines.map((l) => l.ticket).filter(Boolean) : []);
}

function applySnapshot(snap) {
  page.seats.clear();
  page.stock.clear();
  const mine = mineNow();
  for (const s of snap.seats) {
    page.seats.set(s.ticket, { ...s, state: s.available ? "free" : mine.has(s.ticket) ? "mine" : "taken" });
  }
  for (const s of snap.stock) page.stock.set(s.stock, s);
  const grid = $("seats");
  grid.replaceChildren(...[...page.seats.values()].map(renderSeat));
  renderStock();
}

function applySeat(change) {
  const seat = page.seats.get(change.what.ticket);
  if (!seat) return;
  const kind = change.what.change;
  if (change.what.available) seat.state = "free";
  else if (kind === "sold") seat.state = "sold";
  else seat.state = mineNow().has(seat.ticket) ? "mine" : "taken";
  if (seat.state !== "free") page.picked.delete(seat.ticket);
  renderSeat(seat);
  $("hold").disabled = page.picked.size === 0;
}

function watch(sale) {
  if (page.source) page.source.close();
  $("live").textContent = "Connecting…";
  const source = new EventSource(`/v1/performances/${sale}/seats/stream`);
  page.source = source;
  source.onopen = () => { $("live").textContent = "Live: changes show as they happen"; };
  source.onerror = () => { $("live").textContent = "Reconnecting…"; };
  source.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener("seat", (e) => applySeat(JSON.parse(e.data)));
  source.addEventListener("stock", (e) => {
    const c = JSON.parse(e.data);
    const s = page.stock.get(c.what.stock);
    if (s) { s.available = c.what.available; renderStock(); }
  });
}

async function admission(sale) {
  const info = page.sales.get(sale);
  if (!info || !info.event.waiting_room) return null;
  if (page.queue && page.queue.event === info.event.id && page.queue.status === "admitted") return page.queue.token;
  let ticket = await api("POST", "/v1/queue/tokens", { event: info.event.id });
  const box = $("queue");
  box.hidden = false;
  while (ticket.status === "waiting") {
    box.textContent = `In the waiting room: number ${ticket.position} in line`;
    await new Promise((r) => setTimeout(r, 500));
    ticket = await api("GET", `/v1/queue/tokens/${ticket.token}`);
  }
  box.textContent = ticket.status === "admitted" ? "Admitted: you may hold seats" : "The admission lapsed: try again";
  page.queue = { event: info.event.id, token: ticket.token, status: ticket.status };
  return ticket.status === "admitted" ? ticket.token : null;
}

async function hold() {
  say("");
  $("hold").disabled = true;
  try {
    const sale = page.sale;
    const token = await admission(sale);
    const headers = token ? { "queue-token": token } : {};
    const order = await api("POST", "/v1/orders", { sale, seats: [...page.picked] }, headers);
    page.picked.clear();
    showOrder(order);
    for (const seat of page.seats.values()) {
      if (mineNow().has(seat.ticket)) { seat.state = "mine"; renderSeat(seat); }
    }
  } catch (e) {
    say(e.message);
    const taken = (e.problem && e.problem.seats) || [];
    for (const t of taken) page.picked.delete(t);
    for (const seat of page.seats.values()) renderSeat(seat);
  }
  $("hold").disabled = page.picked.size === 0;
}

function showOrder(order) {
  page.order = order;
  $("order").hidden = false;
  const q = order.quote || {};
  const rows = [["Subtotal", q.subtotal ?? order.total]];
  for (const a of q.applied || []) rows.push([a.description, -((a.amount && (a.amount.minor ?? a.amount)) || 0)]);
  for (const n of q.not_applied || []) rows.push([`${n.rule}: not applied (${(n.reason && n.reason.reason) || "no"})`, null]);
  rows.push(["Total", order.total]);
  $("quote").replaceChildren(...rows.map(([label, amount], i) => {
    const tr = document.createElement("tr");
    if (i === rows.length - 1) tr.className = "total";
    const a = document.createElement("td");
    a.textContent = label;
    const b = document.createElement("td");
    b.className = "amount";
    b.textContent = amount === null ? "" : won(amount);
    tr.append(a, b);
    return tr;
  }));
  const open = order.state === "Pending" || order.state === "AwaitingPayment";
  for (const id of ["pay-points", "pay-card", "cancel"]) $(id).disabled = !open;
  clearInterval(page.timer);
  const tick = () => {
    if (!open) { $("countdown").textContent = `Order ${order.state}`; return; }
    const left = Math.max(0, Math.round((Date.parse(order.expires_at) - Date.now()) / 1000));
    $("countdown").textContent = left > 0
      ? `Held for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} more`
      : "The hold lapsed: pick seats again";
    if (left === 0) { clearInterval(page.timer); for (const id of ["pay-points", "pay-card"]) $(id).disabled = true; }
  };
  tick();
  page.timer = setInterval(tick, 1000);
}

async function payPoints() {
  say("");
  try {
    const wallet = await api("GET", "/v1/wallet");
    const short = page.order.total - (wallet.balance ?? 0);
    if (short > 0) await api("POST", "/v1/wallet/charge", { amount: short });
    showOrder(await api("POST", `/v1/orders/${page.order.id}/payments`, { method: "points" }));
  } catch (e) { say(e.message); }
}

async function payCard() {
  say("");
  try {
    const checkout = await api("POST", `/v1/orders/${page.order.id}/payments`, { method: "card" });
    window.open(checkout.checkoutUrl, "toss");
    for (let i = 0; i < 120; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const order = await api("GET", `/v1/orders/${page.order.id}`);
      if (order.state !== "AwaitingPayment") { showOrder(order); return; }
    }
  } catch (e) { say(e.message); }
}

async function release() {
  say("");
  try {
    showOrder(await api("POST", `/v1/orders/${page.order.id}/cancel`, { reason: "released on the seat map" }));
  } catch (e) { say(e.message); }
}

async function choose(sale) {
  page.sale = sale;
  page.picked.clear();
  $("hold").disabled = true;
  watch(sale);
}

async function main() {
  try {
    await signIn();
    await loadSales();
    $("sale").addEventListener("change", (e) => choose(e.target.value));
    $("hold").addEventListener("click", hold);
    $("pay-points").addEventListener("click", payPoints);
    $("pay-card").addEventListener("click", payCard);
    $("cancel").addEventListener("click", release);
    if ($("sale").value) await choose($("sale").value);
  } catch (e) { say(e.message); }
}

main();
