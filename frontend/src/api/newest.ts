// Reads of one thing on screen overlap (filters changed, a refresh beside a button, another
// conversation opened) and a slow server may answer them in any order: an answer is shown
// only if nothing about that thing began after its read. Changes made here count too: a
// read that began before "Stop" is older than the stop's own answer.
import { useRef } from "react";

export interface Newest {
  /** A read (or a change) begins; the check says whether none began after it. */
  begin: () => () => boolean;
  /** Nothing begins; the check says whether none began after this moment. */
  since: () => () => boolean;
}

/** One counter per thing on screen; the same object for the component's lifetime. */
export function useNewest(): Newest {
  const held = useRef<Newest | null>(null);
  if (held.current === null) {
    let count = 0;
    held.current = {
      begin: () => {
        const mine = ++count;
        return () => count === mine;
      },
      since: () => {
        const seen = count;
        return () => count === seen;
      },
    };
  }
  return held.current;
}
