// The hash router: "#/customers/plexo?month=2026-11". No API key ever goes in the URL.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  view: string;
  id: string | null;
  params: URLSearchParams;
}

export const VIEWS = ["overview", "customers", "simulator", "budgets", "models", "checks"] as const;

export function parseHash(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const query = text.indexOf("?");
  const path = query === -1 ? text : text.slice(0, query);
  const params = new URLSearchParams(query === -1 ? "" : text.slice(query + 1));
  const [view = "", ...rest] = path.split("/");
  const id = rest.length ? safeDecode(rest.join("/")) : null;
  return { view: (VIEWS as readonly string[]).includes(view) ? view : "overview", id, params };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** "#/overview?month=2026-11", leaving out empty parameters. */
export function href(view: string, params: Record<string, string | null | undefined> = {}, id?: string): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value) query.set(key, value);
  const search = query.toString();
  return `#/${view}${id !== undefined ? "/" + encodeURIComponent(id) : ""}${search ? "?" + search : ""}`;
}

export function navigate(target: string, replace = false): void {
  if (replace) history.replaceState(null, "", target);
  else location.hash = target;
  if (replace) window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
