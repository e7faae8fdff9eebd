// Who is signed in, shared by every page.
import { createContext, useContext } from "react";
import type { Me } from "./api/types";

export interface SessionValue {
  me: Me;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside a signed-in page");
  return value;
}

export function isStaff(me: Me): boolean {
  return me.role === "admin" || me.role === "supervisor";
}
