// Canned responses: the shared type, the `/shortcut` trigger and `{{contact.name}}` filling.
import type { Contact } from "../api/types";

export interface CannedResponse {
  id: number;
  shortcut: string;
  title: string;
  body: string;
  created_at?: string;
  updated_at?: string;
}

/** The `/word` being typed at the end of the text (after a space or at the start), or null. */
export function slashQuery(text: string): { start: number; query: string } | null {
  const match = /(^|\s)\/([a-z0-9_-]{0,32})$/i.exec(text);
  if (!match) return null;
  return { start: match.index + match[1].length, query: match[2].toLowerCase() };
}

export function matchCanned(items: CannedResponse[], query: string): CannedResponse[] {
  const q = query.toLowerCase();
  const byShortcut = items.filter((c) => c.shortcut.startsWith(q));
  const byTitle = items.filter((c) => !c.shortcut.startsWith(q) && c.title.toLowerCase().startsWith(q));
  return [...byShortcut, ...byTitle].slice(0, 8);
}

export function contactName(contact: Contact | null | undefined): string {
  return contact?.profile_name || contact?.username || "";
}

/** The body with `{{contact.name}}` (spaces allowed inside the braces) filled in. */
export function fillCanned(body: string, contact: Contact | null | undefined): string {
  return body.replace(/\{\{\s*contact\.name\s*\}\}/g, contactName(contact));
}
