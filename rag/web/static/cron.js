// A cron expression (five fields, UTC) in plain words, for the source form's preview.
// The server checks the expression itself when the source is saved; this only describes it.

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];

function pad(n) {
  return String(n).padStart(2, "0");
}

function isNumber(field) {
  return /^\d+$/.test(field);
}

function list(field, names, offset) {
  // "1-5" or "1,3,5" or "MON" style lists, named where names are known.
  return field.split(",").map((part) => {
    const range = part.split("-");
    const name = (v) => (names && isNumber(v) ? names[(Number(v) - offset) % names.length] : v);
    return range.length === 2 ? `${name(range[0])} to ${name(range[1])}` : name(part);
  }).join(", ");
}

/** The expression in words, or throws Error with what is wrong with its shape. */
export function describeCron(expression) {
  const text = expression.trim();
  if (!text) return "Only when synced by hand.";
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    throw new Error("A schedule has five fields: minute, hour, day of month, month, day of week (e.g. */15 * * * *).");
  }
  const [minute, hour, dom, month, dow] = fields;
  let when;
  const step = /^\*\/(\d+)$/;
  if (minute === "*" && hour === "*") {
    when = "every minute";
  } else if (step.test(minute) && hour === "*") {
    when = `every ${minute.match(step)[1]} minutes`;
  } else if (isNumber(minute) && hour === "*") {
    when = `every hour at ${pad(minute)} minutes past`;
  } else if (isNumber(minute) && step.test(hour)) {
    when = `every ${hour.match(step)[1]} hours at ${pad(minute)} minutes past`;
  } else if (isNumber(minute) && isNumber(hour)) {
    when = `at ${pad(hour)}:${pad(minute)} UTC`;
  } else if (isNumber(minute)) {
    when = `at minute ${minute} of hours ${hour}`;
  } else {
    when = `at minutes ${minute} of hours ${hour}`;
  }
  const parts = [when];
  if (dom !== "*") parts.push(`on day ${list(dom)} of the month`);
  if (month !== "*") parts.push(`in ${list(month, MONTHS, 1)}`);
  if (dow !== "*") parts.push(`on ${list(dow, DAYS, 0)}`);
  if (dom === "*" && month === "*" && dow === "*" && isNumber(hour) && isNumber(minute)) parts.push("every day");
  const sentence = parts.join(", ");
  return sentence.charAt(0).toUpperCase() + sentence.slice(1) + ".";
}
