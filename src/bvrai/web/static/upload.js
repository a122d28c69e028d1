// Knowledge-base upload with a progress bar (XMLHttpRequest reports upload progress; fetch does not).
// Without this script the form still posts normally.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) {
      status.textContent = "Choose a file first.";
      status.classList.add("error");
      return;
    }
    const body = new FormData();
    body.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("X-Requested-With", "fetch");
    bar.hidden = false;
    bar.value = 0;
    status.classList.remove("error");
    status.textContent = `Uploading ${file.name}…`;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = () => {
      if (xhr.status === 201) {
        bar.value = 100;
        status.textContent = `Uploaded ${file.name}: indexing…`;
        form.reset();
        htmx.ajax("GET", window.location.pathname, { target: "#documents", swap: "innerHTML", headers: { "HX-Target": "documents" } });
      } else {
        const detail = (xhr.responseText.match(/<strong>[^<]*<\/strong>\s*([^<]*)/) || [])[1];
        status.textContent = `Upload failed: ${detail || xhr.statusText || xhr.status}`;
        status.classList.add("error");
      }
    };
    xhr.onerror = () => {
      status.textContent = "Upload failed: the connection was lost.";
      status.classList.add("error");
    };
    xhr.send(body);
  });
});
