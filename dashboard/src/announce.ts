// One polite live region (in index.html) for short confirmations such as "Copied".
let timer: ReturnType<typeof setTimeout> | undefined;

export function announce(message: string): void {
  const region = document.getElementById("announcer");
  if (!region) return;
  // Clearing first makes a screen reader repeat the same message ("Copied" twice).
  region.textContent = "";
  clearTimeout(timer);
  timer = setTimeout(() => {
    region.textContent = message;
    // Also a visible toast (styled via :empty): cleared after a few seconds.
    timer = setTimeout(() => {
      region.textContent = "";
    }, 4000);
  }, 50);
}

export async function copyText(text: string, what = "Copied"): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    announce(what);
  } catch {
    announce(`Could not copy. The exact figure is ${text}`);
  }
}
