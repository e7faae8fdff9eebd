import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "./locales/en.json";
import ja from "./locales/ja.json";
import type { Locale } from "./api/types";

export const LOCALES: Locale[] = ["en", "ja"];
const STORED = "madoguchi.locale";

function initialLocale(): Locale {
  const stored = window.localStorage.getItem(STORED);
  if (stored === "en" || stored === "ja") return stored;
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, ja: { translation: ja } },
  lng: initialLocale(),
  fallbackLng: "en",
  interpolation: { escapeValue: false },
});

document.documentElement.lang = i18n.language;

export function setLocale(locale: Locale): void {
  window.localStorage.setItem(STORED, locale);
  document.documentElement.lang = locale;
  void i18n.changeLanguage(locale);
}

export default i18n;
