// Yagona's EDS signer for the login and cabinet pages.
//
// On every `form.eds-form`: when E-IMZO answers on its local WebSocket API, the person picks a
// key from E-IMZO's list (name, PINFL or TIN, organisation, validity) and E-IMZO signs
// (pkcs7.create_pkcs7); the list's last choice, or no E-IMZO at all, is a .pfx/.p12 key file
// and its password, and the key is decrypted and used here, with
// WebCrypto, without leaving the browser. Either way the page fetches a single-use challenge,
// signs it into an attached CMS SignedData (base64), puts it in the form's `pkcs7` field and
// submits the form.

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { Convert } from "pvtsutils";

const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  keyBag: "1.2.840.113549.1.12.10.1.1",
  certBag: "1.2.840.113549.1.12.10.1.3",
  rsa: "1.2.840.113549.1.1.1",
  ec: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
};

const EIMZO_URLS = ["ws://127.0.0.1:64646/service/cryptapi", "wss://127.0.0.1:64443/service/cryptapi"];

export class SignerError extends Error {}

/** Opens a PKCS#12 key file: the private key (as a WebCrypto key) and its certificate. */
export async function openPfx(buffer, password) {
  const asn1 = asn1js.fromBER(buffer);
  if (asn1.offset === -1) throw new SignerError("file");
  let pfx;
  try {
    pfx = new pkijs.PFX({ schema: asn1.result });
  } catch (e) {
    throw new SignerError("file");
  }
  const secret = Convert.FromUtf8String(password);
  try {
    await pfx.parseInternalValues({ password: secret, checkIntegrity: true });
  } catch (e) {
    throw new SignerError("password");
  }
  const safe = pfx.parsedValue.authenticatedSafe;
  await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: secret })) });
  let keyInfo = null;
  const certificates = [];
  for (const contents of safe.parsedValue.safeContents) {
    for (const bag of contents.value.safeBags) {
      if (bag.bagId === OID.shroudedKeyBag) {
        await bag.bagValue.parseInternalValues({ password: secret });
        keyInfo = bag.bagValue.parsedValue;
      } else if (bag.bagId === OID.keyBag) {
        keyInfo = bag.bagValue;
      } else if (bag.bagId === OID.certBag) {
        certificates.push(bag.bagValue.parsedValue);
      }
    }
  }
  if (!keyInfo || certificates.length === 0) throw new SignerError("file");
  const algorithm = keyAlgorithm(keyInfo);
  const pkcs8 = keyInfo.toSchema().toBER(false);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, algorithm.import, false, ["sign"]);
  // The key's certificate: the one whose public key is not a CA's (the first leaf in the file).
  const certificate = certificates.find((c) => !isCa(c)) || certificates[0];
  return { privateKey, certificate, algorithm };
}

function isCa(certificate) {
  const ext = (certificate.extensions || []).find((e) => e.extnID === "2.5.29.19");
  return !!(ext && ext.parsedValue && ext.parsedValue.cA);
}

function keyAlgorithm(keyInfo) {
  const id = keyInfo.privateKeyAlgorithm.algorithmId;
  if (id === OID.rsa) {
    return { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, hash: "SHA-256" };
  }
  if (id === OID.ec) {
    const curve = keyInfo.privateKeyAlgorithm.algorithmParams.valueBlock.toString();
    if (curve === OID.p256) return { import: { name: "ECDSA", namedCurve: "P-256" }, hash: "SHA-256" };
    if (curve === OID.p384) return { import: { name: "ECDSA", namedCurve: "P-384" }, hash: "SHA-384" };
  }
  throw new SignerError("algorithm");
}

/** Signs `data` into an attached CMS SignedData (DER) with content-type, message-digest and
 * signing-time signed attributes, carrying the certificate. */
export async function signAttached(opened, data, now = new Date()) {
  const { privateKey, certificate, algorithm } = opened;
  const digest = await crypto.subtle.digest(algorithm.hash, data);
  // The content is set after construction: pkijs's constructor would turn it into a constructed
  // (BER) OCTET STRING, and verifiers (Yagona's, E-IMZO-server's) expect DER.
  const encapsulated = new pkijs.EncapsulatedContentInfo({ eContentType: OID.data });
  encapsulated.eContent = new asn1js.OctetString({ valueHex: data });
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: encapsulated,
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber }),
      }),
    ],
    certificates: [certificate],
  });
  signed.signerInfos[0].signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: [
      new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.data })] }),
      new pkijs.Attribute({ type: OID.signingTime, values: [new asn1js.UTCTime({ valueDate: now })] }),
      new pkijs.Attribute({ type: OID.messageDigest, values: [new asn1js.OctetString({ valueHex: digest })] }),
    ],
  });
  await signed.sign(privateKey, 0, algorithm.hash);
  const info = new pkijs.ContentInfo({ contentType: OID.signedData, content: signed.toSchema(true) });
  return info.toSchema().toBER(false);
}

/** One call of E-IMZO's WebSocket API: a new socket per call, as E-IMZO's own client does. */
export function eimzoCall(url, message, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      reject(e);
      return;
    }
    const timer = setTimeout(() => {
      socket.close();
      reject(new SignerError("eimzo-timeout"));
    }, timeoutMs);
    socket.onopen = () => socket.send(JSON.stringify(message));
    socket.onerror = () => {
      clearTimeout(timer);
      reject(new SignerError("eimzo-unreachable"));
    };
    socket.onmessage = (event) => {
      clearTimeout(timer);
      socket.close();
      try {
        const answer = JSON.parse(event.data);
        if (answer.success === false) reject(new SignerError(answer.reason || "eimzo"));
        else resolve(answer);
      } catch (e) {
        reject(new SignerError("eimzo"));
      }
    };
  });
}

/** Finds a running E-IMZO and lists its key files; `null` when none answers. */
export async function eimzoKeys(urls, timeoutMs = 1500) {
  for (const url of urls) {
    try {
      const answer = await eimzoCall(url, { plugin: "pfx", name: "list_all_certificates" }, timeoutMs);
      return { url, certificates: answer.certificates || [] };
    } catch (e) {
      // try the next address
    }
  }
  return null;
}

/** Signs `text` with E-IMZO: load the chosen key, then create_pkcs7; returns base64. */
export async function eimzoSign(url, certificate, text) {
  const loaded = await eimzoCall(url, {
    plugin: "pfx",
    name: "load_key",
    arguments: [certificate.disk, certificate.path, certificate.name, certificate.alias],
  });
  const data = Convert.ToBase64(Convert.FromUtf8String(text));
  const signed = await eimzoCall(url, { plugin: "pkcs7", name: "create_pkcs7", arguments: [data, loaded.keyId, "no"] });
  return signed.pkcs7_64;
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new SignerError("file"));
    reader.readAsArrayBuffer(file);
  });
}

const MESSAGES = {
  en: { password: "The key file's password is wrong.", file: "This is not a key file: choose a .pfx or .p12 key file.", nofile: "Choose your key file (.pfx or .p12).", algorithm: "This key's algorithm cannot be used in the browser.", challenge: "Could not start signing. Reload the page.", eimzo: "E-IMZO could not sign with this key. Check the key's password in E-IMZO, or choose a key file.", other: "Signing failed.", pinfl: "PINFL", tin: "TIN", until: "valid until", expired: "expired", keyfile: "A key file (.pfx or .p12)" },
  ru: { password: "Неверный пароль файла ключа.", file: "Это не файл ключа: выберите файл ключа .pfx или .p12.", nofile: "Выберите файл ключа (.pfx или .p12).", algorithm: "Алгоритм этого ключа нельзя использовать в браузере.", challenge: "Не удалось начать подписание. Обновите страницу.", eimzo: "E-IMZO не смог подписать этим ключом. Проверьте пароль ключа в E-IMZO или выберите файл ключа.", other: "Подписание не удалось.", pinfl: "ПИНФЛ", tin: "ИНН", until: "действителен до", expired: "истёк", keyfile: "Файл ключа (.pfx или .p12)" },
  "uz-Latn": { password: "Kalit faylining paroli notoʻgʻri.", file: "Bu kalit fayli emas: .pfx yoki .p12 kalit faylini tanlang.", nofile: "Kalit faylingizni tanlang (.pfx yoki .p12).", algorithm: "Bu kalit algoritmidan brauzerda foydalanib boʻlmaydi.", challenge: "Imzolashni boshlab boʻlmadi. Sahifani yangilang.", eimzo: "E-IMZO bu kalit bilan imzolay olmadi. E-IMZO-da kalit parolini tekshiring yoki kalit faylini tanlang.", other: "Imzolab boʻlmadi.", pinfl: "JShShIR", tin: "STIR", until: "amal qilish muddati", expired: "muddati oʻtgan", keyfile: "Kalit fayli (.pfx yoki .p12)" },
};

/** The fields of an E-IMZO key's alias (`cn=...,name=...,1.2.860.3.16.1.2=...,validto=...`), read
 * as E-IMZO's own client reads them. */
export function describeKey(certificate) {
  const alias = String(certificate.alias || "");
  const fields = {};
  for (const part of alias.split(",")) {
    const at = part.indexOf("=");
    if (at > 0) fields[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
  }
  const date = (text) => {
    const parsed = text ? new Date(text.replace(/\./g, "-").replace(" ", "T")) : null;
    return parsed && !Number.isNaN(parsed.getTime()) ? parsed : null;
  };
  return {
    name: fields.cn || certificate.name || alias,
    pinfl: fields["1.2.860.3.16.1.2"] || "",
    tin: fields["1.2.860.3.16.1.1"] || "",
    organisation: fields.o || "",
    validTo: date(fields.validto),
  };
}

/** One line for a key in the list: name, PINFL or company TIN, organisation, validity. */
export function keyLabel(key, messages, now = new Date()) {
  const parts = [key.name];
  if (key.tin) parts.push(`${messages.tin} ${key.tin}`);
  else if (key.pinfl) parts.push(`${messages.pinfl} ${key.pinfl}`);
  if (key.organisation) parts.push(key.organisation);
  if (key.validTo) {
    const day = key.validTo.toISOString().slice(0, 10);
    parts.push(key.validTo < now ? `${messages.expired} ${day}` : `${messages.until} ${day}`);
  }
  return parts.join(" · ");
}

function setup(form) {
  const status = form.querySelector("[id$='-status']");
  const button = form.querySelector("button[type=submit]");
  const output = form.querySelector("[id$='-pkcs7']");
  const local = form.querySelector("[id$='-local']");
  const eimzoBox = form.querySelector("[id$='-eimzo']");
  const select = form.querySelector("[id$='-eimzo-keys']");
  const messages = MESSAGES[document.documentElement.lang] || MESSAGES.en;
  const urls = (form.dataset.eimzo || EIMZO_URLS.join(" ")).split(" ").filter(Boolean);
  let eimzo = null;
  // The key-file fields stay available while E-IMZO runs: its list ends with "a key file".
  const usingFile = () => !eimzo || select.value === "file";

  eimzoKeys(urls).then((found) => {
    if (!found || found.certificates.length === 0) return;
    eimzo = found;
    found.certificates.forEach((certificate, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = keyLabel(describeKey(certificate), messages);
      select.appendChild(option);
    });
    const file = document.createElement("option");
    file.value = "file";
    file.textContent = messages.keyfile;
    select.appendChild(file);
    eimzoBox.hidden = false;
    local.hidden = true;
    select.addEventListener("change", () => {
      local.hidden = !usingFile();
    });
  });

  const fail = (error) => {
    const key = error instanceof SignerError && messages[error.message] ? error.message : eimzo && !usingFile() ? "eimzo" : "other";
    status.textContent = messages[key];
    status.setAttribute("role", "alert");
    status.classList.add("error");
    button.disabled = false;
  };

  form.addEventListener("submit", async (event) => {
    if (output.value) return; // signed: let the form go
    event.preventDefault();
    status.removeAttribute("role");
    status.classList.remove("error");
    status.textContent = button.dataset.signing || "…";
    button.disabled = true;
    try {
      const challenge = async () => {
        const response = await fetch(form.dataset.challenge, { method: "POST", credentials: "same-origin" });
        if (!response.ok) throw new SignerError("challenge");
        return (await response.json()).challenge;
      };
      if (!usingFile()) {
        const certificate = eimzo.certificates[Number(select.value) || 0];
        output.value = await eimzoSign(eimzo.url, certificate, await challenge());
      } else {
        // Open the key file first: a wrong password should not spend a challenge.
        const file = form.querySelector("input[type=file]").files[0];
        if (!file) throw new SignerError("nofile");
        const opened = await openPfx(await readFile(file), form.querySelector("input[type=password]").value);
        const der = await signAttached(opened, Convert.FromUtf8String(await challenge()));
        output.value = Convert.ToBase64(der);
      }
      form.submit();
    } catch (error) {
      fail(error);
    }
  });
}

if (typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("form.eds-form").forEach(setup));
}
