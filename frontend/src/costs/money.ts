import i18n from "../i18n";

/** An amount (decimal string) in a currency, in the reader's language; up to 4 decimals. */
export function formatMoney(amount: string | number, currency: string | null): string {
  const value = typeof amount === "number" ? amount : Number(amount);
  if (!currency) return value.toLocaleString(i18n.language, { maximumFractionDigits: 4 });
  try {
    return value.toLocaleString(i18n.language, {
      style: "currency",
      currency,
      minimumFractionDigits: 2,
      maximumFractionDigits: 4,
    });
  } catch {
    return `${value} ${currency}`;
  }
}

/** A market's name in the reader's language (ISO code → "Japan" / "日本"). */
export function marketName(code: string | null): string {
  if (!code || code === "*") return i18n.t("costs.otherMarkets");
  try {
    return new Intl.DisplayNames([i18n.language], { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}
