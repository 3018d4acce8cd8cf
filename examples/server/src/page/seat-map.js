// The seat map page: signs in as a demo user, joins the waiting room when the event has one,
// shows the seats live (EventSource on /v1/performances/{id}/seats/stream), holds the picked
// seats and units of counted stock (with a coupon if the buyer ticks it), shows the quote and
// the hold's countdown, and pays with points or through Toss.
"use strict";

const $ = (id) => document.getElementById(id);

// Amounts are whole won: a number, or money as the quote spells it ({"amount", "currency"}).
const minor = (v) => {
  if (typeof v === "number") return v;
  if (v !== null && typeof v === "object" && typeof v.amount === "number") return v.amount;
  return null;
};
const won = (v) => {
  const n = minor(v);
  if (n === null) return "—";
  const text = "₩" + Math.abs(n).toLocaleString("en-US");
  return n < 0 ? "−" + text : text;
};

const OPEN = ["Pending", "AwaitingPayment"];
const PAID = ["Paid", "Confirmed", "PartiallyRefunded"];
const MAX_UNITS = 10;

const page = { token: null, user: null, sales: new Map(), sale: null, seats: new Map(),
  stock: new Map(), picked: new Set(), mine: new Set(), order: null, queue: null, source: null,
  timer: null, coupon: null, couponOrder: null };

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
  $("who").textContent = saved ? "Signed in as your demo user" : "Signed in as a new demo user";
}

async function loadSales() {
  const events = await api("GET", "/v1/events");
  for (const event of events) {
    for (const p of await api("GET", `/v1/events/${event.id}/performances`)) {
      page.sales.set(p.id, { ...p, event });
      const name = p.name.startsWith(event.name) ? p.name : `${event.name} — ${p.name}`;
      $("sale").add(new Option(name, p.id));
    }
  }
}

async function loadCoupons() {
  page.coupon = null;
  $("coupon-choice").hidden = true;
  const campaigns = await api("GET", "/v1/coupons");
  const offer = campaigns.find((c) => c.remaining > 0);
  if (!offer) return;
  page.coupon = offer;
  $("coupon-label").textContent = `Use coupon ${offer.code} (${won(offer.amount_off)} off)`;
  $("coupon-choice").hidden = false;
}

// The hold is ours while its order is open and its deadline has not passed.
function holdOpen() {
  const o = page.order;
  return Boolean(o && OPEN.includes(o.state) && Date.now() < Date.parse(o.expires_at));
}

function shownState(seat) {
  if (page.picked.has(seat.ticket)) return "picked";
  if ((seat.state === "held" || seat.state === "taken") && page.mine.has(seat.ticket) && holdOpen()) return "mine";
  return seat.state;
}

const WORDS = { free: "free", picked: "picked", mine: "held by you", held: "held by someone else",
  taken: "unavailable", sold: "sold" };

function renderSeat(seat) {
  let button = seat.button;
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.dataset.label = seat.label;
    button.textContent = seat.label;
    button.addEventListener("click", () => pick(seat));
    seat.button = button;
  }
  const state = shownState(seat);
  button.className = "seat " + state;
  button.dataset.state = state;
  button.setAttribute("aria-label", `Seat ${seat.label}, class ${seat.class}, ${won(seat.price)}, ${WORDS[state]}`);
  button.setAttribute("aria-pressed", String(state === "picked"));
  button.setAttribute("aria-disabled", String(state !== "free" && state !== "picked"));
  return button;
}

function renderSeats() { for (const seat of page.seats.values()) renderSeat(seat); }

// Units asked for of one stock: a whole number from 0 to what may be held, or null.
function units(s) {
  const text = s.input.value.trim();
  if (text === "") return 0;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= Number(s.input.max) ? n : null;
}

function renderStockLine(s) {
  s.text.textContent = `${s.view.name}: ${s.view.available} left at ${won(s.view.price)} each`;
  s.input.max = String(Math.min(MAX_UNITS, s.view.available));
  s.input.disabled = s.view.available === 0;
  s.row.dataset.available = String(s.view.available);
}

function buildStock(views) {
  const box = $("stock");
  box.replaceChildren();
  page.stock.clear();
  for (const view of views) {
    const row = document.createElement("p");
    row.className = "stock-line";
    row.dataset.stock = view.stock;
    const input = document.createElement("input");
    input.type = "number";
    input.id = `units-${view.stock}`;
    input.min = "0";
    input.step = "1";
    input.value = "0";
    input.inputMode = "numeric";
    const label = document.createElement("label");
    label.htmlFor = input.id;
    const text = document.createElement("span");
    label.append(text);
    const s = { view, row, input, text };
    input.addEventListener("input", () => {
      const ok = units(s) !== null;
      input.setAttribute("aria-invalid", String(!ok));
      say(ok ? "" : `${view.name}: enter a whole number from 0 to ${input.max}`);
      updateHold();
    });
    row.append(label, input);
    box.append(row);
    page.stock.set(view.stock, s);
    renderStockLine(s);
  }
}

function stockAsked() {
  const asked = [];
  for (const s of page.stock.values()) {
    const n = units(s);
    if (n === null) return null;
    if (n > 0) asked.push({ stock: s.view.stock, quantity: n });
  }
  return asked;
}

function updateHold() {
  const asked = stockAsked();
  $("hold").disabled = asked === null || (page.picked.size === 0 && asked.length === 0);
  $("hold").textContent = page.stock.size > 0 && page.seats.size === 0 ? "Hold these units" : "Hold picked seats";
}

function pick(seat) {
  if (page.picked.has(seat.ticket)) page.picked.delete(seat.ticket);
  else if (shownState(seat) === "free") page.picked.add(seat.ticket);
  else return;
  renderSeat(seat);
  updateHold();
}

function applySnapshot(snap) {
  const buttons = new Map([...page.seats.values()].map((s) => [s.ticket, s.button]));
  page.seats.clear();
  for (const s of snap.seats) {
    // The snapshot tells free from not free; the changes that follow tell held from sold.
    const seat = { ...s, state: s.available ? "free" : "taken", button: buttons.get(s.ticket) };
    if (seat.state !== "free") page.picked.delete(seat.ticket);
    page.seats.set(s.ticket, seat);
  }
  // Buttons are kept across snapshots, so a reconnect does not take the keyboard focus away.
  $("seats").replaceChildren(...[...page.seats.values()].map(renderSeat));
  const seated = page.seats.size > 0;
  $("seats").hidden = !seated;
  $("legend").hidden = !seated;
  $("map-title").textContent = seated ? "Seats" : "Units";
  const prices = new Map();
  for (const s of page.seats.values()) prices.set(s.class, s.price);
  $("prices").textContent = [...prices].map(([c, p]) => `Class ${c}: ${won(p)}`).join(" · ");
  $("prices").hidden = !seated;
  buildStock(snap.stock);
  updateHold();
}

function applySeat(change) {
  const w = change.what;
  const seat = page.seats.get(w.ticket);
  if (!seat) return;
  if (w.available) {
    seat.state = "free";
    page.mine.delete(seat.ticket);
  } else if (w.change === "sold") {
    seat.state = "sold";
  } else if (w.change === "held") {
    seat.state = "held";
    // A hold with another deadline than our order's is someone else's (ours lapsed).
    const ours = page.order && w.held_until && Date.parse(w.held_until) === Date.parse(page.order.expires_at);
    if (!ours) page.mine.delete(seat.ticket);
  } else {
    seat.state = "taken";
    page.mine.delete(seat.ticket);
  }
  if (seat.state !== "free") page.picked.delete(seat.ticket);
  renderSeat(seat);
  updateHold();
}

function applyStock(change) {
  const s = page.stock.get(change.what.stock);
  if (!s) return;
  s.view.available = change.what.available;
  renderStockLine(s);
  updateHold();
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
  source.addEventListener("stock", (e) => applyStock(JSON.parse(e.data)));
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

async function couponCode() {
  if (!page.coupon || !$("use-coupon").checked) return undefined;
  const claimed = await api("POST", `/v1/coupons/${page.coupon.id}/claim`, {});
  return claimed.code;
}

async function hold() {
  say("");
  const stock = stockAsked();
  if (stock === null) { say("Enter whole numbers of units"); return; }
  $("hold").disabled = true;
  try {
    const sale = page.sale;
    const token = await admission(sale);
    const headers = token ? { "queue-token": token } : {};
    const body = { sale, seats: [...page.picked], stock };
    const coupon = await couponCode();
    if (coupon !== undefined) body.coupon = coupon;
    const order = await api("POST", "/v1/orders", body, headers);
    if (coupon !== undefined) {
      // A coupon is used once: the choice comes back if this order ends unpaid.
      $("use-coupon").checked = false;
      $("coupon-choice").hidden = true;
      page.coupon = null;
      page.couponOrder = order.id;
    }
    page.picked.clear();
    for (const s of page.stock.values()) s.input.value = "0";
    showOrder(order);
    $("order-title").focus();
  } catch (e) {
    say(e.message);
    const taken = (e.problem && e.problem.seats) || [];
    for (const t of taken) page.picked.delete(t);
    renderSeats();
  }
  updateHold();
}

function quoteRows(order) {
  const q = order.quote || {};
  const rows = [["Subtotal", minor(q.subtotal) ?? order.total]];
  for (const a of q.applied || []) rows.push([a.description, -(minor(a.amount) ?? 0)]);
  for (const n of q.not_applied || []) {
    const why = ((n.reason && n.reason.reason) || "not applicable").replaceAll("_", " ");
    rows.push([`${n.rule.replaceAll("-", " ")}: not applied (${why})`, null]);
  }
  rows.push(["Total", order.total]);
  return rows;
}

function showOrder(order) {
  page.order = order;
  const tickets = order.lines.map((l) => l.ticket).filter(Boolean);
  const open = OPEN.includes(order.state);
  page.mine = new Set(open ? tickets : []);
  for (const t of tickets) {
    const seat = page.seats.get(t);
    if (!seat) continue;
    if (PAID.includes(order.state)) seat.state = "sold";
    else if (!open) seat.state = "free"; // released or expired: the stream says so too
    else if (seat.state === "free") seat.state = "held";
  }
  renderSeats();
  if (!open && !PAID.includes(order.state)) restoreCoupon(order);
  $("order").hidden = false;
  const rows = quoteRows(order);
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
  for (const id of ["pay-points", "pay-card", "cancel"]) $(id).disabled = !open;
  clearInterval(page.timer);
  const tick = () => {
    if (!open) { $("countdown").textContent = `Order ${order.state}`; return; }
    const left = Math.max(0, Math.ceil((Date.parse(order.expires_at) - Date.now()) / 1000));
    $("countdown").textContent = left > 0
      ? `Held for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")} more`
      : "The hold lapsed: pick seats again";
    if (left === 0) { clearInterval(page.timer); lapsed(); }
  };
  tick();
  page.timer = setInterval(tick, 1000);
}

// Our hold's deadline passed: its seats are free for anyone to hold (the server reads a lapsed
// hold as free), so they show as free unless the stream has since said otherwise.
function lapsed() {
  for (const id of ["pay-points", "pay-card", "cancel"]) $(id).disabled = true;
  for (const t of page.mine) {
    const seat = page.seats.get(t);
    if (seat && seat.state === "held") seat.state = "free";
  }
  page.mine.clear();
  renderSeats();
  updateHold();
  if (page.order) restoreCoupon(page.order);
}

// The coupon an order used is the buyer's again once that order ends unpaid.
function restoreCoupon(order) {
  if (page.couponOrder !== order.id) return;
  page.couponOrder = null;
  loadCoupons().catch(() => {});
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
  page.seats.clear();
  updateHold();
  watch(sale);
}

async function main() {
  try {
    await signIn();
    await loadSales();
    await loadCoupons();
    $("sale").addEventListener("change", (e) => choose(e.target.value));
    $("hold").addEventListener("click", hold);
    $("pay-points").addEventListener("click", payPoints);
    $("pay-card").addEventListener("click", payCard);
    $("cancel").addEventListener("click", release);
    if ($("sale").value) await choose($("sale").value);
  } catch (e) { say(e.message); }
}

main();
