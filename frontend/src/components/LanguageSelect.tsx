import { Select } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { Locale } from "../api/types";
import { LOCALES, setLocale } from "../i18n";

/** English / 日本語; `onChange` also saves the choice for a signed-in user. */
export function LanguageSelect({ onChange }: { onChange?: (locale: Locale) => void }) {
  const { t, i18n } = useTranslation();
  return (
    <Select
      aria-label={t("shell.language")}
      data-testid="language-select"
      w={120}
      size="xs"
      allowDeselect={false}
      value={i18n.language}
      data={LOCALES.map((l) => ({ value: l, label: t(`languages.${l}`) }))}
      onChange={(value) => {
        if (value !== "en" && value !== "ja") return;
        setLocale(value);
        onChange?.(value);
      }}
    />
  );
}
