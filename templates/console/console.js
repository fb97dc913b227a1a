// Tessera console: the copy buttons next to values shown once. Everything else works without
// script.
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = () => {
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectFallback(source, done));
  } else {
    selectFallback(source, done);
  }
});

function selectFallback(source, done) {
  const range = document.createRange();
  range.selectNodeContents(source);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try { if (document.execCommand('copy')) done(); } catch (_) { /* the value stays selected */ }
}

// Without script the buttons would do nothing, so they start hidden.
for (const button of document.querySelectorAll('button[data-copy]')) button.hidden = false;
