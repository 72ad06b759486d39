import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { Loading, PageHeading, ProblemBox } from "../components/common.tsx";
import { formatUtc } from "../dates.ts";
import { useApi } from "../hooks.ts";
import type { TestAlert } from "../types.ts";

export function ChecksView({ admin }: { admin: boolean }) {
  const checks = useApi((signal) => api.checks(signal), []);
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<TestAlert | null>(null);
  const [sendError, setSendError] = useState<unknown>(null);
  const data = checks.data;

  const sendTest = async () => {
    setSending(true);
    setSendError(null);
    setSent(null);
    try {
      setSent(await api.testAlert());
      checks.reload();
    } catch (error) {
      setSendError(error);
    } finally {
      setSending(false);
    }
  };

  return (
    <>
      <PageHeading
        actions={
          <button type="button" class="secondary" onClick={checks.reload} disabled={checks.loading}>
            Run checks again
          </button>
        }
      >
        Go-live checks
      </PageHeading>
      {checks.loading && !data && <Loading what="Running the checks…" />}
      <ProblemBox error={checks.error} />
      {data && (
        <>
          <p class="summary" data-testid="checks-summary">
            <strong>
              {data.passed} of {data.total} checks pass
            </strong>{" "}
            <span class="subtle">(checked {formatUtc(data.checked_at)})</span>
            {checks.loading && <span role="status"> Running again…</span>}
          </p>
          <ul class="checks" data-testid="checks">
            {data.checks.map((check) => (
              <li key={check.id} data-check-id={check.id} data-status={check.status} class="check card">
                <div class="check-head">
                  <span class="check-badge" data-status={check.status}>
                    {check.status === "pass" ? "PASS" : "FAIL"}
                  </span>
                  <h2 class="check-title">{check.title}</h2>
                </div>
                <p>{check.detail}</p>
                {check.missing.length > 0 && (
                  <>
                    <p class="missing-label">Missing:</p>
                    <ul class="missing">
                      {check.missing.map((item) => (
                        <li key={item}>{item}</li>
                      ))}
                    </ul>
                  </>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      {admin && (
        <section aria-labelledby="test-alert-heading" class="card">
          <h2 id="test-alert-heading">Alert channels</h2>
          <p>Send a test alert through every configured channel (email, Slack) to see that alerts reach you.</p>
          <button type="button" data-admin-control data-testid="send-test-alert" disabled={sending} onClick={() => void sendTest()}>
            {sending ? "Sending…" : "Send a test alert"}
          </button>
          <ProblemBox error={sendError} />
          {sent && (
            <p data-testid="test-alert-result" role="status">
              Sent “{sent.subject}” at {formatUtc(sent.time)}
              {sent.channels.length ? ` via ${sent.channels.join(", ")}` : ""}.
            </p>
          )}
        </section>
      )}
    </>
  );
}
