import { render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError, INGEST_ONLY_MESSAGE, onUnauthorized, storedKey, storeKey, UNAUTHORIZED_MESSAGE } from "./api.ts";
import { Loading } from "./components/common.tsx";
import { currentMonth, isMonth } from "./dates.ts";
import { href, useRoute } from "./router.ts";
import type { Scope } from "./types.ts";
import { BudgetsView } from "./views/Budgets.tsx";
import { ChecksView } from "./views/Checks.tsx";
import { CustomerView } from "./views/Customer.tsx";
import { ModelsView } from "./views/Models.tsx";
import { OverviewView } from "./views/Overview.tsx";
import { SignIn } from "./views/SignIn.tsx";
import { SimulatorView } from "./views/Simulator.tsx";
import "./styles.css";

interface Session {
  scope: Exclude<Scope, "ingest">;
  name: string;
}

const NAV = [
  { view: "overview", label: "Overview" },
  { view: "simulator", label: "Simulator" },
  { view: "budgets", label: "Budgets and alerts" },
  { view: "models", label: "Models and prices" },
  { view: "checks", label: "Go-live checks" },
];

const TITLES: Record<string, string> = {
  overview: "Overview",
  customers: "Customer",
  simulator: "Simulator",
  budgets: "Budgets and alerts",
  models: "Models and prices",
  checks: "Go-live checks",
};

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const [message, setMessage] = useState<string | null>(null);

  const signOut = useCallback((why: string | null) => {
    storeKey(null);
    setSession(null);
    setMessage(why);
  }, []);

  useEffect(() => {
    onUnauthorized((why) => signOut(why));
    return () => onUnauthorized(null);
  }, [signOut]);

  const signIn = useCallback(async (key: string): Promise<string | null> => {
    try {
      const who = await api.whoami(key);
      if (who.scope === "ingest") return INGEST_ONLY_MESSAGE;
      storeKey(key);
      setSession({ scope: who.scope, name: who.name });
      setMessage(null);
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return UNAUTHORIZED_MESSAGE;
      if (error instanceof ApiError) return error.problem.detail || error.message;
      return String(error);
    }
  }, []);

  // A reload keeps the session (sessionStorage): check the stored key again.
  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    void signIn(key).then((problem) => {
      if (problem) signOut(problem);
      setChecking(false);
    });
  }, [signIn, signOut]);

  if (checking) {
    return (
      <main id="main">
        <Loading what="Checking your API key…" />
      </main>
    );
  }
  if (!session) return <SignIn onSignIn={signIn} message={message} />;
  return <Shell session={session} onSignOut={() => signOut(null)} />;
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const requested = route.params.get("month");
  const month = isMonth(requested) ? requested : currentMonth();
  const admin = session.scope === "admin";

  useEffect(() => {
    document.title = `${TITLES[route.view] ?? "MarginLens"} · MarginLens`;
  }, [route.view]);

  let view;
  switch (route.view) {
    case "customers":
      view = route.id ? <CustomerView id={route.id} month={month} /> : <OverviewView month={month} />;
      break;
    case "simulator":
      view = <SimulatorView month={month} />;
      break;
    case "budgets":
      view = <BudgetsView month={month} admin={admin} />;
      break;
    case "models":
      view = <ModelsView month={month} admin={admin} selected={route.params.get("model")} />;
      break;
    case "checks":
      view = <ChecksView admin={admin} />;
      break;
    default:
      view = <OverviewView month={month} />;
  }
  const current = route.view === "customers" ? "overview" : route.view;

  return (
    <>
      <a class="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href("overview", { month: requested })}>
          MarginLens
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.view}>
                <a
                  href={href(item.view, item.view === "checks" ? {} : { month: requested })}
                  aria-current={current === item.view ? "page" : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="session">
          <span class="session-label">Key scope</span>
          <span class="scope-badge" data-testid="scope" data-scope={session.scope} title={`Signed in with “${session.name}”`}>
            {session.scope}
          </span>
          <button type="button" class="secondary small" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
