// Dashboard behaviour that is not htmx: the light/dark switch, and seeking the recording from the transcript.

const THEME_KEY = "bvrai.theme";

function currentTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function showTheme() {
  const button = document.getElementById("theme-toggle");
  if (!button) return;
  const dark = currentTheme() === "dark";
  button.setAttribute("aria-pressed", String(dark));
  button.querySelector(".theme-label").textContent = dark ? "Light mode" : "Dark mode";
}

document.addEventListener("DOMContentLoaded", () => {
  showTheme();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", showTheme);
  document.getElementById("theme-toggle")?.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      /* private mode: the choice lasts for this page only */
    }
    showTheme();
    document.dispatchEvent(new CustomEvent("bvrai:theme", { detail: next }));
  });

  // Call detail: a transcript line is a button that seeks the recording to when it was said.
  const audio = document.getElementById("recording");
  document.querySelectorAll("[data-seek-ms]").forEach((line) => {
    line.addEventListener("click", () => {
      if (!audio) return;
      audio.currentTime = Number(line.dataset.seekMs) / 1000;
      audio.play().catch(() => {});
    });
  });
  if (audio) {
    const lines = [...document.querySelectorAll("[data-seek-ms]")];
    audio.addEventListener("timeupdate", () => {
      const now = audio.currentTime * 1000;
      let active = null;
      for (const line of lines) if (Number(line.dataset.seekMs) <= now) active = line;
      lines.forEach((line) => line.classList.toggle("playing", line === active));
    });
  }
});
