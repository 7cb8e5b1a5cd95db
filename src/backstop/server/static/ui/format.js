// Numbers and times for people: thousands separators, the market's own increments, UTC.
export const MINUS = "\u2212";

export function decimals(increment) {
  if (!increment) return 2;
  const text = Number(increment).toExponential(); // "2.5e-1", "1e-8", "1e+0"
  const [mantissa, exponent] = text.split("e");
  const fraction = (mantissa.split(".")[1] || "").length;
  return Math.max(0, fraction - Number(exponent));
}

// One formatter per number of decimals: Number.toLocaleString with options builds a new one on
// every call, which made it most of the order book ladder's render time under a burst of orders.
const FORMATS = new Map();

export function num(value, dp = 2) {
  if (value === null || value === undefined || value === "" || Number.isNaN(Number(value))) return "–";
  let format = FORMATS.get(dp);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { minimumFractionDigits: dp, maximumFractionDigits: dp });
    FORMATS.set(dp, format);
  }
  return format.format(Number(value)).replace("-", MINUS);
}

export function signed(value, dp = 2) {
  if (value === null || value === undefined) return "–";
  const v = Number(value);
  return (v > 0 ? "+" : "") + num(v, dp);
}

export function usd(value, dp = 2) {
  if (value === null || value === undefined) return "–";
  const v = Number(value);
  return (v < 0 ? MINUS : "") + "$" + num(Math.abs(v), dp);
}

export function pct(value, dp = 2, withSign = true) {
  if (value === null || value === undefined) return "–";
  const v = Number(value) * 100;
  return (withSign && v > 0 ? "+" : "") + num(v, dp) + "%";
}

export function compact(value) {
  if (value === null || value === undefined) return "–";
  const v = Number(value);
  const a = Math.abs(v);
  if (a >= 1e9) return num(v / 1e9, 2) + "B";
  if (a >= 1e6) return num(v / 1e6, 2) + "M";
  if (a >= 1e4) return num(v / 1e3, 1) + "K";
  return num(v, 2);
}

export function tone(value) {
  const v = Number(value);
  return v > 0 ? "up" : v < 0 ? "down" : "";
}

export function utc(value, withDate = true) {
  if (value === null || value === undefined) return "–";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const iso = d.toISOString();
  return (withDate ? iso.slice(0, 10) + " " : "") + iso.slice(11, 19);
}

export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Round down to a multiple of the increment (sizes from USD), as a decimal string.
export function floorTo(value, increment) {
  const dp = decimals(increment);
  const steps = Math.floor(Number(value) / increment + 1e-9);
  return Number((steps * increment).toFixed(dp));
}
