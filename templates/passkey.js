// Passkeys: the browser side of the WebAuthn ceremonies. Served from
// {prefix}/realms/{realm}/login-actions/passkey.js, so every URL below is relative to it.
//
// The server's begin steps answer webauthn-rs JSON (binary fields base64url); this turns them
// into the ArrayBuffers navigator.credentials wants, and the credential back into the JSON
// webauthn-rs reads, which a hidden form then posts (the normal page flow: cookies, CSRF,
// redirects). Buttons are found by id; nothing here runs unless its button is on the page.
(() => {
  'use strict';

  const script = document.currentScript;
  const loginActions = new URL('./', script.src);
  const realmRoot = new URL('../', script.src);

  const toBytes = (text) => {
    const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };

  const toText = (buffer) => {
    let binary = '';
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const withBinaryIds = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

  /** The page's CSRF token: the hidden field of the page's own form. */
  const csrfToken = () => {
    const field = document.querySelector('input[name="csrf"]');
    return field ? field.value : '';
  };

  const showError = (message) => {
    const box = document.getElementById('passkey-error');
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
  };

  const clearError = () => {
    const box = document.getElementById('passkey-error');
    if (box) box.hidden = true;
  };

  /** POSTs `body` as JSON; resolves with the answer's JSON or throws its message. */
  async function begin(url, body) {
    const resp = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
      body: JSON.stringify(body),
    });
    let answer = {};
    try {
      answer = await resp.json();
    } catch {
      // Not JSON: say so below.
    }
    if (!resp.ok) throw new Error(answer.error || `The server answered ${resp.status}.`);
    return answer;
  }

  /** The JSON of a PublicKeyCredential in the shape webauthn-rs-proto reads. */
  function credentialJson(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = r.userHandle ? toText(r.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      response,
      type: credential.type,
      extensions: {},
    });
  }

  /** Why a ceremony ended, in words for the person at the keyboard. */
  function explain(err) {
    if (err && err.name === 'NotAllowedError') {
      return 'The passkey request was cancelled or timed out.';
    }
    if (err && err.name === 'InvalidStateError') {
      return 'This authenticator already holds a passkey for your account.';
    }
    return (err && err.message) || 'The passkey could not be used.';
  }

  /** Sign-in (passwordless or second factor): begin, ask the authenticator, post the form. */
  async function signIn(purpose, button) {
    clearError();
    button.disabled = true;
    try {
      const options = await begin(new URL('passkey/begin', loginActions), { purpose });
      const publicKey = {
        ...options.publicKey,
        challenge: toBytes(options.publicKey.challenge),
        allowCredentials: withBinaryIds(options.publicKey.allowCredentials),
      };
      const credential = await navigator.credentials.get({ publicKey });
      const form = document.getElementById('passkey-form');
      form.action = new URL('passkey/finish', loginActions).href;
      const mainRequest = document.querySelector('form:not(#passkey-form) input[name="request"]');
      form.elements.csrf.value = csrfToken();
      form.elements.request.value = mainRequest ? mainRequest.value : '';
      form.elements.purpose.value = purpose;
      form.elements.challenge.value = options.challenge;
      form.elements.credential.value = credentialJson(credential);
      form.submit();
    } catch (err) {
      showError(explain(err));
      button.disabled = false;
    }
  }

  /** Registration on the account page: name, begin, create, post the form. */
  async function addPasskey(button) {
    clearError();
    const nameField = document.getElementById('passkey-name');
    const name = nameField ? nameField.value.trim() : '';
    if (!name || name.length > 100) {
      showError('Give the passkey a name of 1 to 100 characters.');
      return;
    }
    button.disabled = true;
    try {
      const options = await begin(new URL('account/passkeys/begin', realmRoot), {});
      const pk = options.publicKey;
      const publicKey = {
        ...pk,
        challenge: toBytes(pk.challenge),
        user: { ...pk.user, id: toBytes(pk.user.id) },
        excludeCredentials: withBinaryIds(pk.excludeCredentials),
      };
      const credential = await navigator.credentials.create({ publicKey });
      const form = document.getElementById('passkey-add-form');
      form.action = new URL('account/passkeys/finish', realmRoot).href;
      form.elements.csrf.value = csrfToken();
      form.elements.name.value = name;
      form.elements.challenge.value = options.challenge;
      form.elements.credential.value = credentialJson(credential);
      form.submit();
    } catch (err) {
      showError(explain(err));
      button.disabled = false;
    }
  }

  const wire = () => {
    const supported = !!(window.PublicKeyCredential && navigator.credentials);
    const buttons = [
      ['passkey-sign-in', (b) => signIn('passwordless', b)],
      ['passkey-second-factor', (b) => signIn('second-factor', b)],
      ['passkey-add', (b) => addPasskey(b)],
    ];
    for (const [id, run] of buttons) {
      const button = document.getElementById(id);
      if (!button) continue;
      if (!supported) {
        button.disabled = true;
        showError('This browser does not support passkeys.');
        continue;
      }
      button.addEventListener('click', (event) => {
        event.preventDefault();
        run(button);
      });
    }
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', wire);
  } else {
    wire();
  }
})();
