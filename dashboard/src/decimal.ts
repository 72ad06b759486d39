// Exact decimal arithmetic on the API's money and percentage strings, with BigInt.
// Money is never a float here: a value is sign * coef / 10^scale.

export interface Decimal {
  negative: boolean;
  coef: bigint; // absolute value, scaled
  scale: number; // digits after the point, >= 0
}

// Python's str(Decimal) may use an exponent ("1E-7"), so accept one.
const DECIMAL_RE = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;

export function parseDecimal(text: string | null | undefined): Decimal | null {
  if (text === null || text === undefined) return null;
  const match = DECIMAL_RE.exec(String(text));
  if (!match) return null;
  const [, sign, whole = "", fraction = "", exponent] = match;
  if (whole === "" && fraction === "") return null;
  let coef = BigInt((whole || "0") + fraction);
  let scale = fraction.length - (exponent ? Number(exponent) : 0);
  if (scale < 0) {
    coef *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { negative: sign === "-" && coef !== 0n, coef, scale };
}

export function isZero(text: string | null | undefined): boolean {
  const value = parseDecimal(text);
  return value !== null && value.coef === 0n;
}

export function isNegative(text: string | null | undefined): boolean {
  const value = parseDecimal(text);
  return value !== null && value.negative;
}

function signed(value: Decimal, scale: number): bigint {
  const scaled = value.coef * 10n ** BigInt(scale - value.scale);
  return value.negative ? -scaled : scaled;
}

/** -1, 0 or 1, comparing exactly; unparsable strings sort after every number. */
export function compareDecimal(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return x ? -1 : y ? 1 : 0;
  const scale = Math.max(x.scale, y.scale);
  const diff = signed(x, scale) - signed(y, scale);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

function fromSigned(value: bigint, scale: number): Decimal {
  const negative = value < 0n;
  return { negative, coef: negative ? -value : value, scale };
}

export function toPlainString(value: Decimal): string {
  const digits = value.coef.toString().padStart(value.scale + 1, "0");
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale);
  return (value.negative ? "-" : "") + whole + (value.scale > 0 ? "." + fraction : "");
}

/** a + b, exact; null if either is not a decimal. */
export function addDecimal(a: string, b: string): string | null {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return null;
  const scale = Math.max(x.scale, y.scale);
  return toPlainString(fromSigned(signed(x, scale) + signed(y, scale), scale));
}

/** a - b, exact; null if either is not a decimal. */
export function subtractDecimal(a: string, b: string): string | null {
  const y = parseDecimal(b);
  if (!y) return null;
  return addDecimal(a, toPlainString({ ...y, negative: !y.negative && y.coef !== 0n }));
}

/** Round to `places` decimals, half to even (banker's rounding, as the API rounds). */
export function roundHalfEven(value: Decimal, places: number): Decimal {
  if (value.scale <= places) {
    return { ...value, coef: value.coef * 10n ** BigInt(places - value.scale), scale: places };
  }
  const divisor = 10n ** BigInt(value.scale - places);
  let quotient = value.coef / divisor;
  const remainder = value.coef % divisor;
  const twice = remainder * 2n;
  if (twice > divisor || (twice === divisor && quotient % 2n === 1n)) quotient += 1n;
  return { negative: value.negative && quotient !== 0n, coef: quotient, scale: places };
}

/** Drop trailing zeros after the point (0.0000600 -> 0.00006). */
export function normalize(value: Decimal): Decimal {
  let { coef, scale } = value;
  while (scale > 0 && coef % 10n === 0n && coef !== 0n) {
    coef /= 10n;
    scale -= 1;
  }
  if (coef === 0n) scale = 0;
  return { negative: value.negative && coef !== 0n, coef, scale };
}

/** The absolute value's digits with thousands separators: 1234567.89 -> "1,234,567.89". */
export function groupDigits(value: Decimal): string {
  const plain = toPlainString({ ...value, negative: false });
  const [whole = "0", fraction] = plain.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}
