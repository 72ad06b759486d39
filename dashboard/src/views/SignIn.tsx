import { useState } from "preact/hooks";

interface Props {
  onSignIn: (key: string) => Promise<string | null>;
  message: string | null;
}

export function SignIn({ onSignIn, message }: Props) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const shown = error ?? message;

  const submit = async (event: Event) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError("Enter an API key.");
      return;
    }
    setBusy(true);
    const problem = await onSignIn(trimmed);
    setBusy(false);
    if (problem) setError(problem);
  };

  return (
    <main id="main" class="signin">
      <div class="signin-card">
        <p class="brand">MarginLens</p>
        <h1>Sign in</h1>
        <p>Per-customer P&amp;L of your LLM costs: revenue minus model cost, to the cent.</p>
        <form onSubmit={submit} noValidate>
          <div class={shown ? "field has-error" : "field"}>
            <label for="api-key">API key</label>
            <input
              id="api-key"
              name="api-key"
              type="password"
              autocomplete="off"
              spellcheck={false}
              value={key}
              onInput={(event) => setKey((event.target as HTMLInputElement).value)}
              aria-invalid={shown ? "true" : undefined}
              aria-describedby={shown ? "signin-error signin-hint" : "signin-hint"}
            />
            <p class="hint" id="signin-hint">
              A read or admin key. It is kept in this browser tab only (session storage) and sent as a bearer token.
            </p>
          </div>
          {shown && (
            <p class="problem" id="signin-error" role="alert" data-testid="signin-error">
              {withCode(shown)}
            </p>
          )}
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
      </div>
    </main>
  );
}

/** `marginlens keys create` in a message becomes a <code> element. */
function withCode(text: string) {
  return text.split(/`([^`]+)`/).map((part, index) => (index % 2 ? <code key={index}>{part}</code> : part));
}
