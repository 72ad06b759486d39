import { copyText } from "../announce.ts";
import { isNegative } from "../decimal.ts";
import { exactWithCurrency, formatExactMoney, formatMoney } from "../money.ts";

interface MoneyProps {
  amount: string | null | undefined;
  currency?: string;
  /** Tiles: reachable by Tab, Enter copies. Table cells stay out of the tab order. */
  focusable?: boolean;
  /** Unit prices: every digit shown, not rounded to cents. */
  exact?: boolean;
  /** Shown instead of a figure when the amount is null, with `missingTitle` saying why. */
  missingTitle?: string;
}

export function Money({ amount, currency = "USD", focusable = false, exact = false, missingTitle }: MoneyProps) {
  if (amount === null || amount === undefined) {
    return (
      <span class="money missing" title={missingTitle ?? "no figure"}>
        —
      </span>
    );
  }
  const exactText = exactWithCurrency(amount, currency);
  const copy = () => void copyText(amount);
  const classes = isNegative(amount) ? "money negative" : "money";
  return (
    <span
      class={classes}
      data-exact={amount}
      title={`${exactText} (exact)`}
      onClick={copy}
      {...(focusable
        ? {
            tabIndex: 0,
            role: "button",
            onKeyDown: (event: KeyboardEvent) => {
              if (event.key === "Enter" || event.key === " ") {
                event.preventDefault();
                copy();
              }
            },
          }
        : {})}
    >
      {exact ? formatExactMoney(amount, currency) : formatMoney(amount, currency)}
    </span>
  );
}

const NO_REVENUE = "no revenue in the period";

export function Pct({ value, missingTitle = NO_REVENUE }: { value: string | null | undefined; missingTitle?: string }) {
  if (value === null || value === undefined || value === "") {
    return (
      <span class="pct missing" title={missingTitle}>
        —
      </span>
    );
  }
  return (
    <span class={isNegative(value) ? "pct negative" : "pct"} data-exact={value}>
      {value} %
    </span>
  );
}
