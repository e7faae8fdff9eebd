import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import type { Locale } from "./api/types";

// Texts live in one file per part of the app and language (locales/<lang>/<part>.json),
// each holding its own top-level sections, so a new capability adds a file of its own.
type Texts = Record<string, unknown>;
const FILES = import.meta.glob<Texts>("./locales/*/*.json", { eager: true, import: "default" });

function texts(locale: Locale): Texts {
  const merged: Texts = {};
  for (const [path, part] of Object.entries(FILES)) {
    if (path.startsWith(`./locales/${locale}/`)) Object.assign(merged, part);
  }
  return merged;
}

export const LOCALES: Locale[] = ["en", "ja"];
const STORED = "madoguchi.locale";

function initialLocale(): Locale {
  const stored = window.localStorage.getItem(STORED);
  if (stored === "en" || stored === "ja") return stored;
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: texts("en") }, ja: { translation: texts("ja") } },
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
