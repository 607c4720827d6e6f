// The console's own script (no inline script anywhere: the Content-Security-Policy forbids it).
// - every htmx request carries the session's CSRF token in X-CSRF-Token;
// - the evidence form: drag and drop onto the drop zone, upload through htmx with a progress bar, and the page
//   reloaded once the file is recorded.
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });
  function setUpUpload() {
    var form = document.getElementById("upload");
    if (!form || form.dataset.ready) { return; }
    form.dataset.ready = "1";
    var select = document.getElementById("upload-indicator");
    var input = document.getElementById("upload-file");
    var zone = document.getElementById("dropzone");
    var progress = document.getElementById("upload-progress");
    function target() {
      return "/console/cases/" + form.dataset.case + "/indicators/" + encodeURIComponent(select.value) + "/evidence";
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.files.length) { input.focus(); return; }
      var data = new FormData();
      data.append("file", input.files[0]);
      var title = document.getElementById("upload-title").value;
      if (title) { data.append("title", title); }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", target());
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { progress.value = Math.round((100 * e.loaded) / e.total); }
      });
      xhr.addEventListener("load", function () {
        var result = document.getElementById("upload-result");
        result.innerHTML = xhr.responseText;
        if (xhr.status === 201) {
          progress.value = 100;
          window.location.reload();
        }
      });
      xhr.send(data);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
    });
  }
  // A form is sent once: a second click while the first is under way does nothing (the Idempotency-Key
  // already makes a resent form act once).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method === "post" && form.id !== "upload") {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
    }
  });
  document.addEventListener("DOMContentLoaded", setUpUpload);
  document.addEventListener("htmx:load", setUpUpload);
})();
